//! Residual networks (issue 28): the training forward's shortcut and saturation against the golden
//! model (the definition), trained residual nets exported bit-exactly layer by layer for every
//! method, and the layer list's errors.

mod common;

use candle_core::{Device, Tensor, Var};
use common::{all_digits, assert_layerwise_exact, digits, image_values};
use compiler::data::Split;
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, InputTable, IntType, Layer, Model, MultiThreshold, OutputMode,
    Padding, Provenance, Shape, Shortcut,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::golden::{Golden, LayerOutput};
use train::arch::{Arch, InputKind};
use train::method::Method;
use train::net::{residual_add, Net};
use train::trainer::{train, Quiet, TrainConfig};

/// A model whose second layer is a residual block over the pixels read as `i8` (two's complement)
/// and whose branch is the constant `q[c]` per channel (each threshold 0, always reached, or
/// `fan_in + 1`, never), so that the golden model's block output is `saturate(shortcut(x) + q)`.
fn constant_branch_block(input: Shape, out: usize, down: bool, q: &[i32], m: i32) -> Model {
    let table = InputTable::new((0..256).map(|p| i32::from(p as u8 as i8)).collect()).expect("an i8 table");
    let n = 9 * input.c;
    let thresholds = q
        .iter()
        .flat_map(|&v| {
            let reached = (v + m) as usize;
            (0..2 * m as usize).map(move |j| if j < reached { 0 } else { n as i32 + 1 })
        })
        .collect();
    let multi = MultiThreshold {
        ty: IntType { bits: 8, signed: true },
        bias: -m,
        levels: 2 * m as usize,
        thresholds,
    };
    let oshape = if down { Shape::new(input.h / 2, input.w / 2, out) } else { input };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let head = BitMatrix::from_fn(3, oshape.len(), |_, _| rng.gen());
    let model = Model {
        name: "block".into(),
        input,
        layers: vec![
            Layer::QuantTable(table),
            Layer::Residual {
                kernel: 3,
                stride: if down { 2 } else { 1 },
                padding: Padding::Bit { amount: 1, bit: true },
                shortcut: if down { Shortcut::PoolPad } else { Shortcut::Identity },
                weights: BinaryWeights {
                    matrix: BitMatrix::from_fn(out, n, |r, c| (r + c) % 3 == 0),
                    activation: Activation::Multi(multi),
                },
            },
            Layer::Dense(BinaryWeights { matrix: head, activation: Activation::Scores }),
        ],
        output: OutputMode::Argmax,
        provenance: Provenance::default(),
    };
    model.verify().expect("a valid block");
    model
}

#[test]
fn training_forward_shortcut_and_saturation_are_the_golden_models() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let ty = IntType { bits: 8, signed: true };
    let m = 7;
    for (input, out, down) in [(Shape::new(4, 6, 5), 5, false), (Shape::new(6, 4, 3), 5, true)] {
        // Stream values over the whole i8 range (so that sums saturate both ways), the branch's
        // levels -m..=m per channel.
        let frames = 16;
        let pixels: Vec<u8> = (0..frames * input.len()).map(|_| rng.gen()).collect();
        let q: Vec<i32> = (0..out).map(|_| rng.gen_range(-m..=m)).collect();
        let model = constant_branch_block(input, out, down, &q, m);
        let golden = Golden::new(&model).expect("valid");
        // The block's input and branch as the training forward holds them: [n, c, h, w] integers.
        let x: Vec<f32> = pixels.iter().map(|&p| f32::from(p as i8)).collect();
        let x = Tensor::from_vec(x, (frames, input.h, input.w, input.c), &Device::Cpu)
            .and_then(|t| t.permute((0, 3, 1, 2)))
            .and_then(|t| t.contiguous())
            .expect("x");
        let oshape = if down { Shape::new(input.h / 2, input.w / 2, out) } else { input };
        let qv: Vec<f32> = (0..frames * oshape.len()).map(|i| q[i % out] as f32).collect();
        let q_t = Tensor::from_vec(qv, (frames, oshape.h, oshape.w, out), &Device::Cpu)
            .and_then(|t| t.permute((0, 3, 1, 2)))
            .and_then(|t| t.contiguous())
            .expect("q");
        let (xv, qvar) = (Var::from_tensor(&x).expect("var"), Var::from_tensor(&q_t).expect("var"));
        let trained = residual_add(xv.as_tensor(), qvar.as_tensor(), down, ty, true).expect("train forward");
        let inferred = residual_add(&x, &q_t, down, ty, false).expect("eval forward");
        let grads = trained.sum_all().and_then(|s| s.backward()).expect("backward");
        let dq = grads.get(qvar.as_tensor()).expect("dq");
        // The golden model with the branch one higher and one lower shows where the output moves
        // with q: exactly where the sum is inside i8 (boundaries included), where the gradient
        // must pass; where the sum saturated it must be 0.
        let shifted = |d: i32| {
            let q: Vec<i32> = q.iter().map(|&v| v + d).collect();
            Golden::new(&constant_branch_block(input, out, down, &q, m + 1)).expect("valid")
        };
        let (up, below) = (shifted(1), shifted(-1));
        let ints = |g: &Golden, frame: &[u8]| match &g.trace(frame).expect("frame")[1] {
            LayerOutput::Ints { values, .. } => values.clone(),
            LayerOutput::Bits { .. } => panic!("the block outputs integers"),
        };
        let mut saturated = 0;
        for f in 0..frames {
            let frame = &pixels[f * input.len()..(f + 1) * input.len()];
            let want = ints(&golden, frame);
            assert_eq!(image_values(&trained, f), want, "training forward, frame {f}, down {down}");
            assert_eq!(image_values(&inferred, f), want, "inference forward, frame {f}, down {down}");
            let (hi, lo) = (ints(&up, frame), ints(&below, frame));
            let g = image_values(dq, f);
            for i in 0..want.len() {
                let inside = hi[i] == want[i] + 1 || lo[i] == want[i] - 1;
                assert_eq!(
                    g[i],
                    i32::from(inside),
                    "frame {f} value {i}: {} ({} / {})",
                    want[i],
                    lo[i],
                    hi[i]
                );
                saturated += usize::from(!inside);
            }
        }
        assert!(saturated > 0, "some sums saturate");
    }
}

