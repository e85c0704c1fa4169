//! What flows through an accelerator's ports: a frame's input words and the output words the
//! golden model says must come out, packed as the hardware packs them.

use crate::golden::{Golden, LayerOutput, SimError};
use compiler::dataflow::width::{get, mask, set, words};
use compiler::dataflow::{Graph, NodeKind};
use compiler::model::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream words, each a little-endian `u64` vector.
pub type Words = Vec<Vec<u64>>;

/// The words of a batch of frames, frame by frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vectors {
    /// Input words of each frame.
    pub inputs: Vec<Words>,
    /// Expected output words of each frame.
    pub expected: Vec<Words>,
}

impl Vectors {
    /// All input words in order.
    pub fn flat_inputs(&self) -> Words {
        self.inputs.concat()
    }

    /// All expected output words in order.
    pub fn flat_expected(&self) -> Words {
        self.expected.concat()
    }
}

/// `n` random frames of `frame_len` pixels from `seed`.
pub fn random_images(frame_len: usize, n: usize, seed: u64) -> Vec<Vec<u8>> {
    RandomImages::new(frame_len, seed).take(n).collect()
}

/// The endless sequence of random frames that [`random_images`] takes its first `n` from, for
/// runs that stream frames instead of holding them.
pub struct RandomImages {
    rng: ChaCha8Rng,
    frame_len: usize,
}

impl RandomImages {
    /// Frames of `frame_len` pixels from `seed`.
    pub fn new(frame_len: usize, seed: u64) -> Self {
        RandomImages { rng: ChaCha8Rng::seed_from_u64(seed), frame_len }
    }
}

impl Iterator for RandomImages {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        Some((0..self.frame_len).map(|_| self.rng.gen()).collect())
    }
}

/// The input and expected output words of `images` (pixels) through the accelerator of `g`.
pub fn vectors(model: &Model, g: &Graph, images: &[Vec<u8>]) -> Result<Vectors, SimError> {
    let golden = Golden::new(model)?;
    let bad = |m: &str| SimError::Graph(m.to_string());
    let first = g.mvtus().next().ok_or_else(|| bad("the graph has no MVTU"))?;
    let last = g.nodes.last().ok_or_else(|| bad("the graph is empty"))?;
    // The accelerator's input words hold whole elements of the first layer's type.
    let eb = first.input.bits();
    let mut v = Vectors::default();
    for pixels in images {
        let trace = golden.trace(pixels)?;
        let elems: Vec<u64> = match &trace[0] {
            LayerOutput::Bits { bits, .. } => bits.iter().map(|&b| u64::from(b)).collect(),
            // Integers stream as their low bits (two's complement when signed).
            LayerOutput::Ints { values, .. } => values.iter().map(|&x| x as u64 & mask(eb)).collect(),
        };
        v.inputs.push(pack(&elems, eb, g.in_bits() / eb));
        let scores: &[i32] = match trace.last() {
            Some(LayerOutput::Ints { values, .. }) => values,
            _ => return Err(bad("the model does not end in scores")),
        };
        v.expected.push(match &last.kind {
            NodeKind::Argmax { .. } => vec![vec![compiler::model::argmax(scores) as u64]],
            NodeKind::Mvtu { cfg, .. } => pack_ints(scores, cfg.field_bits(), cfg.pe),
            _ => return Err(bad("the graph must end in an MVTU or argmax")),
        });
    }
    Ok(v)
}

