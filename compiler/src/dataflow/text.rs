//! The text form of a dataflow graph: `Display` writes it, [`Graph::parse`] (or `str::parse`) reads
//! it back exactly, so tests and bug reports can show a graph and a reader can rebuild it.
//!
//! ```text
//! dataflow "tiny": 49 cycles/frame
//!   L1       mvtu layer=1 64x784 pe=4 simd=16 input=binary output=threshold popcount=compressor mem=auto wmem=block:18x1024:1x1 columns=16 trom=word latency=2  [49x16b -> 16x4b, 784 cycles]
//!   F2       fifo depth=4  [16x4b -> 16x4b, 16 cycles]
//!   S3       swu 8x8x2 k=3 s=1 pad=1 bit=1 simd=2 ring=7 rows  [64x2b -> 576x2b, 576 cycles]
//!   L3       mvtu layer=3 8x18 pe=2 simd=2 input=binary output=multi act=int2 bias=-1 levels=2 popcount=compressor mem=auto vectors=64  [1152x2b -> 256x4b, 4608 cycles]
//!   P5       maxpool 8x8x8 k=2  [64x8b -> 16x8b, 64 cycles]
//!   P6       maxpool 8x8x8 k=2 elem=uint3  [64x24b -> 16x24b, 64 cycles]
//!   W4       width-converter  [16x4b -> 8x8b, 16 cycles]
//!   argmax   argmax 2x5 scores of 9 bits signed  [2x45b -> 1x4b, 2 cycles]
//! ```
//!
//! Each node line is its name, its kind with its fields, and in brackets its input and output
//! streams (words x bits per frame) and its cycles per frame. An MVTU's input is `binary` or an
//! integer type (`int8` for a signed 8-bit input layer, `uint2`, ...); a max-pool unit of
//! integers names its element type (`elem=`). An MVTU's hardware decisions
//! (`wmem`, `columns`, `trom`, `latency`, and `cuts` where a pipeline stage sits before the lane
//! sums; a window unit's `ringmem`) appear once the legalize pass has written them. Values
//! that follow from others (the header's and each node's cycles, a window unit's ring rows) are
//! checked on reading: a line is read back only if it prints exactly as written.

use super::target::Arch;
use super::{
    Cut, DataflowError, Flags, Graph, IntType, LaneInput, MemStyle, MvtuConfig, MvtuHw, MvtuOutput, Node,
    NodeKind, PoolConfig, Popcount, RomForm, StageCuts, SwuConfig, SwuHw, WeightMem,
};
use crate::model::LayerId;
use std::collections::HashMap;
use std::fmt;

/// An element type as the text shows it: `binary`, or the integer type (`int8`, `uint2`).
fn input_name(i: LaneInput) -> String {
    match i.int_type() {
        None => "binary".into(),
        Some(t) => t.to_string(),
    }
}

/// Reads `int<k>` / `uint<k>` (the integer type's `Display`, exactly).
fn parse_int_type(line: usize, what: &str, v: &str) -> Result<IntType, DataflowError> {
    let (signed, bits) = match v.strip_prefix("uint") {
        Some(b) => (false, b),
        None => (true, v.strip_prefix("int").unwrap_or("")),
    };
    match bits.parse() {
        Ok(bits) if (IntType { bits, signed }).to_string() == v => Ok(IntType { bits, signed }),
        _ => Err(err(line, format!("{what}={v}: expected an integer type, int<bits> or uint<bits>"))),
    }
}

fn parse_input(line: usize, v: &str) -> Result<LaneInput, DataflowError> {
    match v {
        "binary" => Ok(LaneInput::Binary),
        _ => parse_int_type(line, "input", v).map(LaneInput::from),
    }
}

fn output_text(o: MvtuOutput) -> String {
    match o {
        MvtuOutput::Threshold => "threshold".into(),
        MvtuOutput::Multi { ty, bias, levels } => format!("multi act={ty} bias={bias} levels={levels}"),
        MvtuOutput::Scores => "scores".into(),
    }
}

