//! Network architectures to train: presets (TFC, SFC, LFC) and a compact text syntax.

use compiler::model::limits::{grouped, MAX_TENSOR_ELEMS};
use compiler::model::Shape;
use std::fmt;
use std::str::FromStr;

/// How pixels enter the network.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Binarized pixels: +1 where pixel >= threshold.
    Binary {
        /// Pixel threshold.
        threshold: u8,
    },
    /// 8-bit unsigned fixed point (pixel / 256) against binary weights.
    Fixed8,
}

/// One hidden layer (the classifier layer is implicit, see [`Arch::classes`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerCfg {
    /// Binary dense layer with BatchNorm and sign.
    Dense(usize),
    /// Binary 3x3 convolution, stride 1, with BatchNorm and sign; `pad` is the padding bit
    /// (one pixel each side) or `None` for no padding.
    Conv {
        /// Output channels.
        out: usize,
        /// Padding bit, or no padding.
        pad: Option<bool>,
    },
    /// 2x2 max-pool, stride 2 (OR of bits; the largest integer of k-bit activations or of a
    /// residual network's stream).
    Pool,
    /// A residual block (Bi-Real style, `compiler::model::Layer::Residual`) over the signed
    /// integer stream of its stem conv or the block before: sign, binary 3x3 conv padded with bit
    /// 1 (the sign of a zero-padded stream), BatchNorm, the k-bit quantizer of `--act-bits`, and
    /// the sum with the shortcut saturated to the stream's type (`--res-bits`).
    Residual {
        /// Output channels.
        out: usize,
        /// Stride 2 with the pool-and-pad shortcut (2x2 max-pool of the stream, zero channels
        /// appended up to `out`); else stride 1 with the identity (then `out` is the input's).
        down: bool,
    },
}

/// A network to train: input handling, hidden layers and the number of classes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Arch {
    /// Input handling.
    pub input: InputKind,
    /// Hidden layers in order.
    pub layers: Vec<LayerCfg>,
    /// Classes of the final binary dense layer (integer scores).
    pub classes: usize,
    /// Bits of every hidden activation: 1 is the sign (+-1); 2 ..= [`MAX_ACT_BITS`] the uniform
    /// k-bit quantizer of [`crate::method::quantized_activation`]. Checkpoints from before the
    /// field are binary.
    #[serde(default = "binary_activations")]
    pub act_bits: u8,
    /// Bits of a residual network's signed integer stream (its stem and blocks' outputs, which
    /// every block adds to with saturation); 2 ..= 8, [`DEFAULT_RES_BITS`] unless set. Unused
    /// without residual blocks.
    #[serde(default = "default_res_bits")]
    pub res_bits: u8,
}

/// Default bits of a residual network's stream: the model IR's widest integer activation, so
/// that a stream of a stem and six blocks of levels up to 7 (`--act-bits 4`) never saturates.
pub const DEFAULT_RES_BITS: u8 = 8;

fn default_res_bits() -> u8 {
    DEFAULT_RES_BITS
}

/// The residual presets: name, layer list (see [`Arch::parse`]).
pub const RESNET_PRESETS: [(&str, &str); 2] = [
    // 28x28 (MNIST): stem 28x28x8, stages 28x28x8, 14x14x16, 7x7x32 of two blocks each, pool to
    // 3x3x32, classifier over 288 integers: 2.32 M binary MACs a frame, sized to train in minutes
    // an epoch on two cores.
    ("resnet-mnist", "c8p0-r8-r8-r16s-r16-r32s-r32-p"),
    // 8x8 (digits): stem 8x8x16, stages 8x8x16 and 4x4x32 of two blocks, pool to 2x2x32,
    // classifier over 128 integers.
    ("resnet-digits", "c16p0-r16-r16-r32s-r32-p"),
];

/// Widest hidden activation that training offers (issue 27 asks for W1A2 to W1A4; the model IR
/// holds up to 8 bits).
pub const MAX_ACT_BITS: u8 = 4;

fn binary_activations() -> u8 {
    1
}

/// Default pixel threshold for binarized input (MNIST: 0.5 of full scale).
pub const DEFAULT_PIXEL_THRESHOLD: u8 = 128;

