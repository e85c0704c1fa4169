//! Model IR to QONNX: an ONNX graph that qonnx's executor runs with the same argmax as the golden
//! model, and that the importer reads back into the identical model.
//!
//! The graph computes on float32 values that are all small integers (or, after an 8-bit fixed-point
//! quantizer with fractional bits, integers times `2^-frac_bits`), so every product, sum and
//! comparison in it is exact; [`export`] refuses a model whose accumulators could leave the range
//! (`2^24`) where float32 holds every integer.
//!
//! The form, one layer at a time (`L<i>` prefixes every name a layer creates):
//! - Graph input `global_in`: float32 `(1, C, H, W)`, the pixels divided by 255.
//! - `quant.binary t`: `Mul(255)`, `Add(0.5 - t)`, `BipolarQuant(scale 1)`: bit = `[pixel >= t]`.
//! - `quant.fixed8` / `quant.table`: `Mul(255)`, `Round`, `Cast(INT64)`, `Gather(table)` with the
//!   256 values a pixel byte becomes (fixed point: divided by `2^frac_bits`).
//! - `dense` / `conv2d`: a float32 `+-1` initializer through `BipolarQuant(scale 1)` (marking it
//!   binary), then `MatMul` (`(K, M)` weights; a `Flatten(axis 1)` first when the input is 4-D) or
//!   `Conv` (`(O, C, k, k)`, no padding of its own; a `Pad` with the padding bit as +-1 first).
//!   A binary input gives `y = 2P - N`, an integer input the dot product itself.
//! - Thresholds: `MultiThreshold` (out_scale 2, out_bias -1, out_dtype BIPOLAR), thresholds
//!   `(C, 1)` holding `2T - N` (binary input) or `T / 2^frac_bits` (integer input).
//! - A k-bit activation (`act=multi`): `MultiThreshold` (out_scale 1, out_bias the lowest level,
//!   out_dtype `INTk`/`UINTk`), thresholds `(C, levels)` mapped as above: its outputs are the
//!   integers themselves, which the next layer multiplies exactly (integer input, scale 1). A
//!   `Quant` cannot stand for it: one `Quant` after a per-channel affine map has equally spaced
//!   thresholds, a multi-threshold any ascending ones.
//! - `maxpool`: `MaxPool` (on +-1 values the max is the OR).
//! - The last layer's `MatMul` output is the graph output `global_out`, `(1, classes)`: scores
//!   `2P - N`, monotone in `P`, so the argmax (lowest index on ties) is the model's.
//!
//! Metadata: `xnorflow.provenance` (JSON), `xnorflow.output` (`argmax` or `scores`),
//! `xnorflow.input_scale` (`unit`: the input is pixel/255).

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto,
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::model::{
    Activation, BinaryWeights, Elem, Layer, Model, ModelError, OutputMode, Padding, Shape, TensorType,
};
use prost::Message;

/// ONNX IR version of the exported file (that of opset 11's era; every runtime reads it).
pub const IR_VERSION: i64 = 7;
/// Version of the default ONNX operator set the graph uses (`Pad` takes its pads as an input).
pub const ONNX_OPSET: i64 = 11;
/// Domain of QONNX's custom operators (`BipolarQuant`, `MultiThreshold`).
pub const QONNX_DOMAIN: &str = "qonnx.custom_op.general";
/// Name of the graph input: float32 `(1, C, H, W)`, pixel/255.
pub const INPUT_NAME: &str = "global_in";
/// Name of the graph output: float32 `(1, classes)` scores.
pub const OUTPUT_NAME: &str = "global_out";
/// Metadata key of the provenance (JSON).
pub const META_PROVENANCE: &str = "xnorflow.provenance";
/// Metadata key of the output mode (`argmax` or `scores`).
pub const META_OUTPUT: &str = "xnorflow.output";
/// Metadata key of the input scale (`unit`: the input is pixel/255).
pub const META_INPUT_SCALE: &str = "xnorflow.input_scale";

/// Largest magnitude up to which float32 holds every integer. Accumulators, partial sums and
/// thresholds must stay within it for the float graph to compute the model exactly.
const F32_EXACT: i64 = 1 << 24;
/// Largest protobuf message (2 GiB - 1); weights beyond it would need ONNX external data.
const MAX_PROTO_BYTES: u64 = i32::MAX as u64;
/// Headroom under [`MAX_PROTO_BYTES`] for everything that is not an initializer's data.
const PROTO_HEADROOM: u64 = 16 << 20;

/// Why a model cannot be exported: the model is invalid, or a layer (named as the verifier names
/// it) or the whole model cannot be represented exactly in the exported graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// What is wrong, in the verifier's terms.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The model as a serialized QONNX `ModelProto` (see the module documentation for its form).
pub fn export(model: &Model) -> Result<Vec<u8>, ExportError> {
    Ok(encode(&to_proto(model)?))
}