/// What one frame's output words from the accelerator of `g` say: the class, and the scores when
/// the design streams them (a design ending in an argmax streams only the class). The inverse of
/// the packing in [`vectors`]; `None` if the words do not have the frame's shape.
pub fn decode_output(g: &Graph, out: &[Vec<u64>]) -> Option<(usize, Option<Vec<i32>>)> {
    match &g.nodes.last()?.kind {
        NodeKind::Argmax { .. } => match out {
            [w] => Some((*w.first()? as usize, None)),
            _ => None,
        },
        NodeKind::Mvtu { cfg, .. } => {
            let bits = cfg.field_bits();
            if out.len() != cfg.mh.div_ceil(cfg.pe) {
                return None;
            }
            let mut scores = Vec::with_capacity(cfg.mh);
            for w in out {
                for i in 0..cfg.pe {
                    if scores.len() == cfg.mh {
                        break;
                    }
                    let v = get(w, i * bits, bits);
                    // Integer-input scores are two's complement; popcounts are not.
                    let v = if cfg.signed() && bits < 64 && v >> (bits - 1) & 1 == 1 {
                        (v | !mask(bits)) as i64
                    } else {
                        v as i64
                    };
                    scores.push(i32::try_from(v).ok()?);
                }
            }
            Some((compiler::model::argmax(&scores), Some(scores)))
        }
        _ => None,
    }
}

/// Packs integers as their low `bits` bits (two's complement when negative), `per_word` to a word:
/// an MVTU's output fields (k-bit activations, scores).
pub fn pack_ints(values: &[i32], bits: usize, per_word: usize) -> Words {
    let v: Vec<u64> = values.iter().map(|&x| i64::from(x) as u64 & mask(bits)).collect();
    pack(&v, bits, per_word)
}

/// Packs `values` of `bits` bits, `per_word` to a word.
pub fn pack(values: &[u64], bits: usize, per_word: usize) -> Words {
    values
        .chunks(per_word)
        .map(|c| {
            let mut w = vec![0u64; words(c.len() * bits)];
            for (i, &x) in c.iter().enumerate() {
                set(&mut w, i * bits, bits, x);
            }
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_places_fields_little_endian() {
        let w = pack(&[1, 2, 3, 0xff], 8, 3);
        assert_eq!(w, vec![vec![0x03_02_01], vec![0xff]]);
        let b = pack(&[1; 70], 1, 70);
        assert_eq!(b, vec![vec![!0, 0x3f]]);
    }

    /// The accelerator's output words decode to the golden model's class and scores: popcount
    /// scores (binary input) and two's complement ones (8-bit input, negative scores), several
    /// PEs to a word, and an argmax design's class alone.
    #[test]
    fn output_words_decode_to_the_golden_prediction() {
        use compiler::dataflow::fold::{self, Folding, LayerFold};
        use compiler::dataflow::{MemStyle, Popcount};
        use compiler::model::random::{random_model, LayerSpec};
        use compiler::model::{OutputMode, Shape};
        for (quant, pe, mode) in [
            (LayerSpec::QuantBinary(100), 3, OutputMode::Scores),
            (LayerSpec::QuantFixed8(true), 2, OutputMode::Scores),
            (LayerSpec::QuantFixed8(false), 1, OutputMode::Argmax),
        ] {
            let specs = [quant, LayerSpec::Dense(12), LayerSpec::Dense(6)];
            let mut model = random_model("d", Shape::new(3, 3, 2), &specs, 5).expect("valid");
            model.output = mode;
            let mut f = Folding::default();
            for s in fold::layer_shapes(&model).expect("shapes") {
                let lf = LayerFold { pe, simd: 1, popcount: Popcount::Compressor, mem_style: MemStyle::Auto };
                f.layers.insert(s.layer, lf);
            }
            let g = fold::lower(&model, &f).expect("lower");
            let images = random_images(model.input.len(), 6, 2);
            let v = vectors(&model, &g, &images).expect("vectors");
            let golden = Golden::new(&model).expect("golden");
            for (img, out) in images.iter().zip(&v.expected) {
                let p = golden.run(img).expect("runs");
                let want = match mode {
                    OutputMode::Scores => (p.class, Some(p.scores)),
                    OutputMode::Argmax => (p.class, None),
                };
                assert_eq!(decode_output(&g, out), Some(want), "{mode:?}");
            }
            assert_eq!(decode_output(&g, &v.expected[0][1..]), None, "a short frame");
        }
    }
}
