//! Run-time-width buses: a `Vec` of one-bit rust-hdl signals.
//!
//! rust-hdl's `Bits<N>` fixes a width at compile time, but the compiler chooses widths from a model
//! file. A bus of `n` one-bit signals has its width chosen when the block is built. Only the
//! simulation sees these buses: the Verilog ([`crate::rtl`]) has packed `[n-1:0]` ports.

use crate::words;
use rust_hdl::prelude::*;

/// A bus of `n` one-bit signals, bit 0 first.
pub type Bus<D> = Vec<Signal<D, Bit>>;

/// Signals whose value a block may read: its inputs, and its children's outputs.
pub trait Read {
    /// The current value.
    fn get(&self) -> bool;
}

impl Read for Signal<In, Bit> {
    fn get(&self) -> bool {
        self.val()
    }
}

impl Read for Signal<Out, Bit> {
    fn get(&self) -> bool {
        self.val()
    }
}

/// A new bus of `n` signals.
pub fn bus<D: Direction>(n: usize) -> Bus<D> {
    (0..n).map(|_| Signal::default()).collect()
}

/// The current value of a bus, as little-endian words.
pub fn read<S: Read>(b: &[S]) -> Vec<u64> {
    let mut w = vec![0u64; words::words(b.len())];
    for (i, s) in b.iter().enumerate() {
        if s.get() {
            w[i / 64] |= 1 << (i % 64);
        }
    }
    w
}

/// The value of bits `off..off+len` (len <= 64) of a bus.
pub fn read_field<S: Read>(b: &[S], off: usize, len: usize) -> u64 {
    (0..len).fold(0, |acc, i| acc | (u64::from(b[off + i].get()) << i))
}

/// Drives a bus with the bits of `w`.
pub fn write<D: Direction>(b: &mut [Signal<D, Bit>], w: &[u64]) {
    for (i, s) in b.iter_mut().enumerate() {
        s.next = words::bit(w, i);
    }
}

/// Drives bits `off..off+len` (len <= 64) of a bus with `v`.
pub fn write_field<D: Direction>(b: &mut [Signal<D, Bit>], off: usize, len: usize, v: u64) {
    for i in 0..len {
        b[off + i].next = (v >> i) & 1 == 1;
    }
}

/// Copies `src` onto `dst` (same width): the simulation side of a wire between two blocks.
pub fn copy<D: Direction, S: Read>(dst: &mut [Signal<D, Bit>], src: &[S]) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        d.next = s.get();
    }
}

/// Marks every signal of a bus as driven (rust-hdl's connectivity check).
pub fn connect<D: Direction>(b: &mut [Signal<D, Bit>]) {
    for s in b {
        s.connect();
    }
}