fn popcount_name(p: Popcount) -> &'static str {
    match p {
        Popcount::AdderTree => "adder-tree",
        Popcount::Compressor => "compressor",
    }
}

fn mem_name(m: MemStyle) -> &'static str {
    match m {
        MemStyle::Block => "block",
        MemStyle::Distributed => "distributed",
        MemStyle::Auto => "auto",
        MemStyle::Spram => "spram",
    }
}

fn rom_name(r: RomForm) -> &'static str {
    match r {
        RomForm::RegisteredAddress => "address",
        RomForm::RegisteredWord => "word",
    }
}

fn wmem_text(w: &WeightMem) -> String {
    match w {
        WeightMem::Distributed => "distributed".into(),
        WeightMem::Block { width, depth, cols, rows } => format!("block:{width}x{depth}:{cols}x{rows}"),
        WeightMem::Spram { cols, rows } => format!("spram:{cols}x{rows}"),
    }
}

/// The kind and fields of a node, as its line shows them.
fn what(n: &Node) -> String {
    match &n.kind {
        NodeKind::Mvtu { layer, cfg, vectors, hw } => {
            let mut s = format!(
                "mvtu layer={} {}x{} pe={} simd={} input={} output={} popcount={} mem={}",
                layer.0,
                cfg.mh,
                cfg.mw,
                cfg.pe,
                cfg.simd,
                input_name(cfg.input),
                output_text(cfg.output),
                popcount_name(cfg.popcount),
                mem_name(cfg.mem_style),
            );
            if *vectors != 1 {
                s += &format!(" vectors={vectors}");
            }
            if let Some(hw) = hw {
                s += &format!(" wmem={} columns={}", wmem_text(&hw.wmem), hw.wmem_column_bits);
                if let Some(r) = hw.trom {
                    s += &format!(" trom={}", rom_name(r));
                }
                s += &format!(" latency={}", hw.latency);
                if !hw.cuts.is_empty() {
                    let cuts: Vec<&str> = hw.cuts.iter().map(Cut::name).collect();
                    s += &format!(" cuts={}", cuts.join(","));
                }
            }
            s
        }
        NodeKind::Swu { cfg: c, hw } => format!(
            "swu {}x{}x{} k={} s={} pad={}{} simd={}{} ring={} rows",
            c.h,
            c.w,
            c.c,
            c.kernel,
            c.stride,
            c.pad,
            // A pad bit of 1 is shown even without padding, so that the text keeps it.
            if c.pad > 0 || c.pad_bit { format!(" bit={}", u8::from(c.pad_bit)) } else { String::new() },
            c.simd,
            match hw {
                Some(hw) => format!(" ringmem={}", mem_name(hw.ring)),
                None => String::new(),
            },
            c.ring_rows()
        ),
        NodeKind::Pool { cfg: c } => {
            let elem = match c.elem().int_type() {
                Some(t) => format!(" elem={t}"),
                None => String::new(),
            };
            format!("maxpool {}x{}x{} k={}{elem}", c.h, c.w, c.c, c.kernel)
        }
        NodeKind::Fifo { depth, ram, flags } => format!(
            "fifo depth={depth}{}{}",
            if *ram == MemStyle::Block { " ram=block" } else { "" },
            flags_field(*flags)
        ),
        NodeKind::WidthConverter { flags } => format!("width-converter{}", flags_field(*flags)),
        NodeKind::Argmax { pe, bits, words, signed } => {
            format!("argmax {words}x{pe} scores of {bits} bits{}", if *signed { " signed" } else { "" })
        }
        NodeKind::Duplicate => "duplicate".to_string(),
        NodeKind::Sign { ty } => format!("sign {ty}"),
        NodeKind::ChannelPad { c_in, c_out, elem_bits } => {
            format!("channel-pad {c_in}->{c_out} bits={elem_bits}")
        }
        NodeKind::Add { layer, ty, .. } => format!("add layer={} {ty}", layer.0),
    }
}

