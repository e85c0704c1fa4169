//! An ONNX model read into plain Rust: tensors as `f32` or `i64` arrays, nodes with typed
//! attributes, initializers and `Constant` nodes as constants, and the one dynamic input.

use super::proto::{self, attribute_proto::AttributeType, tensor_proto::DataType};
use super::wire;
use super::OnnxError;
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Most elements of any one tensor of an ONNX model, stored or computed (2^26: a 256 MiB f32
/// tensor, far above a binarized network's largest weight matrix).
pub const MAX_ONNX_TENSOR_ELEMS: usize = 1 << 26;

/// Most nodes of a graph.
pub const MAX_ONNX_NODES: usize = 100_000;

/// A dense tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Extents, outermost first (ONNX order).
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Data,
}

/// Elements of a [`Tensor`]: floating point values are kept as `f32`, the precision the
/// exporters compute in; integers (shapes, indices) as `i64`.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Floats.
    F32(Vec<f32>),
    /// Integers.
    I64(Vec<i64>),
}

impl Tensor {
    /// A float tensor; the caller guarantees `data.len()` is the product of `shape`.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor { shape, data: Data::F32(data) }
    }

    /// An integer tensor; the caller guarantees `data.len()` is the product of `shape`.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        Tensor { shape, data: Data::I64(data) }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }

    /// True for a tensor without elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as floats (integers converted).
    pub fn floats(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The elements as integers, or `None` if a float is not an integer.
    pub fn ints(&self) -> Option<Vec<i64>> {
        match &self.data {
            Data::I64(v) => Some(v.clone()),
            Data::F32(v) => {
                v.iter().map(|&x| (x.fract() == 0.0 && x.abs() < 9e15).then_some(x as i64)).collect()
            }
        }
    }

    /// The single element of a one-element tensor.
    pub fn scalar(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.floats()[0])
    }
}

/// Elements of `shape`, or an error above [`MAX_ONNX_TENSOR_ELEMS`].
pub fn elems(shape: &[usize], what: &str) -> Result<usize, OnnxError> {
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n <= MAX_ONNX_TENSOR_ELEMS => Ok(n),
        _ => Err(OnnxError::Invalid(format!(
            "{what} of shape {shape:?} has more than {MAX_ONNX_TENSOR_ELEMS} elements \
             (compiler::onnx::graph::MAX_ONNX_TENSOR_ELEMS)"
        ))),
    }
}

/// A node attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// A float.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A tensor.
    Tensor(Tensor),
    /// Floats.
    Floats(Vec<f32>),
    /// Integers.
    Ints(Vec<i64>),
    /// A kind the importer never reads (graphs, strings lists, ...).
    Other,
}

/// The operator set a node belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Standard ONNX (`""` or `ai.onnx`).
    Onnx,
    /// QONNX's and FINN's custom ops: `qonnx.custom_op.general`, the legacy `onnx.brevitas`,
    /// `finn.custom_op.general` and `finn`.
    Qonnx,
    /// Anything else.
    Other(String),
}

impl Domain {
    fn parse(s: &str) -> Domain {
        match s {
            "" | "ai.onnx" => Domain::Onnx,
            "qonnx.custom_op.general" | "onnx.brevitas" | "finn.custom_op.general" | "finn" => Domain::Qonnx,
            s if s.starts_with("qonnx.custom_op") || s.starts_with("finn.custom_op") => Domain::Qonnx,
            s => Domain::Other(s.to_string()),
        }
    }
}

/// One node.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its name (or `#i` when the file gives none).
    pub name: String,
    /// Operator type.
    pub op: String,
    /// Domain as written in the file.
    pub domain_name: String,
    /// Normalized domain.
    pub domain: Domain,
    /// Input tensor names (`""` for an omitted optional input).
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl Node {
    /// `node "name" (Op, domain)`, for error messages.
    pub fn describe(&self) -> String {
        let d = if self.domain_name.is_empty() { "ai.onnx" } else { &self.domain_name };
        format!("node \"{}\" ({} in domain {d})", self.name, self.op)
    }

    /// An integer attribute or its default.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Int(i)) => Ok(*i),
            Some(_) => Err(self.bad(&format!("attribute {name} must be an integer"))),
        }
    }

    /// A float attribute or its default.
    pub fn float(&self, name: &str, default: f32) -> Result<f32, OnnxError> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(Attr::Float(f)) => Ok(*f),
            Some(Attr::Int(i)) => Ok(*i as f32),
            Some(_) => Err(self.bad(&format!("attribute {name} must be a float"))),
        }
    }

    /// An integer-list attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.bad(&format!("attribute {name} must be a list of integers"))),
        }
    }

    /// A string attribute or its default.
    pub fn string(&self, name: &str, default: &str) -> Result<String, OnnxError> {
        match self.attrs.get(name) {
            None => Ok(default.to_string()),
            Some(Attr::Str(s)) => Ok(s.clone()),
            Some(_) => Err(self.bad(&format!("attribute {name} must be a string"))),
        }
    }

    /// An error about this node.
    pub fn bad(&self, what: &str) -> OnnxError {
        OnnxError::Node { node: self.describe(), message: what.to_string() }
    }
}

