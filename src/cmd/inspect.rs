//! `xnorflow inspect`: a per-layer summary of a model, like Larq's model summary.

use super::{print_table, thousands};
use anyhow::Result;
use compiler::model::{accumulator_range, macs_per_frame, Activation, Elem, Layer, Model, Padding};
use std::path::PathBuf;

/// Arguments of `xnorflow inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (.xnf).
    pub model: PathBuf,
}

/// Runs `xnorflow inspect`.
pub fn run(args: Args) -> Result<()> {
    let model = super::eval::load_model(&args.model)?;
    print_summary(&model)
}

/// Bits a threshold needs to hold any value in `[lo, hi + 1]` (two's complement when `lo < 0`).
fn threshold_bits(lo: i64, hi: i64) -> u32 {
    let mag = |v: i64| 64 - (v.max(0) as u64).leading_zeros();
    if lo < 0 {
        1 + mag(hi + 1).max(mag(-lo - 1))
    } else {
        mag(hi + 1)
    }
}

/// Prints the per-layer table and totals of `model`.
pub fn print_summary(model: &Model) -> Result<()> {
    let types = model.infer()?;
    println!(
        "model \"{}\": input {} u8, output {}",
        model.name,
        model.input,
        match model.output {
            compiler::model::OutputMode::Scores => "scores",
            compiler::model::OutputMode::Argmax => "argmax",
        }
    );
    let p = &model.provenance;
    let mut prov = Vec::new();
    if let Some(d) = &p.dataset {
        prov.push(format!("dataset {d}"));
    }
    if let Some(m) = &p.method {
        prov.push(format!("method {m}"));
    }
    if let Some(a) = p.accuracy {
        prov.push(format!("accuracy {:.2}%", a * 100.0));
    }
    if let Some(a) = p.validation_accuracy {
        prov.push(format!("validation accuracy {:.2}%", a * 100.0));
    }
    if let Some(e) = p.epochs {
        prov.push(format!("{e} epochs"));
    }
    if let Some(s) = p.seed {
        prov.push(format!("seed {s}"));
    }
    if !prov.is_empty() {
        println!("provenance: {}", prov.join(", "));
    }
    if let Some(n) = &p.notes {
        println!("notes: {n}");
    }
    let mut rows = Vec::new();
    let (mut total_bits, mut total_macs, mut total_tbits) = (0u64, 0u64, 0u64);
    let mut prev = Elem::Pixels;
    for ((id, layer), ty) in model.iter().zip(&types) {
        let params = match layer {
            Layer::QuantBinary { threshold } => format!("pixel >= {threshold}"),
            Layer::QuantFixed8(q) => {
                format!("{} frac={}", if q.signed { "signed" } else { "unsigned" }, q.frac_bits)
            }
            Layer::QuantTable(t) => {
                let (lo, hi) = t.range();
                format!(
                    "table [{lo}, {hi}] {}, {}",
                    if t.signed() { "signed" } else { "unsigned" },
                    if t.is_monotone() { "monotone" } else { "not monotone" }
                )
            }
            Layer::Dense(w) => format!("{} -> {}", w.fan_in(), w.out()),
            Layer::Conv2d { kernel, stride, padding, weights } => {
                format!(
                    "k{kernel} s{stride} pad {}, {} -> {}",
                    pad_text(*padding),
                    weights.fan_in(),
                    weights.out()
                )
            }
            Layer::Residual { kernel, stride, padding, shortcut, weights } => format!(
                "sign, k{kernel} s{stride} pad {}, {} -> {}, + {} shortcut (saturating)",
                pad_text(*padding),
                weights.fan_in(),
                weights.out(),
                shortcut.name()
            ),
            Layer::MaxPool { kernel, stride } => {
                let how = if prev == Elem::Bits { "OR" } else { "max" };
                format!("k{kernel} s{stride} ({how})")
            }
        };
        let (wbits, tmem) = match layer.weights() {
            Some(w) => {
                let wbits = (w.out() * w.fan_in()) as u64;
                let (lo, hi) = accumulator_range(prev, w.fan_in());
                let t = match &w.activation {
                    Activation::Threshold(t) => t.len() as u64 * u64::from(threshold_bits(lo, hi)),
                    Activation::Multi(m) => m.thresholds.len() as u64 * u64::from(threshold_bits(lo, hi)),
                    Activation::Scores => 0,
                };
                (wbits, t)
            }
            None => (0, 0),
        };
        let macs = macs_per_frame(layer, ty);
        total_bits += wbits;
        total_macs += macs;
        total_tbits += tmem;
        let act = match layer.weights().map(|w| &w.activation) {
            Some(Activation::Threshold(_)) => "threshold".to_string(),
            Some(Activation::Multi(m)) => {
                let top = i64::from(m.bias) + m.levels as i64;
                format!("{} in {}..={top} ({} thresholds)", m.ty, m.bias, m.levels)
            }
            Some(Activation::Scores) => "scores".to_string(),
            None => String::new(),
        };
        rows.push(vec![
            id.to_string(),
            layer.kind().to_string(),
            params,
            ty.to_string(),
            act,
            thousands(wbits),
            thousands(macs),
            kib(wbits + tmem),
        ]);
        prev = ty.elem;
    }
    rows.push(vec![
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        thousands(total_bits),
        thousands(total_macs),
        kib(total_bits + total_tbits),
    ]);
    print_table(
        &[
            "layer",
            "kind",
            "parameters",
            "output",
            "activation",
            "weight bits",
            "binary MACs/frame",
            "memory",
        ],
        &rows,
    );
    println!(
        "memory = weight bits + threshold bits; a float32 network of the same shape would need {}",
        kib(total_bits * 32)
    );
    Ok(())
}

fn kib(bits: u64) -> String {
    format!("{:.1} KiB", bits as f64 / 8.0 / 1024.0)
}

/// A padding as `inspect` prints it.
fn pad_text(padding: Padding) -> String {
    match padding {
        Padding::None => "none".to_string(),
        Padding::Bit { amount, bit } => format!("{amount}x{}", if bit { "+1" } else { "-1" }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn threshold_bits_cover_the_range() {
        // [0, 65] needs 7 bits; [-255*27, 255*27 + 1] needs 13 bits and a sign.
        assert_eq!(super::threshold_bits(0, 64), 7);
        assert_eq!(super::threshold_bits(0, 6), 3);
        assert_eq!(super::threshold_bits(-6885, 6885), 14);
        assert_eq!(super::threshold_bits(-128, 126), 8);
    }
}
