//! The convolution nodes' configurations: the sliding-window unit (im2col on a stream) and the
//! max-pool unit.
//!
//! Both carry frames of pixels in (row, column, channel) order, channel fastest, as words of
//! `simd` elements that never straddle a pixel (`simd` divides the channels), so a frame is the
//! same bit sequence as the flattened (h, w, c) tensor whatever the word width.
//!
//! The sliding-window unit's register-level schedule, which sizes the ring below, is written
//! once as code in the `blocks` crate (`blocks::swu`), run by the cycle model and the rust-hdl
//! leaf, and printed as Verilog by `hdl`.
//!
//! The ring holds `2K + S - 1` rows: the rows the last output row reads (with those a stride skips
//! at the bottom) and the next frame's first `K` rows fit together, so a frame boundary costs no
//! cycle when the unit is the bottleneck.

use super::{ubits, DataflowError, LaneInput};
use crate::model::{MAX_ACT_BITS, MIN_ACT_BITS};
use serde::{Deserialize, Serialize};

/// A sliding-window unit: a stream of `h x w` pixels of `c` elements of `elem_bits` bits becomes,
/// per output pixel, the im2col vector of its `kernel x kernel` window (kernel row, kernel column,
/// channel fastest), as words of `simd` elements.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SwuConfig {
    /// Node name.
    pub name: String,
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Elements per pixel.
    pub c: usize,
    /// Bits per element (1 for binary, `k` for `k`-bit integers: the 8-bit input layer or a
    /// multi-threshold activation).
    pub elem_bits: usize,
    /// Elements per word (divides `c`).
    pub simd: usize,
    /// Window height and width.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Pixels of padding on each side.
    pub pad: usize,
    /// The padding element's bit (binary elements only).
    pub pad_bit: bool,
}

impl SwuConfig {
    /// Checks sizes, the folding and the padding.
    pub fn validate(&self) -> Result<(), DataflowError> {
        let err = |message: String| Err(DataflowError::Folding { layer: self.name.clone(), message });
        if self.h == 0
            || self.w == 0
            || self.c == 0
            || self.elem_bits == 0
            || self.kernel == 0
            || self.stride == 0
        {
            return err("a sliding-window unit needs non-zero sizes".into());
        }
        if self.simd == 0 || self.c % self.simd != 0 {
            let legal: Vec<String> = super::divisors(self.c).iter().map(usize::to_string).collect();
            return err(format!(
                "SIMD = {} does not divide the {} input channels (the sliding-window unit's words hold \
                 whole channel groups); legal SIMD: {}",
                self.simd,
                self.c,
                legal.join(", ")
            ));
        }
        if self.pad >= self.kernel
            || self.h + 2 * self.pad < self.kernel
            || self.w + 2 * self.pad < self.kernel
        {
            return err(format!(
                "a {}x{} window with padding {} does not fit a {}x{} input",
                self.kernel, self.kernel, self.pad, self.h, self.w
            ));
        }
        if self.elem_bits > usize::from(MAX_ACT_BITS) {
            return err(format!(
                "{}-bit elements: a sliding-window unit takes bits or integers of at most {MAX_ACT_BITS} bits",
                self.elem_bits
            ));
        }
        if self.pad > 0 && self.elem_bits != 1 {
            return err("only binary inputs can be padded (with the pad bit)".into());
        }
        Ok(())
    }

    /// Output rows.
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Output columns.
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Words per pixel.
    pub fn cf(&self) -> usize {
        self.c / self.simd
    }

    /// Word width.
    pub fn bits(&self) -> usize {
        self.simd * self.elem_bits
    }

    /// Rows in the ring buffer.
    pub fn ring_rows(&self) -> usize {
        2 * self.kernel + self.stride - 1
    }

    /// Words in the ring buffer.
    pub fn ring_words(&self) -> usize {
        self.ring_rows() * self.w * self.cf()
    }

    /// Input words per frame.
    pub fn in_words(&self) -> usize {
        self.h * self.w * self.cf()
    }

    /// Words per output pixel (the next MVTU's SF).
    pub fn window_words(&self) -> usize {
        self.kernel * self.kernel * self.cf()
    }

    /// Output words per frame.
    pub fn out_words(&self) -> usize {
        self.oh() * self.ow() * self.window_words()
    }

    /// Ring address width.
    pub fn addr_bits(&self) -> usize {
        ubits(self.ring_words() as u64 - 1)
    }

    /// The one width of the unit's coordinate and address arithmetic: it holds every value the
    /// Verilog compares (the lowest row kept is carried as `lo + H + R`, never negative).
    pub fn arith_bits(&self) -> usize {
        let (h, w, k, s, pd, r) = (self.h, self.w, self.kernel, self.stride, self.pad, self.ring_rows());
        let off = h + r;
        let maxv = [
            (self.oh() - 1) * s + k + off + r,
            (self.ow() - 1) * s + k,
            h + pd,
            w + pd,
            2 * h + 2 * r,
            self.ring_words(),
        ]
        .into_iter()
        .max()
        .unwrap_or(1);
        ubits(maxv as u64)
    }
}

