//! Layers whose input is integers: an 8-bit input quantizer's values or a k-bit activation.
//!
//! A binary weight row (`+1` where bit `w` is set, `-1` elsewhere) accumulates
//! `sum_i (w_i ? x_i : -x_i)`. Two exact methods compute it:
//!
//! - **Bit planes** ([`IntKernel::Portable`], plain Rust). A `k`-bit integer is
//!   `x = sum_b c_b * x_b` over its two's-complement bits `x_b`, with `c_b = 2^b`, except that
//!   the top bit of a signed type weighs `-2^(k-1)` ([`plane_coefs`]). Since
//!   `sum_i (w_i ? x_i : -x_i) = 2 * sum_{i : w_i} x_i - sum_i x_i`,
//!
//!   ```text
//!   acc = 2 * sum_b c_b * popcount(plane_b & w) - S,      S = sum_i x_i (once per input vector)
//!   ```
//!
//!   `k` AND-popcounts per weight word where a binary input takes one XOR-popcount. Rows are
//!   interleaved in blocks of [`ROWS`] (word `i` of the block's rows side by side), so that one
//!   load feeds eight rows and each row's count stays in its own lane.
//! - **Table lookups** ([`IntKernel::Avx512`]). Four inputs `x_0..x_3` (a group) take one of 16
//!   sums `T[p] = sum_j (p_j ? x_j : -x_j)`, one per pattern `p` of four weight bits; the
//!   layer's weights are stored as one 4-bit pattern per row and group. Per input vector, every
//!   group's 16 sums are tabulated (biased by `off` to be unsigned bytes); then one `vpermb` looks
//!   up 64 of them (16 rows x 4 groups: a quad) and one `vpdpbusd` adds them into the 16 rows'
//!   accumulators, 256 multiply-accumulates in two instructions, whatever the input width. The
//!   sums fit a byte when `8 * max|x| <= 255` (up to 5 bits); wider inputs are split into two
//!   unsigned 4-bit digits, `x - min = 16 * hi + lo`, looked up separately, and the row's
//!   `min * sum_i s_i` added back. (Measured against bit planes on AVX-512 VPOPCNTDQ and
//!   against `vpdpbusd` byte dot products; results/README.md.)
//!
//! Several inputs (frames, or a convolution's output pixels) share each weight load, as in the
//! binary dense kernel: four for the bit planes, eight table sets for the tables (eight inputs,
//! or four inputs' two digits: 16 accumulator chains hide `vpdpbusd`'s latency, and each weight
//! block streams from L2 half as often as with four; 3% faster on the W1A2 and W1A4 LFCs). The table method has a portable form too, the reference of its
//! AVX-512 code; `tests::kernels_agree_on_random_data` checks every form against a plain sum.

use super::{finish, Act, Tensor};
use compiler::model::{Activation, BitMatrix, IntType, Shape};

/// Weight rows per interleaved block of the bit-plane kernel.
const ROWS: usize = 8;

/// Weight rows per block of the table kernel: sixteen `i32` accumulators, one 512-bit register.
pub(super) const BYTE_ROWS: usize = 16;

/// Input values per quad of the table kernel: four groups of four.
const QUAD_INPUTS: usize = 16;

/// 64 bytes: a quad's tables (byte `16 * j + p`: group `j`, pattern `p`), or a block's lookup
/// indices for one quad (byte `4 * r + j`: row `r`, group `j`).
pub(super) type Quad = [u8; 64];

/// Which code computes integer-input layers. Every kernel computes the same integers; they differ
/// only in speed and in the CPUs that run them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntKernel {
    /// Bit planes in plain Rust on `u64` words: every target.
    Portable,
    /// Table lookups with x86-64 AVX-512 (F, BW, VBMI, VNNI).
    Avx512,
}

