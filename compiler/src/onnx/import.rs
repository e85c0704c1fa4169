//! Streamlining an ONNX graph into the model IR, in exact arithmetic.
//!
//! After constant folding ([`interp::fold_constants`]: weight quantizers, the dynamic flatten's
//! `Shape -> Gather -> Unsqueeze -> Concat`, ...) the nodes left form a chain from the input to the
//! output. The importer walks it with one state per tensor:
//! - **pixel**: a function of the pixel byte, kept as its 256 values (the input scaling, then
//!   every elementwise op, `Gather` table or rounding the graph applies). A quantizer turns it
//!   into the input layer: `quant.binary` when the bits are `[pixel >= t]`, otherwise an exact
//!   256-entry table (`quant.fixed8` when the table is the identity or `pixel - 128`).
//! - **quantized**: +-scale values (bits) or scale times an integer.
//! - **accumulator**: after a `MatMul`/`Gemm`/`Conv` with weights of +-s per output channel, the
//!   float value of every channel for every integer accumulator it can reach, a table updated by
//!   each elementwise op (`BatchNormalization`, scalar or per-channel `Mul`/`Add`/`Sub`/`Div`,
//!   ...) with the interpreter's own scalar functions. A quantizer (`BipolarQuant`, a one-step
//!   `MultiThreshold`) reads each channel's bit off the table: the first accumulator whose bit is
//!   1 is the threshold; a channel whose bit falls as the accumulator rises has its weight row
//!   inverted (gamma < 0); a channel that is not monotone is refused. A multi-level quantizer
//!   (`Quant` of 2 to 8 bits, `MultiThreshold` with several steps) is read the same way: its
//!   integer output as a function of the accumulator gives one threshold per level (a
//!   [`MultiThreshold`] activation), the first accumulator from which the output reaches it.
//! - **ints**: scale times an integer of a known range, the output of a k-bit activation; the
//!   next `MatMul`/`Gemm`/`Conv` reads it as an integer input, a `MaxPool` takes the max.
//!
//! Layout: ONNX tensors are NCHW, xnorflow's are channel fastest. Every tensor carries a map from
//! its ONNX element order to xnorflow's, which `Reshape`, `Flatten` and `Transpose` permute; a
//! dense layer's weight columns are placed through it, so flatten orders need no assumption.

use super::graph::{elems, Graph, Node, Tensor};
use super::interp::{self, Bin};
use super::OnnxError;
use crate::model::{
    Activation, BinaryWeights, BitMatrix, Fixed8, InputTable, IntType, Layer, Model, MultiThreshold,
    OutputMode, Padding, Provenance, Shape, MAX_ACT_BITS, MIN_ACT_BITS,
};
use std::collections::HashMap;

/// How pixel bytes become the float input the ONNX graph expects.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum InputScale {
    /// `pixel / 255` in [0, 1] (torchvision's `ToTensor`, what Brevitas' BNN-PYNQ models take).
    #[default]
    Unit,
    /// The raw byte 0..=255.
    Raw,
}

impl InputScale {
    /// The float a pixel byte becomes.
    pub fn apply(self, v: u8) -> f32 {
        match self {
            InputScale::Unit => f32::from(v) / 255.0,
            InputScale::Raw => f32::from(v),
        }
    }

    /// The scaling a graph's annotations imply, if any: FINN marks an input that takes raw bytes
    /// with `finn_datatype` UINT8.
    pub fn annotated(graph: &Graph) -> Option<InputScale> {
        match graph.datatypes.get(&graph.input).map(String::as_str) {
            Some("UINT8") => Some(InputScale::Raw),
            _ => None,
        }
    }

    /// A short description.
    pub fn describe(self) -> &'static str {
        match self {
            InputScale::Unit => "pixel/255 (float32 in [0, 1])",
            InputScale::Raw => "the raw pixel byte (float32 0..255)",
        }
    }
}

/// Options of [`import`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Input scaling.
    pub input_scale: InputScale,
    /// The frame shape when the graph's input is a flat vector (default: 28x28x1 for 784
    /// values, 8x8x1 for 64, else 1x1xN).
    pub input_shape: Option<Shape>,
    /// The model's name (default: the graph's).
    pub name: Option<String>,
}

/// An imported model and what the importer noticed.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The model.
    pub model: Model,
    /// The graph after constant folding (what [`interp::output`] runs for the check).
    pub graph: Graph,
    /// Observations worth printing (dropped scales, inverted channels, ...).
    pub notes: Vec<String>,
    /// `QONNX` or `FINN-ONNX`.
    pub dialect: &'static str,
}

/// Map from a tensor's ONNX element order to xnorflow's (h, w, c channel fastest) order.
#[derive(Clone, Debug)]
struct Layout {
    /// ONNX shape.
    shape: Vec<usize>,
    /// `map[onnx flat index] = xnorflow flat index`.
    map: Vec<u32>,
    /// xnorflow's shape of the same data.
    fm: Shape,
}

impl Layout {
    /// The NCHW tensor (1, C, H, W) of the feature map `fm`.
    fn nchw(fm: Shape) -> Layout {
        let mut map = Vec::with_capacity(fm.len());
        for c in 0..fm.c {
            for h in 0..fm.h {
                for w in 0..fm.w {
                    map.push(((h * fm.w + w) * fm.c + c) as u32);
                }
            }
        }
        Layout { shape: vec![1, fm.c, fm.h, fm.w], map, fm }
    }

    /// True when the ONNX tensor is exactly the NCHW view of the feature map.
    fn is_nchw(&self) -> bool {
        let n = Layout::nchw(self.fm);
        let s = match self.shape[..] {
            [1, c, h, w] | [c, h, w] => [c, h, w],
            _ => return false,
        };
        s == [self.fm.c, self.fm.h, self.fm.w] && n.map == self.map
    }

    /// The xnorflow channel of ONNX element `p`.
    fn channel(&self, p: usize) -> usize {
        self.map[p] as usize % self.fm.c
    }
}

/// The weight of output channel o at xnorflow fan-in column c.
type WeightOf = Box<dyn Fn(usize, usize) -> f32>;

/// The accumulator state after a linear layer.
#[derive(Clone, Debug)]
struct Pending {
    /// The layer as it will be emitted (activation filled in later).
    layer: Layer,
    /// Lowest accumulator (0 for a binary input, -max_abs * N for an integer one).
    lo: i64,
    /// `vals[c][i]`: the float value channel c has for accumulator `lo + i`.
    vals: Vec<Vec<f32>>,
    /// A max-pool met before the quantizer: (kernel, stride, values at the pool).
    pool: Option<(usize, usize, Vec<Vec<f32>>)>,
    /// The inputs were two values not symmetric around 0 (0 and s): dot products carry a
    /// per-channel offset that thresholds absorb but integer scores cannot.
    offset: bool,
}

#[derive(Clone, Debug)]
enum Stage {
    /// The 256 values a pixel byte takes.
    Pixel(Vec<f32>),
    /// Two-valued activations: `lo` for bit 0, `hi` for bit 1 (`hi > lo`; +-s from a
    /// BipolarQuant, 0 and s from a one-bit unsigned quantizer); `pad` is a pending Pad before a
    /// Conv (amount, bit).
    Binary { lo: f32, hi: f32, pad: Option<(usize, bool)> },
    /// After a linear layer.
    Acc(Box<Pending>),
    /// A k-bit activation: `scale` times an integer in `lo..=hi`.
    Ints { scale: f32, lo: i64, hi: i64 },
    /// The class index (after TopK or ArgMax).
    Class,
}