/// The serialized bytes of a `ModelProto` (so that callers need not depend on prost).
pub fn encode(proto: &ModelProto) -> Vec<u8> {
    proto.encode_to_vec()
}

/// The model as a QONNX `ModelProto` (see the module documentation for its form).
pub fn to_proto(model: &Model) -> Result<ModelProto, ExportError> {
    let types = model.infer()?;
    let mut g = Builder::default();
    // Every BipolarQuant shares one unit scale: unit scale is what marks a tensor as BIPOLAR.
    g.init_f32(SCALE_ONE, &[], vec![1.0]);

    let mut cur = Cur { name: INPUT_NAME.to_string(), form: Form::Nchw(model.input) };
    let mut prev = TensorType { shape: model.input, elem: Elem::Pixels };
    // Divisor of the integer values after a fixed-point quantizer (2^frac_bits), else 1.
    let mut int_scale = 1.0f32;
    let last = model.layers.len() - 1;
    for ((id, layer), out) in model.iter().zip(&types) {
        let p = format!("L{}", id.0);
        let err = |message: String| {
            ExportError::Model(ModelError::Layer { layer: id, kind: layer.kind(), message })
        };
        let is_last = id.index() == last;
        match layer {
            Layer::Residual { .. } => {
                return Err(err(
                    "residual blocks are not exported to QONNX yet (xnorflow's own .xnf and text \
                     forms hold them)"
                        .into(),
                ))
            }
            Layer::QuantBinary { threshold } => {
                let scaled = g.mul_255(&p, &cur);
                let bias = format!("{p}_bias");
                // 0.5 - t is exact, and the 0.5 margin absorbs the rounding of pixel/255*255.
                g.init_f32(&bias, &[], vec![0.5 - f32::from(*threshold)]);
                let shifted = format!("{p}_shifted");
                g.node("Add", None, &p, &[&scaled, &bias], &shifted, vec![]);
                g.declare_f32(&shifted, &nchw(model.input));
                let o = format!("{p}_out");
                g.node("BipolarQuant", Some(QONNX_DOMAIN), &p, &[&shifted, SCALE_ONE], &o, vec![]);
                g.declare_f32(&o, &nchw(model.input));
                cur.name = o;
            }
            Layer::QuantFixed8(f) => {
                int_scale = 2f32.powi(i32::from(f.frac_bits));
                let table = (0..=255u8).map(|v| f.apply(v) as f32 / int_scale).collect();
                cur.name = g.table_lookup(&p, &cur, model.input, table);
            }
            Layer::QuantTable(t) => {
                let table = t.values().into_iter().map(|v| v as f32).collect();
                cur.name = g.table_lookup(&p, &cur, model.input, table);
            }
            Layer::Dense(w) => {
                check_exact(prev.elem, w.fan_in()).map_err(err)?;
                let x = match cur.form {
                    Form::Nchw(s) => {
                        let flat = format!("{p}_flat");
                        g.node("Flatten", None, &p, &[&cur.name], &flat, vec![attr_int("axis", 1)]);
                        g.declare_f32(&flat, &[1, s.len() as i64]);
                        flat
                    }
                    Form::Flat(_) => cur.name.clone(),
                };
                let k = w.fan_in();
                let m = w.out();
                g.reserve(k * m * 4).map_err(err)?;
                // ONNX row r reads the flattened NCHW tensor; our column reads it as (h, w, c).
                let mut data = Vec::with_capacity(k * m);
                for r in 0..k {
                    let col = match cur.form {
                        Form::Nchw(s) => nchw_to_hwc(s, r),
                        Form::Flat(_) => r,
                    };
                    data.extend((0..m).map(|o| pm1(w.matrix.get(o, col))));
                }
                let wq = g.binary_weights(&p, &[k as i64, m as i64], data);
                let acc = if is_last { OUTPUT_NAME.to_string() } else { format!("{p}_acc") };
                g.node("MatMul", None, &p, &[&x, &wq], &acc, vec![]);
                if !is_last {
                    g.declare_f32(&acc, &[1, m as i64]);
                }
                cur = Cur { name: acc, form: Form::Flat(m) };
                if let Some(o) = g.thresholds(&p, w, prev.elem, int_scale, &cur, "NC", &[1, m as i64]) {
                    cur.name = o;
                }
                // Bits, a k-bit activation's integers or the scores: no fractional scale.
                int_scale = 1.0;
            }
            Layer::Conv2d { kernel, stride, padding, weights: w } => {
                check_exact(prev.elem, w.fan_in()).map_err(err)?;
                let (k, s) = (*kernel, *stride);
                let input = g.as_nchw(&p, &mut cur);
                let x = match padding {
                    Padding::None => cur.name.clone(),
                    Padding::Bit { amount, bit } => {
                        let a = *amount as i64;
                        let pads = format!("{p}_pads");
                        g.init_i64(&pads, &[8], vec![0, 0, a, a, 0, 0, a, a]);
                        let value = format!("{p}_pad_value");
                        g.init_f32(&value, &[], vec![pm1(*bit)]);
                        let padded = format!("{p}_padded");
                        g.node(
                            "Pad",
                            None,
                            &p,
                            &[&cur.name, &pads, &value],
                            &padded,
                            vec![attr_str("mode", "constant")],
                        );
                        let ps = Shape::new(input.h + 2 * amount, input.w + 2 * amount, input.c);
                        g.declare_f32(&padded, &nchw(ps));
                        padded
                    }
                };
                let (o, c) = (w.out(), input.c);
                g.reserve(w.fan_in() * o * 4).map_err(err)?;
                // ONNX weight [o][c][kr][kc] is our fan-in column (kr, kc, c), channel fastest.
                let mut data = Vec::with_capacity(o * c * k * k);
                for oc in 0..o {
                    for ch in 0..c {
                        for kr in 0..k {
                            data.extend((0..k).map(|kc| pm1(w.matrix.get(oc, (kr * k + kc) * c + ch))));
                        }
                    }
                }
                let dims = [o as i64, c as i64, k as i64, k as i64];
                let wq = g.binary_weights(&p, &dims, data);
                let acc = format!("{p}_acc");
                let (k64, s64) = (k as i64, s as i64);
                g.node(
                    "Conv",
                    None,
                    &p,
                    &[&x, &wq],
                    &acc,
                    vec![
                        attr_ints("kernel_shape", &[k64, k64]),
                        attr_ints("strides", &[s64, s64]),
                        attr_ints("pads", &[0, 0, 0, 0]),
                        attr_int("group", 1),
                    ],
                );
                g.declare_f32(&acc, &nchw(out.shape));
                cur = Cur { name: acc, form: Form::Nchw(out.shape) };
                if let Some(name) = g.thresholds(&p, w, prev.elem, int_scale, &cur, "NCHW", &nchw(out.shape))
                {
                    cur.name = name;
                }
                int_scale = 1.0;
            }
            Layer::MaxPool { kernel, stride } => {
                g.as_nchw(&p, &mut cur);
                let (k, s) = (*kernel as i64, *stride as i64);
                let o = format!("{p}_out");
                g.node(
                    "MaxPool",
                    None,
                    &p,
                    &[&cur.name],
                    &o,
                    vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s])],
                );
                g.declare_f32(&o, &nchw(out.shape));
                cur = Cur { name: o, form: Form::Nchw(out.shape) };
            }
        }
        prev = *out;
    }
    // The verifier ends every model with a dense scores layer, whose MatMul wrote the output.
    if cur.name != OUTPUT_NAME {
        return Err(ExportError::Model(ModelError::Model(
            "the last layer does not produce the scores".into(),
        )));
    }

    let provenance = serde_json::to_string(&model.provenance).map_err(|e| {
        ExportError::Model(ModelError::Model(format!("cannot write the provenance as JSON: {e}")))
    })?;
    let output_mode = match model.output {
        OutputMode::Argmax => "argmax",
        OutputMode::Scores => "scores",
    };
    let graph = GraphProto {
        node: g.nodes,
        name: Some(model.name.clone()),
        initializer: g.inits,
        input: vec![value_info(INPUT_NAME, DataType::Float, &nchw(model.input))],
        output: vec![value_info(OUTPUT_NAME, DataType::Float, &[1, model.classes() as i64])],
        value_info: g.value_info,
        ..GraphProto::default()
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![opset("", ONNX_OPSET), opset(QONNX_DOMAIN, 1)],
        producer_name: Some("xnorflow".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: vec![
            entry(META_PROVENANCE, &provenance),
            entry(META_OUTPUT, output_mode),
            entry(META_INPUT_SCALE, "unit"),
        ],
        ..ModelProto::default()
    })
}

