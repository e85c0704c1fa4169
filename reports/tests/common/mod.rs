//! Networks and foldings shared by the build and co-simulation tests.
#![allow(dead_code)]

use compiler::dataflow::fold::{self, Folding, LayerFold};
use compiler::dataflow::{MemStyle, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Model, OutputMode, Shape};

/// A random MLP: binary (pixel threshold 128) or signed 8-bit input, hidden layers, classes,
/// ending in argmax.
pub fn mlp(input: usize, hidden: &[usize], classes: usize, fixed8: bool, seed: u64) -> Model {
    let mut specs = vec![if fixed8 { LayerSpec::QuantFixed8(true) } else { LayerSpec::QuantBinary(128) }];
    specs.extend(hidden.iter().map(|&h| LayerSpec::Dense(h)));
    specs.push(LayerSpec::Dense(classes));
    let mut m = random_model("mlp", Shape::new(1, 1, input), &specs, seed).expect("model");
    m.output = OutputMode::Argmax;
    m
}

/// A folding from `(PE, SIMD)` per dense layer.
pub fn folding(model: &Model, f: &[(usize, usize)], popcount: Popcount) -> Folding {
    let shapes = fold::layer_shapes(model).expect("shapes");
    let mut fo = Folding::default();
    for (s, &(pe, simd)) in shapes.iter().zip(f) {
        fo.layers.insert(s.layer, LayerFold { pe, simd, popcount, mem_style: MemStyle::Auto });
    }
    fo
}

/// A random small CNN on a `side x side x c0` input: a convolution (`k`, `stride`, `padding`) of
/// `c1` channels, a 2x2 max-pool when `pool`, a 2x2 convolution of `c2` channels, `classes`
/// scores, argmax out; binary or unsigned 8-bit input (no padding then).
#[allow(clippy::too_many_arguments)]
pub fn cnn(
    side: usize,
    c0: usize,
    (c1, k, stride, padding): (usize, usize, usize, compiler::model::Padding),
    pool: bool,
    c2: usize,
    classes: usize,
    fixed8: bool,
    seed: u64,
) -> Result<Model, compiler::model::ModelError> {
    let mut specs = vec![if fixed8 { LayerSpec::QuantFixed8(false) } else { LayerSpec::QuantBinary(128) }];
    specs.push(LayerSpec::Conv2d { out: c1, kernel: k, stride, padding });
    if pool {
        specs.push(LayerSpec::MaxPool { kernel: 2, stride: 2 });
    }
    specs.push(LayerSpec::Conv2d { out: c2, kernel: 2, stride: 1, padding: compiler::model::Padding::None });
    specs.push(LayerSpec::Dense(classes));
    let mut m = random_model("cnn", Shape::new(side, side, c0), &specs, seed)?;
    m.output = OutputMode::Argmax;
    Ok(m)
}

/// Legal SIMD values of each binary layer (divisors of the fan-in, or of a convolution's input
/// channels) and PE values (divisors of the outputs): `(pes, simds)` per layer.
pub fn legal(model: &Model) -> Vec<(Vec<usize>, Vec<usize>)> {
    fold::layer_shapes(model)
        .expect("shapes")
        .iter()
        .map(|s| (compiler::dataflow::divisors(s.mh), s.legal_simd()))
        .collect()
}
