//! The AVX-512 kernel of integer-input layers: table lookups of four-weight sums (see `ints` for
//! what it computes and why it is exact).
//!
//! Every function here that the rest of the crate calls is safe: it checks at run time that this
//! CPU has every feature the code is compiled for ([`available`], cached by the standard library)
//! and returns `false`, having done nothing, when it does not. `unsafe` is confined to this
//! module and used for exactly two things: calling the `#[target_feature]` functions, sound
//! because their features were just detected, and unaligned 512-bit loads and stores, each of a
//! `[u8; 64]` or of an array of 16 `i32`s, whose type fixes its 64 bytes.
#![allow(unsafe_code)]

use super::ints::{Quad, BYTE_ROWS};
use std::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_broadcast_i32x4, _mm512_castsi256_si512, _mm512_castsi512_si256,
    _mm512_cmpge_epi16_mask, _mm512_cmpge_epi32_mask as cmpge, _mm512_cvtepi16_epi32, _mm512_cvtepi32_epi16,
    _mm512_cvtepi32_epi8, _mm512_dpbusd_epi32, _mm512_extracti64x4_epi64, _mm512_inserti64x4,
    _mm512_loadu_si512, _mm512_mask_add_epi16, _mm512_mask_add_epi32, _mm512_mask_add_epi8,
    _mm512_mask_sub_epi8, _mm512_permutexvar_epi8, _mm512_set1_epi16, _mm512_set1_epi32, _mm512_set1_epi8,
    _mm512_setzero_si512, _mm512_storeu_si512,
};

/// Whether this CPU has every feature the code here enables.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// Byte `16 * j' + p` of selector `j` is `4 * j' + j`: it picks digit `j` of group `j'` of a
/// quad's sixteen digits into every pattern `p` of that group's table.
const SELECT: [Quad; 4] = {
    let mut s = [[0u8; 64]; 4];
    let mut j = 0;
    while j < 4 {
        let mut b = 0;
        while b < 64 {
            s[j][b] = (4 * (b / 16) + j) as u8;
            b += 1;
        }
        j += 1;
    }
    s
};

/// Bit `16 * j' + p` of mask `j` is bit `j` of the pattern `p`: where digit `j` is added (its
/// weight is +1), elsewhere subtracted.
const PLUS: [u64; 4] = {
    let mut m = [0u64; 4];
    let mut j = 0;
    while j < 4 {
        let mut b = 0;
        while b < 64 {
            if ((b % 16) >> j) & 1 == 1 {
                m[j] |= 1 << b;
            }
            b += 1;
        }
        j += 1;
    }
    m
};

/// `ints::tables_of` on AVX-512. False when this CPU lacks the features.
pub(super) fn tables_of(digits: &[i32], off: u8, out: &mut [Quad]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: the function's target features were detected just above.
    unsafe { tables_avx512(digits, off, out) };
    true
}

