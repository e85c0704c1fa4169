//! k-bit activations (`--act-bits`, issue 27): the quantizer's values, ties and gradient; and the
//! export of W1A2..W1A4 networks to FINN multi-thresholds, proven exact layer by layer: every
//! hidden layer of the float network's inference pass equals the golden model's trace of the
//! exported file on every image, for dense and conv nets, trained ones and ones whose BatchNorm is
//! set so that many accumulators land exactly on the quantizer's rounding ties, with gamma < 0 and
//! gamma = 0 channels.

use candle_core::{Device, Tensor};
use compiler::data::Split;
use compiler::model::{Activation, IntType, Layer, Model, Provenance, Shape};
use train::arch::{Arch, InputKind};
use train::fused::act_level;
use train::method::{self, Method};
use train::net::{Mode, Net, NetLayer, BN_EPS};
use train::trainer::{train, EpochReport, Progress, Quiet, TrainConfig, TrainError};

mod common;
use common::{all_digits, assert_layerwise_exact, digits, image_values};

fn levels(bits: u8) -> i32 {
    (1 << (bits - 1)) - 1
}

/// Every exported hidden layer's activation is the signed k-bit multi-threshold of issue 27:
/// bias -m, 2m levels, int k.
fn assert_multi_layers(model: &Model, bits: u8) {
    let m = levels(bits);
    let mut hidden = 0;
    for layer in &model.layers {
        if let Some(w) = layer.weights() {
            match &w.activation {
                Activation::Multi(t) => {
                    assert_eq!(t.ty, IntType { bits, signed: true });
                    assert_eq!((t.bias, t.levels), (-m, 2 * m as usize));
                    hidden += 1;
                }
                Activation::Scores => {}
                Activation::Threshold(_) => panic!("a binary layer in a {bits}-bit model"),
            }
        }
    }
    assert!(hidden > 0);
}

fn cfg(arch: &str, input: InputKind, method: Method, bits: u8, epochs: usize) -> TrainConfig {
    let arch = Arch::parse(arch, input, 10).expect("arch").with_act_bits(bits);
    TrainConfig { batch: 64, lr: 3e-3, ..TrainConfig::new(arch, method, epochs, 5) }
}

