//! A nearest-binary-prototype classifier: the simplest BNN that is fitted to data.
//!
//! Each class gets one weight row: bit j is the majority value of input bit j over the class's
//! training images (after the pixel threshold). The score of class c is `popcount(xnor(x, w_c))`, the
//! number of pixels on which the image agrees with the class prototype, and argmax picks the class.
//! It is one binary dense layer, so every xnorflow stage can run it; it is not a trained network.

use compiler::data::Dataset;
use compiler::model::{
    Activation, BinaryWeights, BitMatrix, Layer, Model, ModelError, OutputMode, Provenance,
};

/// Fits the prototypes of `data` for inputs binarized at `pixel_threshold`.
pub fn fit(data: &Dataset, pixel_threshold: u8, dataset_name: &str) -> Result<Model, ModelError> {
    let n = data.shape.len();
    let mut ones = vec![0u32; data.classes * n];
    let mut count = vec![0u32; data.classes];
    for i in 0..data.len() {
        let c = usize::from(data.labels[i]);
        count[c] += 1;
        for (j, &p) in data.image(i).iter().enumerate() {
            ones[c * n + j] += u32::from(p >= pixel_threshold);
        }
    }
    // Ties (exactly half the images set) go to +1, matching sign(0) = +1.
    let matrix = BitMatrix::from_fn(data.classes, n, |c, j| 2 * ones[c * n + j] >= count[c]);
    let model = Model {
        name: format!("{dataset_name}-prototype"),
        input: data.shape,
        layers: vec![
            Layer::QuantBinary { threshold: pixel_threshold },
            Layer::Dense(BinaryWeights { matrix, activation: Activation::Scores }),
        ],
        output: OutputMode::Argmax,
        provenance: Provenance {
            dataset: Some(dataset_name.into()),
            method: Some("prototype".into()),
            notes: Some("nearest binary prototype per class (majority bit), no gradient training".into()),
            ..Provenance::default()
        },
    };
    model.verify()?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use compiler::model::Shape;

    #[test]
    fn prototypes_are_the_majority_bits() {
        // Two classes of 1x3 images; class 1's prototype is the majority of its images.
        let data = Dataset {
            shape: Shape::new(1, 3, 1),
            classes: 2,
            images: vec![0, 0, 0, 255, 255, 0, 255, 0, 0, 0, 255, 255],
            labels: vec![0, 1, 1, 1],
        };
        let m = fit(&data, 128, "toy").expect("valid");
        let Layer::Dense(w) = &m.layers[1] else { panic!("second layer is dense") };
        assert_eq!((0..3).map(|j| w.matrix.get(0, j)).collect::<Vec<_>>(), [false, false, false]);
        assert_eq!((0..3).map(|j| w.matrix.get(1, j)).collect::<Vec<_>>(), [true, true, false]);
    }
}