/// An ONNX model as the importer sees it.
#[derive(Clone, Debug)]
pub struct Graph {
    /// The graph's name.
    pub name: String,
    /// The file's IR version.
    pub ir_version: i64,
    /// The default domain's opset version.
    pub opset: i64,
    /// Producer name and version, e.g. `pytorch 1.7`.
    pub producer: String,
    /// The dynamic input's name.
    pub input: String,
    /// Its shape (a symbolic batch dimension read as 1).
    pub input_shape: Vec<usize>,
    /// The output's name.
    pub output: String,
    /// Nodes in an order where every input is computed before it is used.
    pub nodes: Vec<Node>,
    /// Initializers and the outputs of `Constant` nodes.
    pub consts: HashMap<String, Tensor>,
    /// `finn_datatype` quantization annotations by tensor name.
    pub datatypes: HashMap<String, String>,
    /// The model's metadata properties.
    pub metadata: BTreeMap<String, String>,
}

fn tensor(t: &proto::TensorProto, what: &str) -> Result<Tensor, OnnxError> {
    let bad = |m: String| OnnxError::Invalid(format!("tensor \"{what}\": {m}"));
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(
            bad("its data is stored in an external file; save the model with its data inside".into()),
        );
    }
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let mut shape = Vec::with_capacity(t.dims.len().min(16));
    for &d in &t.dims {
        shape.push(usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?);
    }
    let n = elems(&shape, &format!("tensor \"{what}\""))?;
    let raw = t.raw_data.as_deref();
    let dt = DataType::try_from(t.data_type.unwrap_or(0)).unwrap_or(DataType::Undefined);
    let width = match dt {
        DataType::Float | DataType::Int32 => 4,
        DataType::Double | DataType::Int64 => 8,
        DataType::Int8 | DataType::Uint8 | DataType::Bool => 1,
        DataType::Int16 | DataType::Uint16 => 2,
        other => return Err(bad(format!("element type {} is not supported", other.as_str_name()))),
    };
    if let Some(raw) = raw {
        if raw.len() != n * width {
            return Err(bad(format!("{} bytes of raw data for {n} elements of {width} bytes", raw.len())));
        }
    }
    let count = |len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(bad(format!("{len} values for a shape of {n} elements")))
        }
    };
    let data = match (dt, raw) {
        (DataType::Float, Some(r)) => {
            Data::F32(r.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        (DataType::Float, None) => {
            count(t.float_data.len())?;
            Data::F32(t.float_data.clone())
        }
        (DataType::Double, Some(r)) => Data::F32(
            r.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
        ),
        (DataType::Double, None) => {
            count(t.double_data.len())?;
            Data::F32(t.double_data.iter().map(|&x| x as f32).collect())
        }
        (DataType::Int64, Some(r)) => Data::I64(
            r.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        (DataType::Int64, None) => {
            count(t.int64_data.len())?;
            Data::I64(t.int64_data.clone())
        }
        (DataType::Int32, Some(r)) => Data::I64(
            r.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
        ),
        (DataType::Int8, Some(r)) => Data::I64(r.iter().map(|&b| i64::from(b as i8)).collect()),
        (DataType::Uint8 | DataType::Bool, Some(r)) => Data::I64(r.iter().map(|&b| i64::from(b)).collect()),
        (DataType::Int16, Some(r)) => {
            Data::I64(r.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect())
        }
        (DataType::Uint16, Some(r)) => {
            Data::I64(r.chunks_exact(2).map(|c| i64::from(u16::from_le_bytes([c[0], c[1]]))).collect())
        }
        (_, None) => {
            count(t.int32_data.len())?;
            Data::I64(t.int32_data.iter().map(|&x| i64::from(x)).collect())
        }
        _ => return Err(bad("unreadable data".into())),
    };
    Ok(Tensor { shape, data })
}

fn attribute(a: &proto::AttributeProto, node: &str) -> Result<Attr, OnnxError> {
    let ty = AttributeType::try_from(a.r#type.unwrap_or(0)).unwrap_or(AttributeType::Undefined);
    // IR version 1 files may leave the type out; infer it from the field that is set.
    let ty = match ty {
        AttributeType::Undefined if a.f.is_some() => AttributeType::Float,
        AttributeType::Undefined if a.i.is_some() => AttributeType::Int,
        AttributeType::Undefined if a.s.is_some() => AttributeType::String,
        AttributeType::Undefined if a.t.is_some() => AttributeType::Tensor,
        AttributeType::Undefined if !a.ints.is_empty() => AttributeType::Ints,
        AttributeType::Undefined if !a.floats.is_empty() => AttributeType::Floats,
        t => t,
    };
    Ok(match ty {
        AttributeType::Float => Attr::Float(a.f.unwrap_or(0.0)),
        AttributeType::Int => Attr::Int(a.i.unwrap_or(0)),
        AttributeType::String => {
            Attr::Str(String::from_utf8_lossy(a.s.as_deref().unwrap_or(&[])).into_owned())
        }
        AttributeType::Tensor => match &a.t {
            Some(t) => Attr::Tensor(tensor(t, &format!("{node}.{}", a.name()))?),
            None => Attr::Other,
        },
        AttributeType::Floats => Attr::Floats(a.floats.clone()),
        AttributeType::Ints => Attr::Ints(a.ints.clone()),
        _ => Attr::Other,
    })
}

fn dims(v: &proto::ValueInfoProto) -> Option<Vec<usize>> {
    use proto::type_proto::Value;
    let Some(Value::TensorType(t)) = v.r#type.as_ref()?.value.as_ref() else { return None };
    let shape = t.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => v as usize,
                // A symbolic or missing dimension: the batch, read as one frame.
                _ => 1,
            })
            .collect(),
    )
}

