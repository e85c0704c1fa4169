//! Bit widths of integers in hardware, shared by the dataflow IR, its cost model and `hdl`.

/// Bits needed to hold every value of `0..=max`.
pub fn ubits(max: u64) -> usize {
    (64 - max.leading_zeros() as usize).max(1)
}

/// Bits of a two's-complement number holding every value of `min..=max`.
pub fn sbits(min: i64, max: i64) -> usize {
    let hi = ubits(max.max(0) as u64) + 1;
    let lo = if min < 0 { ubits((-(min + 1)) as u64) + 1 } else { 1 };
    hi.max(lo)
}

/// The width that holds `lo..=hi`, two's complement when `signed`.
pub fn width_of(lo: i64, hi: i64, signed: bool) -> usize {
    if signed {
        sbits(lo, hi)
    } else {
        ubits(hi.max(0) as u64)
    }
}

/// A mask of the low `len` bits.
#[inline]
pub fn mask(len: usize) -> u64 {
    if len >= 64 {
        !0
    } else {
        (1 << len) - 1
    }
}

/// Sign-extends the low `width` bits of `v`.
#[inline]
pub fn sext(v: u64, width: usize) -> i64 {
    if width == 0 || width >= 64 {
        return v as i64;
    }
    let sh = 64 - width;
    ((v << sh) as i64) >> sh
}

/// `u64` words needed for `bits` bits.
#[inline]
pub fn words(bits: usize) -> usize {
    bits.div_ceil(64)
}

/// `len` (<= 64) bits of `w` from bit `off`.
#[inline]
pub fn get(w: &[u64], off: usize, len: usize) -> u64 {
    debug_assert!(len <= 64);
    if len == 0 {
        return 0;
    }
    let (i, s) = (off / 64, off % 64);
    let mut v = w.get(i).copied().unwrap_or(0) >> s;
    if s != 0 && s + len > 64 {
        v |= w.get(i + 1).copied().unwrap_or(0) << (64 - s);
    }
    v & mask(len)
}

/// Writes the low `len` (<= 64) bits of `v` into `w` at bit `off`.
#[inline]
pub fn set(w: &mut [u64], off: usize, len: usize, v: u64) {
    for b in 0..len {
        let (i, s) = ((off + b) / 64, (off + b) % 64);
        w[i] = (w[i] & !(1 << s)) | (((v >> b) & 1) << s);
    }
}

/// One bit.
#[inline]
pub fn bit(w: &[u64], i: usize) -> bool {
    w.get(i / 64).is_some_and(|x| (x >> (i % 64)) & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(ubits(0), 1);
        assert_eq!(ubits(1), 1);
        assert_eq!(ubits(2), 2);
        assert_eq!(ubits(784), 10);
        assert_eq!(sbits(-256, 255), 9);
        assert_eq!(sbits(-255, 255), 9);
        assert_eq!(sbits(-257, 0), 10);
        assert_eq!(sbits(0, 256), 10);
        assert_eq!(sext(0x1ff, 9), -1);
        assert_eq!(sext(0x0ff, 9), 255);
        assert_eq!(width_of(0, 10, false), 4);
        assert_eq!(width_of(-11, 10, true), 5);
    }
}