impl Arch {
    /// Parses a layer list: a preset (`tfc`, `sfc`, `lfc`: three dense layers of 64 / 256 / 1024;
    /// [`RESNET_PRESETS`]) or `-`-separated tokens: `N` a dense layer, `cN` a 3x3 conv without
    /// padding, `cNp0` / `cNp1` a 3x3 conv padded with bit 0 (-1) or 1 (+1), `p` a 2x2 max-pool,
    /// `rN` a stride-1 residual block of N channels (identity shortcut: N is its input's channels)
    /// and `rNs` a stride-2 one (pool-and-pad shortcut to N >= the input's channels). Residual
    /// blocks follow a conv, their stem, which then outputs the blocks' integer stream; after
    /// them only blocks and pools, then the classifier over the integers. Examples: `256-256`,
    /// `c16p0-p-c32-p-128`, `c16p0-r16-r16-r32s-r32-p`.
    pub fn parse(spec: &str, input: InputKind, classes: usize) -> Result<Arch, String> {
        let preset = |w: usize| vec![LayerCfg::Dense(w); 3];
        let layers = match spec {
            "tfc" => preset(64),
            "sfc" => preset(256),
            "lfc" => preset(1024),
            _ => match RESNET_PRESETS.iter().find(|p| p.0 == spec) {
                Some(p) => p.1.split('-').map(parse_token).collect::<Result<Vec<_>, _>>()?,
                None => spec.split('-').map(parse_token).collect::<Result<Vec<_>, _>>()?,
            },
        };
        Ok(Arch { input, layers, classes, act_bits: 1, res_bits: DEFAULT_RES_BITS })
    }

    /// This architecture with a `bits`-bit residual stream (checked by [`Arch::size`] and
    /// [`crate::net::Net::new`]).
    pub fn with_res_bits(self, bits: u8) -> Arch {
        Arch { res_bits: bits, ..self }
    }

    /// The index of the stem: the conv right before the first residual block, or `None` without
    /// residual blocks (or when no conv is right before the first; [`crate::net::layer_shapes`]
    /// refuses that).
    pub fn stem(&self) -> Option<usize> {
        let first = self.layers.iter().position(|l| matches!(l, LayerCfg::Residual { .. }))?;
        first.checked_sub(1).filter(|&i| matches!(self.layers[i], LayerCfg::Conv { .. }))
    }

    /// True if the network has residual blocks.
    pub fn is_residual(&self) -> bool {
        self.layers.iter().any(|l| matches!(l, LayerCfg::Residual { .. }))
    }

    /// This architecture with `bits`-bit hidden activations (checked by [`Arch::size`] and
    /// [`crate::net::Net::new`]).
    pub fn with_act_bits(self, bits: u8) -> Arch {
        Arch { act_bits: bits, ..self }
    }

    /// The largest level `m = 2^(k-1) - 1` of k-bit hidden activations (their values are
    /// `-m..=m`), or `None` for binary ones.
    pub fn act_levels(&self) -> Option<i32> {
        (self.act_bits > 1)
            .then(|| 1i32.checked_shl(u32::from(self.act_bits - 1)).map_or(i32::MAX, |v| v - 1))
    }
}

/// What training a network of some [`Arch`] on some input holds in memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ArchSize {
    /// Trainable values: weights, BatchNorm's scale and shift, the logit scale.
    pub params: u64,
    /// Values of one image's forward pass: its input and every layer's output.
    pub activations: u64,
}

impl Arch {
    /// Counts what training this network on `input` frames holds, refusing any layer whose output
    /// is more than [`MAX_TENSOR_ELEMS`] (the exported model could not hold it either), by name.
    pub fn size(&self, input: Shape) -> Result<ArchSize, String> {
        let shapes = crate::net::layer_shapes(self, input)?;
        let mut cur = input;
        let (mut params, mut activations) = (0u64, input.len() as u64);
        for (i, (l, &s)) in self.layers.iter().zip(&shapes).enumerate() {
            if s.checked_len().is_none_or(|n| n > MAX_TENSOR_ELEMS) {
                return Err(format!(
                    "layer {} ({}): output {s} is more than the limit of {} values per layer \
                     (compiler::model::limits::MAX_TENSOR_ELEMS); use narrower layers",
                    i + 1,
                    token(l),
                    grouped(MAX_TENSOR_ELEMS as u64)
                ));
            }
            params += match *l {
                LayerCfg::Dense(n) => (cur.len() as u64 + 2) * n as u64,
                LayerCfg::Conv { out, .. } | LayerCfg::Residual { out, .. } => {
                    (9 * cur.c as u64 + 2) * out as u64
                }
                LayerCfg::Pool => 0,
            };
            activations += s.len() as u64;
            cur = s;
        }
        params += cur.len() as u64 * self.classes as u64 + 1;
        activations += self.classes as u64;
        Ok(ArchSize { params, activations })
    }
}

/// A layer as the layer list spells it.
pub fn token(l: &LayerCfg) -> String {
    match l {
        LayerCfg::Dense(n) => n.to_string(),
        LayerCfg::Conv { out, pad: None } => format!("c{out}"),
        LayerCfg::Conv { out, pad: Some(b) } => format!("c{out}p{}", u8::from(*b)),
        LayerCfg::Pool => "p".into(),
        LayerCfg::Residual { out, down } => format!("r{out}{}", if *down { "s" } else { "" }),
    }
}

