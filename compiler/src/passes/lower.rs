//! Lowering: a model under a folding becomes the graph's compute nodes (sliding-window units,
//! max-pool units, MVTUs) in model order, with no stream plumbing yet. Streams between them may
//! differ in width until [`super::width`] runs.
//!
//! Every node is named by a letter and the index of the model layer it implements (`L3`, `S3`,
//! `P5`); the later passes name their nodes after the consumer's layer the same way.

use crate::dataflow::fold::{Folding, LayerFold};
use crate::dataflow::{
    divisors, DataflowError, Graph, LaneInput, MvtuConfig, MvtuOutput, Node, PoolConfig, SwuConfig,
};
use crate::model::{Activation, Layer, LayerId, Model, Padding};

/// The input geometry of a convolution, for its sliding-window unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on each side.
    pub pad: usize,
    /// Padding bit.
    pub pad_bit: bool,
}

/// A binary layer as the hardware sees it, before folding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// `L<index>`, the MVTU's name.
    pub name: String,
    /// The model layer.
    pub layer: LayerId,
    /// Fan-in.
    pub mw: usize,
    /// Outputs.
    pub mh: usize,
    /// Input element type.
    pub input: LaneInput,
    /// Threshold bits or scores.
    pub output: MvtuOutput,
    /// Vectors per frame: output pixels of a convolution, 1 for a dense layer.
    pub vectors: usize,
    /// A convolution's input geometry.
    pub window: Option<Window>,
}

impl LayerShape {
    /// The legal SIMD values: divisors of the fan-in, or of a convolution's input channels (the
    /// sliding-window unit's words never straddle a pixel).
    pub fn legal_simd(&self) -> Vec<usize> {
        divisors(self.window.map_or(self.mw, |w| w.c))
    }

    /// The fewest cycles per frame any folding reaches: every row in parallel at the widest
    /// legal SIMD.
    pub fn fastest(&self) -> u64 {
        self.cycles(self.mh, self.legal_simd().last().copied().unwrap_or(1))
    }

    /// Cycles per frame at PE = SIMD = 1.
    pub fn slowest(&self) -> u64 {
        self.cycles(1, 1)
    }

    /// Cycles per frame at `pe` and `simd`.
    pub fn cycles(&self, pe: usize, simd: usize) -> u64 {
        ((self.mh / pe) * (self.mw / simd) * self.vectors) as u64
    }

    /// The sliding-window unit of a convolution under folding `f`.
    pub fn swu(&self, f: &LayerFold) -> Option<SwuConfig> {
        self.window.map(|w| SwuConfig {
            name: format!("S{}", self.layer.0),
            h: w.h,
            w: w.w,
            c: w.c,
            elem_bits: self.input.bits(),
            simd: f.simd,
            kernel: w.kernel,
            stride: w.stride,
            pad: w.pad,
            pad_bit: w.pad_bit,
        })
    }

    /// The MVTU configuration under `f`.
    pub fn config(&self, f: &LayerFold) -> MvtuConfig {
        MvtuConfig {
            name: self.name.clone(),
            mw: self.mw,
            mh: self.mh,
            pe: f.pe,
            simd: f.simd,
            input: self.input,
            output: self.output,
            popcount: f.popcount,
            mem_style: f.mem_style,
        }
    }
}