/// The line of a node on an add's bypass, after the add's line.
fn bypass_line(n: &Node) -> String {
    format!("    <- {}", node_line(n).trim_start())
}

fn node_line(n: &Node) -> String {
    format!(
        "  {:<8} {}  [{}x{}b -> {}x{}b, {} cycles]",
        n.name,
        what(n),
        n.in_words,
        n.in_bits,
        n.out_words,
        n.out_bits,
        n.cycles()
    )
}

fn header(g: &Graph) -> Result<String, fmt::Error> {
    // JSON quoting, as the model's text form: any name reads back.
    let name = serde_json::to_string(&g.name).map_err(|_| fmt::Error)?;
    let arch = g.arch.map(|a| format!(" for {a}")).unwrap_or_default();
    Ok(format!("dataflow {name}{arch}: {} cycles/frame", g.cycles_per_frame()))
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", header(self)?)?;
        for n in &self.nodes {
            writeln!(f, "{}", node_line(n))?;
            for b in n.bypass() {
                writeln!(f, "{}", bypass_line(b))?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Graph {
    type Err = DataflowError;
    fn from_str(s: &str) -> Result<Self, DataflowError> {
        Graph::parse(s)
    }
}

/// A parse error on line `line`.
fn err(line: usize, message: impl Into<String>) -> DataflowError {
    DataflowError::Parse { line, message: message.into() }
}

fn num(line: usize, what: &str, v: &str) -> Result<usize, DataflowError> {
    v.parse().map_err(|_| err(line, format!("{what}: expected a number, got {v:?}")))
}

/// `AxB` (or `AxBxC`) as numbers.
fn dims(line: usize, what: &str, v: &str) -> Result<Vec<usize>, DataflowError> {
    v.split('x').map(|d| num(line, what, d)).collect()
}

/// The `key=value` fields of a line (after the kind and its positional field).
struct Fields {
    line: usize,
    map: HashMap<String, String>,
}

impl Fields {
    fn new(line: usize, tokens: &[&str]) -> Result<Self, DataflowError> {
        let mut map = HashMap::new();
        for t in tokens {
            let Some((k, v)) = t.split_once('=') else {
                return Err(err(line, format!("expected key=value, got {t:?}")));
            };
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(err(line, format!("{k} given twice")));
            }
        }
        Ok(Fields { line, map })
    }

    fn opt(&mut self, key: &str) -> Option<String> {
        self.map.remove(key)
    }

    fn get(&mut self, key: &str) -> Result<String, DataflowError> {
        self.opt(key).ok_or_else(|| err(self.line, format!("missing {key}=")))
    }

    fn num(&mut self, key: &str) -> Result<usize, DataflowError> {
        let v = self.get(key)?;
        num(self.line, key, &v)
    }

    /// Refuses fields nobody asked for.
    fn done(self) -> Result<(), DataflowError> {
        let mut left: Vec<&String> = self.map.keys().collect();
        left.sort();
        match left.first() {
            Some(k) => Err(err(self.line, format!("unknown field {k}="))),
            None => Ok(()),
        }
    }
}

fn pick<T: Copy>(line: usize, what: &str, v: &str, names: &[(&str, T)]) -> Result<T, DataflowError> {
    names.iter().find(|(n, _)| *n == v).map(|&(_, t)| t).ok_or_else(|| {
        let legal: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        err(line, format!("{what}={v}: expected one of {}", legal.join(", ")))
    })
}

/// ` flags=registered` for registered handshake flags; nothing for the default.
fn flags_field(f: Flags) -> &'static str {
    match f {
        Flags::Registered => " flags=registered",
        Flags::Combinational => "",
    }
}

fn parse_flags(line: usize, f: &mut Fields) -> Result<Flags, DataflowError> {
    match f.opt("flags") {
        Some(v) => pick(
            line,
            "flags",
            &v,
            &[("registered", Flags::Registered), ("combinational", Flags::Combinational)],
        ),
        None => Ok(Flags::Combinational),
    }
}

fn parse_wmem(line: usize, v: &str) -> Result<WeightMem, DataflowError> {
    if v == "distributed" {
        return Ok(WeightMem::Distributed);
    }
    let bad = || {
        err(line, format!("wmem={v}: expected distributed, block:BITSxWORDS:COLSxROWS or spram:COLSxROWS"))
    };
    if let Some(grid) = v.strip_prefix("spram:") {
        return match dims(line, "wmem", grid)?.as_slice() {
            &[cols, rows] => Ok(WeightMem::Spram { cols, rows }),
            _ => Err(bad()),
        };
    }
    let rest = v.strip_prefix("block:").ok_or_else(bad)?;
    let (aspect, grid) = rest.split_once(':').ok_or_else(bad)?;
    match (dims(line, "wmem", aspect)?.as_slice(), dims(line, "wmem", grid)?.as_slice()) {
        (&[width, depth], &[cols, rows]) => Ok(WeightMem::Block { width, depth, cols, rows }),
        _ => Err(bad()),
    }
}

/// An MVTU's `cuts=input,terms`: each cut once, in pipeline order (so that the line prints back
/// as written).
fn parse_cuts(line: usize, v: &str) -> Result<StageCuts, DataflowError> {
    let mut cuts = Vec::new();
    for name in v.split(',') {
        let cut = Cut::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Cut::ALL.iter().map(|c| c.name()).collect();
            err(line, format!("cuts={v}: unknown cut {name:?}, expected some of {}", names.join(",")))
        })?;
        if cuts.last().is_some_and(|&last| last >= cut) {
            return Err(err(line, format!("cuts={v}: each cut once, in pipeline order")));
        }
        cuts.push(cut);
    }
    Ok(StageCuts::of(&cuts))
}