/// Trains `arch` (residual) on the digits for a few steps and checks its export layer by layer
/// against the float network's inference pass on all 1,797 images; returns the model.
fn trained_export(arch: &str, method: Method, act_bits: u8, res_bits: u8) -> Model {
    let arch = Arch::parse(arch, InputKind::Binary { threshold: 128 }, 10)
        .expect("arch")
        .with_act_bits(act_bits)
        .with_res_bits(res_bits);
    let cfg = TrainConfig { batch: 64, lr: 3e-3, ..TrainConfig::new(arch, method, 2, 5) };
    let (net, _) = train(&cfg, &digits(Split::Train), None, &mut Quiet).expect("trains");
    let model = train::export::export(&net, "resnet", Provenance::default()).expect("exports");
    let what = format!("{} {method} A{act_bits} stream {res_bits}", cfg.arch);
    assert_layerwise_exact(&net, &model, &all_digits(), &what);
    model
}

#[test]
fn trained_residual_nets_export_exactly_layer_by_layer() {
    for method in [Method::Irnet, Method::Ste, Method::Bireal, Method::Xnor] {
        let model = trained_export("resnet-digits", method, 3, 8);
        let kinds: Vec<&str> = model.layers.iter().map(Layer::kind).collect();
        assert_eq!(
            kinds,
            ["quant.binary", "conv2d", "residual", "residual", "residual", "residual", "maxpool", "dense"]
        );
        // The stem and every block output the 8-bit stream; their multi-thresholds are 3-bit
        // levels -3..=3.
        for layer in &model.layers[1..6] {
            let Some(Activation::Multi(t)) = layer.weights().map(|w| &w.activation) else {
                panic!("a multi-threshold in {}", layer.kind())
            };
            assert_eq!((t.ty, t.bias, t.levels), (IntType { bits: 8, signed: true }, -3, 6));
        }
    }
}

#[test]
fn a_narrow_stream_saturates_and_still_exports_exactly() {
    // A 4-bit stream (-8..=7) under a stem and four blocks of levels -3..=3: sums leave it.
    let model = trained_export("c8p1-r8-r8-r16s-r16-p", Method::Irnet, 3, 4);
    let golden = Golden::new(&model).expect("valid");
    let data = all_digits();
    let ty = IntType { bits: 4, signed: true };
    let mut at_bounds = 0;
    for i in 0..data.len() {
        for out in &golden.trace(data.image(i)).expect("frame")[2..6] {
            if let LayerOutput::Ints { values, .. } = out {
                at_bounds +=
                    values.iter().filter(|&&v| i64::from(v) == ty.min() || i64::from(v) == ty.max()).count();
            }
        }
    }
    assert!(at_bounds > 0, "the stream reaches its bounds");
}

