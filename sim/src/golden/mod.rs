//! The golden model: the bit-exact definition of what a model computes.
//!
//! Binary tensors are bit-packed into `u64` words, one word group per pixel (`ceil(C / 64)` words,
//! channel bits least significant first, unused high bits zero), so that a convolution window is a
//! concatenation of word groups and a max-pool is a word-wise OR. Dense layers read the flattened
//! (h, w, c) bits densely packed. With both operands' unused bits zero, `popcount(xnor(x, w))` over `N`
//! valid bits is `N - popcount(x ^ w)`, which needs no masking in the inner loop.
//!
//! Batches are split into tiles of frames processed in parallel with rayon; within a tile, a dense
//! layer walks its weight rows once for four frames at a time, so weights are loaded once per four
//! XNOR-popcounts.
//!
//! A layer whose input is integers (an 8-bit input quantizer's values or a k-bit activation) keeps
//! its one-bit weights and reads the input as bit planes (portable) or through tables of
//! four-input sums (AVX-512, chosen at run time: [`IntKernel`]); see `ints`. The unsafe code is all
//! in `avx512`.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod ints;

pub use ints::IntKernel;

use compiler::model::{
    saturate, tail_mask, Activation, Elem, Fixed8, InputTable, IntType, Layer, LayerId, Model, ModelError,
    Padding, Shape, Shortcut, TensorType,
};
use ints::IntWeights;
use rayon::prelude::*;

/// Why the golden model could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The model does not verify.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Input of the wrong size.
    #[error("input has {got} pixels, the model takes frames of {want} ({shape})")]
    FrameSize {
        /// Pixels given (per frame, or in total for a batch).
        got: usize,
        /// Pixels per frame.
        want: usize,
        /// The input shape.
        shape: Shape,
    },
    /// A dataflow graph that does not fit its model.
    #[error("graph: {0}")]
    Graph(String),
    /// A dataflow graph that does not verify.
    #[error("graph: {0}")]
    Dataflow(#[from] compiler::dataflow::DataflowError),
    /// An integer-input kernel this CPU cannot run.
    #[error("the {0} kernel needs CPU features this machine lacks (available: {1})")]
    KernelUnavailable(&'static str, String),
}

/// Scores and class of one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// Integer scores of the last layer (popcounts, or dot products for an 8-bit input).
    pub scores: Vec<i32>,
    /// Index of the largest score, the lowest on ties.
    pub class: usize,
}

/// The output of one layer for one frame, in (h, w, c) order, for comparisons with other executors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerOutput {
    /// Binary output (`true` = +1).
    Bits {
        /// Extents.
        shape: Shape,
        /// `shape.len()` bits.
        bits: Vec<bool>,
    },
    /// Integer output: the 8-bit quantizer's values or the scores.
    Ints {
        /// Extents.
        shape: Shape,
        /// `shape.len()` values.
        values: Vec<i32>,
    },
}

pub use compiler::model::argmax;

/// A binary tensor: `h * w` pixels of `cw` words each.
#[derive(Clone, Debug)]
struct BitTensor {
    shape: Shape,
    cw: usize,
    words: Vec<u64>,
}

impl BitTensor {
    fn zeros(shape: Shape) -> Self {
        let cw = shape.c.div_ceil(64);
        BitTensor { shape, cw, words: vec![0; shape.h * shape.w * cw] }
    }

    fn pixel(&self, y: usize, x: usize) -> &[u64] {
        let o = (y * self.shape.w + x) * self.cw;
        &self.words[o..o + self.cw]
    }

    /// Sets bit `(pixel, ch)` to `bit(ch, v)` for every value `v` of `values` (channel fastest).
    fn fill<T: Copy>(&mut self, values: &[T], bit: impl Fn(usize, T) -> bool) {
        let c = self.shape.c;
        for (vals, words) in values.chunks_exact(c).zip(self.words.chunks_exact_mut(self.cw)) {
            for (ch, &v) in vals.iter().enumerate() {
                words[ch / 64] |= u64::from(bit(ch, v)) << (ch % 64);
            }
        }
    }

    fn get(&self, pixel: usize, c: usize) -> bool {
        (self.words[pixel * self.cw + c / 64] >> (c % 64)) & 1 == 1
    }