/// Sixteen `i32`s from `a` (at most 16), padded with `pad`.
#[inline]
#[target_feature(enable = "avx512f")]
fn load16(a: &[i32], pad: i32) -> __m512i {
    let full: Option<&[i32; 16]> = a.try_into().ok();
    let padded;
    let a16 = match full {
        Some(a16) => a16,
        None => {
            let mut p = [pad; 16];
            p[..a.len()].copy_from_slice(a);
            padded = p;
            &padded
        }
    };
    // SAFETY: `a16` is an array of exactly 16 `i32`s, the 64 bytes the unaligned load reads.
    unsafe { _mm512_loadu_si512(a16.as_ptr().cast()) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn tables_avx512(digits: &[i32], off: u8, out: &mut [Quad]) {
    // SAFETY (the four loads): each reads one `[u8; 64]`.
    let select: [__m512i; 4] =
        std::array::from_fn(|j| unsafe { _mm512_loadu_si512(SELECT[j].as_ptr().cast()) });
    let mut chunks = digits.chunks(16);
    for t in out.iter_mut() {
        let v = load16(chunks.next().unwrap_or(&[]), 0);
        // The digits' low bytes (two's complement, exact: |digit| <= 31) in all four 128-bit lanes.
        let v = _mm512_broadcast_i32x4(_mm512_cvtepi32_epi8(v));
        // Byte arithmetic wraps, and the exact result lies in 0..=255, so it comes out right.
        let mut acc = _mm512_set1_epi8(off as i8);
        for (sel, &plus) in select.iter().zip(&PLUS) {
            let y = _mm512_permutexvar_epi8(*sel, v);
            acc = _mm512_mask_add_epi8(acc, plus, acc, y);
            acc = _mm512_mask_sub_epi8(acc, !plus, acc, y);
        }
        // SAFETY: `t` is a `[u8; 64]`, the 64 bytes the store writes.
        unsafe { _mm512_storeu_si512(t.as_mut_ptr().cast(), acc) };
    }
}

/// For every block of [`BYTE_ROWS`] rows (`quads` index vectors `idx[blk * quads..]`, see
/// `ints::Packed::Lut`): `d[f][r] = sum_q sum_j' tables[f][q][idx[q][4r + j']]`, handed to
/// `emit(block, d)`. `Err(emit)`, untouched, when this CPU lacks the features.
pub(super) fn lut_blocks<const F: usize, E: FnMut(usize, &[[i32; BYTE_ROWS]; F])>(
    idx: &[Quad],
    quads: usize,
    tables: [&[Quad]; F],
    emit: E,
) -> Result<(), E> {
    if !available() {
        return Err(emit);
    }
    // SAFETY: the function's target features were detected just above.
    unsafe { lut_blocks_avx512(idx, quads, tables, emit) };
    Ok(())
}

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vnni")]
fn lut_blocks_avx512<const F: usize>(
    idx: &[Quad],
    quads: usize,
    tables: [&[Quad]; F],
    mut emit: impl FnMut(usize, &[[i32; BYTE_ROWS]; F]),
) {
    let ones = _mm512_set1_epi8(1);
    let tables: [&[Quad]; F] = std::array::from_fn(|f| &tables[f][..quads]);
    // SAFETY (every load below): it reads one `[u8; 64]`.
    let load = |q: &Quad| unsafe { _mm512_loadu_si512(q.as_ptr().cast()) };
    for (blk, wb) in idx.chunks_exact(quads).enumerate() {
        // Two accumulators per input, even and odd quads: each vpdpbusd waits for the previous one
        // into the same register, and four chains alone would leave the unit idle.
        let mut even: [__m512i; F] = [_mm512_setzero_si512(); F];
        let mut odd: [__m512i; F] = [_mm512_setzero_si512(); F];
        let pairs = wb.chunks_exact(2);
        let last = pairs.remainder().first();
        for (p, w) in pairs.enumerate() {
            let (w0, w1) = (load(&w[0]), load(&w[1]));
            for ((e, o), t) in even.iter_mut().zip(&mut odd).zip(&tables) {
                // Sixteen rows' four table bytes each, summed into the rows' 32-bit lanes.
                *e = _mm512_dpbusd_epi32(*e, _mm512_permutexvar_epi8(w0, load(&t[2 * p])), ones);
                *o = _mm512_dpbusd_epi32(*o, _mm512_permutexvar_epi8(w1, load(&t[2 * p + 1])), ones);
            }
        }
        if let Some(w) = last {
            let w = load(w);
            for (e, t) in even.iter_mut().zip(&tables) {
                *e = _mm512_dpbusd_epi32(*e, _mm512_permutexvar_epi8(w, load(&t[quads - 1])), ones);
            }
        }
        let mut d = [[0i32; BYTE_ROWS]; F];
        for ((d, &e), &o) in d.iter_mut().zip(&even).zip(&odd) {
            // SAFETY: `d` is an array of exactly 16 `i32`s, the 64 bytes the store writes.
            unsafe { _mm512_storeu_si512(d.as_mut_ptr().cast(), _mm512_add_epi32(e, o)) };
        }
        emit(blk, &d);
    }
}

/// `golden::multi_count` on AVX-512: `bias + #{j : v >= t[j]}` for 16 channels, one compare and
/// one masked add per level. `None` when this CPU lacks the features.
pub(super) fn multi_count(bias: i32, v: &[i32; 16], t: &[[i32; 16]]) -> Option<[i32; 16]> {
    if !available() {
        return None;
    }
    // SAFETY: the function's target features were detected just above.
    Some(unsafe { multi_count_avx512(bias, v, t) })
}

#[target_feature(enable = "avx512f")]
fn multi_count_avx512(bias: i32, v: &[i32; 16], t: &[[i32; 16]]) -> [i32; 16] {
    // SAFETY (every load and the store): each reads or writes one array of 16 `i32`s.
    let load = |a: &[i32; 16]| unsafe { _mm512_loadu_si512(a.as_ptr().cast()) };
    let (v, one) = (load(v), _mm512_set1_epi32(1));
    let mut n = _mm512_set1_epi32(bias);
    for t in t {
        n = _mm512_mask_add_epi32(n, cmpge(v, load(t)), n, one);
    }
    let mut out = [0i32; 16];
    // SAFETY: see above.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), n) };
    out
}

/// `golden::multi_count` in `i16` lanes for one chunk of at most 32 channels `a` (whose
/// accumulators fit `i16`), with the chunk's thresholds `t` level by level. False when this CPU
/// lacks the features.
pub(super) fn multi_count16(bias: i32, a: &mut [i32], t: &[[i16; 32]]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: the function's target features were detected just above.
    unsafe { multi_count16_avx512(bias, a, t) };
    true
}

#[target_feature(enable = "avx512f,avx512bw")]
fn multi_count16_avx512(bias: i32, a: &mut [i32], t: &[[i16; 32]]) {
    let (lo, hi) = a.split_at_mut(a.len().min(16));
    // The accumulators fit i16, so truncating each to its low 16 bits is exact.
    let v = _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm512_cvtepi32_epi16(load16(lo, 0))),
        _mm512_cvtepi32_epi16(load16(hi, 0)),
    );
    // A count is at most bias + 255 levels of an 8-bit type: it fits i16.
    let (one, mut n) = (_mm512_set1_epi16(1), _mm512_set1_epi16(bias as i16));
    for t in t {
        // SAFETY: `t` is an array of exactly 32 `i16`s, the 64 bytes the unaligned load reads.
        let t = unsafe { _mm512_loadu_si512(t.as_ptr().cast()) };
        n = _mm512_mask_add_epi16(n, _mm512_cmpge_epi16_mask(v, t), n, one);
    }
    store16(lo, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(n)));
    store16(hi, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64::<1>(n)));
}