#[test]
fn layer_lists_with_bad_residual_blocks_are_refused_by_name() {
    let shape = Shape::new(8, 8, 1);
    let check = |spec: &str, act: u8, res: u8, needle: &str| {
        let arch = Arch::parse(spec, InputKind::Binary { threshold: 128 }, 10)
            .expect("parses")
            .with_act_bits(act)
            .with_res_bits(res);
        let err = match Net::new(&arch, Method::Irnet, shape, 1) {
            Ok(_) => panic!("{spec} is accepted"),
            Err(e) => e,
        };
        assert!(err.contains(needle), "{spec}: {err}");
        assert_eq!(arch.size(shape).err(), Some(err), "{spec}: size and Net::new agree");
    };
    check(
        "c16p0-r8",
        2,
        8,
        "layer 2 (r8): an identity shortcut needs as many channels as the block's input 8x8x16",
    );
    // 8x8 -> unpadded 6x6 -> 3x3: odd.
    check(
        "c8-r8s-r16s",
        2,
        8,
        "layer 3 (r16s): a stride-2 block needs an even height and width, its input is 3x3x8",
    );
    check("c16p0-r8s", 2, 8, "at least its input's 16 channels");
    check("r8", 2, 8, "layer 1 (r8): a residual block needs a stem");
    check("c8p0-p-r8", 2, 8, "layer 3 (r8): a residual block needs a stem");
    check("c8p0-r8-c8", 2, 8, "layer 3 (c8): after residual blocks only further blocks");
    check("c8p0-r8-32", 2, 8, "layer 3 (32): after residual blocks");
    check("c8p0-r8", 1, 8, "give --act-bits 2 to 4");
    check("c8p0-r8", 4, 3, "--res-bits must be 4 (--act-bits) to 8");
    check("c8p0-r8", 2, 9, "--res-bits must be 2 (--act-bits) to 8");
    // Without residual blocks --res-bits is unused.
    let plain =
        Arch::parse("c8p0-p", InputKind::Binary { threshold: 128 }, 10).expect("parses").with_res_bits(1);
    assert!(Net::new(&plain, Method::Irnet, shape, 1).is_ok());
}

/// Every BatchNorm's running statistics, flattened.
fn bn_stats(net: &Net) -> Vec<f32> {
    net.running_stats().iter().flat_map(|(_, t)| t.borrow().to_vec1::<f32>().expect("stats")).collect()
}

#[test]
fn batchnorm_recalibration_averages_batch_statistics_and_keeps_the_export_exact() {
    let arch = Arch::parse("c8p1-r8-r16s-p", InputKind::Binary { threshold: 128 }, 10)
        .expect("arch")
        .with_act_bits(3);
    let base = TrainConfig { batch: 64, lr: 3e-3, ..TrainConfig::new(arch, Method::Irnet, 2, 5) };
    let data = digits(Split::Train);
    let (ema, _) = train(&base, &data, None, &mut Quiet).expect("trains");
    let (net, _) =
        train(&TrainConfig { bn_recalibrate: 2, ..base.clone() }, &data, None, &mut Quiet).expect("trains");
    let weights = |n: &Net| -> Vec<Vec<f32>> {
        n.weight_vars()
            .iter()
            .map(|w| w.as_tensor().flatten_all().expect("flat").to_vec1().expect("w"))
            .collect()
    };
    assert_eq!(weights(&ema), weights(&net), "recalibration touches only the statistics");
    let two = bn_stats(&net);
    assert_ne!(bn_stats(&ema), two, "the moving averages are replaced");
    // A batch's statistics depend only on the weights and its images: the average over batches
    // 0 and 1 is the mean of each batch's own, and recalibrating again gives the same.
    let ede = train::method::Ede::at(1, 2, base.t_min, base.t_max);
    let frame = data.shape.len();
    let part = |from: usize| compiler::data::Dataset {
        images: data.images[from * frame..(from + 64) * frame].to_vec(),
        labels: data.labels[from..from + 64].to_vec(),
        ..data.clone()
    };
    train::trainer::recalibrate_bn(&net, &part(0), 1, 64, ede).expect("batch 0");
    let a = bn_stats(&net);
    train::trainer::recalibrate_bn(&net, &part(64), 1, 64, ede).expect("batch 1");
    let b = bn_stats(&net);
    for ((x, y), z) in a.iter().zip(&b).zip(&two) {
        assert!(((x + y) / 2.0 - z).abs() <= 1e-5 * z.abs().max(1.0), "{x} {y} -> {z}");
    }
    train::trainer::recalibrate_bn(&net, &data, 2, 64, ede).expect("again");
    assert_eq!(bn_stats(&net), two);
    let model = train::export::export(&net, "recal", Provenance::default()).expect("exports");
    assert_layerwise_exact(&net, &model, &all_digits(), "recalibrated");
}