    /// The flattened (h, w, c) bits, densely packed; borrowed when the layout already is.
    fn flat(&self) -> std::borrow::Cow<'_, [u64]> {
        if self.shape.c.is_multiple_of(64) || self.shape.h * self.shape.w == 1 {
            return std::borrow::Cow::Borrowed(&self.words);
        }
        let mut out = Vec::new();
        let n = self.shape.len();
        out.resize(n.div_ceil(64), 0);
        let c = self.shape.c;
        // Append each pixel's channel words at bit offset p * c, a word (or two) at a time.
        let mut j = 0;
        for px in self.words.chunks_exact(self.cw) {
            for (k, &w) in px.iter().enumerate() {
                let bits = (c - 64 * k).min(64);
                out[j / 64] |= w << (j % 64);
                if j % 64 + bits > 64 {
                    out[j / 64 + 1] |= w >> (64 - j % 64);
                }
                j += bits;
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

#[derive(Clone, Debug)]
enum Tensor {
    Bits(BitTensor),
    Ints { shape: Shape, values: Vec<i32> },
}

/// Binary weights re-laid for the golden model: rows in blocks of [`LANES`], word `i` of the
/// block's rows stored side by side, so that one vector load feeds one XOR-popcount per row and the
/// per-row counts stay in separate lanes (no horizontal sum per row). Missing rows of the last block
/// are zero and their counts are dropped.
#[derive(Clone, Debug)]
struct PackedWeights {
    rows: usize,
    /// Valid bits per row (the fan-in).
    n: u32,
    wpr: usize,
    words: Vec<u64>,
    activation: Act,
    /// Per row (padded to whole blocks), the largest XOR popcount that still gives bit 1:
    /// `n - T`; padding rows get -1 so that they never set a bit.
    dmax: Vec<i64>,
}

/// Rows per interleaved weight block.
pub const LANES: usize = 4;

impl PackedWeights {
    /// Packs `rows` rows of `wpr` words given by `row(r)`.
    fn new(
        rows: usize,
        n: usize,
        wpr: usize,
        row: impl Fn(usize) -> Vec<u64>,
        activation: &Activation,
        kernel: IntKernel,
    ) -> Self {
        let blocks = rows.div_ceil(LANES);
        let mut words = vec![0u64; blocks * wpr * LANES];
        for r in 0..rows {
            for (i, w) in row(r).into_iter().enumerate() {
                words[((r / LANES) * wpr + i) * LANES + r % LANES] = w;
            }
        }
        let mut dmax = vec![-1i64; blocks * LANES];
        if let Some(t) = activation.thresholds() {
            for (m, &t) in dmax.iter_mut().zip(t) {
                *m = n as i64 - i64::from(t);
            }
        }
        let activation = Act::new(activation, kernel, n as i64);
        PackedWeights { rows, n: n as u32, wpr, words, activation, dmax }
    }

    fn block(&self, b: usize) -> &[u64] {
        let len = self.wpr * LANES;
        &self.words[b * len..(b + 1) * len]
    }

    fn blocks(&self) -> usize {
        self.rows.div_ceil(LANES)
    }

    /// XNOR-popcounts of one input against every row, appended to `acc`.
    fn accumulate(&self, x: &[u64], acc: &mut Vec<i32>) {
        for b in 0..self.blocks() {
            let d = xor_popcount_block(self.block(b), x);
            let live = (self.rows - b * LANES).min(LANES);
            acc.extend(d[..live].iter().map(|&d| self.n as i32 - d as i32));
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Pixel threshold; `flat` when the next layer is dense and reads the bits flattened.
    QuantBinary {
        threshold: u8,
        flat: bool,
    },
    QuantFixed8(Fixed8),
    QuantTable(InputTable),
    DenseBits(PackedWeights),
    DenseInts(IntWeights),
    ConvBits {
        kernel: usize,
        stride: usize,
        pad: usize,
        pad_pixel: Vec<u64>,
        w: PackedWeights,
    },
    ConvInts {
        kernel: usize,
        stride: usize,
        w: IntWeights,
    },
    MaxPool {
        kernel: usize,
        stride: usize,
    },
    /// `saturate(ty, shortcut(x) + branch(sign x))`; `branch` is a [`Op::ConvBits`].
    Residual {
        branch: Box<Op>,
        shortcut: Shortcut,
        ty: IntType,
    },
}

/// The binary convolution of `weights` over `c` input channels.
fn conv_bits_op(
    kernel: usize,
    stride: usize,
    padding: Padding,
    weights: &compiler::model::BinaryWeights,
    c: usize,
    int_kernel: IntKernel,
) -> Op {
    let cw = c.div_ceil(64);
    let kk = kernel * kernel;
    let row = |r: usize| conv_row(&weights.matrix, r, kk, c);
    let bit = matches!(padding, Padding::Bit { bit: true, .. });
    let pad_pixel = (0..cw).map(|i| if bit { tail_mask(c, i) } else { 0 }).collect();
    Op::ConvBits {
        kernel,
        stride,
        pad: padding.amount(),
        pad_pixel,
        w: PackedWeights::new(weights.out(), weights.fan_in(), kk * cw, row, &weights.activation, int_kernel),
    }
}

/// A residual block on one frame's integers `x` (see [`Layer::Residual`]).
fn residual(branch: &Op, shortcut: Shortcut, ty: IntType, shape: Shape, x: &[i32], out: Shape) -> Tensor {
    let Op::ConvBits { kernel, stride, pad, pad_pixel, w } = branch else {
        unreachable!("a residual branch is a binary convolution")
    };
    let mut bits = BitTensor::zeros(shape);
    bits.fill(x, |_, v| v >= 0);
    let Tensor::Ints { values: mut sum, .. } = conv_bits(&bits, *kernel, *stride, *pad, pad_pixel, w, out)
    else {
        unreachable!("verified: the branch has a multi-threshold")
    };
    let pooled;
    let (sc, sc_c): (&[i32], usize) = match shortcut {
        Shortcut::Identity => (x, shape.c),
        Shortcut::PoolPad => {
            pooled = max_pool(x, shape, 2, 2, Shape::new(out.h, out.w, shape.c));
            (&pooled, shape.c)
        }
    };
    // Channels past the shortcut's are its zero padding: the branch alone.
    for (px, s) in sum.chunks_exact_mut(out.c).zip(sc.chunks_exact(sc_c)) {
        for (v, &s) in px.iter_mut().zip(s) {
            *v = saturate(ty, i64::from(*v) + i64::from(s)) as i32;
        }
    }
    Tensor::Ints { shape: out, values: sum }
}

/// The golden model of one verified [`Model`].
#[derive(Clone, Debug)]
pub struct Golden {
    input: Shape,
    types: Vec<TensorType>,
    ops: Vec<Op>,
}

/// Most frames per tile of a batch: enough to amortise the walk over the weights.
const MAX_TILE: usize = 16;

/// Frames per tile: a multiple of 4 (the dense kernel's block) up to [`MAX_TILE`], small enough that
/// every thread gets at least two tiles when the batch allows it.
fn tile_size(frames: usize, threads: usize) -> usize {
    let per_thread = frames.div_ceil(2 * threads.max(1));
    (per_thread.div_ceil(4) * 4).clamp(4, MAX_TILE)
}

impl Golden {
    /// Prepares the golden model of `model`, which must verify, with the fastest integer-input
    /// kernel this CPU runs.
    pub fn new(model: &Model) -> Result<Self, SimError> {
        Self::with_int_kernel(model, IntKernel::detect())
    }

    /// [`Golden::new`] with a chosen kernel for integer-input layers (every kernel computes the
    /// same result); an error if this CPU cannot run it.
    pub fn with_int_kernel(model: &Model, int_kernel: IntKernel) -> Result<Self, SimError> {
        if !int_kernel.is_available() {
            let names: Vec<&str> = IntKernel::available().into_iter().map(IntKernel::name).collect();
            return Err(SimError::KernelUnavailable(int_kernel.name(), names.join(", ")));
        }
        let types = model.infer()?;
        let mut prev = TensorType { shape: model.input, elem: Elem::Pixels };
        let mut ops = Vec::with_capacity(model.layers.len());
        for (layer, ty) in model.layers.iter().zip(&types) {
            let int_in = match prev.elem {
                Elem::Int { ty, .. } => Some(ty),
                _ => None,
            };
            ops.push(match (layer, int_in) {
                (Layer::QuantBinary { threshold }, _) => Op::QuantBinary {
                    threshold: *threshold,
                    flat: matches!(model.layers.get(1), Some(Layer::Dense(_))),
                },
                (Layer::QuantFixed8(q), _) => Op::QuantFixed8(*q),
                (Layer::QuantTable(t), _) => Op::QuantTable(t.clone()),
                (Layer::Dense(w), Some(in_ty)) => {
                    Op::DenseInts(IntWeights::new(&w.matrix, in_ty, &w.activation, int_kernel))
                }
                (Layer::Dense(w), None) => Op::DenseBits(PackedWeights::new(
                    w.out(),
                    w.fan_in(),
                    w.matrix.words_per_row(),
                    |r| w.matrix.row(r).to_vec(),
                    &w.activation,
                    int_kernel,
                )),
                (Layer::Conv2d { kernel, stride, weights, .. }, Some(in_ty)) => Op::ConvInts {
                    kernel: *kernel,
                    stride: *stride,
                    w: IntWeights::new(&weights.matrix, in_ty, &weights.activation, int_kernel),
                },
                (Layer::Conv2d { kernel, stride, padding, weights }, None) => {
                    conv_bits_op(*kernel, *stride, *padding, weights, prev.shape.c, int_kernel)
                }
                (Layer::MaxPool { kernel, stride }, _) => Op::MaxPool { kernel: *kernel, stride: *stride },
                (Layer::Residual { kernel, stride, padding, shortcut, weights }, in_ty) => {
                    let ty = in_ty.expect("verified: a residual block reads integers");
                    let branch = conv_bits_op(*kernel, *stride, *padding, weights, prev.shape.c, int_kernel);
                    Op::Residual { branch: Box::new(branch), shortcut: *shortcut, ty }
                }
            });
            prev = *ty;
        }
        Ok(Golden { input: model.input, types, ops })
    }

    /// Pixels per input frame.
    pub fn frame_len(&self) -> usize {
        self.input.len()
    }

    /// Output type of every layer.
    pub fn types(&self) -> &[TensorType] {
        &self.types
    }

    fn check(&self, got: usize, multiple: bool) -> Result<(), SimError> {
        let want = self.frame_len();
        let ok = if multiple { got.is_multiple_of(want) } else { got == want };
        if ok {
            Ok(())
        } else {
            Err(SimError::FrameSize { got, want, shape: self.input })
        }
    }

    /// Runs one frame.
    pub fn run(&self, pixels: &[u8]) -> Result<Prediction, SimError> {
        self.check(pixels.len(), false)?;
        Ok(self.run_tile(&[pixels]).pop().unwrap_or_else(|| Prediction { scores: vec![], class: 0 }))
    }

    /// Runs a batch of frames stored one after another, in parallel.
    pub fn run_batch(&self, frames: &[u8]) -> Result<Vec<Prediction>, SimError> {
        self.check(frames.len(), true)?;
        let n = self.frame_len();
        let frames: Vec<&[u8]> = frames.chunks_exact(n).collect();
        let tile = tile_size(frames.len(), rayon::current_num_threads());
        Ok(frames.par_chunks(tile).flat_map_iter(|tile| self.run_tile(tile)).collect())
    }

    /// Runs one frame and returns every layer's output.
    pub fn trace(&self, pixels: &[u8]) -> Result<Vec<LayerOutput>, SimError> {
        self.check(pixels.len(), false)?;
        let mut outs = Vec::with_capacity(self.ops.len());
        let mut cur = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            cur = self.step(LayerId(i as u32), op, cur, &[pixels]);
            outs.push(export(&cur[0], self.types[i].shape));
        }
        Ok(outs)
    }

    fn run_tile(&self, frames: &[&[u8]]) -> Vec<Prediction> {
        let mut cur = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            cur = self.step(LayerId(i as u32), op, cur, frames);
        }
        cur.into_iter()
            .map(|t| match t {
                Tensor::Ints { values, .. } => Prediction { class: argmax(&values), scores: values },
                Tensor::Bits(_) => unreachable!("a verified model ends in scores"),
            })
            .collect()
    }

    /// Applies layer `id` to every frame of a tile. Quantizers read `pixels`; other layers `cur`.
    fn step(&self, id: LayerId, op: &Op, cur: Vec<Tensor>, pixels: &[&[u8]]) -> Vec<Tensor> {
        let ty = self.types[id.index()];
        match op {
            Op::QuantBinary { threshold, flat } => pixels
                .iter()
                .map(|px| {
                    // A flat tensor is 1x1x(h*w*c): the layout a dense layer reads, with no repacking.
                    let shape = if *flat { Shape::new(1, 1, ty.shape.len()) } else { ty.shape };
                    let mut b = BitTensor::zeros(shape);
                    b.fill(px, |_, p| p >= *threshold);
                    Tensor::Bits(b)
                })
                .collect(),
            Op::QuantFixed8(q) => pixels
                .iter()
                .map(|px| Tensor::Ints { shape: ty.shape, values: px.iter().map(|&p| q.apply(p)).collect() })
                .collect(),
            Op::QuantTable(t) => pixels
                .iter()
                .map(|px| Tensor::Ints { shape: ty.shape, values: px.iter().map(|&p| t.apply(p)).collect() })
                .collect(),
            Op::DenseBits(w) => {
                let flat: Vec<std::borrow::Cow<[u64]>> = cur
                    .iter()
                    .map(|t| match t {
                        Tensor::Bits(b) => b.flat(),
                        Tensor::Ints { .. } => unreachable!("verified: binary input"),
                    })
                    .collect();
                dense_bits(w, &flat, ty.shape)
            }
            Op::DenseInts(w) => {
                let xs: Vec<&[i32]> = cur
                    .iter()
                    .map(|t| match t {
                        Tensor::Ints { values, .. } => &values[..],
                        Tensor::Bits(_) => unreachable!("verified: integer input"),
                    })
                    .collect();
                ints::dense(w, &xs, ty.shape)
            }
            Op::ConvBits { kernel, stride, pad, pad_pixel, w } => cur
                .iter()
                .map(|t| {
                    let Tensor::Bits(x) = t else { unreachable!("verified: binary input") };
                    conv_bits(x, *kernel, *stride, *pad, pad_pixel, w, ty.shape)
                })
                .collect(),
            Op::ConvInts { kernel, stride, w } => cur
                .iter()
                .map(|t| {
                    let Tensor::Ints { shape, values } = t else { unreachable!("verified: integer input") };
                    ints::conv(w, values, *shape, *kernel, *stride, ty.shape)
                })
                .collect(),
            Op::Residual { branch, shortcut, ty: int_ty } => cur
                .iter()
                .map(|t| {
                    let Tensor::Ints { shape, values } = t else { unreachable!("verified: integer input") };
                    residual(branch, *shortcut, *int_ty, *shape, values, ty.shape)
                })
                .collect(),
            Op::MaxPool { kernel, stride } => cur
                .iter()
                .map(|t| {
                    let x = match t {
                        Tensor::Bits(x) => x,
                        Tensor::Ints { shape, values } => {
                            return Tensor::Ints {
                                shape: ty.shape,
                                values: max_pool(values, *shape, *kernel, *stride, ty.shape),
                            }
                        }
                    };
                    let mut out = BitTensor::zeros(ty.shape);
                    for oy in 0..ty.shape.h {
                        for ox in 0..ty.shape.w {
                            let o = (oy * ty.shape.w + ox) * out.cw;
                            for ky in 0..*kernel {
                                for kx in 0..*kernel {
                                    let px = x.pixel(oy * stride + ky, ox * stride + kx);
                                    for (d, s) in out.words[o..o + out.cw].iter_mut().zip(px) {
                                        *d |= s;
                                    }
                                }
                            }
                        }
                    }
                    Tensor::Bits(out)
                })
                .collect(),
        }
    }
}

/// Channels per chunk of a multi-threshold: one 512-bit register of `i32`s.
const MULTI_LANES: usize = 16;

/// Channels per chunk of a narrow multi-threshold (accumulators that fit `i16`): one 512-bit
/// register of `i16`s.
const NARROW_LANES: usize = 32;

/// What a layer does with its accumulators, prepared for the golden model.
#[derive(Clone, Debug)]
enum Act {
    /// Bit = `[acc >= t[ch]]`.
    Threshold { t: Vec<i32>, kernel: IntKernel },
    /// `bias + #{j : acc >= t_j}`, the thresholds of channels `16 k ..` at level `j` in
    /// `chunks[k * levels + j]` (padding lanes `i32::MAX`), so that one chunk's counts stay in
    /// registers over every level and the compares run across channels, without branches.
    /// `narrow`: the same for the AVX-512 kernel in `i16` lanes, 32 channels a chunk, when the
    /// accumulators fit `i16` (half the compares: a 4-bit activation has 15 levels).
    Multi {
        bias: i32,
        levels: usize,
        chunks: Vec<[i32; MULTI_LANES]>,
        narrow: Option<Vec<[i16; NARROW_LANES]>>,
        kernel: IntKernel,
    },
    /// Scores.
    Scores,
}

impl Act {
    /// The activation `a` of a layer whose accumulators lie in `[-hi, hi]`, for `kernel`.
    fn new(a: &Activation, kernel: IntKernel, hi: i64) -> Self {
        match a {
            Activation::Threshold(t) => Act::Threshold { t: t.clone(), kernel },
            Activation::Multi(m) => {
                let (c, levels) = (m.channels(), m.levels);
                let chunks = by_level(c, levels, |ch, j| m.channel(ch)[j], i32::MAX);
                // Thresholds lie in [-hi, hi + 1] (verified), so below i16::MAX they fit, and the
                // padding lanes' i16::MAX is above every accumulator.
                let narrow = (kernel == IntKernel::Avx512 && hi < i64::from(i16::MAX))
                    .then(|| by_level(c, levels, |ch, j| m.channel(ch)[j] as i16, i16::MAX));
                Act::Multi { bias: m.bias, levels, chunks, narrow, kernel }
            }
            Activation::Scores => Act::Scores,
        }
    }
}

/// Chunks of `N` channels' thresholds, level by level: chunk `k * levels + j` holds level `j` of
/// channels `N k ..`, `pad` past the last channel.
fn by_level<T: Copy, const N: usize>(
    c: usize,
    levels: usize,
    t: impl Fn(usize, usize) -> T,
    pad: T,
) -> Vec<[T; N]> {
    (0..c.div_ceil(N) * levels)
        .map(|i| {
            let (k, j) = (i / levels, i % levels);
            std::array::from_fn(|l| if k * N + l < c { t(k * N + l, j) } else { pad })
        })
        .collect()
}

/// Thresholds integer accumulators (channel fastest) into bits or k-bit integers, or keeps them
/// as scores.
fn finish(mut acc: Vec<i32>, act: &Act, shape: Shape) -> Tensor {
    match act {
        Act::Scores => Tensor::Ints { shape, values: acc },
        Act::Multi { bias, levels, narrow: Some(narrow), .. } if avx512_narrow(act) => {
            #[cfg(target_arch = "x86_64")]
            for px in acc.chunks_exact_mut(shape.c) {
                for (a, t) in px.chunks_mut(NARROW_LANES).zip(narrow.chunks_exact(*levels)) {
                    avx512::multi_count16(*bias, a, t);
                }
            }
            let _ = (bias, levels, narrow);
            Tensor::Ints { shape, values: acc }
        }
        Act::Multi { bias, levels, chunks, kernel, .. } => {
            let count = |v: &[i32; MULTI_LANES], t: &[[i32; MULTI_LANES]]| {
                #[cfg(target_arch = "x86_64")]
                if *kernel == IntKernel::Avx512 {
                    if let Some(n) = avx512::multi_count(*bias, v, t) {
                        return n;
                    }
                }
                let _ = kernel;
                multi_count(*bias, v, t)
            };
            for px in acc.chunks_exact_mut(shape.c) {
                let mut t = chunks.chunks_exact(*levels);
                let mut full = px.chunks_exact_mut(MULTI_LANES);
                for (a, t) in (&mut full).zip(&mut t) {
                    let a: &mut [i32; MULTI_LANES] = a.try_into().expect("chunks of MULTI_LANES");
                    *a = count(a, t);
                }
                let rest = full.into_remainder();
                if let Some(t) = t.next() {
                    let mut v = [0i32; MULTI_LANES];
                    v[..rest.len()].copy_from_slice(rest);
                    let n = rest.len();
                    rest.copy_from_slice(&count(&v, t)[..n]);
                }
            }
            Tensor::Ints { shape, values: acc }
        }
        Act::Threshold { t, kernel } => {
            let mut b = BitTensor::zeros(shape);
            for (a, words) in acc.chunks_exact(shape.c).zip(b.words.chunks_exact_mut(b.cw)) {
                #[cfg(target_arch = "x86_64")]
                if *kernel == IntKernel::Avx512 && avx512::threshold_bits(a, t, words) {
                    continue;
                }
                let _ = kernel;
                threshold_bits(a, t, words);
            }
            Tensor::Bits(b)
        }
    }
}

/// Whether `act` is a multi-threshold with `i16` chunks for the AVX-512 kernel, on a CPU that
/// runs it.
fn avx512_narrow(act: &Act) -> bool {
    matches!(act, Act::Multi { narrow: Some(_), kernel: IntKernel::Avx512, .. })
        && IntKernel::Avx512.is_available()
}

/// Bit `j` of `words[j / 64]` = `[acc[j] >= t[j]]` (see `avx512::threshold_bits` for the vector
/// form).
fn threshold_bits(acc: &[i32], t: &[i32], words: &mut [u64]) {
    for (w, (a, t)) in words.iter_mut().zip(acc.chunks(64).zip(t.chunks(64))) {
        *w = a.iter().zip(t).enumerate().fold(0, |w, (j, (&a, &t))| w | u64::from(a >= t) << j);
    }
}

/// `bias + #{j : v >= t[j]}` lane by lane (see `avx512::multi_count` for the vector form).
fn multi_count(bias: i32, v: &[i32; MULTI_LANES], t: &[[i32; MULTI_LANES]]) -> [i32; MULTI_LANES] {
    let mut n = [bias; MULTI_LANES];
    for t in t {
        for ((n, &v), &t) in n.iter_mut().zip(v).zip(t) {
            *n += i32::from(v >= t);
        }
    }
    n
}

/// Row `r` of a convolution's weights as one `ceil(c / 64)`-word group per window position (`kk`
/// positions of `c` channels), the layout of a window of pixels.
fn conv_row(m: &compiler::model::BitMatrix, r: usize, kk: usize, c: usize) -> Vec<u64> {
    let cw = c.div_ceil(64);
    let mut words = vec![0u64; kk * cw];
    for pos in 0..kk {
        for ch in 0..c {
            if m.get(r, pos * c + ch) {
                words[pos * cw + ch / 64] |= 1 << (ch % 64);
            }
        }
    }
    words
}

/// Max over each `k x k` window (stride `s`) of an integer tensor of shape `inp`, per channel.
fn max_pool(values: &[i32], inp: Shape, k: usize, s: usize, out: Shape) -> Vec<i32> {
    let c = inp.c;
    let mut o = vec![i32::MIN; out.len()];
    for oy in 0..out.h {
        for ox in 0..out.w {
            let dst = &mut o[(oy * out.w + ox) * c..][..c];
            for ky in 0..k {
                for kx in 0..k {
                    let src = &values[((oy * s + ky) * inp.w + ox * s + kx) * c..][..c];
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = (*d).max(v);
                    }
                }
            }
        }
    }
    o
}

/// `popcount(a ^ b)` summed over two word slices: the plain form of the golden model's kernel.
#[inline]
pub fn xor_popcount(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// `popcount(x ^ w_r)` for the [`LANES`] interleaved rows of one weight block (`wpr * LANES` words).
#[inline]
pub fn xor_popcount_block(blk: &[u64], x: &[u64]) -> [u64; LANES] {
    let mut acc = [0u64; LANES];
    for (w, &xi) in blk.chunks_exact(LANES).zip(x) {
        for (a, &wl) in acc.iter_mut().zip(w) {
            *a += u64::from((wl ^ xi).count_ones());
        }
    }
    acc
}

/// [`xor_popcount_block`] for four inputs at once: each weight load serves four frames.
#[inline]
pub fn xor_popcount_block_x4(blk: &[u64], x: [&[u64]; 4]) -> [[u64; LANES]; 4] {
    let n = blk.len() / LANES;
    // Slicing to `n` up front lets the compiler drop the bounds checks in the loop.
    let xs = [&x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]];
    let mut acc = [[0u64; LANES]; 4];
    for (i, w) in blk.chunks_exact(LANES).enumerate() {
        for (af, xf) in acc.iter_mut().zip(&xs) {
            let xi = xf[i];
            for (a, &wl) in af.iter_mut().zip(w) {
                *a += u64::from((wl ^ xi).count_ones());
            }
        }
    }
    acc
}

fn dense_bits(w: &PackedWeights, xs: &[std::borrow::Cow<[u64]>], shape: Shape) -> Vec<Tensor> {
    let Act::Threshold { .. } = w.activation else {
        // Integer accumulators (scores or a k-bit activation): `n - d` per live row.
        let mut accs: Vec<Vec<i32>> = xs.iter().map(|_| Vec::with_capacity(w.rows)).collect();
        for_each_block(w, xs, |f, b, d| {
            let live = (w.rows - b * LANES).min(LANES);
            accs[f].extend(d[..live].iter().map(|&d| w.n as i32 - d as i32));
        });
        return accs.into_iter().map(|acc| finish(acc, &w.activation, shape)).collect();
    };
    // bit = [n - d >= T] = [d <= n - T], decided straight from the XOR popcounts d, with the four rows
    // of a block landing in one output word.
    let mut outs: Vec<BitTensor> = xs.iter().map(|_| BitTensor::zeros(shape)).collect();
    for_each_block(w, xs, |f, b, d| {
        let r0 = b * LANES;
        let mut mask = 0u64;
        for (l, (&d, &m)) in d.iter().zip(&w.dmax[r0..r0 + LANES]).enumerate() {
            mask |= u64::from(d as i64 <= m) << l;
        }
        outs[f].words[r0 / 64] |= mask << (r0 % 64);
    });
    outs.into_iter().map(Tensor::Bits).collect()
}

/// Calls `each(frame, block, d)` with the XOR popcounts `d` of every weight block against every
/// input of `xs`: four frames per weight load, the rest one by one.
fn for_each_block(
    w: &PackedWeights,
    xs: &[std::borrow::Cow<[u64]>],
    mut each: impl FnMut(usize, usize, &[u64; LANES]),
) {
    let mut f = 0;
    while f + 4 <= xs.len() {
        let x = [&xs[f][..], &xs[f + 1][..], &xs[f + 2][..], &xs[f + 3][..]];
        for b in 0..w.blocks() {
            let d = xor_popcount_block_x4(w.block(b), x);
            for (k, dk) in d.iter().enumerate() {
                each(f + k, b, dk);
            }
        }
        f += 4;
    }
    for (f, x) in xs.iter().enumerate().skip(f) {
        for b in 0..w.blocks() {
            each(f, b, &xor_popcount_block(w.block(b), x));
        }
    }
}

fn conv_bits(
    x: &BitTensor,
    k: usize,
    s: usize,
    pad: usize,
    pad_pixel: &[u64],
    w: &PackedWeights,
    out_shape: Shape,
) -> Tensor {
    let cw = x.cw;
    let mut window = vec![0u64; k * k * cw];
    let mut acc = Vec::with_capacity(out_shape.len());
    for oy in 0..out_shape.h {
        for ox in 0..out_shape.w {
            for ky in 0..k {
                for kx in 0..k {
                    let (y, xx) = ((oy * s + ky).wrapping_sub(pad), (ox * s + kx).wrapping_sub(pad));
                    let src = if y < x.shape.h && xx < x.shape.w { x.pixel(y, xx) } else { pad_pixel };
                    let o = (ky * k + kx) * cw;
                    window[o..o + cw].copy_from_slice(src);
                }
            }
            w.accumulate(&window, &mut acc);
        }
    }
    finish(acc, &w.activation, out_shape)
}

/// A tensor in (h, w, c) order with its declared shape (a flat tensor holds the same bits in order).
fn export(t: &Tensor, shape: Shape) -> LayerOutput {
    match t {
        Tensor::Ints { values, .. } => LayerOutput::Ints { shape, values: values.clone() },
        Tensor::Bits(b) => LayerOutput::Bits {
            shape,
            bits: (0..b.shape.len()).map(|j| b.get(j / b.shape.c, j % b.shape.c)).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    /// The AVX-512 activations against the plain ones: threshold bits over lengths around the
    /// 16-lane and 64-bit steps, multi-threshold counts over 1 to 255 levels, accumulators around
    /// the thresholds.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_activations_match_plain_ones() {
        use rand::{Rng, SeedableRng};
        if !super::IntKernel::Avx512.is_available() {
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for len in [1usize, 15, 16, 17, 63, 64, 65, 130] {
            let t: Vec<i32> = (0..len).map(|_| rng.gen_range(-20..20)).collect();
            let acc: Vec<i32> = t.iter().map(|&t| t + rng.gen_range(-1..=1)).collect();
            let (mut want, mut got) = (vec![0u64; len.div_ceil(64)], vec![u64::MAX; len.div_ceil(64)]);
            super::threshold_bits(&acc, &t, &mut want);
            assert!(super::avx512::threshold_bits(&acc, &t, &mut got));
            assert_eq!(got, want, "{len} channels");
        }
        for levels in [1usize, 2, 3, 15, 255] {
            let t: Vec<[i32; 16]> = (0..levels).map(|j| std::array::from_fn(|l| (j + l) as i32)).collect();
            let v: [i32; 16] = std::array::from_fn(|_| rng.gen_range(-2..levels as i32 + 18));
            let want = super::multi_count(-3, &v, &t);
            assert_eq!(super::avx512::multi_count(-3, &v, &t), Some(want), "{levels} levels");
            // The i16 form over 32 channels (the two halves: v and v - 1), and a short chunk.
            let t16: Vec<[i16; 32]> = t.iter().map(|t| std::array::from_fn(|l| t[l % 16] as i16)).collect();
            let wide = [v, std::array::from_fn(|l| v[l] - 1)].concat();
            let want: Vec<i32> =
                [want, super::multi_count(-3, &std::array::from_fn(|l| v[l] - 1), &t)].concat();
            for len in [32, 20, 7] {
                let mut got = wide[..len].to_vec();
                assert!(super::avx512::multi_count16(-3, &mut got, &t16));
                assert_eq!(got, want[..len], "{levels} levels, {len} channels in i16");
            }
        }
    }

    #[test]
    fn tiles_are_blocks_of_four_spread_over_threads() {
        assert_eq!(super::tile_size(1, 2), 4);
        assert_eq!(super::tile_size(16, 2), 4);
        assert_eq!(super::tile_size(24, 2), 8);
        assert_eq!(super::tile_size(64, 2), 16);
        assert_eq!(super::tile_size(100_000, 2), 16);
        assert_eq!(super::tile_size(64, 0), 16);
    }
}