/// Name of the shared unit scale of every `BipolarQuant`.
const SCALE_ONE: &str = "bipolar_scale";

/// How the current tensor is laid out in the graph.
#[derive(Copy, Clone, Debug)]
enum Form {
    /// `(1, C, H, W)` of a model tensor of this (h, w, c) shape.
    Nchw(Shape),
    /// `(1, n)`: the output of a dense layer.
    Flat(usize),
}

/// The tensor the next layer reads.
struct Cur {
    name: String,
    form: Form,
}

/// `+1.0` for bit 1, `-1.0` for bit 0.
fn pm1(bit: bool) -> f32 {
    if bit {
        1.0
    } else {
        -1.0
    }
}

/// NCHW dims `(1, C, H, W)` of a model shape.
fn nchw(s: Shape) -> [i64; 4] {
    [1, s.c as i64, s.h as i64, s.w as i64]
}

/// Our (h, w, c) flat index of the element at flat NCHW index `r` of a tensor of shape `s`.
fn nchw_to_hwc(s: Shape, r: usize) -> usize {
    let (c, rest) = (r / (s.h * s.w), r % (s.h * s.w));
    let (h, w) = (rest / s.w, rest % s.w);
    (h * s.w + w) * s.c + c
}

/// Checks that a layer of fan-in `n` reading `input` computes exactly in float32: every partial
/// sum and threshold is an integer (in units of the input's step) of magnitude at most 2^24.
fn check_exact(input: Elem, n: usize) -> Result<(), String> {
    let per = match input {
        Elem::Int { max_abs, .. } => max_abs,
        _ => 1,
    };
    // Thresholds reach N + 2 (2T - N with T = N + 1) or max_abs * N + 1.
    let bound = (n as i64).saturating_mul(per).saturating_add(2);
    if bound > F32_EXACT {
        return Err(format!(
            "accumulators reach +-{} (fan-in {n}), beyond 2^24 = {F32_EXACT}, where float32 stops \
             holding every integer: the exported graph would not be exact",
            bound - 2
        ));
    }
    Ok(())
}