/// The binary layers (dense and convolutional) of a model, in order.
pub fn layer_shapes(model: &Model) -> Result<Vec<LayerShape>, DataflowError> {
    let types = model.infer()?;
    let mut input = LaneInput::Binary;
    let mut shapes = Vec::new();
    for (id, layer) in model.iter() {
        let i = id.index();
        let output = |w: &crate::model::BinaryWeights| match w.activation {
            Activation::Threshold(_) => Ok(MvtuOutput::Threshold),
            Activation::Scores => Ok(MvtuOutput::Scores),
            Activation::Multi(_) => Err(DataflowError::Folding {
                layer: id.to_string(),
                message: "multi-bit activations have no hardware lowering yet".into(),
            }),
        };
        // The first binary layer takes the quantizer's elements, every later one bits.
        let kind = if shapes.is_empty() { input } else { LaneInput::Binary };
        match layer {
            Layer::QuantBinary { .. } => input = LaneInput::Binary,
            Layer::QuantFixed8(f) => input = LaneInput::Fixed8 { signed: f.signed },
            // The stream carries the table's values as bytes (`sim::stream::vectors` packs the
            // golden model's first integers), so the lanes see an 8-bit input like any other.
            Layer::QuantTable(t) => input = LaneInput::Fixed8 { signed: t.signed() },
            Layer::Dense(w) => shapes.push(LayerShape {
                name: id.to_string(),
                layer: id,
                mw: w.fan_in(),
                mh: w.out(),
                input: kind,
                output: output(w)?,
                vectors: 1,
                window: None,
            }),
            Layer::Conv2d { kernel, stride, padding, weights: w } => {
                let (inp, out) = (types[i - 1].shape, types[i].shape);
                shapes.push(LayerShape {
                    name: id.to_string(),
                    layer: id,
                    mw: w.fan_in(),
                    mh: w.out(),
                    input: kind,
                    output: output(w)?,
                    vectors: out.h * out.w,
                    window: Some(Window {
                        h: inp.h,
                        w: inp.w,
                        c: inp.c,
                        kernel: *kernel,
                        stride: *stride,
                        pad: padding.amount(),
                        pad_bit: matches!(padding, Padding::Bit { bit: true, .. }),
                    }),
                });
            }
            Layer::MaxPool { .. } => {}
        }
    }
    if shapes.is_empty() {
        return Err(DataflowError::NoBinaryLayer);
    }
    Ok(shapes)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The lowering pass: `model` under `folding` (every binary layer must be listed, no other layer)
/// as compute nodes in model order.
pub fn run(model: &Model, folding: &Folding) -> Result<Graph, DataflowError> {
    let shapes = layer_shapes(model)?;
    for &layer in folding.layers.keys() {
        if !shapes.iter().any(|s| s.layer == layer) {
            return Err(DataflowError::UnknownLayer {
                layer,
                known: shapes.iter().map(|s| s.layer).collect(),
            });
        }
    }
    let types = model.infer()?;
    let mut shapes = shapes.iter();
    let mut nodes: Vec<Node> = Vec::new();
    for (id, layer) in model.iter() {
        let idx = id.index();
        if let Layer::MaxPool { kernel, stride } = layer {
            let inp = types[idx - 1].shape;
            if kernel != stride {
                return Err(DataflowError::Folding {
                    layer: id.to_string(),
                    message: format!(
                        "the max-pool unit takes windows with stride = kernel; this one has kernel {kernel}, \
                         stride {stride}"
                    ),
                });
            }
            // Words of the producer's width when they hold whole channel groups.
            let bits = gcd(nodes.last().map_or(inp.c, |n| n.out_bits), inp.c);
            let cfg =
                PoolConfig { name: format!("P{idx}"), h: inp.h, w: inp.w, c: inp.c, bits, kernel: *kernel };
            cfg.validate()?;
            nodes.push(Node::pool(cfg));
            continue;
        }
        if layer.weights().is_none() {
            continue;
        }
        let Some(s) = shapes.next() else { break };
        let f = folding.layers.get(&s.layer).ok_or_else(|| DataflowError::Folding {
            layer: s.name.clone(),
            message: format!("the folding does not give PE and SIMD for this {}x{} layer", s.mh, s.mw),
        })?;
        let cfg = s.config(f);
        if let Some(swu) = s.swu(f) {
            swu.validate().map_err(|e| match e {
                // The window unit is named S<i>, the user's folding names the layer L<i>.
                DataflowError::Folding { message, .. } => {
                    DataflowError::Folding { layer: s.name.clone(), message }
                }
                other => other,
            })?;
            nodes.push(Node::swu(swu));
        }
        cfg.validate()?;
        nodes.push(Node::mvtu_repeated(s.layer, cfg, s.vectors));
    }
    Ok(Graph { name: model.name.clone(), nodes })
}
