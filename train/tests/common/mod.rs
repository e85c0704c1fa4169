//! Helpers shared by the integration tests of k-bit and residual networks: the bundled digits,
//! and the layer-by-layer comparison of a float network's inference pass with the golden model's
//! trace of its export.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use candle_core::Tensor;
use compiler::data::{parse_digits, Dataset, Split};
use compiler::model::Model;
use sim::golden::{Golden, LayerOutput};
use train::net::{argmax, Mode, Net};

const DIGITS: &[u8] = include_bytes!("../../../data/digits.csv.gz");

/// One split of the bundled digits.
pub fn digits(split: Split) -> Dataset {
    parse_digits(DIGITS.to_vec(), "digits", split).expect("bundled data parses")
}

/// Both digit splits, 1,797 images.
pub fn all_digits() -> Dataset {
    let mut d = digits(Split::Train);
    let t = digits(Split::Test);
    d.images.extend(t.images);
    d.labels.extend(t.labels);
    d
}

/// A hidden layer's output for image `i` in the model IR's (h, w, c) order, as integers.
pub fn image_values(out: &Tensor, i: usize) -> Vec<i32> {
    let x = out.get(i).expect("image");
    let x = if x.rank() == 3 { x.permute((1, 2, 0)).expect("hwc") } else { x };
    let v: Vec<f32> = x.flatten_all().and_then(|t| t.to_vec1()).expect("f32");
    v.iter()
        .map(|&f| {
            assert_eq!(f, f.round(), "inference activations are integers");
            f as i32
        })
        .collect()
}

/// Asserts that every hidden layer of `net`'s inference pass is the golden model's trace of
/// `model` on every image of `data`, and that the float logits order the classes exactly as the
/// integer scores do (ties included); returns the golden model's accuracy.
pub fn assert_layerwise_exact(net: &Net, model: &Model, data: &Dataset, what: &str) -> f64 {
    let golden = Golden::new(model).expect("valid model");
    let outs = net.forward_trace(&net.input_tensor(&data.images).expect("input"), Mode::Eval).expect("eval");
    let logits: Vec<Vec<f32>> = outs.last().expect("logits").to_vec2().expect("rows");
    let mut correct = 0;
    for (i, f) in logits.iter().enumerate() {
        let trace = golden.trace(data.image(i)).expect("frame");
        for (l, out) in outs[..outs.len() - 1].iter().enumerate() {
            let want: Vec<i32> = match &trace[l + 1] {
                LayerOutput::Bits { bits, .. } => bits.iter().map(|&b| if b { 1 } else { -1 }).collect(),
                LayerOutput::Ints { values, .. } => values.clone(),
            };
            assert_eq!(image_values(out, i), want, "{what}: image {i}, layer {}", l + 1);
        }
        let LayerOutput::Ints { values: scores, .. } = trace.last().expect("scores") else {
            panic!("scores are integers")
        };
        for a in 0..f.len() {
            for b in 0..f.len() {
                assert_eq!(
                    f[a].partial_cmp(&f[b]),
                    scores[a].partial_cmp(&scores[b]),
                    "{what}: image {i}, classes {a} and {b}: logits {f:?}, scores {scores:?}"
                );
            }
        }
        correct += usize::from(argmax(f) == usize::from(data.labels[i]));
    }
    correct as f64 / data.len() as f64
}
