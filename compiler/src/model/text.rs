//! The text form of a model: `Display` writes it, [`Model::parse`] reads it back exactly.
//!
//! ```text
//! xnorflow-model 1
//! name "tiny"
//! input 8x8x1
//! output argmax
//! provenance {"dataset":"digits"}
//! L0 quant.binary threshold=128   (or: quant.fixed8 signed=true frac_bits=0,
//!                                   or: quant.table values=v0,v1,...,v255, one per pixel byte)
//! L1 conv2d out=4 kernel=3 stride=1 padding=1:0 act=threshold
//!   w 1a3     (one line per output channel: hex, least significant bit first)
//!   t 4 5 3 6 (one threshold per output channel)
//! L2 dense out=3 in=16 act=multi bits=2 signed=true bias=-1 levels=2
//!   w ...     (a k-bit activation: out = bias + #{j : acc >= t_j})
//!   t -3 2    (one line per output channel: its `levels` ascending thresholds)
//! L2 maxpool kernel=2 stride=2
//! L3 residual kernel=3 stride=1 padding=1:1 shortcut=identity out=16 in=144 act=multi bits=8 signed=true bias=-2 levels=4
//!   w ...     (a Bi-Real block over an int8 stream x: saturate(x + multi(conv(sign x))))
//!   t ...
//! L4 dense out=10 act=scores
//!   w ...
//! ```

use super::{
    Activation, BinaryWeights, BitMatrix, Fixed8, InputTable, IntType, Layer, LayerId, Model, MultiThreshold,
    OutputMode, Padding, Shape, Shortcut,
};
use std::collections::HashMap;
use std::fmt;

/// Version of the text form.
pub const TEXT_VERSION: u32 = 1;

/// A text-form model that does not parse; names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "xnorflow-model {TEXT_VERSION}")?;
        writeln!(f, "name {}", serde_json::to_string(&self.name).map_err(|_| fmt::Error)?)?;
        writeln!(f, "input {}", self.input)?;
        let out = match self.output {
            OutputMode::Scores => "scores",
            OutputMode::Argmax => "argmax",
        };
        writeln!(f, "output {out}")?;
        writeln!(f, "provenance {}", serde_json::to_string(&self.provenance).map_err(|_| fmt::Error)?)?;
        for (id, layer) in self.iter() {
            write!(f, "{id} {}", layer.kind())?;
            match layer {
                Layer::QuantBinary { threshold } => writeln!(f, " threshold={threshold}")?,
                Layer::QuantFixed8(q) => writeln!(f, " signed={} frac_bits={}", q.signed, q.frac_bits)?,
                Layer::QuantTable(t) => {
                    // One token (no spaces), so that the attribute parser reads it whole.
                    let values: Vec<String> = t.values().iter().map(i32::to_string).collect();
                    writeln!(f, " values={}", values.join(","))?
                }
                Layer::Dense(w) => write_weights(f, w)?,
                Layer::Conv2d { kernel, stride, padding, weights } => {
                    write!(f, " kernel={kernel} stride={stride} padding=")?;
                    write_padding(f, *padding)?;
                    write_weights(f, weights)?;
                }
                Layer::Residual { kernel, stride, padding, shortcut, weights } => {
                    write!(f, " kernel={kernel} stride={stride} padding=")?;
                    write_padding(f, *padding)?;
                    write!(f, " shortcut={}", shortcut.name())?;
                    write_weights(f, weights)?;
                }
                Layer::MaxPool { kernel, stride } => writeln!(f, " kernel={kernel} stride={stride}")?,
            }
        }
        Ok(())
    }
}

fn write_padding(f: &mut fmt::Formatter<'_>, padding: Padding) -> fmt::Result {
    match padding {
        Padding::None => write!(f, "none"),
        Padding::Bit { amount, bit } => write!(f, "{amount}:{}", u8::from(bit)),
    }
}

fn write_weights(f: &mut fmt::Formatter<'_>, w: &BinaryWeights) -> fmt::Result {
    write!(f, " out={} in={} act={}", w.out(), w.fan_in(), w.activation.kind())?;
    if let Activation::Multi(m) = &w.activation {
        write!(f, " bits={} signed={} bias={} levels={}", m.ty.bits, m.ty.signed, m.bias, m.levels)?;
    }
    writeln!(f)?;
    for r in 0..w.out() {
        writeln!(f, "  w {}", w.matrix.row_hex(r))?;
    }
    let line = |f: &mut fmt::Formatter<'_>, t: &[i32]| {
        write!(f, "  t")?;
        for v in t {
            write!(f, " {v}")?;
        }
        writeln!(f)
    };
    match &w.activation {
        Activation::Threshold(t) => line(f, t)?,
        // One line per channel; a multi-threshold's levels are at least 1, so no line is empty.
        Activation::Multi(m) => m.thresholds.chunks(m.levels.max(1)).try_for_each(|t| line(f, t))?,
        Activation::Scores => {}
    }
    Ok(())
}

