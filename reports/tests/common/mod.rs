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
        fo.layers.insert(s.name.clone(), LayerFold { pe, simd, popcount, mem_style: MemStyle::Auto });
    }
    fo
}