#[derive(Clone, Debug)]
struct Val {
    stage: Stage,
    layout: Layout,
}

/// The importer's walk.
struct Walk<'a> {
    graph: &'a Graph,
    layers: Vec<Layer>,
    notes: Vec<String>,
    finn: bool,
    /// The scale of the last multi-level quantizer on the input (`Quant`, `MultiThreshold`), tried
    /// first when the pixel values are split into integer levels times a scale.
    hint: Option<f32>,
}

/// Imports a parsed graph.
pub fn import(mut graph: Graph, opts: &ImportOptions) -> Result<Imported, OnnxError> {
    interp::fold_constants(&mut graph)?;
    let fm = input_shape(&graph, opts)?;
    if graph.nodes.is_empty() {
        return Err(OnnxError::Invalid("the graph computes nothing from its input".into()));
    }
    // Every dynamic tensor must feed exactly one node: the chain has no branches.
    let mut users: HashMap<&str, usize> = HashMap::new();
    for n in &graph.nodes {
        let dynamic: Vec<&String> =
            n.inputs.iter().filter(|i| !i.is_empty() && !graph.consts.contains_key(*i)).collect();
        if dynamic.len() != 1 {
            return Err(n.bad(&format!(
                "has {} computed inputs; xnorflow imports chains (residual and branching graphs come with \
                 residual support)",
                dynamic.len()
            )));
        }
        *users.entry(dynamic[0]).or_default() += 1;
    }
    if let Some((t, _)) = users.iter().find(|(_, &n)| n > 1) {
        return Err(OnnxError::Invalid(format!(
            "tensor \"{t}\" feeds more than one node; xnorflow imports chains without branches"
        )));
    }
    let layout = match graph.input_shape.len() {
        4 => Layout::nchw(fm),
        _ => Layout { shape: graph.input_shape.clone(), map: (0..fm.len() as u32).collect(), fm },
    };
    let scale = opts.input_scale;
    let pixel: Vec<f32> = (0..=255u8).map(|v| scale.apply(v)).collect();
    let mut vals: HashMap<String, Val> = HashMap::new();
    vals.insert(graph.input.clone(), Val { stage: Stage::Pixel(pixel), layout });
    let mut walk = Walk { graph: &graph, layers: Vec::new(), notes: Vec::new(), finn: false, hint: None };
    for node in &graph.nodes {
        let dynamic = node
            .inputs
            .iter()
            .position(|i| !i.is_empty() && !graph.consts.contains_key(i))
            .ok_or_else(|| node.bad("no computed input"))?;
        let x = vals
            .remove(&node.inputs[dynamic])
            .ok_or_else(|| node.bad("its input is not computed before it"))?;
        let out = walk.step(node, dynamic, x)?;
        let name = node.outputs.iter().rev().find(|o| !o.is_empty()).cloned().unwrap_or_default();
        // TopK's indices are its second output; its values are not read.
        let name = if node.op == "TopK" { node.outputs.get(1).cloned().unwrap_or(name) } else { name };
        vals.insert(name, out);
    }
    let out = vals.remove(&graph.output).ok_or_else(|| {
        OnnxError::Invalid(format!(
            "the graph output \"{}\" is not the end of the chain from the input",
            graph.output
        ))
    })?;
    let mut output = match out.stage {
        Stage::Class => OutputMode::Argmax,
        Stage::Acc(p) => {
            walk.finish(*p)?;
            OutputMode::Argmax
        }
        _ => {
            return Err(OnnxError::Invalid(
                "the network does not end in a binary layer's scores (MatMul/Gemm/Conv) or their argmax"
                    .into(),
            ))
        }
    };
    match graph.metadata.get("xnorflow.output").map(String::as_str) {
        Some("scores") => output = OutputMode::Scores,
        Some("argmax") | None => {}
        Some(o) => walk.notes.push(format!("metadata xnorflow.output = {o:?} ignored")),
    }
    let provenance = match graph.metadata.get("xnorflow.provenance") {
        Some(p) => crate::json::from_str(p)
            .map_err(|e| OnnxError::Invalid(format!("metadata xnorflow.provenance: {e}")))?,
        None => Provenance {
            method: Some("import".into()),
            notes: Some(format!(
                "imported from {} ({})",
                if walk.finn { "FINN-ONNX" } else { "QONNX" },
                if graph.producer.is_empty() { "unknown producer" } else { &graph.producer }
            )),
            ..Provenance::default()
        },
    };
    let name = opts.name.clone().unwrap_or_else(|| {
        if graph.name.is_empty() {
            "imported".into()
        } else {
            graph.name.clone()
        }
    });
    let model = Model { name, input: fm, layers: std::mem::take(&mut walk.layers), output, provenance };
    model.infer().map_err(|e| OnnxError::Invalid(format!("the imported model does not verify: {e}")))?;
    let dialect = if walk.finn { "FINN-ONNX" } else { "QONNX" };
    let notes = walk.notes;
    Ok(Imported { model, graph, notes, dialect })
}

/// The xnorflow input shape of the graph's input.
fn input_shape(g: &Graph, opts: &ImportOptions) -> Result<Shape, OnnxError> {
    let s = &g.input_shape;
    let fm = match s[..] {
        [1, c, h, w] => Shape::new(h, w, c),
        [n, _, _, _] => {
            return Err(OnnxError::Invalid(format!("the input has a batch of {n}; export with batch 1")))
        }
        [1, f] | [f] => match opts.input_shape {
            Some(sh) if sh.len() == f => sh,
            Some(sh) => {
                return Err(OnnxError::Invalid(format!(
                    "--input-shape {sh} has {} pixels, the input {f}",
                    sh.len()
                )))
            }
            None if f == 784 => Shape::new(28, 28, 1),
            None if f == 64 => Shape::new(8, 8, 1),
            None => Shape::new(1, 1, f),
        },
        _ => {
            return Err(OnnxError::Invalid(format!(
                "the input shape {s:?} is neither NCHW (1, C, H, W) nor a flat vector (1, N)"
            )))
        }
    };
    if let Some(sh) = opts.input_shape {
        if sh != fm {
            return Err(OnnxError::Invalid(format!(
                "--input-shape {sh} differs from the graph's input {fm}"
            )));
        }
    }
    if fm.is_empty() {
        return Err(OnnxError::Invalid("the input has no pixels".into()));
    }
    Ok(fm)
}

/// `x` if it is a power of two (so products with it are exact).
fn pow2(x: f32) -> bool {
    x > 0.0 && x.is_finite() && (x.to_bits() & 0x007f_ffff) == 0 && x.is_normal()
}

