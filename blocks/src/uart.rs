//! The board top's UART: an 8N1 receiver and transmitter at `cpb` clocks a bit (least
//! significant bit first). Not stream blocks: the receiver has no ready (a byte it emits must be
//! taken that clock) and both drive a pin, so they have their own ports rather than [`crate::Unit`].
//! `hdl::rtl::board` prints their Verilog; `hdl/tests/uart.rs` checks it against these, clock for
//! clock.

/// The receiver: a two-flop synchronizer (`s0`, `s1`, reset to 1, the idle line), then a start
/// bit confirmed at its middle, the eight data bits and the stop bit each sampled at theirs.
///
/// Registers (`state`, `cnt` reset to 0; `idx`, `shift` not reset): at every edge `s0 <= rx`,
/// `s1 <= s0`, and `valid`, `error` fall. Unless reset, by `state` (of before the edge):
/// - 0, idle: on `s1 == 0` (a start bit) `state <= 1`, `cnt <= 0`;
/// - 1, start bit: at `cnt == cpb / 2 - 1`: `cnt <= 0`, `idx <= 0`, and `state <= 2`, or back to
///   0 when the line is high again (a glitch); else `cnt` steps;
/// - 2, data bits: at `cnt == cpb - 1`: `cnt <= 0`, `s1` shifts into `shift` from the top,
///   `idx` steps and after the eighth bit `state <= 3`; else `cnt` steps;
/// - 3, stop bit: at `cnt == cpb - 1`: `cnt <= 0`, `state <= 0`, and `valid <= s1` (the byte is
///   `shift`) or `error <= !s1` (a framing error); else `cnt` steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UartRx {
    cpb: u64,
    s0: bool,
    s1: bool,
    state: u8,
    cnt: u64,
    idx: u8,
    shift: u8,
    valid: bool,
    error: bool,
}

impl UartRx {
    /// A receiver at `cpb >= 4` clocks a bit, as configuration leaves it.
    pub fn new(cpb: u64) -> Self {
        UartRx { cpb, s0: true, s1: true, state: 0, cnt: 0, idx: 0, shift: 0, valid: false, error: false }
    }

    /// A byte arrived (high for one clock): [`UartRx::data`].
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The last byte received.
    pub fn data(&self) -> u8 {
        self.shift
    }

    /// A stop bit of 0 ended the last frame (high for one clock).
    pub fn error(&self) -> bool {
        self.error
    }

    /// One clock edge with the line at `rx`.
    pub fn edge(&mut self, rst: bool, rx: bool) {
        let s1 = self.s1;
        (self.s1, self.s0) = (self.s0, rx);
        (self.valid, self.error) = (false, false);
        if rst {
            (self.state, self.cnt) = (0, 0);
            return;
        }
        let at = |v: u64| self.cnt == v;
        match self.state {
            0 => {
                if !s1 {
                    (self.state, self.cnt) = (1, 0);
                }
            }
            1 if at(self.cpb / 2 - 1) => {
                (self.cnt, self.idx) = (0, 0);
                self.state = if s1 { 0 } else { 2 };
            }
            2 if at(self.cpb - 1) => {
                self.cnt = 0;
                self.shift = (u8::from(s1) << 7) | (self.shift >> 1);
                if self.idx == 7 {
                    self.state = 3;
                }
                self.idx = (self.idx + 1) & 7;
            }
            3 if at(self.cpb - 1) => {
                (self.cnt, self.state) = (0, 0);
                (self.valid, self.error) = (s1, !s1);
            }
            _ => self.cnt += 1,
        }
    }
}

/// The transmitter: a ready/valid byte input and the line.
///
/// Registers (`left` reset to 0, `shift` to all ones, `cnt` not reset): idle while `left == 0`,
/// when `s_ready` is high and the line is high. On an idle edge with `s_valid` the frame (a 0
/// start bit, the byte, a 1 stop bit) loads into `shift`, `left <= 10`, `cnt <= 0`; while busy,
/// every `cpb` clocks `shift` moves down a bit (ones fill from the top) and `left` falls.
/// The line is `shift[0]` while busy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UartTx {
    cpb: u64,
    shift: u16,
    left: u8,
    cnt: u64,
}

impl UartTx {
    /// A transmitter at `cpb >= 4` clocks a bit, as configuration leaves it.
    pub fn new(cpb: u64) -> Self {
        UartTx { cpb, shift: 0x3ff, left: 0, cnt: 0 }
    }

    /// `s_ready`: no frame is going out.
    pub fn ready(&self) -> bool {
        self.left == 0
    }

    /// The line.
    pub fn tx(&self) -> bool {
        self.ready() || self.shift & 1 == 1
    }

    /// One clock edge with the byte input `s_valid`, `s_data`.
    pub fn edge(&mut self, rst: bool, s_valid: bool, s_data: u8) {
        if rst {
            (self.left, self.shift) = (0, 0x3ff);
        } else if self.ready() {
            if s_valid {
                (self.shift, self.left, self.cnt) = ((1 << 9) | (u16::from(s_data) << 1), 10, 0);
            }
        } else if self.cnt == self.cpb - 1 {
            self.cnt = 0;
            self.shift = (1 << 9) | (self.shift >> 1);
            self.left -= 1;
        } else {
            self.cnt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transmitter's line, sampled in the middle of each bit by the receiver, gives the byte
    /// back: the two halves agree on the framing.
    #[test]
    fn a_byte_goes_through_the_line() {
        for cpb in [4, 5, 16] {
            let (mut tx, mut rx) = (UartTx::new(cpb), UartRx::new(cpb));
            let mut got = Vec::new();
            let bytes = [0x00u8, 0xff, 0xa5, 0x3c];
            let mut next = 0;
            for _ in 0..cpb * 12 * bytes.len() as u64 + 20 {
                let line = tx.tx();
                let offer = next < bytes.len();
                let take = offer && tx.ready();
                tx.edge(false, offer, bytes.get(next).copied().unwrap_or(0));
                next += usize::from(take);
                rx.edge(false, line);
                assert!(!rx.error(), "cpb {cpb}");
                if rx.valid() {
                    got.push(rx.data());
                }
            }
            assert_eq!(got, bytes, "cpb {cpb}");
        }
    }
}
