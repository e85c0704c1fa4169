//! Lowering: a model under a folding becomes the graph's compute nodes (sliding-window units,
//! max-pool units, MVTUs) in model order, with no stream plumbing yet. Streams between them may
//! differ in width until [`super::width`] runs.
//!
//! Every node is named by a letter and the index of the model layer it implements (`L3`, `S3`,
//! `P5`); the later passes name their nodes after the consumer's layer the same way.
//!
//! A residual block `i` becomes a series-parallel piece of the graph: the duplicate `D<i>`, the
//! branch (sign `B<i>`, window `S<i>`, MVTU `L<i>`) on the main path and the add `A<i>`, whose
//! bypass holds, for a `pool_pad` shortcut, the integer max-pool `Q<i>` and the channel pad
//! `C<i>` (the width and FIFO passes add their converters and the bypass FIFO `R<i>`).

use crate::dataflow::fold::{Folding, LayerFold};
use crate::dataflow::{
    divisors, DataflowError, Graph, LaneInput, MvtuConfig, MvtuOutput, Node, NodeKind, PoolConfig, SwuConfig,
};
use crate::model::{Elem, Layer, LayerId, Model, Padding, Shortcut};

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

    /// Cycles per frame at `pe` and `simd`: the MVTU's, or a convolution's window unit's when it
    /// reads more words than the MVTU takes (a stride above the kernel skips input pixels, but
    /// the window unit still reads every one of them, `simd` channels a cycle).
    pub fn cycles(&self, pe: usize, simd: usize) -> u64 {
        let mvtu = (self.mh / pe) * (self.mw / simd) * self.vectors;
        let window = self.window.map_or(0, |w| w.h * w.w * (w.c / simd));
        mvtu.max(window) as u64
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

/// The stream element type of a tensor of element type `e` (`None` for pixels and scores, which
/// no unit reads).
fn lane_input(e: Elem) -> Option<LaneInput> {
    match e {
        Elem::Bits => Some(LaneInput::Binary),
        Elem::Int { ty, .. } => Some(ty.into()),
        Elem::Pixels | Elem::Scores => None,
    }
}

/// The binary layers (dense and convolutional) of a model, in order. Each reads the element type
/// its producer streams: the quantizer's bits or 8-bit integers, a threshold layer's bits, a
/// multi-threshold layer's k-bit integers (through any max-pool).
pub fn layer_shapes(model: &Model) -> Result<Vec<LayerShape>, DataflowError> {
    let types = model.infer()?;
    let mut shapes = Vec::new();
    for (id, layer) in model.iter() {
        let i = id.index();
        let Some(w) = layer.weights() else { continue };
        // A verified model's binary layers read bits or integers; a residual branch reads the
        // bits its sign node makes of the block's integers.
        let input = match i.checked_sub(1).and_then(|p| lane_input(types[p].elem)) {
            Some(_) if matches!(layer, Layer::Residual { .. }) => LaneInput::Binary,
            Some(input) => input,
            None => {
                return Err(DataflowError::Folding {
                    layer: id.to_string(),
                    message: "a binary layer reads bits or integers".into(),
                })
            }
        };
        let (mw, mh, output) = (w.fan_in(), w.out(), MvtuOutput::of(&w.activation));
        let name = id.to_string();
        shapes.push(match layer {
            Layer::Conv2d { kernel, stride, padding, .. }
            | Layer::Residual { kernel, stride, padding, .. } => {
                let (inp, out) = (types[i - 1].shape, types[i].shape);
                LayerShape {
                    name,
                    layer: id,
                    mw,
                    mh,
                    input,
                    output,
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
                }
            }
            _ => LayerShape { name, layer: id, mw, mh, input, output, vectors: 1, window: None },
        });
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
            let elem = lane_input(types[idx - 1].elem).unwrap_or(LaneInput::Binary);
            let eb = elem.bits();
            // Words of the producer's width when they hold whole channel groups.
            let simd = gcd(nodes.last().map_or(inp.c, |n| n.out_bits / eb), inp.c);
            let cfg = PoolConfig {
                name: format!("P{idx}"),
                h: inp.h,
                w: inp.w,
                c: inp.c,
                simd,
                elem_bits: eb,
                signed: elem.int_type().is_some_and(|t| t.signed),
                kernel: *kernel,
            };
            cfg.validate()?;
            nodes.push(Node::pool(cfg));
            continue;
        }
        if layer.weights().is_none() {
            continue;
        }
        let Some(s) = shapes.next() else { break };
        // A residual block: the block's integers go to the branch (sign, window, MVTU) and, through
        // the duplicate's second output, to the add's bypass.
        let residual = match (layer, types[idx - 1].elem) {
            (Layer::Residual { shortcut, .. }, Elem::Int { ty, .. }) => Some((*shortcut, ty)),
            _ => None,
        };
        let mut add = None;
        if let Some((shortcut, ty)) = residual {
            let inp = types[idx - 1].shape;
            let k = usize::from(ty.bits);
            // Words of the producer's width when they hold whole channel groups.
            let p = gcd(nodes.last().map_or(inp.c, |n| n.out_bits / k), inp.c);
            let words = inp.h * inp.w * inp.c / p;
            nodes.push(Node::keeping(&format!("D{idx}"), NodeKind::Duplicate, p * k, words));
            nodes.push(Node::sign(&format!("B{idx}"), ty, p, words));
            let mut bypass = Vec::new();
            if shortcut == Shortcut::PoolPad {
                let pool = PoolConfig {
                    name: format!("Q{idx}"),
                    h: inp.h,
                    w: inp.w,
                    c: inp.c,
                    simd: p,
                    elem_bits: k,
                    signed: true,
                    kernel: 2,
                };
                pool.validate()?;
                let pixels = pool.oh() * pool.ow();
                bypass.push(Node::pool(pool));
                // Words of whole channel groups of both the input and the output.
                let simd = gcd(p, s.mh);
                bypass.push(Node::channel_pad(&format!("C{idx}"), inp.c, s.mh, k, simd, pixels));
            }
            add = Some(NodeKind::Add { layer: s.layer, ty, bypass });
        }
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
        let mvtu = Node::mvtu_repeated(s.layer, cfg, s.vectors);
        let (bits, words) = (mvtu.out_bits, mvtu.out_words);
        nodes.push(mvtu);
        if let Some(kind) = add {
            nodes.push(Node::keeping(&format!("A{idx}"), kind, bits, words));
        }
    }
    Ok(Graph { name: model.name.clone(), nodes, arch: None })
}