impl Graph {
    /// Reads an ONNX file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Graph, OnnxError> {
        wire::check(bytes)?;
        let m = proto::ModelProto::decode(bytes)
            .map_err(|e| OnnxError::Invalid(format!("not a valid ONNX protobuf file: {e}")))?;
        Graph::from_proto(&m)
    }

    /// Reads a decoded `ModelProto`.
    pub fn from_proto(m: &proto::ModelProto) -> Result<Graph, OnnxError> {
        let ir_version = m.ir_version.unwrap_or(0);
        if ir_version < 3 {
            return Err(OnnxError::Invalid(format!(
                "IR version {ir_version}: xnorflow reads ONNX IR version 3 or later (Brevitas and FINN write 6 to 8)"
            )));
        }
        let opset = m
            .opset_import
            .iter()
            .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
            .and_then(|o| o.version)
            .unwrap_or(0);
        if opset < 7 {
            return Err(OnnxError::Invalid(format!(
                "opset {opset} of the default domain: xnorflow reads opsets 7 and later (9+ tested)"
            )));
        }
        let g = m.graph.as_ref().ok_or_else(|| OnnxError::Invalid("the file holds no graph".into()))?;
        if g.node.len() > MAX_ONNX_NODES {
            return Err(OnnxError::Invalid(format!(
                "{} nodes, more than the limit of {MAX_ONNX_NODES} (compiler::onnx::graph::MAX_ONNX_NODES)",
                g.node.len()
            )));
        }
        if !g.sparse_initializer.is_empty() {
            return Err(OnnxError::Invalid("sparse initializers are not supported".into()));
        }
        let mut consts = HashMap::new();
        let mut total = 0usize;
        for t in &g.initializer {
            let name = t.name().to_string();
            let x = tensor(t, &name)?;
            total = total.saturating_add(x.len());
            elems(&[total], "all initializers together")?;
            consts.insert(name, x);
        }
        let dynamic: Vec<&proto::ValueInfoProto> =
            g.input.iter().filter(|i| !consts.contains_key(i.name())).collect();
        let input = match dynamic.as_slice() {
            [one] => *one,
            [] => return Err(OnnxError::Invalid("the graph has no input that is not an initializer".into())),
            many => {
                return Err(OnnxError::Invalid(format!(
                    "the graph has {} inputs ({}); xnorflow imports single-input networks",
                    many.len(),
                    many.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
                )))
            }
        };
        let input_shape = dims(input).ok_or_else(|| {
            OnnxError::Invalid(format!("the input \"{}\" has no tensor shape", input.name()))
        })?;
        elems(&input_shape, "the input")?;
        let output = match g.output.as_slice() {
            [one] => one.name().to_string(),
            outs => {
                return Err(OnnxError::Invalid(format!(
                    "the graph has {} outputs; xnorflow imports networks with one output (scores or a class)",
                    outs.len()
                )))
            }
        };
        let mut nodes = Vec::with_capacity(g.node.len());
        for (i, n) in g.node.iter().enumerate() {
            let name = if n.name().is_empty() { format!("#{i}") } else { n.name().to_string() };
            let mut attrs = BTreeMap::new();
            for a in &n.attribute {
                attrs.insert(a.name().to_string(), attribute(a, &name)?);
            }
            let node = Node {
                name,
                op: n.op_type().to_string(),
                domain_name: n.domain().to_string(),
                domain: Domain::parse(n.domain()),
                inputs: n.input.clone(),
                outputs: n.output.clone(),
                attrs,
            };
            if node.op == "Constant" && node.domain == Domain::Onnx {
                let value = match node.attrs.get("value") {
                    Some(Attr::Tensor(t)) => t.clone(),
                    Some(Attr::Float(f)) => Tensor::f32(vec![], vec![*f]),
                    Some(Attr::Int(i)) => Tensor::i64(vec![], vec![*i]),
                    Some(Attr::Floats(f)) => Tensor::f32(vec![f.len()], f.clone()),
                    Some(Attr::Ints(v)) => Tensor::i64(vec![v.len()], v.clone()),
                    _ => match (node.attrs.get("value_float"), node.attrs.get("value_int")) {
                        (Some(Attr::Float(f)), _) => Tensor::f32(vec![], vec![*f]),
                        (_, Some(Attr::Int(i))) => Tensor::i64(vec![], vec![*i]),
                        _ => return Err(node.bad("a Constant without a tensor, float or integer value")),
                    },
                };
                for o in &node.outputs {
                    consts.insert(o.clone(), value.clone());
                }
                continue;
            }
            nodes.push(node);
        }
        let nodes = order(nodes, &consts, input.name())?;
        let datatypes = g
            .quantization_annotation
            .iter()
            .filter_map(|a| {
                let dt = a.quant_parameter_tensor_names.iter().find(|p| p.key() == "finn_datatype")?;
                Some((a.tensor_name().to_string(), dt.value().to_string()))
            })
            .collect();
        let metadata =
            m.metadata_props.iter().map(|p| (p.key().to_string(), p.value().to_string())).collect();
        Ok(Graph {
            name: g.name().to_string(),
            ir_version,
            opset,
            producer: format!("{} {}", m.producer_name(), m.producer_version()).trim().to_string(),
            input: input.name().to_string(),
            input_shape,
            output,
            nodes,
            consts,
            datatypes,
            metadata,
        })
    }
}