fn parse_token(t: &str) -> Result<LayerCfg, String> {
    let bad = || format!("bad layer '{t}' (expected N, cN, cNp0, cNp1, p, rN or rNs)");
    // A width is bounded here already, so that a typo such as 100000000 is named at once.
    let count = |s: &str| {
        let n = s.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad)?;
        if n > MAX_TENSOR_ELEMS {
            return Err(format!(
                "layer '{t}': {} outputs are more than the limit of {} per layer \
                 (compiler::model::limits::MAX_TENSOR_ELEMS)",
                grouped(n as u64),
                grouped(MAX_TENSOR_ELEMS as u64)
            ));
        }
        Ok(n)
    };
    if t == "p" {
        return Ok(LayerCfg::Pool);
    }
    if let Some(rest) = t.strip_prefix('r') {
        let (n, down) = match rest.strip_suffix('s') {
            Some(n) => (n, true),
            None => (rest, false),
        };
        return Ok(LayerCfg::Residual { out: count(n)?, down });
    }
    if let Some(rest) = t.strip_prefix('c') {
        let (n, pad) = match rest.split_once('p') {
            None => (rest, None),
            Some((n, "0")) => (n, Some(false)),
            Some((n, "1")) => (n, Some(true)),
            Some(_) => return Err(bad()),
        };
        return Ok(LayerCfg::Conv { out: count(n)?, pad });
    }
    Ok(LayerCfg::Dense(count(t)?))
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.layers.iter().map(token).collect();
        write!(f, "{}-{}", parts.join("-"), self.classes)
    }
}

/// The `--input` spelling, which [`FromStr`] reads back.
impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKind::Binary { threshold } => write!(f, "binary:{threshold}"),
            InputKind::Fixed8 => f.write_str("fixed8"),
        }
    }
}

impl FromStr for InputKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "binary" => Ok(InputKind::Binary { threshold: DEFAULT_PIXEL_THRESHOLD }),
            "fixed8" => Ok(InputKind::Fixed8),
            _ => s
                .strip_prefix("binary:")
                .and_then(|t| t.parse().ok())
                .map(|threshold| InputKind::Binary { threshold })
                .ok_or_else(|| format!("unknown input '{s}' (binary, binary:THRESHOLD or fixed8)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_kinds_print_what_parses_back() {
        for k in [InputKind::Fixed8, InputKind::Binary { threshold: 0 }, InputKind::Binary { threshold: 200 }]
        {
            assert_eq!(k.to_string().parse::<InputKind>(), Ok(k));
        }
        assert_eq!("binary".parse::<InputKind>().map(|k| k.to_string()), Ok("binary:128".to_string()));
    }

    #[test]
    fn presets_and_tokens_parse() {
        let b = InputKind::Binary { threshold: 128 };
        assert_eq!(Arch::parse("sfc", b, 10).expect("preset").layers, vec![LayerCfg::Dense(256); 3]);
        let a = Arch::parse("c16p0-p-c32-p-128", b, 10).expect("valid");
        assert_eq!(
            a.layers,
            vec![
                LayerCfg::Conv { out: 16, pad: Some(false) },
                LayerCfg::Pool,
                LayerCfg::Conv { out: 32, pad: None },
                LayerCfg::Pool,
                LayerCfg::Dense(128)
            ]
        );
        assert_eq!(a.to_string(), "c16p0-p-c32-p-128-10");
        let r = Arch::parse("c8p1-r8-r16s-p", b, 10).expect("valid");
        assert_eq!(
            r.layers,
            vec![
                LayerCfg::Conv { out: 8, pad: Some(true) },
                LayerCfg::Residual { out: 8, down: false },
                LayerCfg::Residual { out: 16, down: true },
                LayerCfg::Pool
            ]
        );
        assert_eq!((r.to_string(), r.stem(), r.res_bits), ("c8p1-r8-r16s-p-10".to_string(), Some(0), 8));
        for (name, list) in RESNET_PRESETS {
            assert_eq!(Arch::parse(name, b, 10).expect("preset").to_string(), format!("{list}-10"));
        }
        for bad in ["", "0", "c", "c8p2", "x", "16--16", "r", "rs", "r0", "r8ss", "r-8"] {
            assert!(Arch::parse(bad, b, 10).is_err(), "{bad}");
        }
        assert_eq!("binary:100".parse::<InputKind>(), Ok(InputKind::Binary { threshold: 100 }));
        assert!("ternary".parse::<InputKind>().is_err());
    }
}