impl Walk<'_> {
    fn constant(&self, node: &Node, i: usize) -> Result<&Tensor, OnnxError> {
        let name = node.inputs.get(i).ok_or_else(|| node.bad(&format!("input {i} is missing")))?;
        self.graph
            .consts
            .get(name)
            .ok_or_else(|| node.bad(&format!("input {i} (\"{name}\") must be a constant")))
    }

    fn opt_constant(&self, node: &Node, i: usize) -> Result<Option<&Tensor>, OnnxError> {
        match node.inputs.get(i) {
            Some(n) if !n.is_empty() => self.constant(node, i).map(Some),
            _ => Ok(None),
        }
    }

    fn scalar(&self, node: &Node, i: usize, what: &str) -> Result<f32, OnnxError> {
        self.constant(node, i)?
            .scalar()
            .ok_or_else(|| node.bad(&format!("{what} must be one value (per tensor)")))
    }

    /// One node of the chain; `d` is the position of its computed input.
    fn step(&mut self, node: &Node, d: usize, x: Val) -> Result<Val, OnnxError> {
        use super::graph::Domain;
        let op = node.op.as_str();
        if node.domain == Domain::Qonnx && node.domain_name.starts_with("finn") {
            self.finn = true;
        }
        if self.graph.datatypes.contains_key(node.outputs.first().map_or("", String::as_str)) {
            self.finn = true;
        }
        if d != 0 && !matches!(op, "Add" | "Mul" | "Sub" | "Div" | "Max" | "Min" | "Gather") {
            return Err(node.bad("its computed input must be the first one"));
        }
        match (&node.domain, op) {
            (Domain::Onnx, "Identity" | "Dropout") => Ok(x),
            (Domain::Onnx, "Reshape" | "Flatten" | "Transpose" | "Squeeze" | "Unsqueeze") => {
                self.relayout(node, x)
            }
            (Domain::Onnx, "MatMul" | "Gemm" | "Conv") => self.linear(node, x),
            (Domain::Onnx, "MaxPool") => self.maxpool(node, x),
            (Domain::Onnx, "Pad") => self.pad(node, x),
            (Domain::Onnx, "TopK" | "ArgMax") => self.argmax(node, x),
            (Domain::Qonnx, "BipolarQuant" | "MultiThreshold" | "Quant" | "IntQuant") => {
                self.quantize(node, x)
            }
            (Domain::Onnx, "BatchNormalization") => self.elementwise(node, d, x),
            (Domain::Onnx, _) if Bin::of(op).is_some() => self.elementwise(node, d, x),
            (Domain::Onnx, "Relu" | "Neg" | "Sqrt" | "Floor" | "Round" | "Clip" | "Cast") => self.elementwise(node, d, x),
            // A lookup in a constant table is elementwise; gathering computed values moves them.
            (Domain::Onnx, "Gather") if d == 1 && node.int("axis", 0)? == 0 => self.elementwise(node, d, x),
            (Domain::Onnx, "Gather") => {
                Err(node.bad("gathers computed values; only a lookup in a constant table (data constant, axis 0) is supported"))
            }
            _ => Err(interp::unsupported(node)),
        }
    }

    /// Runs `node` on a tensor filled by `fill(p)` for ONNX position p (with the constants of
    /// the graph in the other inputs) and returns the output.
    fn run_on(&self, node: &Node, d: usize, shape: &[usize], data: Vec<f32>) -> Result<Tensor, OnnxError> {
        let t = Tensor::f32(shape.to_vec(), data);
        let ins: Vec<Option<&Tensor>> = node
            .inputs
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i == d {
                    Some(&t)
                } else if n.is_empty() {
                    None
                } else {
                    self.graph.consts.get(n)
                }
            })
            .collect();
        let mut out = interp::eval_node(node, &ins, self.graph.opset)?;
        Ok(out.swap_remove(0))
    }

    /// An elementwise node, applied through the interpreter itself to every value a position can
    /// hold, so that the importer and the check round alike. `tables[g]` holds the values of
    /// group `g` (one group of all pixels, or one per channel); positions of a group must be
    /// treated alike (probed with three values), and then each run of the node evaluates as many
    /// table entries per group as the group has positions.
    fn apply(
        &self,
        node: &Node,
        d: usize,
        layout: &Layout,
        group_of: &dyn Fn(usize) -> usize,
        tables: &mut [Vec<f32>],
        what: &str,
    ) -> Result<Vec<usize>, OnnxError> {
        let n = layout.map.len();
        let steps = tables.first().map_or(0, Vec::len);
        let groups = tables.len();
        let mut rank = vec![0usize; n];
        let mut size = vec![0usize; groups];
        for (q, r) in rank.iter_mut().enumerate() {
            let g = group_of(q);
            *r = size[g];
            size[g] += 1;
        }
        let per_run = size.iter().copied().filter(|&s| s > 0).min().unwrap_or(1);
        let mut shape = layout.shape.clone();
        let run = |idx: &dyn Fn(usize) -> usize| -> Result<(Vec<f32>, Vec<usize>), OnnxError> {
            let data: Vec<f32> = (0..n).map(|q| tables[group_of(q)][idx(q)]).collect();
            let t = self.run_on(node, d, &layout.shape, data)?;
            if t.len() != n {
                return Err(node.bad("changes the number of elements"));
            }
            Ok((t.floats(), t.shape))
        };
        for probe in [0, steps / 2, steps.saturating_sub(1)] {
            let (f, _) = run(&|_| probe)?;
            let mut seen: Vec<Option<u32>> = vec![None; groups];
            for (q, y) in f.iter().enumerate() {
                let g = group_of(q);
                let bits = if y.is_nan() { f32::NAN.to_bits() } else { y.to_bits() };
                match seen[g] {
                    None => seen[g] = Some(bits),
                    Some(b) if b == bits => {}
                    Some(_) => {
                        return Err(node.bad(&format!(
                            "treats {what} {g} differently at different positions; {}",
                            if groups == 1 {
                                "xnorflow's input quantizer is one function of the pixel byte for all pixels"
                            } else {
                                "xnorflow's thresholds are per output channel"
                            }
                        )))
                    }
                }
            }
        }
        let mut next = vec![vec![0f32; steps]; groups];
        for r in 0..steps.div_ceil(per_run) {
            let at = |q: usize| (r * per_run + rank[q]).min(steps - 1);
            let (f, s) = run(&at)?;
            for (q, y) in f.into_iter().enumerate() {
                if rank[q] < per_run {
                    next[group_of(q)][at(q)] = y;
                }
            }
            shape = s;
        }
        for (t, v) in tables.iter_mut().zip(next) {
            *t = v;
        }
        Ok(shape)
    }

    /// An elementwise node on a pixel or accumulator stage.
    fn elementwise(&mut self, node: &Node, d: usize, x: Val) -> Result<Val, OnnxError> {
        match x.stage {
            Stage::Pixel(values) => {
                let mut tables = vec![values];
                let shape = self.apply(node, d, &x.layout, &|_| 0, &mut tables, "pixel group")?;
                let values = tables.pop().unwrap_or_default();
                Ok(Val { stage: Stage::Pixel(values), layout: Layout { shape, ..x.layout } })
            }
            Stage::Acc(mut p) => {
                let layout = x.layout;
                let shape = self.apply(node, d, &layout, &|q| layout.channel(q), &mut p.vals, "channel")?;
                Ok(Val { stage: Stage::Acc(p), layout: Layout { shape, ..layout } })
            }
            Stage::Binary { lo, hi, pad: None } => {
                // Still two values (FINN's Mul/Add after a MultiThreshold, a scale): the next layer
                // folds them in; the larger must stay on bit 1 so that pools remain ORs.
                let mut tables = vec![vec![lo, hi]];
                let shape = self.apply(node, d, &x.layout, &|_| 0, &mut tables, "activation group")?;
                let (lo, hi) = (tables[0][0], tables[0][1]);
                if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
                    return Err(node.bad(&format!(
                        "maps binary activations to {lo} (bit 0) and {hi} (bit 1); xnorflow needs the larger value \
                         on bit 1"
                    )));
                }
                Ok(Val { stage: Stage::Binary { lo, hi, pad: None }, layout: Layout { shape, ..x.layout } })
            }
            Stage::Ints { scale, lo, hi } => {
                // Still scale times the same integers (FINN's Mul after a MultiThreshold): the next
                // layer reads the new scale; the node must treat every position alike.
                let mut tables = vec![(lo..=hi).map(|q| q as f32 * scale).collect::<Vec<f32>>()];
                let shape = self.apply(node, d, &x.layout, &|_| 0, &mut tables, "activation group")?;
                let scale = ints_scale(&tables[0], lo).ok_or_else(|| {
                    node.bad(
                        "maps k-bit activations to values that are not one positive scale times their integers; \
                         xnorflow needs a MatMul, Gemm or Conv (or a max-pool) next",
                    )
                })?;
                Ok(Val { stage: Stage::Ints { scale, lo, hi }, layout: Layout { shape, ..x.layout } })
            }
            Stage::Class => Err(node.bad("follows the argmax")),
            _ => Err(node.bad(
                "applies arithmetic to quantized activations; xnorflow needs a MatMul, Gemm or Conv next \
                 (scales of +-1 activations are folded only through the next layer)",
            )),
        }
    }

    fn relayout(&mut self, node: &Node, x: Val) -> Result<Val, OnnxError> {
        if let Stage::Binary { pad: Some(_), .. } = x.stage {
            return Err(node.bad("comes between a Pad and its Conv"));
        }
        let shape = &x.layout.shape;
        let (new_shape, map) = match node.op.as_str() {
            "Transpose" => {
                let perm = interp::transpose_perm(node, shape.len())?;
                let (m, s) = interp::transpose(&x.layout.map, shape, &perm);
                (s, m)
            }
            _ => {
                let out = self.run_on(node, 0, shape, vec![0.0; x.layout.map.len()])?;
                (out.shape, x.layout.map.clone())
            }
        };
        Ok(Val { stage: x.stage, layout: Layout { shape: new_shape, map, fm: x.layout.fm } })
    }

    fn pad(&mut self, node: &Node, x: Val) -> Result<Val, OnnxError> {
        let Stage::Binary { lo, hi, pad: None } = x.stage else {
            return Err(node.bad("pads something other than +-1 activations before a Conv"));
        };
        if !x.layout.is_nchw() {
            return Err(node.bad("pads a tensor that is not NCHW"));
        }
        let pads = match self.opt_constant(node, 1)? {
            Some(t) => t.ints().ok_or_else(|| node.bad("pads must be integers"))?,
            None => node.ints("pads")?.unwrap_or_default(),
        };
        let value = match self.opt_constant(node, 2)? {
            Some(t) => t.scalar().ok_or_else(|| node.bad("the value must be a scalar"))?,
            None => node.float("value", 0.0)?,
        };
        let p = pads.get(2).copied().unwrap_or(-1);
        if pads.len() != 8 || pads != [0, 0, p, p, 0, 0, p, p] || !(1..=64).contains(&p) {
            return Err(
                node.bad(&format!("pads {pads:?}: the same amount on the four spatial sides is supported"))
            );
        }
        if node.string("mode", "constant")? != "constant" {
            return Err(node.bad("only constant padding is supported"));
        }
        let bit = if value == hi {
            true
        } else if value == lo {
            false
        } else {
            return Err(node.bad(&format!(
                "pads activations of {lo} and {hi} with {value}: a binary tensor has no third value, pad with one of them"
            )));
        };
        Ok(Val { stage: Stage::Binary { lo, hi, pad: Some((p as usize, bit)) }, layout: x.layout })
    }

    /// Turns a pixel stage that reaches a linear layer unquantized into an integer input layer,
    /// when its values are scale times integers of 8 bits.
    fn int_input(&mut self, node: &Node, values: &[f32]) -> Result<(f32, i64), OnnxError> {
        // The quantizer's own scale first, then powers of two (frac_bits records which).
        let pow2s = (0..=8u8).map(|k| (0.5f32.powi(i32::from(k)), k));
        let hint = self.hint.map(|h| (h, (0..=8u8).find(|&k| 0.5f32.powi(i32::from(k)) == h).unwrap_or(0)));
        for (scale, k) in hint.into_iter().chain(pow2s) {
            let q: Option<Vec<i32>> = values
                .iter()
                .map(|&v| {
                    let y = (v / scale).round();
                    // The value must be exactly level times scale, as the accumulator assumes.
                    (f64::from(y) * f64::from(scale) == f64::from(v) && (-128.0..=255.0).contains(&y))
                        .then_some(y as i32)
                })
                .collect();
            if let Some(q) = q {
                if let Ok(layer) = self.table_layer(q, k) {
                    let max_abs = match &layer {
                        Layer::QuantTable(t) => t.max_abs(),
                        Layer::QuantFixed8(f) => f.max_abs(),
                        _ => 1,
                    };
                    self.layers.push(layer);
                    return Ok((scale, max_abs));
                }
            }
        }
        Err(node.bad(
            "reads the input before it is quantized; xnorflow needs BipolarQuant, Quant or MultiThreshold on the \
             input (or pixel values that are 8-bit integers times a power of two)",
        ))
    }

    /// The input layer of an integer table: `quant.fixed8` for the identity or `pixel - 128`.
    fn table_layer(&self, q: Vec<i32>, frac_bits: u8) -> Result<Layer, String> {
        if q.iter().enumerate().all(|(v, &x)| x == v as i32) {
            return Ok(Layer::QuantFixed8(Fixed8 { signed: false, frac_bits }));
        }
        if q.iter().enumerate().all(|(v, &x)| x == v as i32 - 128) {
            return Ok(Layer::QuantFixed8(Fixed8 { signed: true, frac_bits }));
        }
        Ok(Layer::QuantTable(InputTable::new(q)?))
    }

    fn linear(&mut self, node: &Node, x: Val) -> Result<Val, OnnxError> {
        // For a binary input: the two activation values; for an integer one: (scale, scale) and
        // the largest magnitude of its integers.
        let (in_lo, in_scale, binary, mut pad, int_max) = match x.stage {
            Stage::Binary { lo, hi, pad } => (lo, hi, true, pad, 0),
            Stage::Pixel(ref v) => {
                let v = v.clone();
                let (s, max_abs) = self.int_input(node, &v)?;
                (s, s, false, None, max_abs)
            }
            Stage::Ints { scale, lo, hi } => (scale, scale, false, None, lo.abs().max(hi.abs()).max(1)),
            _ => {
                return Err(node.bad(
                    "multiplies values that are not quantized; put a BipolarQuant (or a one-step \
                     MultiThreshold) before it",
                ))
            }
        };
        let is_conv = node.op == "Conv";
        let w = self.constant(node, 1)?.clone();
        let fm = x.layout.fm;
        // rows[o][k]: the weight of output o at ONNX input position k (dense) or fan-in column
        // (conv, already in xnorflow's order).
        // `window`: a convolution's (kernel, stride).
        let (out_ch, fan_in, gemm_alpha, layer_shape, window, weight_of): (
            usize,
            usize,
            f32,
            Shape,
            Option<(usize, usize)>,
            WeightOf,
        ) = if is_conv {
            if !x.layout.is_nchw() {
                return Err(node.bad("convolves a tensor that is not in NCHW order"));
            }
            let [o, ci, kh, kw] = w.shape[..] else {
                return Err(node.bad("weights must be 4-D (O, I, kH, kW)"));
            };
            if ci != fm.c {
                return Err(node.bad(&format!("weights for {ci} input channels, the input has {}", fm.c)));
            }
            let win = interp::window(node, Some((kh, kw)))?;
            if node.int("group", 1)? != 1 {
                return Err(node.bad("grouped convolutions are not supported"));
            }
            if kh != kw || win.stride.0 != win.stride.1 {
                return Err(node.bad("square kernels with equal strides are supported"));
            }
            // Conv's own zero padding is a padding bit where 0 is the value of bit 0.
            let zero_pad = win.pads[0];
            if binary
                && in_lo == 0.0
                && pad.is_none()
                && zero_pad > 0
                && win.pads.iter().all(|&p| p == zero_pad)
            {
                pad = Some((zero_pad, false));
            } else if win.pads.iter().any(|&p| p != 0) {
                return Err(node.bad(if binary {
                    "zero padding of +-1 activations is not representable (a binary tensor has no zero); \
                         pad with +1 or -1 through a Pad node, or train without padding (0/1 activations may \
                         use Conv's zero padding)"
                } else {
                    "an integer input (8-bit or a k-bit activation) has no padding in xnorflow; train without \
                     padding"
                }));
            }
            let amount = pad.map_or(0, |p| p.0);
            let padded = Shape::new(fm.h + 2 * amount, fm.w + 2 * amount, fm.c);
            let unpadded = interp::Window { pads: [0; 4], ..win };
            let (oh, ow) = unpadded.out(node, padded.h, padded.w)?;
            let wv = w.floats();
            let f = move |oc: usize, col: usize| {
                // xnorflow column (kr, kc, c) is ONNX weight [oc][c][kr][kc].
                let (kr, rest) = (col / (kw * ci), col % (kw * ci));
                let (kc, c) = (rest / ci, rest % ci);
                wv[((oc * ci + c) * kh + kr) * kw + kc]
            };
            (o, kh * kw * ci, 1.0, Shape::new(oh, ow, o), Some((kh, win.stride.0)), Box::new(f))
        } else {
            let k = x.layout.map.len();
            match x.layout.shape[..] {
                [kk] | [1, kk] if kk == k => {}
                _ => {
                    return Err(node.bad(&format!(
                        "multiplies a tensor of shape {:?}; flatten it to (1, N) first",
                        x.layout.shape
                    )))
                }
            }
            let (trans_b, alpha) = if node.op == "Gemm" {
                if node.int("transA", 0)? != 0 {
                    return Err(node.bad("transA = 1 is not supported"));
                }
                (node.int("transB", 0)? != 0, node.float("alpha", 1.0)?)
            } else {
                (false, 1.0)
            };
            let [r, c] = w.shape[..] else { return Err(node.bad("weights must be a 2-D matrix")) };
            let (kk, m) = if trans_b { (c, r) } else { (r, c) };
            if kk != k {
                return Err(node.bad(&format!("weights of {kk} rows for an input of {k}")));
            }
            let wv = w.floats();
            // Invert the layout: ONNX position of each xnorflow column.
            let mut onnx_of = vec![0usize; k];
            for (p, &ours) in x.layout.map.iter().enumerate() {
                onnx_of[ours as usize] = p;
            }
            let f = move |o: usize, col: usize| {
                let p = onnx_of[col];
                if trans_b {
                    wv[o * k + p]
                } else {
                    wv[p * m + o]
                }
            };
            (m, k, alpha, Shape::new(1, 1, m), None, Box::new(f))
        };
        if out_ch == 0 || fan_in == 0 {
            return Err(node.bad("has no outputs or no inputs"));
        }
        if !BitMatrix::fits(out_ch, fan_in) {
            return Err(node.bad("its weight matrix is larger than xnorflow's limit (MAX_MATRIX_BITS)"));
        }
        // Weights: +-s per output channel.
        let mut scales = Vec::with_capacity(out_ch);
        let matrix = BitMatrix::from_fn(out_ch, fan_in, |o, c| weight_of(o, c) > 0.0);
        for o in 0..out_ch {
            let s = weight_of(o, 0).abs();
            if !(s > 0.0 && s.is_finite()) || (0..fan_in).any(|c| weight_of(o, c).abs() != s) {
                return Err(node.bad(&format!(
                    "output channel {o}'s weights are not +-s with one s > 0; xnorflow imports binary weights \
                     (a BipolarQuant on the weights)"
                )));
            }
            scales.push(s);
        }
        let (lo, hi) = if binary {
            (0i64, fan_in as i64)
        } else {
            let n = int_max * fan_in as i64;
            (-n, n)
        };
        elems(&[out_ch, (hi - lo + 1) as usize], &format!("{}'s accumulator table", node.describe()))?;
        let mut exact = true;
        let n = fan_in as i64;
        let vals: Vec<Vec<f32>> = scales
            .iter()
            .enumerate()
            .map(|(o, &s)| {
                // The interpreter multiplies in f32 and sums the products in f64, exactly when
                // they are integer multiples of one or two f32 values.
                let (p1, p0) = (f64::from(in_scale * s), f64::from(in_lo * s));
                exact &= pow2(in_scale) && pow2(s);
                let npos = i64::from(matrix.row_ones(o));
                (lo..=hi)
                    .map(|a| {
                        if binary {
                            // With P xnor matches and npos +s weights, the inputs at hi minus those
                            // at lo, counted with their weight's sign, are P - N + npos.
                            ((a - n + npos) as f64 * (p1 - p0) + (2 * npos - n) as f64 * p0) as f32
                        } else {
                            (a as f64 * p1) as f32
                        }
                    })
                    .collect()
            })
            .collect();
        if !binary && !exact {
            self.notes.push(format!(
                "{}: the input and weight scales are not powers of two, so the float graph rounds each product; \
                 the check set decides whether that ever changes a bit",
                node.describe()
            ));
        }
        let weights = BinaryWeights { matrix, activation: Activation::Scores };
        let layer = match window {
            Some((kernel, stride)) => {
                let padding = match pad {
                    Some((amount, bit)) => Padding::Bit { amount, bit },
                    None => Padding::None,
                };
                Layer::Conv2d { kernel, stride, padding, weights }
            }
            None => Layer::Dense(weights),
        };
        let offset = binary && in_lo != -in_scale;
        let mut pending = Pending { layer, lo, vals, pool: None, offset };
        let layout = if is_conv {
            Layout::nchw(layer_shape)
        } else {
            Layout { shape: vec![1, out_ch], map: (0..out_ch as u32).collect(), fm: layer_shape }
        };
        // Gemm's alpha and bias run as the interpreter runs them: after the product.
        if node.op == "Gemm" || (is_conv && node.inputs.len() > 2 && !node.inputs[2].is_empty()) {
            let beta = node.float("beta", 1.0)?;
            let bias = self.opt_constant(node, 2)?.map(|b| b.floats());
            for c in 0..out_ch {
                for v in pending.vals[c].iter_mut() {
                    if gemm_alpha != 1.0 {
                        *v *= gemm_alpha;
                    }
                    if let Some(b) = &bias {
                        let bc = if b.len() == 1 { b[0] } else { *b.get(c).unwrap_or(&0.0) };
                        *v += if node.op == "Gemm" && beta != 1.0 { bc * beta } else { bc };
                    }
                }
            }
        }
        Ok(Val { stage: Stage::Acc(Box::new(pending)), layout })
    }

    fn maxpool(&mut self, node: &Node, x: Val) -> Result<Val, OnnxError> {
        if !x.layout.is_nchw() {
            return Err(node.bad("pools a tensor that is not in NCHW order"));
        }
        let win = interp::window(node, None)?;
        if win.kernel.0 != win.kernel.1 || win.stride.0 != win.stride.1 || win.pads.iter().any(|&p| p != 0) {
            return Err(node.bad("square windows with equal strides and no padding are supported"));
        }
        let (k, s) = (win.kernel.0, win.stride.0);
        let fm = x.layout.fm;
        let (oh, ow) = win.out(node, fm.h, fm.w)?;
        let pooled = Layout::nchw(Shape::new(oh, ow, fm.c));
        match x.stage {
            Stage::Binary { lo, hi, pad: None } => {
                // hi > lo, so the max of a window is the OR of its bits.
                self.layers.push(Layer::MaxPool { kernel: k, stride: s });
                Ok(Val { stage: Stage::Binary { lo, hi, pad: None }, layout: pooled })
            }
            Stage::Acc(mut p) if p.pool.is_none() => {
                p.pool = Some((k, s, p.vals.clone()));
                Ok(Val { stage: Stage::Acc(p), layout: pooled })
            }
            Stage::Ints { scale, lo, hi } => {
                // scale > 0, so the max of a window is the max of its integers.
                self.layers.push(Layer::MaxPool { kernel: k, stride: s });
                Ok(Val { stage: Stage::Ints { scale, lo, hi }, layout: pooled })
            }
            _ => {
                Err(node
                    .bad("pools something other than quantized activations or one layer's pre-activations"))
            }
        }
    }

    fn argmax(&mut self, node: &Node, x: Val) -> Result<Val, OnnxError> {
        let Stage::Acc(p) = x.stage else {
            return Err(node.bad("takes the argmax of something other than the last layer's scores"));
        };
        let probe = self.run_on(node, 0, &x.layout.shape, vec![0.0; x.layout.map.len()]);
        probe?;
        self.finish(*p)?;
        Ok(Val { stage: Stage::Class, layout: x.layout })
    }

    /// The last layer: its scores must keep their order through whatever follows the product.
    fn finish(&mut self, p: Pending) -> Result<(), OnnxError> {
        let Pending { mut layer, vals, pool, offset, .. } = p;
        if pool.is_some() {
            return Err(OnnxError::Invalid("a max-pool on the last layer's scores is not supported".into()));
        }
        let first = &vals[0];
        if let Some(c) =
            vals.iter().position(|v| v.iter().zip(first).any(|(a, b)| a.to_bits() != b.to_bits()))
        {
            if offset {
                return Err(OnnxError::Invalid(
                    "the last layer reads two-valued activations that are not +-s (such as 0 and s): their dot \
                     products differ from the XNOR popcount by a per-class offset, which xnorflow's integer \
                     scores cannot carry; quantize the last layer's input to +-s (BipolarQuant)"
                        .into(),
                ));
            }
            return Err(OnnxError::Invalid(format!(
                "the last layer's scores are scaled or shifted differently per class (class {c} differs from \
                 class 0), which can change the argmax; xnorflow's scores are the integer accumulators"
            )));
        }
        let up = first.windows(2).all(|w| w[0] < w[1]);
        let down = first.windows(2).all(|w| w[0] > w[1]);
        if first.len() > 1 && !up && !down {
            let rising = first[0] < first[1];
            let want = if rising { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater };
            let i = first.windows(2).position(|w| w[0].partial_cmp(&w[1]) != Some(want)).unwrap_or(0);
            return Err(OnnxError::Invalid(format!(
                "the last layer's float scores are not strictly monotone in its accumulator ({} and {} at \
                 accumulators {} and {}), so the float argmax can differ from the integer one",
                first[i],
                first[i + 1],
                i,
                i + 1
            )));
        }
        let weights = layer.weights_mut().ok_or_else(|| OnnxError::Invalid("internal: no weights".into()))?;
        if down && first.len() > 1 {
            for r in 0..weights.out() {
                weights.matrix.invert_row(r);
            }
            self.notes.push("the last layer's scale is negative: its weight rows are inverted".into());
        } else if first.len() > 1 && (first[0] != 0.0 || first[1] != 1.0) {
            self.notes.push(
                "the last layer's positive scale and shift are dropped (the argmax cannot change)".into(),
            );
        }
        weights.activation = Activation::Scores;
        self.layers.push(layer);
        Ok(())
    }

    fn quantize(&mut self, node: &Node, x: Val) -> Result<Val, OnnxError> {
        let op = node.op.as_str();
        // The quantizer as a function of one value, and what its output is.
        enum Out {
            /// Two values: bit 0 and bit 1.
            Binary(f32, f32),
            /// `f` is a level; the interpreter outputs `scale * f + offset` (after a `Quant`,
            /// `offset` is 0 and `f` the level minus the zero point). `ints`: the same as a k-bit
            /// activation, or why it cannot be one.
            Levels { scale: f32, offset: f32, ints: Result<IntLevels, String> },
        }
        let (f, out): (Box<dyn Fn(f32, usize) -> f32>, Out) = match op {
            "BipolarQuant" => {
                let s = self.scalar(node, 1, "the scale")?;
                if !(s > 0.0 && s.is_finite()) {
                    return Err(node.bad(&format!("scale {s} must be positive")));
                }
                (Box::new(|v, _| if v >= 0.0 { 1.0 } else { 0.0 }), Out::Binary(-s, s))
            }
            "MultiThreshold" => {
                let t = self.constant(node, 1)?;
                let [tc, tb] = t.shape[..] else {
                    return Err(node.bad("thresholds must be 2-D (channels, steps)"));
                };
                let (scale, bias) = (node.float("out_scale", 1.0)?, node.float("out_bias", 0.0)?);
                let tv = t.floats();
                if tb == 0 {
                    return Err(node.bad("has no thresholds"));
                }
                let shape = x.layout.shape.clone();
                let cax = interp::threshold_axis(node, shape.len())?;
                let c_onnx = shape[cax];
                if tc != c_onnx && tc != 1 {
                    return Err(node.bad(&format!("thresholds for {tc} channels, the input has {c_onnx}")));
                }
                let inner: usize = shape[cax + 1..].iter().product();
                // ONNX channel of each xnorflow channel (every position of a channel must agree).
                let mut onnx_ch = vec![usize::MAX; x.layout.fm.c];
                for p in 0..x.layout.map.len() {
                    let oc = if tc == 1 { 0 } else { (p / inner) % c_onnx };
                    let ours = x.layout.channel(p);
                    if onnx_ch[ours] == usize::MAX {
                        onnx_ch[ours] = oc;
                    } else if onnx_ch[ours] != oc
                        && tv[oc * tb..(oc + 1) * tb] != tv[onnx_ch[ours] * tb..(onnx_ch[ours] + 1) * tb]
                    {
                        return Err(node.bad("its thresholds vary within one of xnorflow's channels"));
                    }
                }
                let f = move |v: f32, c: usize| {
                    let r = if onnx_ch[c] == usize::MAX { 0 } else { onnx_ch[c] };
                    tv[r * tb..(r + 1) * tb].iter().filter(|&&t| v >= t).count() as f32
                };
                // An integer out_dtype of two or more bits asks for levels even with one step.
                let dtype = node.string("out_dtype", "")?;
                let int_ty = int_type_named(&dtype);
                // The interpreter's out_scale * count + out_bias for counts 0 and 1.
                let out = if tb == 1 && scale > 0.0 && int_ty.is_none() {
                    Out::Binary(scale * 0.0 + bias, scale * 1.0 + bias)
                } else {
                    let ints = IntLevels::of_multithreshold(scale, bias, tb, int_ty, &dtype);
                    Out::Levels { scale, offset: bias, ints }
                };
                (Box::new(f), out)
            }
            _ => {
                let spec = interp::quant_spec(node, self.scalar(node, 3, "the bit width")?)?;
                let (s, z) = (self.scalar(node, 1, "the scale")?, self.scalar(node, 2, "the zero point")?);
                if !(s > 0.0 && s.is_finite()) {
                    return Err(node.bad(&format!("scale {s} must be positive")));
                }
                if z.fract() != 0.0 {
                    return Err(node.bad("the zero point must be an integer"));
                }
                // One bit has two levels: +-1 (signed, bipolar) or 0 and 1 (unsigned); the
                // interpreter outputs (level - z) * s.
                let out = if spec.bits == 1 {
                    let (a, b) = if spec.signed { (-1.0, 1.0) } else { spec.range() };
                    Out::Binary((a - z) * s, (b - z) * s)
                } else {
                    Out::Levels { scale: s, offset: 0.0, ints: IntLevels::of_quant(&spec, s, z) }
                };
                let binary = matches!(out, Out::Binary(..));
                let top = if spec.signed { 1.0 } else { spec.range().1 };
                let f = move |v: f32, _: usize| {
                    let level = spec.level(v, s, z);
                    if binary {
                        f32::from(u8::from(level == top))
                    } else {
                        level - z
                    }
                };
                (Box::new(f), out)
            }
        };
        match x.stage {
            Stage::Pixel(values) => {
                let q: Vec<f32> = values.iter().map(|&v| f(v, 0)).collect();
                match out {
                    Out::Binary(lo, hi) => {
                        let bits: Vec<bool> = q.iter().map(|&b| b != 0.0).collect();
                        match bits.iter().position(|&b| b) {
                            Some(t) if bits[t..].iter().all(|&b| b) => {
                                self.layers.push(Layer::QuantBinary { threshold: t as u8 });
                                Ok(Val { stage: Stage::Binary { lo, hi, pad: None }, layout: x.layout })
                            }
                            _ => {
                                // Not [pixel >= t]: the two values stay a function of the pixel,
                                // which the next layer reads as integers times hi.
                                self.notes.push(format!(
                                    "{}: the input bits are not [pixel >= t]; kept exactly as a 256-entry table",
                                    node.describe()
                                ));
                                self.hint = Some(hi);
                                let real = bits.iter().map(|&b| if b { hi } else { lo }).collect();
                                Ok(Val { stage: Stage::Pixel(real), layout: x.layout })
                            }
                        }
                    }
                    Out::Levels { scale, offset, .. } => {
                        // The values the interpreter outputs (level * scale + offset, or
                        // (level - z) * scale); the next layer splits them into integers and a
                        // scale, and ops in between (FINN's Mul/Add after a MultiThreshold) apply.
                        self.hint = Some(scale);
                        let real = q
                            .iter()
                            .map(|&c| if offset == 0.0 { c * scale } else { scale * c + offset })
                            .collect();
                        Ok(Val { stage: Stage::Pixel(real), layout: x.layout })
                    }
                }
            }
            Stage::Acc(p) => {
                let (lo, hi) = match out {
                    Out::Binary(lo, hi) => (lo, hi),
                    Out::Levels { ints, .. } => {
                        let q = ints.map_err(|m| node.bad(&m))?;
                        self.multi(node, *p, &*f, &q)?;
                        return Ok(Val {
                            stage: Stage::Ints { scale: q.scale, lo: q.bias, hi: q.top },
                            layout: x.layout,
                        });
                    }
                };
                if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
                    return Err(node.bad(&format!(
                        "outputs {hi} for bit 1 and {lo} for bit 0; xnorflow needs the larger value on bit 1"
                    )));
                }
                self.threshold(node, *p, &*f)?;
                Ok(Val { stage: Stage::Binary { lo, hi, pad: None }, layout: x.layout })
            }
            _ => Err(node.bad("quantizes values that are already quantized")),
        }
    }

    /// Reads each channel's k-bit output off its accumulator table (`level(value, channel)`,
    /// shifted by `q.shift`): one threshold per level, the first accumulator whose output reaches
    /// it (above the range when none does). A channel whose output falls as the accumulator rises
    /// has its weight row inverted, one that is not monotone is refused. Emits the layer.
    fn multi(
        &mut self,
        node: &Node,
        p: Pending,
        level: &dyn Fn(f32, usize) -> f32,
        q: &IntLevels,
    ) -> Result<(), OnnxError> {
        let Pending { mut layer, lo, vals, pool, .. } = p;
        let weights = layer.weights_mut().ok_or_else(|| node.bad("internal: no weights"))?;
        let levels = (q.top - q.bias) as usize;
        let mut thresholds = Vec::with_capacity(vals.len() * levels);
        let mut inverted = 0;
        for (c, v) in vals.iter().enumerate() {
            if let Some((_, _, at_pool)) = &pool {
                pool_keeps_order(node, c, &at_pool[c], v)?;
            }
            let mut out: Vec<i64> = v.iter().map(|&y| level(y, c) as i64 + q.shift).collect();
            if let Some(o) = out.iter().find(|&&o| o < q.bias || o > q.top) {
                return Err(node.bad(&format!("outputs the level {o}, outside {}..={}", q.bias, q.top)));
            }
            if out.windows(2).any(|w| w[0] > w[1]) {
                if out.windows(2).any(|w| w[0] < w[1]) {
                    return Err(node.bad(&format!(
                        "channel {c}'s output is not monotone in its accumulator; it cannot be a multi-threshold"
                    )));
                }
                // Falling: the inverted row's accumulator (N - P for a binary input, -acc for an
                // integer one) walks the table backwards.
                weights.matrix.invert_row(c);
                out.reverse();
                inverted += 1;
            }
            for j in 1..=levels as i64 {
                // Never reached: the first accumulator above the range.
                let i = out.iter().position(|&o| o >= q.bias + j).unwrap_or(out.len());
                thresholds.push(
                    i32::try_from(lo + i as i64).map_err(|_| node.bad("threshold does not fit 32 bits"))?,
                );
            }
        }
        if inverted > 0 {
            self.notes
                .push(format!("{}: {inverted} channel(s) with falling outputs inverted", node.describe()));
        }
        let bias = i32::try_from(q.bias).map_err(|_| node.bad("the lowest level does not fit 32 bits"))?;
        weights.activation = Activation::Multi(MultiThreshold { ty: q.ty, bias, levels, thresholds });
        self.layers.push(layer);
        if let Some((k, s, _)) = pool {
            self.layers.push(Layer::MaxPool { kernel: k, stride: s });
        }
        Ok(())
    }

    /// Reads each channel's threshold off its accumulator table and emits the layer.
    fn threshold(
        &mut self,
        node: &Node,
        p: Pending,
        bit: &dyn Fn(f32, usize) -> f32,
    ) -> Result<(), OnnxError> {
        let Pending { mut layer, lo, vals, pool, .. } = p;
        let n = vals[0].len() as i64;
        let weights = layer.weights_mut().ok_or_else(|| node.bad("internal: no weights"))?;
        let binary_in = lo == 0;
        let mut ts = Vec::with_capacity(vals.len());
        let mut inverted = 0;
        for (c, v) in vals.iter().enumerate() {
            if let Some((_, _, at_pool)) = &pool {
                pool_keeps_order(node, c, &at_pool[c], v)?;
            }
            let b: Vec<bool> = v.iter().map(|&y| bit(y, c) != 0.0).collect();
            let first_one = b.iter().position(|&x| x);
            let up = first_one.is_none_or(|t| b[t..].iter().all(|&x| x));
            let last_one = b.iter().rposition(|&x| x);
            let down = last_one.is_some_and(|t| b[..=t].iter().all(|&x| x));
            let t = if up {
                // bit = [acc >= lo + t]; never 1 means a threshold above the range.
                lo + first_one.map_or(n, |t| t as i64)
            } else if down {
                // bit = [acc <= lo + t]: invert the row. Binary: P' = N - P; integer: acc' = -acc.
                weights.matrix.invert_row(c);
                inverted += 1;
                let last = lo + last_one.map_or(0, |t| t as i64);
                if binary_in {
                    (n - 1) - last
                } else {
                    -last
                }
            } else {
                return Err(node.bad(&format!(
                    "channel {c}'s bit is not monotone in its accumulator; it cannot be one threshold"
                )));
            };
            ts.push(i32::try_from(t).map_err(|_| node.bad("threshold does not fit 32 bits"))?);
        }
        if inverted > 0 {
            self.notes.push(format!("{}: {inverted} channel(s) with falling bits inverted", node.describe()));
        }
        weights.activation = Activation::Threshold(ts);
        self.layers.push(layer);
        if let Some((k, s, _)) = pool {
            self.layers.push(Layer::MaxPool { kernel: k, stride: s });
        }
        Ok(())
    }
}

