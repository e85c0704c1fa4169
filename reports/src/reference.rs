//! Reference designs that results are compared against: BNN-PYNQ's LFC and CNV and their
//! published foldings.

use compiler::dataflow::fold::{self, FoldTarget, Folding, LayerFold};
use compiler::dataflow::{DataflowError, MemStyle, Popcount};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{LayerId, Model, ModelError, OutputMode, Shape};

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
    for (layer, pe, simd) in [(1, 32, 49), (2, 64, 32), (3, 32, 64), (4, 10, 8)] {
        let f = LayerFold { pe, simd, popcount, mem_style: MemStyle::Auto };
        folding.layers.insert(LayerId(layer), f);
    }
    folding
}

/// A CNV-shaped network (reference.md): 32x32x3 8-bit unsigned input, 3x3 convolutions of 64, 64,
/// 128, 128, 256, 256 channels without padding, 2x2 max-pool after the second and fourth, dense
/// 512, 512 and 10 scores, argmax out; random weights and thresholds from `seed`.
pub fn cnv_random(seed: u64) -> Result<Model, ModelError> {
    let conv = |out| LayerSpec::Conv2d { out, kernel: 3, stride: 1, padding: compiler::model::Padding::None };
    let pool = LayerSpec::MaxPool { kernel: 2, stride: 2 };
    let specs = [
        LayerSpec::QuantFixed8(false),
        conv(64),
        conv(64),
        pool,
        conv(128),
        conv(128),
        pool,
        conv(256),
        conv(256),
        LayerSpec::Dense(512),
        LayerSpec::Dense(512),
        LayerSpec::Dense(10),
    ];
    let mut model = random_model("cnv", Shape::new(32, 32, 3), &specs, seed)?;
    model.output = OutputMode::Argmax;
    Ok(model)
}

/// BNN-PYNQ's CNV folding (reference.md) on [`cnv_random`]'s layers: `(PE, SIMD)` = (16, 3),
/// (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8). Their last layer (512 x 64
/// padded, SIMD 1, PE 4) has 10 rows here, which PE 4 does not divide; it takes the cheapest
/// folding within the slowest layer's cycles. The slowest layer is the first dense one,
/// 512 x 256 at SIMD 4: 32,768 cycles per frame (the first convolution takes 32,400).
pub fn bnn_pynq_cnv_folding(model: &Model, popcount: Popcount) -> Result<Folding, DataflowError> {
    let given =
        [(1, 16, 3), (2, 32, 32), (4, 16, 32), (5, 16, 32), (7, 4, 32), (8, 1, 32), (9, 1, 4), (10, 1, 8)];
    let mut folding = Folding::default();
    for (layer, pe, simd) in given {
        folding.layers.insert(LayerId(layer), LayerFold { pe, simd, popcount, mem_style: MemStyle::Auto });
    }
    let cycles = fold::lower(model, &{
        let mut f = folding.clone();
        f.layers.insert(LayerId(11), LayerFold { pe: 1, simd: 1, popcount, mem_style: MemStyle::Auto });
        f
    })?
    .cycles_per_frame();
    let auto = fold::auto_fold(model, FoldTarget::Cycles(cycles as u64), popcount, MemStyle::Auto)?;
    if let Some(last) = auto.layers.get(&LayerId(11)) {
        folding.layers.insert(LayerId(11), *last);
    }
    Ok(folding)
}