/// One node line (without the leading indentation check).
fn parse_node(line: usize, text: &str) -> Result<Node, DataflowError> {
    let (body, streams) = text.rsplit_once("  [").ok_or_else(|| {
        err(line, "expected the streams in brackets: [WORDSxBITSb -> WORDSxBITSb, N cycles]")
    })?;
    let streams =
        streams.strip_suffix(" cycles]").ok_or_else(|| err(line, "the streams end in \" cycles]\""))?;
    let bad_streams = || err(line, format!("streams {streams:?}: expected WORDSxBITSb -> WORDSxBITSb, N"));
    let (io, _cycles) = streams.split_once(", ").ok_or_else(bad_streams)?;
    let (i, o) = io.split_once(" -> ").ok_or_else(bad_streams)?;
    let stream = |s: &str| -> Result<(usize, usize), DataflowError> {
        let d = dims(line, "stream", s.strip_suffix('b').ok_or_else(bad_streams)?)?;
        match d.as_slice() {
            &[words, bits] => Ok((words, bits)),
            _ => Err(bad_streams()),
        }
    };
    let ((in_words, in_bits), (out_words, out_bits)) = (stream(i)?, stream(o)?);
    let tokens: Vec<&str> = body.split_whitespace().collect();
    let (name, kind, rest) = match tokens.as_slice() {
        [name, kind, rest @ ..] => (name.to_string(), *kind, rest),
        _ => return Err(err(line, "expected a node name and a kind")),
    };
    let positional = |what: &str| -> Result<&str, DataflowError> {
        rest.first().copied().ok_or_else(|| err(line, format!("{kind}: missing {what}")))
    };
    let kind = match kind {
        "mvtu" => {
            // `layer=L MHxMW key=value...`
            let (layer, shape, fields) = match rest {
                [layer, shape, fields @ ..] => (*layer, *shape, fields),
                _ => return Err(err(line, "mvtu: expected layer=L MHxMW and its fields")),
            };
            let mut f = Fields::new(line, fields)?;
            let layer = match layer.strip_prefix("layer=").map(str::parse) {
                Some(Ok(i)) => LayerId(i),
                _ => return Err(err(line, format!("mvtu: expected layer=INDEX first, got {layer:?}"))),
            };
            let (mh, mw) = match dims(line, "shape", shape)?.as_slice() {
                &[mh, mw] => (mh, mw),
                _ => return Err(err(line, "mvtu: expected its shape as MHxMW")),
            };
            let (pe, simd) = (f.num("pe")?, f.num("simd")?);
            let input = parse_input(line, &f.get("input")?)?;
            let output = match f.get("output")?.as_str() {
                "threshold" => MvtuOutput::Threshold,
                "scores" => MvtuOutput::Scores,
                "multi" => {
                    let ty = parse_int_type(line, "act", &f.get("act")?)?;
                    let bias = f.get("bias")?;
                    let bias = bias
                        .parse()
                        .map_err(|_| err(line, format!("bias: expected an integer, got {bias:?}")))?;
                    MvtuOutput::Multi { ty, bias, levels: f.num("levels")? }
                }
                o => return Err(err(line, format!("output={o}: expected one of threshold, multi, scores"))),
            };
            let popcount = pick(
                line,
                "popcount",
                &f.get("popcount")?,
                &[("adder-tree", Popcount::AdderTree), ("compressor", Popcount::Compressor)],
            )?;
            let mem_style = pick(
                line,
                "mem",
                &f.get("mem")?,
                &[
                    ("block", MemStyle::Block),
                    ("distributed", MemStyle::Distributed),
                    ("auto", MemStyle::Auto),
                    ("spram", MemStyle::Spram),
                ],
            )?;
            let vectors = match f.opt("vectors") {
                Some(v) => num(line, "vectors", &v)?,
                None => 1,
            };
            let hw = match f.opt("wmem") {
                Some(w) => Some(MvtuHw {
                    wmem: parse_wmem(line, &w)?,
                    wmem_column_bits: f.num("columns")?,
                    trom: match f.opt("trom") {
                        Some(r) => Some(pick(
                            line,
                            "trom",
                            &r,
                            &[("address", RomForm::RegisteredAddress), ("word", RomForm::RegisteredWord)],
                        )?),
                        None => None,
                    },
                    latency: f.num("latency")?,
                    cuts: match f.opt("cuts") {
                        Some(c) => parse_cuts(line, &c)?,
                        None => StageCuts::NONE,
                    },
                }),
                None => None,
            };
            f.done()?;
            let cfg = MvtuConfig { name: name.clone(), mw, mh, pe, simd, input, output, popcount, mem_style };
            NodeKind::Mvtu { layer, cfg, vectors, hw }
        }
        "swu" => {
            let (h, w, c) = match dims(line, "shape", positional("HxWxC")?)?.as_slice() {
                &[h, w, c] => (h, w, c),
                _ => return Err(err(line, "swu: expected its input as HxWxC")),
            };
            // `ring=R rows`: the trailing word is not a field.
            let fields = match rest.get(1..) {
                Some([f @ .., "rows"]) => f,
                _ => return Err(err(line, "swu: expected ring=R rows")),
            };
            let mut f = Fields::new(line, fields)?;
            let (kernel, stride, pad, simd) = (f.num("k")?, f.num("s")?, f.num("pad")?, f.num("simd")?);
            let pad_bit = match f.opt("bit").as_deref() {
                None | Some("0") => false,
                Some("1") => true,
                Some(b) => return Err(err(line, format!("bit={b}: expected 0 or 1"))),
            };
            let hw = match f.opt("ringmem") {
                Some(m) => Some(SwuHw {
                    ring: pick(
                        line,
                        "ringmem",
                        &m,
                        &[("block", MemStyle::Block), ("distributed", MemStyle::Distributed)],
                    )?,
                }),
                None => None,
            };
            f.get("ring")?;
            f.done()?;
            if simd == 0 || in_bits % simd != 0 {
                return Err(err(line, format!("{in_bits}-bit words do not hold {simd} whole elements")));
            }
            let elem_bits = in_bits / simd;
            NodeKind::Swu {
                cfg: SwuConfig { name: name.clone(), h, w, c, elem_bits, simd, kernel, stride, pad, pad_bit },
                hw,
            }
        }
        "maxpool" => {
            let (h, w, c) = match dims(line, "shape", positional("HxWxC")?)?.as_slice() {
                &[h, w, c] => (h, w, c),
                _ => return Err(err(line, "maxpool: expected its input as HxWxC")),
            };
            let mut f = Fields::new(line, rest.get(1..).unwrap_or(&[]))?;
            let kernel = f.num("k")?;
            let (elem_bits, signed) = match f.opt("elem") {
                Some(e) => {
                    let t = parse_int_type(line, "elem", &e)?;
                    (usize::from(t.bits), t.signed)
                }
                None => (1, false),
            };
            f.done()?;
            if in_bits % elem_bits != 0 {
                return Err(err(
                    line,
                    format!("{in_bits}-bit words do not hold whole {elem_bits}-bit elements"),
                ));
            }
            let simd = in_bits / elem_bits;
            NodeKind::Pool {
                cfg: PoolConfig { name: name.clone(), h, w, c, simd, elem_bits, signed, kernel },
            }
        }
        "fifo" => {
            let mut f = Fields::new(line, rest)?;
            let depth = f.num("depth")?;
            let ram = match f.opt("ram") {
                Some(m) => pick(
                    line,
                    "ram",
                    &m,
                    &[("block", MemStyle::Block), ("distributed", MemStyle::Distributed)],
                )?,
                None => MemStyle::Distributed,
            };
            let flags = parse_flags(line, &mut f)?;
            f.done()?;
            NodeKind::Fifo { depth, ram, flags }
        }
        "width-converter" => {
            let mut f = Fields::new(line, rest)?;
            let flags = parse_flags(line, &mut f)?;
            f.done()?;
            NodeKind::WidthConverter { flags }
        }
        "argmax" => {
            let (words, pe) = match dims(line, "scores", positional("WORDSxPE")?)?.as_slice() {
                &[words, pe] => (words, pe),
                _ => return Err(err(line, "argmax: expected WORDSxPE scores of BITS bits")),
            };
            let (bits, signed) = match rest.get(1..) {
                Some(["scores", "of", b, "bits"]) => (num(line, "bits", b)?, false),
                Some(["scores", "of", b, "bits", "signed"]) => (num(line, "bits", b)?, true),
                _ => return Err(err(line, "argmax: expected WORDSxPE scores of BITS bits [signed]")),
            };
            NodeKind::Argmax { pe, bits, words, signed }
        }
        "duplicate" => {
            Fields::new(line, rest)?.done()?;
            NodeKind::Duplicate
        }
        "sign" => match rest {
            [ty] => NodeKind::Sign { ty: parse_int_type(line, "sign", ty)? },
            _ => return Err(err(line, "sign: expected its element type (int<bits>)")),
        },
        "channel-pad" => {
            let bad = || err(line, "channel-pad: expected C_IN->C_OUT bits=BITS");
            let (c_in, c_out) = positional("C_IN->C_OUT")?.split_once("->").ok_or_else(bad)?;
            let mut f = Fields::new(line, rest.get(1..).unwrap_or(&[]))?;
            let elem_bits = f.num("bits")?;
            f.done()?;
            NodeKind::ChannelPad {
                c_in: num(line, "c_in", c_in)?,
                c_out: num(line, "c_out", c_out)?,
                elem_bits,
            }
        }
        "add" => match rest {
            [layer, ty] => {
                let layer = match layer.strip_prefix("layer=").map(str::parse) {
                    Some(Ok(i)) => LayerId(i),
                    _ => return Err(err(line, format!("add: expected layer=INDEX first, got {layer:?}"))),
                };
                NodeKind::Add { layer, ty: parse_int_type(line, "add", ty)?, bypass: Vec::new() }
            }
            _ => return Err(err(line, "add: expected layer=INDEX and its element type")),
        },
        other => {
            return Err(err(
                line,
                format!(
                "unknown node kind {other:?} (mvtu, swu, maxpool, fifo, width-converter, argmax, duplicate, \
                     sign, channel-pad, add)"
            ),
            ))
        }
    };
    Ok(Node { name, kind, in_bits, in_words, out_bits, out_words })
}

