//! Bit-packed binary weight matrices.

use std::fmt;

use super::limits::MAX_MATRIX_BITS;

/// A dense matrix of bits, one row per output channel, packed into `u64` words.
///
/// Bit `j` of a row lives in word `j / 64` at bit position `j % 64` (least significant first).
/// Bits beyond `cols` in the last word of a row are always zero, so that popcounts over whole
/// words never see garbage; every constructor and mutator keeps that invariant.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BitMatrix {
    rows: usize,
    cols: usize,
    words_per_row: usize,
    data: Vec<u64>,
}

impl BitMatrix {
    /// An all-zero (all -1) matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        let words_per_row = cols.div_ceil(64);
        BitMatrix { rows, cols, words_per_row, data: vec![0; rows * words_per_row] }
    }

    /// An all-zero matrix, or `None` if its storage would exceed [`MAX_MATRIX_BITS`]: the guard for
    /// sizes read from files, where a few bytes can declare billions of rows.
    pub fn checked_zeros(rows: usize, cols: usize) -> Option<Self> {
        Self::fits(rows, cols).then(|| Self::zeros(rows, cols))
    }

    /// True if a `rows x cols` matrix stays within [`MAX_MATRIX_BITS`] (each row counted as at
    /// least one word, so that zero-width rows are not free).
    pub fn fits(rows: usize, cols: usize) -> bool {
        rows.checked_mul(cols.div_ceil(64).max(1))
            .and_then(|w| w.checked_mul(64))
            .is_some_and(|bits| bits <= MAX_MATRIX_BITS)
    }

    /// A matrix whose bit `(r, c)` is `f(r, c)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> bool) -> Self {
        let mut m = Self::zeros(rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                if f(r, c) {
                    m.set(r, c, true);
                }
            }
        }
        m
    }

    /// Number of rows (output channels).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (fan-in).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Words of 64 bits per row.
    pub fn words_per_row(&self) -> usize {
        self.words_per_row
    }

    /// Bit `(r, c)`; panics when out of range, like slice indexing.
    pub fn get(&self, r: usize, c: usize) -> bool {
        assert!(
            r < self.rows && c < self.cols,
            "bit ({r}, {c}) outside a {}x{} matrix",
            self.rows,
            self.cols
        );
        (self.data[r * self.words_per_row + c / 64] >> (c % 64)) & 1 == 1
    }

    /// Sets bit `(r, c)`; panics when out of range, like slice indexing.
    pub fn set(&mut self, r: usize, c: usize, v: bool) {
        assert!(
            r < self.rows && c < self.cols,
            "bit ({r}, {c}) outside a {}x{} matrix",
            self.rows,
            self.cols
        );
        let w = &mut self.data[r * self.words_per_row + c / 64];
        let mask = 1u64 << (c % 64);
        if v {
            *w |= mask;
        } else {
            *w &= !mask;
        }
    }

    /// The packed words of row `r`.
    pub fn row(&self, r: usize) -> &[u64] {
        &self.data[r * self.words_per_row..(r + 1) * self.words_per_row]
    }

    /// Inverts every bit of row `r` (the gamma < 0 flip of threshold folding).
    pub fn invert_row(&mut self, r: usize) {
        let cols = self.cols;
        let row = &mut self.data[r * self.words_per_row..(r + 1) * self.words_per_row];
        for (i, w) in row.iter_mut().enumerate() {
            *w = !*w & tail_mask(cols, i);
        }
    }

    /// Number of one bits in row `r`.
    pub fn row_ones(&self, r: usize) -> u32 {
        self.row(r).iter().map(|w| w.count_ones()).sum()
    }

    /// Bytes per row in the byte-packed form.
    pub fn bytes_per_row(&self) -> usize {
        self.cols.div_ceil(8)
    }

    /// Byte-packed form: each row padded to whole bytes, bit `j` of a row at bit `j % 8` of byte
    /// `j / 8` (the layout of the model file's weight tensors).
    pub fn to_bytes(&self) -> Vec<u8> {
        let bpr = self.bytes_per_row();
        let mut out = Vec::with_capacity(self.rows * bpr);
        for r in 0..self.rows {
            let row = self.row(r);
            out.extend((0..bpr).map(|b| (row[b / 8] >> (8 * (b % 8))) as u8));
        }
        out
    }

    /// Parses the byte-packed form; `None` if the length is wrong or padding bits are set.
    pub fn from_bytes(rows: usize, cols: usize, bytes: &[u8]) -> Option<Self> {
        let mut m = Self::checked_zeros(rows, cols)?;
        let bpr = m.bytes_per_row();
        if rows.checked_mul(bpr)? != bytes.len() {
            return None;
        }
        for r in 0..rows {
            let src = &bytes[r * bpr..(r + 1) * bpr];
            let wpr = m.words_per_row;
            let row = &mut m.data[r * wpr..(r + 1) * wpr];
            for (b, &byte) in src.iter().enumerate() {
                row[b / 8] |= u64::from(byte) << (8 * (b % 8));
            }
            if row.iter().enumerate().any(|(i, &w)| w & !tail_mask(cols, i) != 0) {
                return None;
            }
        }
        Some(m)
    }

    /// Hex digits of row `r`: digit `i` holds bits `4i..4i+4`, least significant bit first.
    pub fn row_hex(&self, r: usize) -> String {
        let row = self.row(r);
        (0..self.cols.div_ceil(4))
            .map(|i| {
                let nib = (row[i / 16] >> (4 * (i % 16))) & 0xf;
                char::from_digit(nib as u32, 16).unwrap_or('0')
            })
            .collect()
    }

    /// Sets row `r` from [`BitMatrix::row_hex`] digits; `Err` names what is wrong.
    pub fn set_row_hex(&mut self, r: usize, hex: &str) -> Result<(), String> {
        let want = self.cols.div_ceil(4);
        if hex.len() != want {
            return Err(format!("expected {want} hex digits for {} bits, found {}", self.cols, hex.len()));
        }
        let wpr = self.words_per_row;
        let cols = self.cols;
        let row = &mut self.data[r * wpr..(r + 1) * wpr];
        row.fill(0);
        for (i, ch) in hex.chars().enumerate() {
            let nib = ch.to_digit(16).ok_or_else(|| format!("'{ch}' is not a hex digit"))?;
            row[i / 16] |= u64::from(nib) << (4 * (i % 16));
        }
        if row.iter().enumerate().any(|(i, &w)| w & !tail_mask(cols, i) != 0) {
            return Err(format!("bits set beyond column {cols}"));
        }
        Ok(())
    }
}

