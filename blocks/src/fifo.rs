//! The first-word-fall-through FIFO.

use crate::bits::words;
use crate::Unit;

/// A FIFO of `depth` words of `width` bits. `s_ready` and `m_valid` depend only on its state, so
/// a FIFO cuts every combinational path between its sides.
///
/// Registers: `rptr`, `wptr`, `count` (reset to 0) and the memory (not reset). At each edge
/// `push = s_valid && count < depth` writes `mem[wptr]` and steps `wptr`; `pop = m_ready &&
/// count > 0` steps `rptr`; `count` follows. Outputs: `s_ready = count < depth`,
/// `m_valid = count > 0`, `m_data = mem[rptr]`.
#[derive(Clone, Debug)]
pub struct Fifo {
    depth: usize,
    ww: usize,
    mem: Vec<u64>,
    rptr: usize,
    wptr: usize,
    count: usize,
    high_water: usize,
}

impl Fifo {
    /// A FIFO of `depth` words of `width` bits; the caller checks both are at least 1.
    pub fn new(width: usize, depth: usize) -> Self {
        let ww = words(width.max(1));
        let depth = depth.max(1);
        Fifo { depth, ww, mem: vec![0; depth * ww], rptr: 0, wptr: 0, count: 0, high_water: 0 }
    }

    /// The most words held since the FIFO was built (reset does not clear it).
    pub fn high_water(&self) -> usize {
        self.high_water
    }
}

impl Unit for Fifo {
    fn valid(&self) -> bool {
        self.count > 0
    }

    fn data(&self) -> &[u64] {
        &self.mem[self.rptr * self.ww..(self.rptr + 1) * self.ww]
    }

    fn ready(&self, _m_ready: bool) -> bool {
        self.count < self.depth
    }

    /// Empty, with room for two words: the word raises `m_valid` and leaves `s_ready` high.
    #[inline]
    fn completes(&self) -> bool {
        self.count == 0 && self.depth >= 2
    }

    #[inline]
    fn absorb(&mut self, s_data: &[u64]) {
        debug_assert!(self.count < self.depth, "a word absorbed that finds no room");
        self.edge(true, s_data, false);
    }

    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        // Neither a push nor a pop: nothing changes.
        let push = s_valid && self.count < self.depth;
        let pop = m_ready && self.count > 0;
        if push || pop {
            0
        } else {
            crate::FOREVER
        }
    }

    #[inline]
    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool) {
        let push = s_valid && self.count < self.depth;
        let pop = m_ready && self.count > 0;
        // Pointers wrap by a compare, not `%`: a division each would cost more than the rest of
        // the edge, which the cycle model runs every cycle of a streaming FIFO.
        if push {
            let ww = self.ww;
            if ww == 1 {
                self.mem[self.wptr] = s_data[0];
            } else {
                self.mem[self.wptr * ww..(self.wptr + 1) * ww].copy_from_slice(&s_data[..ww]);
            }
            self.wptr = if self.wptr + 1 == self.depth { 0 } else { self.wptr + 1 };
        }
        if pop {
            self.rptr = if self.rptr + 1 == self.depth { 0 } else { self.rptr + 1 };
        }
        self.count = self.count + usize::from(push) - usize::from(pop);
        self.high_water = self.high_water.max(self.count);
    }

    fn reset(&mut self) {
        (self.rptr, self.wptr, self.count) = (0, 0, 0);
    }
}
