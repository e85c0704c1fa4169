//! Reference designs that results are compared against: BNN-PYNQ's LFC and its published folding.

use compiler::dataflow::fold::{Folding, LayerFold};
use compiler::dataflow::{MemStyle, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Model, ModelError, OutputMode, Shape};

/// An LFC-shaped network (784-1024-1024-1024-10, binary input thresholded at 128, argmax out)
/// with random weights and thresholds from `seed`.
pub fn lfc_random(seed: u64) -> Result<Model, ModelError> {
    let specs = [
        LayerSpec::QuantBinary(128),
        LayerSpec::Dense(1024),
        LayerSpec::Dense(1024),
        LayerSpec::Dense(1024),
        LayerSpec::Dense(10),
    ];
    let mut model = random_model("lfc", Shape::new(1, 1, 784), &specs, seed)?;
    model.output = OutputMode::Argmax;
    Ok(model)
}

/// BNN-PYNQ's LFC folding (reference.md): `(PE, SIMD)` = (32, 49), (64, 32), (32, 64), (10, 8),
/// 512 cycles per frame.
pub fn bnn_pynq_lfc_folding(popcount: Popcount) -> Folding {
    let mut folding = Folding::default();
    for (name, pe, simd) in [("L1", 32, 49), ("L2", 64, 32), ("L3", 32, 64), ("L4", 10, 8)] {
        let f = LayerFold { pe, simd, popcount, mem_style: MemStyle::Auto };
        folding.layers.insert(name.into(), f);
    }
    folding
}
