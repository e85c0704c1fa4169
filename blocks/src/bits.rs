//! Bit-vector helpers on little-endian `u64` words.

pub use compiler::dataflow::width::{bit, get, mask, set, sext, words};

/// Shifts a little-endian bit vector right by `s` bits in place.
#[inline]
pub fn shift_right(w: &mut [u64], s: usize) {
    let (q, r) = (s / 64, s % 64);
    let n = w.len();
    for i in 0..n {
        let lo = w.get(i + q).copied().unwrap_or(0);
        let hi = w.get(i + q + 1).copied().unwrap_or(0);
        w[i] = if r == 0 { lo } else { (lo >> r) | (hi << (64 - r)) };
    }
}

/// ORs the low `len` bits of `src` into `dst` at bit `off` (bits that fall beyond `dst` are
/// dropped).
#[inline]
pub fn or_at(dst: &mut [u64], off: usize, src: &[u64], len: usize) {
    let (q, r) = (off / 64, off % 64);
    for (i, &s) in src.iter().enumerate().take(words(len)) {
        let s = if (i + 1) * 64 > len { s & mask(len - i * 64) } else { s };
        if q + i < dst.len() {
            dst[q + i] |= s << r;
        }
        if r != 0 && q + i + 1 < dst.len() {
            dst[q + i + 1] |= s >> (64 - r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_get(w: &[u64], i: usize) -> bool {
        (w[i / 64] >> (i % 64)) & 1 == 1
    }

    proptest! {
        #[test]
        fn shift_and_or_match_bit_by_bit(a in proptest::collection::vec(any::<u64>(), 1..4), s in 0usize..200, len in 1usize..130) {
            let mut shifted = a.clone();
            shift_right(&mut shifted, s);
            for i in 0..a.len() * 64 {
                let want = i + s < a.len() * 64 && naive_get(&a, i + s);
                prop_assert_eq!(naive_get(&shifted, i), want);
            }
            let mut dst = vec![0u64; 5];
            let src = a.clone();
            or_at(&mut dst, s % 64 + 3, &src, len.min(a.len() * 64));
            let l = len.min(a.len() * 64);
            for i in 0..dst.len() * 64 {
                let off = s % 64 + 3;
                let want = i >= off && i - off < l && naive_get(&src, i - off);
                prop_assert_eq!(naive_get(&dst, i), want);
            }
        }
    }
}