#[test]
fn quantizer_levels_ties_and_clipping() {
    // Ties round away from zero, symmetrically: level(-x) = -level(x).
    for (x, m, q) in [
        (0.5f32, 1.0f32, 1.0f32),
        (-0.5, 1.0, -1.0),
        (0.49999997, 1.0, 0.0),
        (0.5, 3.0, 2.0),
        (-0.5, 3.0, -2.0),
        (0.5, 7.0, 4.0),
        (-0.5, 7.0, -4.0),
        (1.0 / 6.0, 3.0, 1.0),
        (0.0, 3.0, 0.0),
        (-0.0, 7.0, 0.0),
        (2.5, 3.0, 3.0),
        (-1e9, 7.0, -7.0),
        (1.0, 1.0, 1.0),
    ] {
        assert_eq!(act_level(x, m), q, "level({x}, m = {m})");
    }
    let x = [-2.0f32, -1.0, -0.75, -0.5, -0.2, 0.0, 0.2, 0.5, 0.75, 1.0, 1.5];
    let t = Tensor::new(&x, &Device::Cpu).expect("t");
    // k = 3 (m = 3): real values q / 3 in training, the integers q in inference.
    let q = [-3.0f32, -3.0, -2.0, -2.0, -1.0, 0.0, 1.0, 2.0, 2.0, 3.0, 3.0];
    let hard: Vec<f32> = method::hard_levels(&t, 3).and_then(|v| v.to_vec1()).expect("levels");
    assert_eq!(hard, q);
    let real: Vec<f32> = method::quantized_activation(&t, 3).and_then(|v| v.to_vec1()).expect("values");
    assert_eq!(real, q.iter().map(|q| q / 3.0).collect::<Vec<_>>());
    // Backward: straight-through on the clip range, boundaries included.
    let v = candle_core::Var::from_tensor(&t).expect("var");
    let g = method::quantized_activation(v.as_tensor(), 3)
        .and_then(|y| y.sum_all())
        .and_then(|s| s.backward())
        .expect("backward");
    let grad: Vec<f32> = g.get(v.as_tensor()).expect("gradient").to_vec1().expect("f32");
    assert_eq!(grad, vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
    assert!(method::hard_levels(&t, 0).is_err(), "m = 0 is refused");
}

#[test]
fn trained_kbit_nets_export_exactly_layer_by_layer() {
    let (tr, te) = (digits(Split::Train), digits(Split::Test));
    for bits in 2..=4u8 {
        for (arch, input, method) in [
            ("48-32", InputKind::Binary { threshold: 100 }, Method::Irnet),
            ("64-32", InputKind::Fixed8, Method::Xnor),
            ("c8p0-p-c8-32", InputKind::Binary { threshold: 64 }, Method::Irnet),
            ("c6-p-40", InputKind::Fixed8, Method::Ste),
        ] {
            let what = format!("{arch} {input} {method} W1A{bits}");
            let (net, _) = train(&cfg(arch, input, method, bits, 3), &tr, None, &mut Quiet).expect("trains");
            let model = train::export::export(&net, "t", Provenance::default()).expect("exports");
            assert_multi_layers(&model, bits);
            let acc = assert_layerwise_exact(&net, &model, &te, &what);
            // Trained, not random (chance is 10%).
            assert!(acc > 0.4, "{what}: accuracy {acc}");
            // The quantizer is really multi-level: the first hidden layer takes both extremes, 0 and
            // most levels between (a 3x3 conv on bits has only 10 accumulator values per channel).
            let out =
                &net.forward_trace(&net.input_tensor(&te.images).expect("x"), Mode::Eval).expect("eval")[0];
            let mut seen: Vec<i32> = (0..te.len()).flat_map(|i| image_values(out, i)).collect();
            seen.sort_unstable();
            seen.dedup();
            let m = levels(bits);
            assert!(
                [-m, 0, m].iter().all(|v| seen.contains(v)) && 4 * seen.len() >= 3 * (2 * m as usize + 1),
                "{what}: levels of layer 1: {seen:?}"
            );
        }
    }
}

/// Sets every BatchNorm of `net` so that the quantizer's ties are reached exactly: running
/// variance with `var + eps = 4` (std 2), integer means of the accumulators' parity, and gammas
/// cycling through 0.25, -0.25, 0.5, -0.5, 0 (with beta on a tie, +-0.5), 0.125, -0.125, so that
/// `z = (y - mean) / 2 * gamma` hits +-0.5, a tie for every odd m (0.5 m = j + 1/2).
fn set_tie_batchnorms(net: &Net, input_parity: &[i64]) -> Vec<Vec<f32>> {
    let eps = BN_EPS as f32;
    let mut var = 4.0f32 - eps;
    while var + eps != 4.0 {
        var = f32::from_bits(if var + eps > 4.0 { var.to_bits() - 1 } else { var.to_bits() + 1 });
    }
    let mut gammas = Vec::new();
    let mut parity = input_parity.iter();
    for layer in &net.layers {
        let bn = match layer {
            NetLayer::Dense { bn, .. } | NetLayer::Conv { bn, .. } => bn,
            _ => continue,
        };
        let p = *parity.next().expect("a parity per BatchNorm layer") as f32;
        let c = bn.gamma.as_tensor().dim(0).expect("channels");
        let cycle = [0.25f32, -0.25, 0.5, -0.5, 0.0, 0.125, -0.125, 0.0, 0.0];
        let gamma: Vec<f32> = (0..c).map(|i| cycle[i % cycle.len()]).collect();
        let mut zeros = 0;
        let beta: Vec<f32> = gamma
            .iter()
            .map(|&g| {
                if g != 0.0 {
                    return 0.0;
                }
                zeros += 1;
                [0.5, -0.5, 0.0][zeros % 3]
            })
            .collect();
        let mean: Vec<f32> = (0..c).map(|i| p + 2.0 * ((i % 5) as f32 - 2.0)).collect();
        let t = |v: &[f32]| Tensor::new(v, &Device::Cpu).expect("tensor");
        bn.gamma.set(&t(&gamma)).expect("gamma");
        bn.beta.set(&t(&beta)).expect("beta");
        *bn.mean.borrow_mut() = t(&mean);
        *bn.var.borrow_mut() = t(&vec![var; c]);
        gammas.push(gamma);
    }
    gammas
}

#[test]
fn ties_and_negative_and_zero_gammas_export_exactly() {
    let data = all_digits();
    let input = InputKind::Binary { threshold: 64 };
    // The accumulator-derived y's parity per BatchNorm layer: y = 2 acc - n has n's parity after
    // a binary input; after k-bit levels it can be anything (0 here).
    for (arch, parity) in [("32-16", vec![0i64, 0]), ("c4p0-p-c6-24", vec![1, 0, 0])] {
        for bits in 2..=4u8 {
            let what = format!("{arch} W1A{bits} with tie BatchNorms");
            let a = Arch::parse(arch, input, 10).expect("arch").with_act_bits(bits);
            let net = Net::new(&a, Method::Ste, Shape::new(8, 8, 1), 3).expect("net");
            let gammas = set_tie_batchnorms(&net, &parity);
            let model = train::export::export(&net, "t", Provenance::default()).expect("exports");
            assert_multi_layers(&model, bits);
            assert_layerwise_exact(&net, &model, &data, &what);
            if arch != "32-16" {
                continue;
            }
            // Layer 1 reads the input bits: count the (image, channel) pairs that sit exactly on
            // a rounding tie, each of which a threshold one off would get wrong.
            let NetLayer::Dense { w, bn } = &net.layers[0] else { panic!("dense") };
            let (wb, _) = method::hard_weights(w.as_tensor(), Method::Ste, true).expect("weights");
            let x = net.input_tensor(&data.images).and_then(|x| x.flatten_from(1)).expect("x");
            let y: Vec<Vec<f32>> = x.matmul(&wb.t().expect("t")).and_then(|y| y.to_vec2()).expect("y");
            let bn = bn.scalar().expect("bn");
            let m = levels(bits) as f32;
            let ties = y
                .iter()
                .flat_map(|row| row.iter().enumerate())
                .filter(|&(c, &y)| {
                    // Not the constant channels, which sit on a tie for every image.
                    let v = bn(c, y).clamp(-1.0, 1.0) * m;
                    gammas[0][c] != 0.0 && (v - v.trunc()).abs() == 0.5
                })
                .count();
            assert!(ties >= 3000, "{what}: only {ties} accumulators on a tie");
            // gamma < 0 rows are inverted, the others not; gamma = 0 channels are constant.
            let Layer::Dense(d) = &model.layers[1] else { panic!("dense") };
            let signs: Vec<Vec<f32>> = wb.to_vec2().expect("rows");
            let t = d.activation.multi().expect("multi");
            let (lo, hi) = (0, d.fan_in() as i32);
            for (c, &g) in gammas[0].iter().enumerate() {
                for (j, &s) in signs[c].iter().enumerate() {
                    assert_eq!(d.matrix.get(c, j), (s > 0.0) != (g < 0.0), "{what}: channel {c} weight {j}");
                }
                if g == 0.0 {
                    assert!(t.channel(c).iter().all(|&t| t == lo || t == hi + 1), "{what}: channel {c}");
                }
            }
        }
    }
}

#[test]
fn act_bits_outside_one_to_four_and_padding_after_kbit_layers_are_refused() {
    let data = digits(Split::Train);
    let b = InputKind::Binary { threshold: 128 };
    for bits in [0u8, 5, 8, 255] {
        let c = TrainConfig::new(
            Arch::parse("16", b, 10).expect("arch").with_act_bits(bits),
            Method::Irnet,
            1,
            1,
        );
        let Err(TrainError::Config(msg)) = c.validate(&data) else {
            panic!("--act-bits {bits} must be refused")
        };
        assert_eq!(msg, format!("--act-bits must be 1 (binary activations) to 4, got {bits}"));
        assert!(matches!(train(&c, &data, None, &mut Quiet), Err(TrainError::Config(_))));
    }
    // The first conv reads the input (a pad bit exists); a later one reads k-bit integers.
    let ok = Arch::parse("c4p0-c4-16", b, 10).expect("arch").with_act_bits(2);
    assert!(TrainConfig::new(ok, Method::Irnet, 1, 1).validate(&data).is_ok());
    let bad = Arch::parse("c4p0-p-c4p1-16", b, 10).expect("arch").with_act_bits(3);
    let Err(TrainError::Config(msg)) = TrainConfig::new(bad.clone(), Method::Irnet, 1, 1).validate(&data)
    else {
        panic!("padding after a k-bit layer must be refused")
    };
    assert!(
        msg.starts_with("layer 3 (conv): its input is 3-bit activations, which have no padding bit"),
        "{msg}"
    );
    assert!(TrainConfig::new(bad.with_act_bits(1), Method::Irnet, 1, 1).validate(&data).is_ok());
}

/// Stops a run after one epoch.
struct StopAfterOne;
impl Progress for StopAfterOne {
    fn epoch(&mut self, _r: &EpochReport) {}
    fn should_stop(&mut self) -> bool {
        true
    }
}

#[test]
fn act_bits_are_part_of_the_recipe_and_the_checkpoint() {
    let mut tr = digits(Split::Train);
    tr.truncate(300);
    let b = InputKind::Binary { threshold: 100 };
    let binary = cfg("32", b, Method::Irnet, 1, 2);
    let two = cfg("32", b, Method::Irnet, 2, 2);
    assert!(!binary.recipe().contains("act bits"), "{}", binary.recipe());
    assert!(two.recipe().contains("act bits 2"), "{}", two.recipe());
    let dir = tempfile::tempdir().expect("tempdir");
    // A W1A2 checkpoint does not resume a W1A1 run.
    let ckpt = dir.path().join("a2.safetensors");
    train(&two, &tr, Some(&ckpt), &mut StopAfterOne).expect("trains");
    let Err(err) = train(&binary, &tr, Some(&ckpt), &mut Quiet) else {
        panic!("act bits mismatch must fail")
    };
    assert!(err.to_string().contains("another configuration"), "{err}");
    // A checkpoint written before the field existed (no act_bits) is a binary run's and resumes.
    let ckpt = dir.path().join("a1.safetensors");
    train(&binary, &tr, Some(&ckpt), &mut StopAfterOne).expect("trains");
    let meta = ckpt.with_extension("json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).expect("metadata")).expect("json");
    let arch = v["config"]["arch"].as_object_mut().expect("arch object");
    assert_eq!(arch.remove("act_bits"), Some(serde_json::json!(1)));
    std::fs::write(&meta, v.to_string()).expect("write");
    let (resumed, reports) = train(&binary, &tr, Some(&ckpt), &mut Quiet).expect("resumes");
    assert_eq!(reports.len(), 2);
    let (straight, _) = train(&binary, &tr, None, &mut Quiet).expect("trains");
    let export = |n: &Net| train::export::export(n, "m", Provenance::default()).expect("exports");
    assert_eq!(export(&resumed), export(&straight));
}