/// Max then g equals g then max (an OR of bits, a max of levels) only where g, what follows the
/// pool (`at_pool` values to `after` values, one channel's accumulator table), keeps the order.
fn pool_keeps_order(node: &Node, c: usize, at_pool: &[f32], after: &[f32]) -> Result<(), OnnxError> {
    let mut pairs: Vec<(f32, f32)> = at_pool.iter().copied().zip(after.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pairs.windows(2).any(|w| w[0].1 > w[1].1 || (w[0].0 == w[1].0 && w[0].1 != w[1].1)) {
        return Err(node.bad(&format!(
            "channel {c}: what follows the max-pool is decreasing (e.g. a negative BatchNorm gamma after the \
             pool), so the pool is an AND of bits (a min of levels), which xnorflow does not have"
        )));
    }
    Ok(())
}

/// The positive scale `s` with `values[i] == (lo + i) * s` exactly in f32 for every `i`.
fn ints_scale(values: &[f32], lo: i64) -> Option<f32> {
    let (i, q) = (0..values.len()).map(|i| (i, lo + i as i64)).find(|&(_, q)| q != 0)?;
    let s = values[i] / q as f32;
    let exact = values.iter().enumerate().all(|(i, &v)| (lo + i as i64) as f32 * s == v);
    (s > 0.0 && s.is_finite() && exact).then_some(s)
}

/// FINN's name of an integer type of 2 to 8 bits (`INT2`, `UINT4`, ...).
fn int_type_named(name: &str) -> Option<IntType> {
    let (signed, bits) = match name.strip_prefix("UINT") {
        Some(b) => (false, b),
        None => (true, name.strip_prefix("INT")?),
    };
    let bits: u8 = bits.parse().ok()?;
    (MIN_ACT_BITS..=MAX_ACT_BITS).contains(&bits).then_some(IntType { bits, signed })
}

/// A multi-level quantizer read as a k-bit activation: the integer it outputs is its level
/// (`Quant`: the level minus the zero point; `MultiThreshold`: the count) plus `shift`, in
/// `bias..=top`, of type `ty`, and the graph's value is `scale` times it, exactly.
#[derive(Copy, Clone, Debug)]
struct IntLevels {
    ty: IntType,
    bias: i64,
    top: i64,
    scale: f32,
    shift: i64,
}

impl IntLevels {
    /// A `Quant` of `spec` with scale `s` and zero point `z` (integer) as a k-bit activation.
    fn of_quant(spec: &interp::QuantSpec, s: f32, z: f32) -> Result<Self, String> {
        let bits = u8::try_from(spec.bits).unwrap_or(u8::MAX);
        if !(MIN_ACT_BITS..=MAX_ACT_BITS).contains(&bits) {
            return Err(format!(
                "quantizes a layer to {} bits; k-bit activations have {MIN_ACT_BITS} to {MAX_ACT_BITS}",
                spec.bits
            ));
        }
        let ty = IntType { bits, signed: spec.signed };
        let (mn, mx) = spec.range();
        let (bias, top) = ((mn - z) as i64, (mx - z) as i64);
        if bias < ty.min() || top > ty.max() {
            return Err(format!(
                "its zero point {z} moves the levels to {bias}..={top}, outside {ty}; k-bit activations need a \
                 zero point that keeps them in their type (0)"
            ));
        }
        Ok(IntLevels { ty, bias, top, scale: s, shift: 0 })
    }

    /// A `MultiThreshold` of `steps` thresholds, `out_scale * count + out_bias`, with the integer
    /// type its `out_dtype` names (else the narrowest that holds its outputs).
    fn of_multithreshold(
        scale: f32,
        bias: f32,
        steps: usize,
        named: Option<IntType>,
        dtype: &str,
    ) -> Result<Self, String> {
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(format!("out_scale {scale} must be positive for a k-bit activation"));
        }
        let b = bias / scale;
        if b.fract() != 0.0 || b.abs() > 256.0 {
            return Err(format!(
                "out_bias {bias} is not a whole number of out_scale {scale} steps; a k-bit activation is a scale \
                 times integers"
            ));
        }
        let (b, top) = (b as i64, b as i64 + steps as i64);
        // The next layer computes on scale * (count + b): it must be the interpreter's value.
        if (0..=steps).any(|k| scale * k as f32 + bias != (k as i64 + b) as f32 * scale) {
            return Err(format!(
                "out_scale {scale} and out_bias {bias} do not give exact multiples of the scale"
            ));
        }
        let fits = |t: IntType| t.min() <= b && top <= t.max();
        let ty = match named {
            Some(t) if fits(t) => t,
            Some(t) => return Err(format!("out_dtype {dtype} does not hold its outputs {b}..={top} ({t})")),
            None => (MIN_ACT_BITS..=MAX_ACT_BITS)
                .map(|bits| IntType { bits, signed: b < 0 })
                .find(|&t| fits(t))
                .ok_or_else(|| format!("outputs {b}..={top} need more than {MAX_ACT_BITS} bits"))?,
        };
        Ok(IntLevels { ty, bias: b, top, scale, shift: b })
    }
}