/// Mask of the valid bits of word `i` in a row of `cols` bits.
pub fn tail_mask(cols: usize, i: usize) -> u64 {
    let valid = cols.saturating_sub(i * 64);
    if valid >= 64 {
        u64::MAX
    } else {
        (1u64 << valid) - 1
    }
}

impl fmt::Debug for BitMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BitMatrix({}x{})", self.rows, self.cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_hex_round_trip_with_ragged_widths() {
        for cols in [1, 7, 63, 64, 65, 130] {
            let m = BitMatrix::from_fn(3, cols, |r, c| (r * 31 + c * 7) % 3 == 0);
            let back = BitMatrix::from_bytes(3, cols, &m.to_bytes()).expect("valid bytes");
            assert_eq!(m, back);
            let mut h = BitMatrix::zeros(3, cols);
            for r in 0..3 {
                h.set_row_hex(r, &m.row_hex(r)).expect("valid hex");
            }
            assert_eq!(m, h);
        }
    }

    #[test]
    fn padding_bits_are_rejected() {
        assert!(BitMatrix::from_bytes(1, 3, &[0b1000]).is_none());
        assert!(BitMatrix::from_bytes(1, 3, &[0b111, 0]).is_none());
        let mut m = BitMatrix::zeros(1, 5);
        assert!(m.set_row_hex(0, "f4").is_err());
        assert!(m.set_row_hex(0, "f1").is_ok());
    }

    #[test]
    fn invert_keeps_tail_clear() {
        let mut m = BitMatrix::zeros(2, 70);
        m.invert_row(1);
        assert_eq!(m.row_ones(1), 70);
        assert_eq!(m.row_ones(0), 0);
        assert!(m.get(1, 69));
    }
}