struct Lines<'a> {
    lines: std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'a>>>,
    line: usize,
}

impl<'a> Lines<'a> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { line: self.line.max(1), message: message.into() }
    }

    /// Next line that is neither blank nor a comment (a line whose first non-blank character is `#`).
    fn next(&mut self) -> Option<&'a str> {
        for (i, l) in self.lines.by_ref() {
            self.line = i + 1;
            if !is_blank_or_comment(l) {
                return Some(l.trim_end());
            }
        }
        None
    }

    fn expect(&mut self, key: &str) -> Result<&'a str, ParseError> {
        let l = self.next().ok_or_else(|| self.err(format!("missing '{key}' line")))?;
        let l = l.trim();
        l.strip_prefix(key)
            .filter(|r| r.is_empty() || r.starts_with(' '))
            .map(str::trim)
            .ok_or_else(|| self.err(format!("expected '{key} ...', found '{}'", l.trim())))
    }

    /// True if the next non-empty line is indented (a weight or threshold line).
    fn peek_indented(&mut self) -> bool {
        while let Some((i, l)) = self.lines.peek() {
            if is_blank_or_comment(l) {
                self.line = i + 1;
                self.lines.next();
                continue;
            }
            return l.starts_with(' ') || l.starts_with('\t');
        }
        false
    }
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn parse_shape(s: &str) -> Option<Shape> {
    let mut it = s.split('x').map(|p| p.parse::<usize>().ok());
    let shape = Shape::new(it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(shape)
}

struct Attrs<'a>(HashMap<&'a str, &'a str>);

impl<'a> Attrs<'a> {
    fn parse(parts: &[&'a str], lines: &Lines) -> Result<Self, ParseError> {
        let mut m = HashMap::new();
        for p in parts {
            let (k, v) =
                p.split_once('=').ok_or_else(|| lines.err(format!("expected key=value, found '{p}'")))?;
            if m.insert(k, v).is_some() {
                return Err(lines.err(format!("'{k}' given twice")));
            }
        }
        Ok(Attrs(m))
    }

    fn get<T: std::str::FromStr>(&mut self, key: &str, lines: &Lines) -> Result<T, ParseError> {
        let v = self.0.remove(key).ok_or_else(|| lines.err(format!("missing {key}=")))?;
        v.parse().map_err(|_| lines.err(format!("bad value '{v}' for {key}")))
    }

    fn finish(self, lines: &Lines) -> Result<(), ParseError> {
        match self.0.keys().next() {
            Some(k) => Err(lines.err(format!("unknown attribute '{k}'"))),
            None => Ok(()),
        }
    }
}

impl Model {
    /// Parses the text form written by `Display`. The result is not verified; call
    /// [`Model::verify`] to check shapes and thresholds.
    pub fn parse(text: &str) -> Result<Model, ParseError> {
        let mut lines = Lines { lines: text.lines().enumerate().peekable(), line: 0 };
        let v = lines.expect("xnorflow-model")?;
        if v != TEXT_VERSION.to_string() {
            return Err(
                lines.err(format!("unsupported text version '{v}' (this build reads {TEXT_VERSION})"))
            );
        }
        let name = lines.expect("name")?;
        let name: String = serde_json::from_str(name).map_err(|e| lines.err(format!("bad name: {e}")))?;
        let input = lines.expect("input")?;
        let input =
            parse_shape(input).ok_or_else(|| lines.err(format!("bad shape '{input}', expected HxWxC")))?;
        let output = match lines.expect("output")? {
            "scores" => OutputMode::Scores,
            "argmax" => OutputMode::Argmax,
            o => return Err(lines.err(format!("unknown output '{o}' (scores or argmax)"))),
        };
        let prov = lines.expect("provenance")?;
        let provenance = serde_json::from_str(prov).map_err(|e| lines.err(format!("bad provenance: {e}")))?;
        let mut layers = Vec::new();
        while let Some(l) = lines.next() {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let want = LayerId(layers.len() as u32).to_string();
            if parts.first() != Some(&want.as_str()) {
                return Err(lines.err(format!("expected layer {want}, found '{}'", l.trim())));
            }
            let kind = *parts.get(1).ok_or_else(|| lines.err("missing layer kind"))?;
            let mut a = Attrs::parse(&parts[2..], &lines)?;
            let layer = match kind {
                "quant.binary" => {
                    let threshold = a.get("threshold", &lines)?;
                    a.finish(&lines)?;
                    Layer::QuantBinary { threshold }
                }
                "quant.fixed8" => {
                    let q =
                        Fixed8 { signed: a.get("signed", &lines)?, frac_bits: a.get("frac_bits", &lines)? };
                    a.finish(&lines)?;
                    Layer::QuantFixed8(q)
                }
                "quant.table" => {
                    let v: String = a.get("values", &lines)?;
                    a.finish(&lines)?;
                    let values = v
                        .split(',')
                        .map(|x| x.parse::<i32>().map_err(|_| lines.err(format!("bad table value '{x}'"))))
                        .collect::<Result<Vec<_>, _>>()?;
                    Layer::QuantTable(InputTable::new(values).map_err(|e| lines.err(e))?)
                }
                "maxpool" => {
                    let (kernel, stride) = (a.get("kernel", &lines)?, a.get("stride", &lines)?);
                    a.finish(&lines)?;
                    Layer::MaxPool { kernel, stride }
                }
                "dense" => Layer::Dense(parse_weights(a, &mut lines)?),
                "conv2d" => {
                    let kernel = a.get("kernel", &lines)?;
                    let stride = a.get("stride", &lines)?;
                    let padding = parse_padding(&mut a, &lines)?;
                    Layer::Conv2d { kernel, stride, padding, weights: parse_weights(a, &mut lines)? }
                }
                "residual" => {
                    let kernel = a.get("kernel", &lines)?;
                    let stride = a.get("stride", &lines)?;
                    let padding = parse_padding(&mut a, &lines)?;
                    let sc: String = a.get("shortcut", &lines)?;
                    let shortcut = match sc.as_str() {
                        "identity" => Shortcut::Identity,
                        "pool_pad" => Shortcut::PoolPad,
                        _ => return Err(lines.err(format!("unknown shortcut '{sc}' (identity or pool_pad)"))),
                    };
                    Layer::Residual {
                        kernel,
                        stride,
                        padding,
                        shortcut,
                        weights: parse_weights(a, &mut lines)?,
                    }
                }
                k => return Err(lines.err(format!("unknown layer kind '{k}'"))),
            };
            layers.push(layer);
        }
        Ok(Model { name, input, layers, output, provenance })
    }
}

fn parse_padding(a: &mut Attrs, lines: &Lines) -> Result<Padding, ParseError> {
    let p: String = a.get("padding", lines)?;
    Ok(match p.split_once(':') {
        None if p == "none" => Padding::None,
        Some((n, b @ ("0" | "1"))) => Padding::Bit {
            amount: n.parse().map_err(|_| lines.err(format!("bad padding amount '{n}'")))?,
            bit: b == "1",
        },
        _ => return Err(lines.err(format!("bad padding '{p}', expected none or N:0 or N:1"))),
    })
}

/// Reads a weighted layer's `out`, `in` and `act` (the last attributes of its line), then its rows.
fn parse_weights(mut a: Attrs, lines: &mut Lines) -> Result<BinaryWeights, ParseError> {
    let out: usize = a.get("out", lines)?;
    let n: usize = a.get("in", lines)?;
    let act: String = a.get("act", lines)?;
    let multi = match act.as_str() {
        "scores" | "threshold" => None,
        "multi" => {
            let ty = IntType { bits: a.get("bits", lines)?, signed: a.get("signed", lines)? };
            let bias: i32 = a.get("bias", lines)?;
            let levels: usize = a.get("levels", lines)?;
            Some((ty, bias, levels))
        }
        _ => return Err(lines.err(format!("unknown act '{act}' (threshold, multi or scores)"))),
    };
    a.finish(lines)?;
    let mut matrix = BitMatrix::checked_zeros(out, n)
        .ok_or_else(|| lines.err(format!("{out}x{n} weight matrix is too large")))?;
    for r in 0..out {
        if !lines.peek_indented() {
            return Err(lines.err(format!("expected {out} weight rows, found {r}")));
        }
        let hex = lines.expect("w")?;
        matrix.set_row_hex(r, hex).map_err(|e| lines.err(format!("weight row {r}: {e}")))?;
    }
    let activation = match act.as_str() {
        "threshold" => {
            let t = if lines.peek_indented() { lines.expect("t")? } else { "" };
            let t = t
                .split_whitespace()
                .map(|v| v.parse::<i32>().map_err(|_| lines.err(format!("bad threshold '{v}'"))))
                .collect::<Result<Vec<_>, _>>()?;
            Activation::Threshold(t)
        }
        _ => match multi {
            Some((ty, bias, levels)) => {
                let mut thresholds = Vec::new();
                for c in 0..out {
                    if !lines.peek_indented() {
                        return Err(lines.err(format!("expected {out} threshold lines, found {c}")));
                    }
                    let t = lines.expect("t")?;
                    let row = t
                        .split_whitespace()
                        .map(|v| v.parse::<i32>().map_err(|_| lines.err(format!("bad threshold '{v}'"))))
                        .collect::<Result<Vec<_>, _>>()?;
                    if row.len() != levels {
                        return Err(
                            lines.err(format!("channel {c} has {} thresholds, levels={levels}", row.len()))
                        );
                    }
                    thresholds.extend(row);
                }
                Activation::Multi(MultiThreshold { ty, bias, levels, thresholds })
            }
            None => Activation::Scores,
        },
    };
    Ok(BinaryWeights { matrix, activation })
}