/// Orders `nodes` so that each comes after the producers of its inputs (ONNX requires files to be
/// sorted, but exporters differ); refuses cycles, missing tensors and tensors written twice.
fn order(nodes: Vec<Node>, consts: &HashMap<String, Tensor>, input: &str) -> Result<Vec<Node>, OnnxError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if producer.insert(o, i).is_some() || consts.contains_key(o.as_str()) || o == input {
                return Err(n.bad(&format!("its output \"{o}\" is also written elsewhere")));
            }
        }
    }
    // Kahn's algorithm; ready nodes leave in file order, so sorted files keep their order.
    let mut waiting = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let mut seen = HashSet::new();
        for x in n.inputs.iter().filter(|x| !x.is_empty()) {
            if x == input || consts.contains_key(x.as_str()) {
                continue;
            }
            match producer.get(x.as_str()) {
                Some(&p) if seen.insert(p) => {
                    waiting[i] += 1;
                    users[p].push(i);
                }
                Some(_) => {}
                None => return Err(n.bad(&format!("its input \"{x}\" is neither computed nor given"))),
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for &u in &users[i] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if out.len() < nodes.len() {
        return Err(OnnxError::Invalid("the graph has a cycle".into()));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(out.into_iter().filter_map(|i| slots[i].take()).collect())
}