/// Nodes, initializers and value infos of the graph under construction.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    value_info: Vec<ValueInfoProto>,
    /// Bytes of initializer data so far, bounded by the protobuf message limit.
    init_bytes: u64,
}

impl Builder {
    /// Appends a node `prefix_op` (numbered when the layer already has one of that type).
    fn node(
        &mut self,
        op: &str,
        domain: Option<&str>,
        prefix: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        let base = format!("{prefix}_{op}");
        let taken = |n: &str| self.nodes.iter().any(|x| x.name.as_deref() == Some(n));
        let mut name = base.clone();
        let mut i = 1;
        while taken(&name) {
            i += 1;
            name = format!("{base}_{i}");
        }
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(name),
            op_type: Some(op.to_string()),
            domain: domain.map(str::to_string),
            attribute,
            ..NodeProto::default()
        });
    }

    /// Counts `bytes` of initializer data against the protobuf limit, before they are allocated.
    fn reserve(&mut self, bytes: usize) -> Result<(), String> {
        self.init_bytes = self.init_bytes.saturating_add(bytes as u64);
        if self.init_bytes > MAX_PROTO_BYTES - PROTO_HEADROOM {
            return Err(format!(
                "the weights reach {} bytes as float32, beyond the 2 GiB limit of a protobuf file",
                self.init_bytes
            ));
        }
        Ok(())
    }

    /// Declares a tensor's type and shape: qonnx's executor needs one for every tensor a
    /// standard node reads or writes, initializers included (it runs nodes one at a time).
    fn declare(&mut self, name: &str, ty: DataType, dims: &[i64]) {
        self.value_info.push(value_info(name, ty, dims));
    }

    /// Declares a float32 tensor.
    fn declare_f32(&mut self, name: &str, dims: &[i64]) {
        self.declare(name, DataType::Float, dims);
    }

    /// A float32 initializer (raw little-endian data), declared.
    fn init_f32(&mut self, name: &str, dims: &[i64], data: Vec<f32>) {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, DataType::Float, dims, raw);
    }

    /// An int64 initializer (raw little-endian data), declared.
    fn init_i64(&mut self, name: &str, dims: &[i64], data: Vec<i64>) {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, DataType::Int64, dims, raw);
    }

    fn init(&mut self, name: &str, ty: DataType, dims: &[i64], raw: Vec<u8>) {
        self.inits.push(TensorProto {
            dims: dims.to_vec(),
            data_type: Some(ty as i32),
            name: Some(name.to_string()),
            raw_data: Some(raw),
            ..TensorProto::default()
        });
        self.declare(name, ty, dims);
    }

    /// `Mul(x, 255)`: the pixel values back from pixel/255 (within an ulp). Returns the output.
    fn mul_255(&mut self, p: &str, cur: &Cur) -> String {
        let k = format!("{p}_255");
        self.init_f32(&k, &[], vec![255.0]);
        let o = format!("{p}_scaled");
        self.node("Mul", None, p, &[&cur.name, &k], &o, vec![]);
        if let Form::Nchw(s) = cur.form {
            self.declare_f32(&o, &nchw(s));
        }
        o
    }

    /// `Mul(255)`, `Round`, `Cast(INT64)`, `Gather(table)`: pixel byte to table value, exactly.
    fn table_lookup(&mut self, p: &str, cur: &Cur, input: Shape, table: Vec<f32>) -> String {
        let dims = nchw(input);
        let scaled = self.mul_255(p, cur);
        let rounded = format!("{p}_rounded");
        self.node("Round", None, p, &[&scaled], &rounded, vec![]);
        self.declare_f32(&rounded, &dims);
        let index = format!("{p}_index");
        self.node("Cast", None, p, &[&rounded], &index, vec![attr_int("to", DataType::Int64 as i64)]);
        self.declare(&index, DataType::Int64, &dims);
        let t = format!("{p}_table");
        self.init_f32(&t, &[256], table);
        let o = format!("{p}_out");
        self.node("Gather", None, p, &[&t, &index], &o, vec![attr_int("axis", 0)]);
        self.declare_f32(&o, &dims);
        o
    }

    /// A `+-1` float32 weight initializer through `BipolarQuant`; returns the quantized tensor.
    fn binary_weights(&mut self, p: &str, dims: &[i64], data: Vec<f32>) -> String {
        let w = format!("{p}_W");
        self.init_f32(&w, dims, data);
        let wq = format!("{p}_Wq");
        self.node("BipolarQuant", Some(QONNX_DOMAIN), p, &[&w, SCALE_ONE], &wq, vec![]);
        self.declare_f32(&wq, dims);
        wq
    }

    /// Makes the current tensor 4-D: a dense output `(1, n)` becomes `(1, n, 1, 1)` (a model
    /// tensor 1x1xn). Returns its model shape.
    fn as_nchw(&mut self, p: &str, cur: &mut Cur) -> Shape {
        match cur.form {
            Form::Nchw(s) => s,
            Form::Flat(n) => {
                let s = Shape::new(1, 1, n);
                let shape = format!("{p}_shape");
                self.init_i64(&shape, &[4], nchw(s).to_vec());
                let o = format!("{p}_4d");
                self.node("Reshape", None, p, &[&cur.name, &shape], &o, vec![]);
                self.declare_f32(&o, &nchw(s));
                *cur = Cur { name: o, form: Form::Nchw(s) };
                s
            }
        }
    }

    /// The `MultiThreshold` of a thresholded or k-bit layer (none for scores); returns its output.
    #[allow(clippy::too_many_arguments)]
    fn thresholds(
        &mut self,
        p: &str,
        w: &BinaryWeights,
        input: Elem,
        int_scale: f32,
        cur: &Cur,
        layout: &str,
        dims: &[i64],
    ) -> Option<String> {
        // Thresholds (channel-major, `steps` a channel) and the output's scale, bias and type.
        let (ts, steps, out_scale, out_bias, dtype) = match &w.activation {
            Activation::Threshold(ts) => (&ts[..], 1, 2.0, -1.0, "BIPOLAR".to_string()),
            Activation::Multi(m) => {
                let ty = format!("{}INT{}", if m.ty.signed { "" } else { "U" }, m.ty.bits);
                (&m.thresholds[..], m.levels, 1.0, m.bias as f32, ty)
            }
            Activation::Scores => return None,
        };
        let n = w.fan_in() as i64;
        // The float output is 2P - N for a binary input, acc / 2^frac_bits for an integer one;
        // check_exact keeps both sides integers within 2^24, so the comparison is exact.
        let values = ts
            .iter()
            .map(|&t| match input {
                Elem::Int { .. } => t as f32 / int_scale,
                _ => (2 * i64::from(t) - n) as f32,
            })
            .collect();
        let t = format!("{p}_thresholds");
        self.init_f32(&t, &[(ts.len() / steps) as i64, steps as i64], values);
        let o = format!("{p}_out");
        self.node(
            "MultiThreshold",
            Some(QONNX_DOMAIN),
            p,
            &[&cur.name, &t],
            &o,
            vec![
                attr_float("out_scale", out_scale),
                attr_float("out_bias", out_bias),
                attr_str("out_dtype", &dtype),
                attr_str("data_layout", layout),
            ],
        );
        self.declare_f32(&o, dims);
        Some(o)
    }
}