/// A max-pool unit: the maximum over `kernel x kernel` windows with stride `kernel` (trailing rows
/// and columns that fill no window are dropped), per channel, on words of `simd` channels of
/// `elem_bits` bits: for binary elements an OR, for integers the largest (two's complement when
/// `signed`).
///
/// Schedule (`blocks::pool`): counters `wc` (channel word, fastest), `x` (with `kx = x mod K`,
/// `ox = x / K`), `y` (with `ky`); a row buffer of `OW * CF` words holds the maximum of the window
/// so far. `s_ready = !ov || m_ready`; a handshake on a word inside a window takes the maximum
/// with the buffer (or starts it at the window's first word) and, at the window's last word,
/// loads the output register instead. Words outside every window are consumed and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolConfig {
    /// Node name.
    pub name: String,
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Channels per word (divides `c`; `bits` in graphs written before integer elements).
    #[serde(alias = "bits")]
    pub simd: usize,
    /// Bits per element: 1 for binary, `k` for integers.
    #[serde(default = "one")]
    pub elem_bits: usize,
    /// Two's complement integers (never for binary elements).
    #[serde(default)]
    pub signed: bool,
    /// Window height, width and stride.
    pub kernel: usize,
}

fn one() -> usize {
    1
}

impl PoolConfig {
    /// Checks sizes, the word width and the element type.
    pub fn validate(&self) -> Result<(), DataflowError> {
        let err = |message: String| Err(DataflowError::Folding { layer: self.name.clone(), message });
        if self.h == 0 || self.w == 0 || self.c == 0 || self.kernel == 0 {
            return err("a max-pool unit needs non-zero sizes".into());
        }
        if self.simd == 0 || self.c % self.simd != 0 {
            return err(format!("its words of {} channels do not divide the {} channels", self.simd, self.c));
        }
        let int = self.elem_bits > 1;
        if int && !(usize::from(MIN_ACT_BITS)..=usize::from(MAX_ACT_BITS)).contains(&self.elem_bits) {
            return err(format!(
                "{}-bit elements: a max-pool unit takes bits or {MIN_ACT_BITS}- to {MAX_ACT_BITS}-bit integers",
                self.elem_bits
            ));
        }
        if self.elem_bits == 0 || (self.signed && !int) {
            return err("binary elements (1 bit) are not signed".into());
        }
        if self.kernel > self.h || self.kernel > self.w {
            return err(format!(
                "a {0}x{0} window does not fit a {1}x{2} input",
                self.kernel, self.h, self.w
            ));
        }
        Ok(())
    }

    /// Word width.
    pub fn bits(&self) -> usize {
        self.simd * self.elem_bits
    }

    /// The element type of its streams.
    pub fn elem(&self) -> LaneInput {
        match u8::try_from(self.elem_bits) {
            Ok(bits) if bits > 1 => LaneInput::Int { bits, signed: self.signed },
            _ => LaneInput::Binary,
        }
    }

    /// Output rows.
    pub fn oh(&self) -> usize {
        self.h / self.kernel
    }

    /// Output columns.
    pub fn ow(&self) -> usize {
        self.w / self.kernel
    }

    /// Words per pixel.
    pub fn cf(&self) -> usize {
        self.c / self.simd
    }

    /// Input words per frame.
    pub fn in_words(&self) -> usize {
        self.h * self.w * self.cf()
    }

    /// Output words per frame.
    pub fn out_words(&self) -> usize {
        self.oh() * self.ow() * self.cf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swu(h: usize, c: usize, simd: usize, k: usize, s: usize, pad: usize) -> SwuConfig {
        SwuConfig {
            name: "S1".into(),
            h,
            w: h,
            c,
            elem_bits: 1,
            simd,
            kernel: k,
            stride: s,
            pad,
            pad_bit: false,
        }
    }

    #[test]
    fn swu_shapes_follow_the_convolution() {
        let s = swu(32, 64, 32, 3, 1, 0);
        s.validate().expect("valid");
        assert_eq!((s.oh(), s.ow(), s.cf(), s.window_words()), (30, 30, 2, 18));
        assert_eq!(s.out_words(), 30 * 30 * 18);
        assert_eq!(s.ring_rows(), 6);
        let s = swu(7, 4, 4, 3, 2, 1);
        assert_eq!((s.oh(), s.ring_rows()), (4, 7));
    }

    #[test]
    fn swu_errors_name_the_node_and_the_legal_values() {
        let e = swu(8, 12, 5, 3, 1, 0).validate().expect_err("5 does not divide 12").to_string();
        assert!(e.contains("S1") && e.contains("1, 2, 3, 4, 6, 12"), "{e}");
        assert!(swu(8, 4, 4, 3, 1, 3).validate().is_err(), "padding as large as the kernel");
        let mut s = swu(8, 3, 3, 3, 1, 1);
        s.elem_bits = 8;
        assert!(s.validate().is_err(), "8-bit input with padding");
    }

    #[test]
    fn pool_drops_trailing_rows_and_columns() {
        let p = PoolConfig {
            name: "P".into(),
            h: 5,
            w: 7,
            c: 8,
            simd: 4,
            elem_bits: 1,
            signed: false,
            kernel: 2,
        };
        p.validate().expect("valid");
        assert_eq!((p.oh(), p.ow(), p.cf(), p.in_words(), p.out_words()), (2, 3, 2, 70, 12));
        assert!(PoolConfig { simd: 3, ..p.clone() }.validate().is_err());
        assert!(PoolConfig { signed: true, ..p.clone() }.validate().is_err(), "signed bits");
        assert!(PoolConfig { elem_bits: 9, ..p.clone() }.validate().is_err());
        let k = PoolConfig { elem_bits: 3, signed: true, ..p.clone() };
        k.validate().expect("3-bit signed elements");
        assert_eq!((k.bits(), k.elem()), (12, LaneInput::Int { bits: 3, signed: true }));
    }
}