/// Stores the first `a.len()` (at most 16) lanes of `n` into `a`.
#[inline]
#[target_feature(enable = "avx512f")]
fn store16(a: &mut [i32], n: __m512i) {
    let mut tail = [0i32; 16];
    let len = a.len();
    let full: Option<&mut [i32; 16]> = a.try_into().ok();
    let dst = match full {
        Some(d) => d,
        None => &mut tail,
    };
    // SAFETY: `dst` is an array of exactly 16 `i32`s, the 64 bytes the unaligned store writes.
    unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), n) };
    if len < 16 {
        a.copy_from_slice(&tail[..len]);
    }
}

/// `golden::threshold_bits` on AVX-512: bit `j` of `words[j / 64]` = `[acc[j] >= t[j]]`, sixteen
/// compares per instruction. False when this CPU lacks the features.
pub(super) fn threshold_bits(acc: &[i32], t: &[i32], words: &mut [u64]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: the function's target features were detected just above.
    unsafe { threshold_bits_avx512(acc, t, words) };
    true
}

#[target_feature(enable = "avx512f")]
fn threshold_bits_avx512(acc: &[i32], t: &[i32], words: &mut [u64]) {
    for (w, (a, t)) in words.iter_mut().zip(acc.chunks(64).zip(t.chunks(64))) {
        let mut word = 0u64;
        for (q, (a, t)) in a.chunks(16).zip(t.chunks(16)).enumerate() {
            // A short tail is padded with a threshold no accumulator reaches.
            word |= u64::from(cmpge(load16(a, 0), load16(t, i32::MAX))) << (16 * q);
        }
        *w = word;
    }
}