/// A tensor's declared element type and fixed shape (also used by tests that build graphs).
pub fn value_info(name: &str, ty: DataType, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(ty as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto { domain: Some(domain.to_string()), version: Some(version) }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto { key: Some(key.to_string()), value: Some(value.to_string()) }
}

fn attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto { name: Some(name.to_string()), r#type: Some(ty as i32), ..AttributeProto::default() }
}

/// An integer attribute.
pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { i: Some(v), ..attr(name, AttributeType::Int) }
}

/// An integer-list attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { ints: v.to_vec(), ..attr(name, AttributeType::Ints) }
}

/// A float attribute.
pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { f: Some(v), ..attr(name, AttributeType::Float) }
}

fn attr_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto { s: Some(v.as_bytes().to_vec()), ..attr(name, AttributeType::String) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::random::{random_model, LayerSpec};
    use crate::model::{BitMatrix, Fixed8, Provenance};

    /// Encodes, checks the wire form and decodes: what a reader of the file sees.
    fn roundtrip(model: &Model) -> ModelProto {
        let bytes = export(model).unwrap();
        crate::onnx::wire::check(&bytes).unwrap();
        ModelProto::decode(bytes.as_slice()).unwrap()
    }

    fn graph(m: &ModelProto) -> &GraphProto {
        m.graph.as_ref().unwrap()
    }

    fn ops(m: &ModelProto) -> Vec<&str> {
        graph(m).node.iter().map(|n| n.op_type.as_deref().unwrap()).collect()
    }

    fn init<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
        graph(m).initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap()
    }

    fn floats(t: &TensorProto) -> Vec<f32> {
        assert_eq!(t.data_type, Some(DataType::Float as i32));
        let raw = t.raw_data.as_ref().unwrap();
        raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    fn node<'a>(m: &'a ModelProto, name: &str) -> &'a NodeProto {
        graph(m).node.iter().find(|n| n.name.as_deref() == Some(name)).unwrap()
    }

    fn meta<'a>(m: &'a ModelProto, key: &str) -> &'a str {
        m.metadata_props.iter().find(|e| e.key.as_deref() == Some(key)).unwrap().value.as_deref().unwrap()
    }

    /// 2x2x1 pixels, quant.binary 128, dense 4 -> 3 (thresholds 0, 2, 5), dense 3 -> 2 scores.
    fn tiny() -> Model {
        let w1 = BitMatrix::from_fn(3, 4, |r, c| (r + c) % 2 == 0);
        let w2 = BitMatrix::from_fn(2, 3, |r, c| r == c);
        Model {
            name: "tiny".into(),
            input: Shape::new(2, 2, 1),
            layers: vec![
                Layer::QuantBinary { threshold: 128 },
                Layer::Dense(BinaryWeights { matrix: w1, activation: Activation::Threshold(vec![0, 2, 5]) }),
                Layer::Dense(BinaryWeights { matrix: w2, activation: Activation::Scores }),
            ],
            output: OutputMode::Argmax,
            provenance: Provenance { method: Some("hand".into()), ..Provenance::default() },
        }
    }

    #[test]
    fn tiny_dense_model_has_the_qonnx_form() {
        let model = tiny();
        let m = roundtrip(&model);
        assert_eq!(m.ir_version, Some(7));
        let opsets: Vec<_> =
            m.opset_import.iter().map(|o| (o.domain.as_deref().unwrap(), o.version.unwrap())).collect();
        assert_eq!(opsets, [("", 11), (QONNX_DOMAIN, 1)]);
        assert_eq!(m.producer_name.as_deref(), Some("xnorflow"));
        assert_eq!(graph(&m).name.as_deref(), Some("tiny"));
        assert_eq!(meta(&m, META_OUTPUT), "argmax");
        assert_eq!(meta(&m, META_INPUT_SCALE), "unit");
        let prov: Provenance = serde_json::from_str(meta(&m, META_PROVENANCE)).unwrap();
        assert_eq!(prov, model.provenance);

        assert_eq!(
            ops(&m),
            [
                "Mul",
                "Add",
                "BipolarQuant",
                "Flatten",
                "BipolarQuant",
                "MatMul",
                "MultiThreshold",
                "BipolarQuant",
                "MatMul"
            ]
        );
        for n in &graph(&m).node {
            let custom = matches!(n.op_type.as_deref(), Some("BipolarQuant" | "MultiThreshold"));
            assert_eq!(n.domain.as_deref(), custom.then_some(QONNX_DOMAIN), "{n:?}");
        }
        // 0.5 - t keeps [pixel >= t] exact under the rounding of pixel/255*255.
        assert_eq!(floats(init(&m, "L0_bias")), [-127.5]);
        assert_eq!(init(&m, "L1_W").dims, [4, 3]);
        assert_eq!(init(&m, "L2_W").dims, [3, 2]);
        // Row k, column m of the MatMul weight is our bit (m, k) as +-1.
        let w1 = floats(init(&m, "L1_W"));
        for k in 0..4 {
            for o in 0..3 {
                assert_eq!(w1[k * 3 + o], if (o + k) % 2 == 0 { 1.0 } else { -1.0 });
            }
        }
        // 2T - N with N = 4.
        let t = init(&m, "L1_thresholds");
        assert_eq!(t.dims, [3, 1]);
        assert_eq!(floats(t), [-4.0, 0.0, 6.0]);
        let mt = node(&m, "L1_MultiThreshold");
        let a = |name: &str| mt.attribute.iter().find(|a| a.name.as_deref() == Some(name)).unwrap();
        assert_eq!(a("out_scale").f, Some(2.0));
        assert_eq!(a("out_bias").f, Some(-1.0));
        assert_eq!(a("out_dtype").s.as_deref(), Some(&b"BIPOLAR"[..]));
        assert_eq!(a("data_layout").s.as_deref(), Some(&b"NC"[..]));
        // The last MatMul writes the graph output.
        assert_eq!(node(&m, "L2_MatMul").output, [OUTPUT_NAME]);
        let g = graph(&m);
        assert_eq!(g.input[0].name.as_deref(), Some(INPUT_NAME));
        assert_eq!(g.output[0].name.as_deref(), Some(OUTPUT_NAME));
        // Every tensor a node reads or writes has a declared shape (qonnx's executor needs them).
        let declared: Vec<&str> = g
            .value_info
            .iter()
            .chain(&g.input)
            .chain(&g.output)
            .map(|v| v.name.as_deref().unwrap())
            .collect();
        for n in &g.node {
            for t in n.input.iter().chain(&n.output) {
                assert!(declared.contains(&t.as_str()), "{t} undeclared");
            }
        }
    }

    #[test]
    fn conv_pool_dense_weights_are_permuted_to_nchw() {
        let specs = [
            LayerSpec::QuantBinary(100),
            LayerSpec::Conv2d {
                out: 4,
                kernel: 3,
                stride: 1,
                padding: Padding::Bit { amount: 1, bit: true },
            },
            LayerSpec::MaxPool { kernel: 2, stride: 2 },
            LayerSpec::Dense(10),
        ];
        let model = random_model("cpd", Shape::new(6, 6, 2), &specs, 7).unwrap();
        let m = roundtrip(&model);
        assert_eq!(
            ops(&m),
            [
                "Mul",
                "Add",
                "BipolarQuant",
                "Pad",
                "BipolarQuant",
                "Conv",
                "MultiThreshold",
                "MaxPool",
                "Flatten",
                "BipolarQuant",
                "MatMul"
            ]
        );
        let i64s = |t: &TensorProto| -> Vec<i64> {
            let raw = t.raw_data.as_ref().unwrap();
            raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
        };
        assert_eq!(i64s(init(&m, "L1_pads")), [0, 0, 1, 1, 0, 0, 1, 1]);
        assert_eq!(floats(init(&m, "L1_pad_value")), [1.0]);

        // Conv weight [o][c][kr][kc] = ours (o, (kr * k + kc) * C + c); o 3, c 1, kr 2, kc 0:
        // ONNX index ((3 * 2 + 1) * 3 + 2) * 3 + 0 = 69, our column (2 * 3 + 0) * 2 + 1 = 13.
        let Layer::Conv2d { weights: cw, .. } = &model.layers[1] else { panic!() };
        let conv = init(&m, "L1_W");
        assert_eq!(conv.dims, [4, 2, 3, 3]);
        assert_eq!(floats(conv)[69], if cw.matrix.get(3, 13) { 1.0 } else { -1.0 });
        // And every entry, by the same rule.
        let cf = floats(conv);
        for (i, v) in cf.iter().enumerate() {
            let (o, c, kr, kc) = (i / 18, i / 9 % 2, i / 3 % 3, i % 3);
            assert_eq!(*v == 1.0, cw.matrix.get(o, (kr * 3 + kc) * 2 + c));
        }

        // The pool gives 3x3x4. Flatten reads NCHW: ONNX row c*9 + h*3 + w holds our column
        // (h*3 + w)*4 + c; c 2, h 1, w 2: row 2*9 + 1*3 + 2 = 23, column (1*3 + 2)*4 + 2 = 22.
        let Layer::Dense(dw) = &model.layers[3] else { panic!() };
        let dense = init(&m, "L3_W");
        assert_eq!(dense.dims, [36, 10]);
        let df = floats(dense);
        for o in 0..10 {
            assert_eq!(df[23 * 10 + o] == 1.0, dw.matrix.get(o, 22));
        }
        // The conv thresholds are 2T - N with N = 3 * 3 * 2.
        let Activation::Threshold(ts) = &cw.activation else { panic!() };
        let want: Vec<f32> = ts.iter().map(|&t| (2 * t - 18) as f32).collect();
        assert_eq!(floats(init(&m, "L1_thresholds")), want);
        let mt = node(&m, "L1_MultiThreshold");
        let layout = mt.attribute.iter().find(|a| a.name.as_deref() == Some("data_layout")).unwrap();
        assert_eq!(layout.s.as_deref(), Some(&b"NCHW"[..]));
    }

    #[test]
    fn fixed_point_input_scales_table_and_thresholds() {
        let mut model = random_model(
            "fx",
            Shape::new(3, 3, 1),
            &[LayerSpec::QuantFixed8(true), LayerSpec::Dense(5), LayerSpec::Dense(3)],
            3,
        )
        .unwrap();
        model.layers[0] = Layer::QuantFixed8(Fixed8 { signed: true, frac_bits: 3 });
        model.verify().unwrap();
        let m = roundtrip(&model);
        assert_eq!(
            &ops(&m)[..5],
            ["Mul", "Round", "Cast", "Gather", "Flatten"],
            "the quantizer is a table lookup"
        );
        let table = floats(init(&m, "L0_table"));
        assert_eq!(table.len(), 256);
        assert_eq!(table[0], -16.0);
        assert_eq!(table[129], 0.125);
        let Layer::Dense(w) = &model.layers[1] else { panic!() };
        let Activation::Threshold(ts) = &w.activation else { panic!() };
        let want: Vec<f32> = ts.iter().map(|&t| t as f32 / 8.0).collect();
        assert_eq!(floats(init(&m, "L1_thresholds")), want);
    }

    #[test]
    fn table_input_and_conv_after_dense_export() {
        let specs = [
            LayerSpec::QuantTable(true),
            LayerSpec::Dense(6),
            LayerSpec::Conv2d { out: 4, kernel: 1, stride: 1, padding: Padding::None },
            LayerSpec::Dense(3),
        ];
        let model = random_model("tab", Shape::new(4, 4, 1), &specs, 11).unwrap();
        let m = roundtrip(&model);
        let Layer::QuantTable(t) = &model.layers[0] else { panic!() };
        let want: Vec<f32> = t.values().into_iter().map(|v| v as f32).collect();
        assert_eq!(floats(init(&m, "L0_table")), want);
        // A dense output (1, 6) becomes (1, 6, 1, 1) for the convolution.
        assert!(ops(&m).contains(&"Reshape"));
        assert_eq!(meta(&m, META_OUTPUT), "argmax");
    }

    /// A k-bit layer's MultiThreshold outputs its integers (out_scale 1, out_bias the lowest
    /// level, out_dtype its type), thresholds (C, levels) mapped as a binary layer's; the next
    /// layer reads integers at scale 1, though the input's fixed point has 3 fractional bits.
    #[test]
    fn kbit_activation_is_a_multithreshold_with_integer_outputs() {
        use crate::model::{IntType, MultiThreshold};
        let ty = IntType { bits: 3, signed: false };
        let dense = |rows: usize, cols: usize, t: Option<Vec<i32>>| {
            let activation = match t {
                Some(t) => {
                    Activation::Multi(MultiThreshold { ty, bias: 1, levels: 2, thresholds: t.repeat(rows) })
                }
                None => Activation::Scores,
            };
            Layer::Dense(BinaryWeights { matrix: BitMatrix::from_fn(rows, cols, |r, c| r != c), activation })
        };
        let model = Model {
            name: "kbit".into(),
            input: Shape::new(2, 2, 1),
            layers: vec![
                Layer::QuantFixed8(Fixed8 { signed: false, frac_bits: 3 }),
                dense(3, 4, Some(vec![1, 3])),
                dense(2, 3, Some(vec![-2, 4])),
                dense(2, 2, None),
            ],
            output: OutputMode::Argmax,
            provenance: Provenance::default(),
        };
        model.verify().unwrap();
        let m = roundtrip(&model);
        for l in ["L1_MultiThreshold", "L2_MultiThreshold"] {
            let mt = node(&m, l);
            let a =
                |name: &str| mt.attribute.iter().find(|a| a.name.as_deref() == Some(name)).unwrap().clone();
            assert_eq!(a("out_scale").f, Some(1.0));
            assert_eq!(a("out_bias").f, Some(1.0));
            assert_eq!(a("out_dtype").s.as_deref(), Some(&b"UINT3"[..]));
        }
        // Fixed-point input: T / 2^3 per level, channel-major.
        let t = init(&m, "L1_thresholds");
        assert_eq!(t.dims, [3, 2]);
        assert_eq!(floats(t), [0.125, 0.375].repeat(3));
        // The levels 1..=3 themselves: T.
        assert_eq!(floats(init(&m, "L2_thresholds")), [-2.0, 4.0].repeat(2));
    }

    #[test]
    fn accumulators_beyond_f32_are_refused() {
        // 255 * 257 * 257 > 2^24: the float dot product could round.
        let model = random_model(
            "big",
            Shape::new(257, 257, 1),
            &[LayerSpec::QuantFixed8(false), LayerSpec::Dense(1)],
            1,
        )
        .unwrap();
        let e = export(&model).unwrap_err().to_string();
        assert!(e.starts_with("layer L1 (dense): accumulators reach"), "{e}");
    }

    #[test]
    fn invalid_models_are_refused() {
        let mut model = tiny();
        model.layers.pop();
        assert!(matches!(export(&model), Err(ExportError::Model(_))));
    }
}