impl IntKernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        if IntKernel::Avx512.is_available() {
            IntKernel::Avx512
        } else {
            IntKernel::Portable
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn is_available(self) -> bool {
        match self {
            IntKernel::Portable => true,
            IntKernel::Avx512 => avx512_available(),
        }
    }

    /// Every kernel this CPU runs, portable first.
    pub fn available() -> Vec<Self> {
        [IntKernel::Portable, IntKernel::Avx512].into_iter().filter(|k| k.is_available()).collect()
    }

    /// Short name: `portable` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            IntKernel::Portable => "portable",
            IntKernel::Avx512 => "avx512",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512_available() -> bool {
    super::avx512::available()
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_available() -> bool {
    false
}

/// The weight of each bit plane of a `ty` integer: `2^b`, the top plane `-2^(k-1)` when signed.
fn plane_coefs(ty: IntType) -> Vec<i64> {
    let k = usize::from(ty.bits);
    (0..k).map(|b| if ty.signed && b + 1 == k { -(1i64 << b) } else { 1i64 << b }).collect()
}

/// Writes the two's-complement bit planes of `values` into `out` (`planes` planes of `wpr` words,
/// plane-major: bit `j` of plane `b` is bit `b` of `values[j]`; bits past `values.len()` zero) and
/// returns the values' sum.
fn planes_of(values: &[i32], planes: usize, wpr: usize, out: &mut [u64]) -> i64 {
    out[..planes * wpr].fill(0);
    for (i, chunk) in values.chunks(64).enumerate() {
        for b in 0..planes {
            let mut word = 0u64;
            for (j, &v) in chunk.iter().enumerate() {
                word |= (((v >> b) & 1) as u64) << j;
            }
            out[b * wpr + i] = word;
        }
    }
    values.iter().map(|&v| i64::from(v)).sum()
}

/// The table kernel's tables of `digits` (zero past their end), one [`Quad`] per sixteen:
/// byte `16 * j + p` of quad `q` is `off + sum_i (p_i ? d : -d)` over the digits
/// `d = digits[16 * q + 4 * j + i]`, `i = 0..4`, reduced modulo 256 (exact when it lies in
/// `0..=255`).
fn tables_of(digits: &[i32], off: u8, out: &mut [Quad]) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::tables_of(digits, off, out) {
        return;
    }
    tables_portable(digits, off, out);
}

fn tables_portable(digits: &[i32], off: u8, out: &mut [Quad]) {
    for (q, t) in out.iter_mut().enumerate() {
        for (b, t) in t.iter_mut().enumerate() {
            let (group, p) = (b / 16, b % 16);
            let d = |i: usize| digits.get(QUAD_INPUTS * q + 4 * group + i).copied().unwrap_or(0);
            let sum: i32 = (0..4).map(|i| if (p >> i) & 1 == 1 { d(i) } else { -d(i) }).sum();
            *t = (i32::from(off) + sum) as u8;
        }
    }
}

/// How the table kernel reads an input type.
#[derive(Copy, Clone, Debug)]
enum Digits {
    /// The values themselves, biased by `off = 4 * max|x|` (so `8 * max|x| <= 255`).
    Values { off: u8 },
    /// `x - min = 16 * hi + lo`, two unsigned 4-bit digits, each biased by 60.
    Nibbles { min: i32 },
}

/// Bias of a 4-bit digit's table: four digits of at most 15.
const NIBBLE_OFF: u8 = 60;

impl Digits {
    fn of(ty: IntType) -> Self {
        let max_abs = ty.min().abs().max(ty.max());
        if 8 * max_abs <= 255 {
            Digits::Values { off: (4 * max_abs) as u8 }
        } else {
            Digits::Nibbles { min: ty.min() as i32 }
        }
    }

    /// Tables per input vector.
    fn sets(self) -> usize {
        match self {
            Digits::Values { .. } => 1,
            Digits::Nibbles { .. } => 2,
        }
    }
}

/// Calls `each(i, true)` for `i = 0, 4, 8, ...` while four of the `n` items remain, then
/// `each(i, false)` for each of the rest.
fn by_fours(n: usize, mut each: impl FnMut(usize, bool)) {
    let mut i = 0;
    while i + 4 <= n {
        each(i, true);
        i += 4;
    }
    for i in i..n {
        each(i, false);
    }
}

/// How a layer's weights are laid out: the kernel decides.
#[derive(Clone, Debug)]
enum Packed {
    /// For bit planes: blocks of [`ROWS`] rows, word `i` of the block's rows side by side; missing
    /// rows of the last block are zero and their results dropped.
    Planes {
        /// Words per row (and per input plane).
        wpr: usize,
        words: Vec<u64>,
        /// [`plane_coefs`] of the input type.
        coefs: Vec<i64>,
    },
    /// For table lookups: per block of [`BYTE_ROWS`] rows and quad `q` (inputs `16 q ..`), byte
    /// `4 * r + j` is `16 * j + p`, where `p` holds row `r`'s weight bits of group `4 q + j`
    /// (bit `i`: input `16 q + 4 j + i`; zero past the fan-in, whose inputs are zero).
    Lut {
        /// Quads per row: `ceil(fan_in / 16)`.
        quads: usize,
        idx: Vec<Quad>,
        digits: Digits,
        /// Per row, added to the looked-up sums: `-4 * quads * off` per digit set, and for
        /// nibbles `min * sum_i s_i` (modulo 2^32, as the sums are added).
        fix: Vec<i32>,
    },
}

/// Binary weights of a layer whose input is integers, laid out for its kernel.
#[derive(Clone, Debug)]
pub(super) struct IntWeights {
    /// Output channels.
    rows: usize,
    packed: Packed,
    /// What follows the accumulation.
    activation: Act,
}

impl IntWeights {
    /// Packs `matrix` (columns in the fan-in order: a dense layer's flattened input, a
    /// convolution's window by position then channel) for an input of type `ty`.
    pub(super) fn new(matrix: &BitMatrix, ty: IntType, activation: &Activation, kernel: IntKernel) -> Self {
        let rows = matrix.rows();
        let packed = match kernel {
            IntKernel::Avx512 => Self::lut(matrix, ty),
            IntKernel::Portable => {
                let wpr = matrix.words_per_row();
                let mut words = vec![0u64; rows.div_ceil(ROWS) * wpr * ROWS];
                for r in 0..rows {
                    for (i, &w) in matrix.row(r).iter().enumerate() {
                        words[((r / ROWS) * wpr + i) * ROWS + r % ROWS] = w;
                    }
                }
                Packed::Planes { wpr, words, coefs: plane_coefs(ty) }
            }
        };
        // Accumulators of |x| <= max|type| over the fan-in.
        let hi = ty.min().abs().max(ty.max()).saturating_mul(matrix.cols() as i64);
        IntWeights { rows, packed, activation: Act::new(activation, kernel, hi) }
    }

    fn lut(matrix: &BitMatrix, ty: IntType) -> Packed {
        let (rows, n) = (matrix.rows(), matrix.cols());
        let quads = n.div_ceil(QUAD_INPUTS);
        let mut idx = vec![[0u8; 64]; rows.div_ceil(BYTE_ROWS) * quads];
        for r in 0..rows {
            for q in 0..quads {
                for j in 0..4 {
                    let col = |i: usize| QUAD_INPUTS * q + 4 * j + i;
                    let p =
                        (0..4).filter(|&i| col(i) < n && matrix.get(r, col(i))).fold(0, |p, i| p | 1 << i);
                    idx[(r / BYTE_ROWS) * quads + q][4 * (r % BYTE_ROWS) + j] = (16 * j + p) as u8;
                }
            }
        }
        let digits = Digits::of(ty);
        let lookups = -4 * quads as i64;
        let fix = (0..rows)
            .map(|r| {
                let fix = match digits {
                    Digits::Values { off } => lookups * i64::from(off),
                    Digits::Nibbles { min } => {
                        let ones = (0..n).filter(|&j| matrix.get(r, j)).count() as i64;
                        // Both digits' biases, the high one scaled as its digit.
                        17 * lookups * i64::from(NIBBLE_OFF) + i64::from(min) * (2 * ones - n as i64)
                    }
                };
                fix as i32
            })
            .collect();
        Packed::Lut { quads, idx, digits, fix }
    }

    /// `outs[i][r]`: the accumulators of the input vectors `xs` (each in the layer's fan-in order)
    /// against every row. Inputs go through the kernel in groups (see the module documentation),
    /// the rest one by one, each group's planes or tables made just before (they stay in cache).
    fn dots(&self, xs: &[&[i32]], outs: &mut [&mut [i32]]) {
        match &self.packed {
            Packed::Planes { wpr, words, coefs } => {
                let len = coefs.len() * wpr;
                let mut planes = vec![0u64; 4 * len];
                let mut sums = [0i64; 4];
                by_fours(xs.len(), |i, four| {
                    let m = if four { 4 } else { 1 };
                    for (j, (x, p)) in xs[i..i + m].iter().zip(planes.chunks_exact_mut(len)).enumerate() {
                        sums[j] = planes_of(x, coefs.len(), *wpr, p);
                    }
                    let p: [&[u64]; 4] = std::array::from_fn(|j| &planes[j * len..(j + 1) * len]);
                    let out = &mut outs[i..i + m];
                    if four {
                        self.planes_dots(*wpr, words, coefs, p, sums, out);
                    } else {
                        self.planes_dots(*wpr, words, coefs, [p[0]], [sums[0]], out);
                    }
                });
            }
            Packed::Lut { quads, idx, digits, fix } => {
                let (q, sets) = (*quads, digits.sets());
                // Up to eight table sets per kernel call: eight inputs' values, or four inputs'
                // two digits.
                let mut tables = vec![[0u8; 64]; 8 * q];
                let mut scratch = Vec::new();
                let mut i = 0;
                while i < xs.len() {
                    let left = xs.len() - i;
                    let m = [8 / sets, 4, 1].into_iter().find(|&m| m <= left).unwrap_or(1);
                    for (x, t) in xs[i..i + m].iter().zip(tables.chunks_exact_mut(sets * q)) {
                        match *digits {
                            Digits::Values { off } => tables_of(x, off, t),
                            Digits::Nibbles { min } => {
                                let (lo, hi) = t.split_at_mut(q);
                                scratch.clear();
                                scratch.extend(x.iter().map(|&v| (v - min) & 15));
                                tables_of(&scratch, NIBBLE_OFF, lo);
                                scratch.clear();
                                scratch.extend(x.iter().map(|&v| (v - min) >> 4));
                                tables_of(&scratch, NIBBLE_OFF, hi);
                            }
                        }
                    }
                    let t: [&[Quad]; 8] = std::array::from_fn(|j| &tables[j * q..(j + 1) * q]);
                    let out = &mut outs[i..i + m];
                    match (sets, m) {
                        (1, 8) => self.lut_dots::<8, 1>(q, idx, fix, t, out),
                        (1, 4) => self.lut_dots::<4, 1>(q, idx, fix, [t[0], t[1], t[2], t[3]], out),
                        (1, _) => self.lut_dots::<1, 1>(q, idx, fix, [t[0]], out),
                        (_, 4) => self.lut_dots::<8, 2>(q, idx, fix, t, out),
                        (_, _) => self.lut_dots::<2, 2>(q, idx, fix, [t[0], t[1]], out),
                    }
                    i += m;
                }
            }
        }
    }

    fn planes_dots<const F: usize>(
        &self,
        wpr: usize,
        words: &[u64],
        coefs: &[i64],
        xs: [&[u64]; F],
        sums: [i64; F],
        out: &mut [&mut [i32]],
    ) {
        let rows = self.rows;
        for (blk, wb) in words.chunks_exact(wpr * ROWS).enumerate() {
            let mut tot = [[0i64; ROWS]; F];
            for (b, &c) in coefs.iter().enumerate() {
                // Slicing each plane to `wpr` words up front lets the compiler drop the bounds
                // checks.
                let xb: [&[u64]; F] = std::array::from_fn(|f| &xs[f][b * wpr..(b + 1) * wpr]);
                let mut a = [[0u64; ROWS]; F];
                for (i, w) in wb.chunks_exact(ROWS).enumerate() {
                    for (af, xf) in a.iter_mut().zip(&xb) {
                        let x = xf[i];
                        for (a, &w) in af.iter_mut().zip(w) {
                            *a += u64::from((w & x).count_ones());
                        }
                    }
                }
                for (tf, af) in tot.iter_mut().zip(&a) {
                    for (t, &a) in tf.iter_mut().zip(af) {
                        *t += c * a as i64;
                    }
                }
            }
            let r0 = blk * ROWS;
            let live = (rows - r0).min(ROWS);
            for ((o, d), s) in out.iter_mut().zip(&tot).zip(sums) {
                for (o, &d) in o[r0..r0 + live].iter_mut().zip(d) {
                    // The model verified that every accumulator fits 32 bits.
                    *o = (2 * d - s) as i32;
                }
            }
        }
    }

    /// Looks up `F / SETS` input vectors, each as `SETS` table sets (one digit each, the low
    /// first).
    fn lut_dots<const F: usize, const SETS: usize>(
        &self,
        quads: usize,
        idx: &[Quad],
        fix: &[i32],
        tables: [&[Quad]; F],
        out: &mut [&mut [i32]],
    ) {
        let rows = self.rows;
        let emit = |blk: usize, d: &[[i32; BYTE_ROWS]; F]| {
            let r0 = blk * BYTE_ROWS;
            let live = (rows - r0).min(BYTE_ROWS);
            let fix = &fix[r0..r0 + live];
            for (o, d) in out.iter_mut().zip(d.chunks_exact(SETS)) {
                for (l, (o, &fix)) in o[r0..r0 + live].iter_mut().zip(fix).enumerate() {
                    // Wrapping arithmetic is exact modulo 2^32, and the model verified that the
                    // accumulator fits 32 bits.
                    let looked = d.iter().rev().fold(0i32, |a, d| a.wrapping_mul(16).wrapping_add(d[l]));
                    *o = looked.wrapping_add(fix);
                }
            }
        };
        #[cfg(target_arch = "x86_64")]
        let emit = match super::avx512::lut_blocks(idx, quads, tables, emit) {
            Ok(()) => return,
            Err(emit) => emit,
        };
        lut_blocks_portable(idx, quads, tables, emit);
    }
}

/// The table kernel in plain Rust, the reference of its AVX-512 form: for every block,
/// `d[f][r] = sum_q sum_j tables[f][q][idx[q][4 r + j]]`, handed to `emit(block, d)`.
fn lut_blocks_portable<const F: usize>(
    idx: &[Quad],
    quads: usize,
    tables: [&[Quad]; F],
    mut emit: impl FnMut(usize, &[[i32; BYTE_ROWS]; F]),
) {
    for (blk, wb) in idx.chunks_exact(quads).enumerate() {
        let mut d = [[0i32; BYTE_ROWS]; F];
        for (df, tf) in d.iter_mut().zip(&tables) {
            for (w, t) in wb.iter().zip(tf.iter()) {
                for (r, d) in df.iter_mut().enumerate() {
                    *d += w[4 * r..4 * r + 4].iter().map(|&i| i32::from(t[usize::from(i)])).sum::<i32>();
                }
            }
        }
        emit(blk, &d);
    }
}

/// A dense layer over the integer vectors `xs` (one per frame).
pub(super) fn dense(w: &IntWeights, xs: &[&[i32]], shape: Shape) -> Vec<Tensor> {
    let mut accs: Vec<Vec<i32>> = xs.iter().map(|_| vec![0i32; w.rows]).collect();
    let mut outs: Vec<&mut [i32]> = accs.iter_mut().map(Vec::as_mut_slice).collect();
    w.dots(xs, &mut outs);
    accs.into_iter().map(|a| finish(a, &w.activation, shape)).collect()
}

/// An unpadded convolution (`k x k`, stride `s`) over one integer tensor of shape `inp`.
pub(super) fn conv(w: &IntWeights, values: &[i32], inp: Shape, k: usize, s: usize, out: Shape) -> Tensor {
    let c = inp.c;
    let len = k * k * c;
    // One output row at a time: its windows, in the fan-in order (position, channel), go through
    // the kernel four by four.
    let mut windows = vec![0i32; out.w * len];
    let mut acc = vec![0i32; out.len()];
    for (oy, acc_row) in acc.chunks_exact_mut(out.w * w.rows).enumerate() {
        for (ox, win) in windows.chunks_exact_mut(len).enumerate() {
            for (pos, dst) in win.chunks_exact_mut(c).enumerate() {
                let p = (oy * s + pos / k) * inp.w + ox * s + pos % k;
                dst.copy_from_slice(&values[p * c..(p + 1) * c]);
            }
        }
        let xs: Vec<&[i32]> = windows.chunks_exact(len).collect();
        let mut outs: Vec<&mut [i32]> = acc_row.chunks_exact_mut(w.rows).collect();
        w.dots(&xs, &mut outs);
    }
    finish(acc, &w.activation, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn plane_coefs_rebuild_every_value() {
        for bits in 2..=8u8 {
            for signed in [false, true] {
                let ty = IntType { bits, signed };
                let coefs = plane_coefs(ty);
                for v in ty.min()..=ty.max() {
                    let mut p = vec![0u64; coefs.len()];
                    planes_of(&[v as i32], coefs.len(), 1, &mut p);
                    let back: i64 = coefs.iter().zip(&p).map(|(c, w)| c * (*w & 1) as i64).sum();
                    assert_eq!(back, v, "{ty}: value {v}");
                }
            }
        }
    }

    /// Both layouts (bit planes; tables, in AVX-512 where this CPU has it) against a plain per-row
    /// sum on random weights and inputs of every width and signedness (so values and nibbles),
    /// with row counts around the block sizes, fan-ins around word and quad sizes, and one to nine
    /// inputs (four-input blocks and the rest).
    #[test]
    fn kernels_agree_on_random_data() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(27);
        for case in 0..400 {
            let ty = IntType { bits: rng.gen_range(2..=8), signed: rng.gen() };
            let rows = rng.gen_range(1..=40);
            let n: usize = [1, 3, 4, 63, 64, 65, 130, rng.gen_range(1..300)][case % 8];
            // Every third case at the extremes: constant rows and inputs all at the type's
            // minimum or maximum, the largest sums a table byte must hold.
            let extreme = case % 3 == 0;
            let row_bits: Vec<bool> = (0..rows).map(|_| rng.gen()).collect();
            let matrix = BitMatrix::from_fn(rows, n, |r, _| if extreme { row_bits[r] } else { rng.gen() });
            let inputs = rng.gen_range(1..=9);
            let xs: Vec<Vec<i32>> = (0..inputs)
                .map(|_| {
                    let end = if rng.gen() { ty.min() } else { ty.max() };
                    (0..n)
                        .map(|_| if extreme { end } else { rng.gen_range(ty.min()..=ty.max()) } as i32)
                        .collect()
                })
                .collect();
            let want: Vec<i32> = xs
                .iter()
                .flat_map(|x| {
                    let matrix = &matrix;
                    (0..rows).map(move |r| {
                        x.iter().enumerate().map(|(j, &x)| if matrix.get(r, j) { x } else { -x }).sum()
                    })
                })
                .collect();
            let xs: Vec<&[i32]> = xs.iter().map(Vec::as_slice).collect();
            // The table layout also where AVX-512 is missing: then its plain form runs.
            for kernel in [IntKernel::Portable, IntKernel::Avx512] {
                let w = IntWeights::new(&matrix, ty, &Activation::Scores, kernel);
                let mut got = vec![0i32; inputs * rows];
                let mut outs: Vec<&mut [i32]> = got.chunks_exact_mut(rows).collect();
                w.dots(&xs, &mut outs);
                assert_eq!(
                    got,
                    want,
                    "kernel {}, {ty}, {rows} rows, fan-in {n}, {inputs} inputs",
                    kernel.name()
                );
            }
        }
    }

    /// Random digits of every kind the table kernel reads (values up to 5 bits, 4-bit nibbles)
    /// and lengths around the 16-value quad.
    fn random_digits(rng: &mut rand_chacha::ChaCha8Rng) -> (Vec<i32>, u8) {
        let len = [1usize, 15, 16, 17, 63, 64, 65, 200][rng.gen_range(0..8)];
        let (lo, hi, off) = match rng.gen_range(0..3) {
            0 => (-16, 15, 64),
            1 => (0, 31, 124),
            _ => (0, 15, NIBBLE_OFF),
        };
        ((0..len).map(|_| rng.gen_range(lo..=hi)).collect(), off)
    }

    /// The table builder (AVX-512 where this CPU has it) against the plain one, and against the
    /// definition of a table entry.
    #[test]
    fn table_builders_agree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let (digits, off) = random_digits(&mut rng);
            let quads = digits.len().div_ceil(QUAD_INPUTS);
            let mut want = vec![[0u8; 64]; quads];
            tables_portable(&digits, off, &mut want);
            let mut got = vec![[7u8; 64]; quads];
            tables_of(&digits, off, &mut got);
            assert_eq!(got, want, "{} digits, off {off}", digits.len());
            // Quad 0, group 1, pattern 0b0101: + d4 - d5 + d6 - d7.
            let d = |i: usize| digits.get(i).copied().unwrap_or(0);
            assert_eq!(i32::from(want[0][16 + 5]), i32::from(off) + d(4) - d(5) + d(6) - d(7));
        }
    }

    /// The table kernel's AVX-512 form against its plain form on random indices and tables, one
    /// to eight table sets (the even/odd quads and the remainder).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn table_kernels_agree() {
        if !IntKernel::Avx512.is_available() {
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for quads in 1..=5 {
            let blocks = rng.gen_range(1..=3);
            let idx: Vec<Quad> = (0..blocks * quads)
                .map(|_| std::array::from_fn(|b| (16 * (b % 4) + rng.gen_range(0..16)) as u8))
                .collect();
            let tables: Vec<Vec<Quad>> =
                (0..8).map(|_| (0..quads).map(|_| std::array::from_fn(|_| rng.gen())).collect()).collect();
            let run = |avx: bool| {
                let mut got = Vec::new();
                let t: [&[Quad]; 8] = std::array::from_fn(|f| &tables[f][..]);
                let emit = |blk: usize, d: &[[i32; BYTE_ROWS]; 8]| got.push((blk, *d));
                if avx {
                    assert!(crate::golden::avx512::lut_blocks(&idx, quads, t, emit).is_ok());
                } else {
                    lut_blocks_portable(&idx, quads, t, emit);
                }
                got
            };
            assert_eq!(run(true), run(false), "{quads} quads, {blocks} blocks");
        }
    }
}