impl Graph {
    /// Reads the text form back: the graph whose `Display` is exactly `text`. Every node is
    /// verified on its own and every stream between two nodes is checked; errors name the line.
    pub fn parse(text: &str) -> Result<Graph, DataflowError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let (_, first) =
            lines.next().ok_or_else(|| err(1, "empty text: expected `dataflow \"NAME\": N cycles/frame`"))?;
        let (name, _) = first
            .strip_prefix("dataflow ")
            .and_then(|r| r.rsplit_once(": "))
            .ok_or_else(|| err(1, "expected `dataflow \"NAME\": N cycles/frame`"))?;
        // `"NAME" for ARCH`: the name is a JSON string, so it ends in a quote, and no
        // architecture's name holds one.
        let (name, arch) = match name.rsplit_once(" for ") {
            Some((n, a)) if !a.contains('"') => {
                let arch = Arch::parse(a).ok_or_else(|| {
                    err(
                        1,
                        format!("unknown architecture {a:?} (xc7, or ice40- and a part such as ice40-up5k)"),
                    )
                })?;
                (n, Some(arch))
            }
            _ => (name, None),
        };
        let name: String =
            serde_json::from_str(name).map_err(|e| err(1, format!("the name is a JSON string: {e}")))?;
        let mut g = Graph { name, nodes: Vec::new(), arch };
        for (line, text) in lines {
            if let Some(body) = text.strip_prefix("    <- ") {
                // A node of the bypass of the add just read: its streams are checked with the
                // whole graph's.
                let node = parse_node(line, body)?;
                let printed = bypass_line(&node);
                if printed != text {
                    return Err(err(
                        line,
                        format!("does not read back as written; it prints as `{}`", printed.trim()),
                    ));
                }
                match g.nodes.last_mut().map(|n| &mut n.kind) {
                    Some(NodeKind::Add { bypass, .. }) => bypass.push(node),
                    _ => return Err(err(line, "a bypass line (`<-`) follows an add or its bypass")),
                }
                continue;
            }
            let body =
                text.strip_prefix("  ").ok_or_else(|| err(line, "a node line starts with two spaces"))?;
            let node = parse_node(line, body)?;
            let alone = Graph { name: g.name.clone(), nodes: vec![node], arch: g.arch };
            alone.verify_nodes().map_err(|e| err(line, e.to_string()))?;
            let node = alone.nodes.into_iter().next().ok_or_else(|| err(line, "no node"))?;
            if let Some(prev) = g.nodes.last() {
                if (prev.out_words, prev.out_bits) != (node.in_words, node.in_bits) {
                    return Err(err(
                        line,
                        format!(
                            "{} takes {} words of {} bits, {} gives {} of {}",
                            node.name, node.in_words, node.in_bits, prev.name, prev.out_words, prev.out_bits
                        ),
                    ));
                }
            }
            let printed = node_line(&node);
            if printed != text {
                return Err(err(
                    line,
                    format!("does not read back as written; it prints as `{}`", printed.trim()),
                ));
            }
            g.nodes.push(node);
        }
        g.verify().map_err(|e| err(1, e.to_string()))?;
        if header(&g).map_err(|_| err(1, "the name does not print"))? != first {
            return Err(err(
                1,
                format!("does not read back as written; it prints as `{}`", header(&g).unwrap_or_default()),
            ));
        }
        Ok(g)
    }
}
