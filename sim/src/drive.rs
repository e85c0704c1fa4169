//! Drives any executor with ready/valid stream ports (the cycle model, a Verilated design) the way
//! the testbenches drive the RTL: reset, then words in with seeded input gaps and words out under
//! seeded backpressure, recording the cycle of every handshake.

use crate::stream::Words;
use compiler::dataflow::traffic::Stalls;

/// The port values seen during a cycle, before its clock edge.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    /// The design accepts the offered input word.
    pub s_ready: bool,
    /// The design offers an output word.
    pub m_valid: bool,
}

/// An executor with one input and one output stream, clocked one cycle at a time.
pub trait StreamDut {
    /// Input word width.
    fn in_bits(&self) -> usize;
    /// Output word width.
    fn out_bits(&self) -> usize;
    /// One clock cycle: applies the inputs, evaluates the combinational logic, reports the ports
    /// (copying `m_data` into `out` when `m_valid`), then applies the rising edge. `rst` is
    /// synchronous and active high.
    fn cycle(&mut self, rst: bool, s_valid: bool, s_data: &[u64], m_ready: bool, out: &mut Vec<u64>)
        -> Ports;
    /// Why the executor stopped working (a simulator's fatal error), if it did; the run then
    /// fails with it.
    fn fault(&self) -> Option<String> {
        None
    }
}

/// How to drive a run.
#[derive(Copy, Clone, Debug)]
pub struct Drive {
    /// Input gaps and output backpressure.
    pub stalls: Stalls,
    /// The watchdog: a run that has not finished after this many cycles is a deadlock (or a lost
    /// word) and fails.
    pub max_cycles: u64,
    /// Stop after this many cycles even if unfinished (to abandon a run in the middle of a frame).
    pub stop_at: Option<u64>,
}

/// What a run observed. Cycle 0 is the first cycle after reset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Output words in order.
    pub outputs: Words,
    /// Cycle of each output handshake.
    pub out_cycles: Vec<u64>,
    /// Cycle of each input handshake.
    pub in_cycles: Vec<u64>,
    /// Cycles run.
    pub cycles: u64,
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DriveError {
    /// The executor hit a fatal error.
    #[error("{0}")]
    Fault(String),
    /// The watchdog fired.
    #[error("no completion after {cycles} cycles: {words_in} of {total_in} words in, {words_out} of {total_out} out (deadlock or lost words)")]
    Watchdog {
        /// Cycles run.
        cycles: u64,
        /// Input words accepted.
        words_in: usize,
        /// Input words offered in all.
        total_in: usize,
        /// Output words received.
        words_out: usize,
        /// Output words expected.
        total_out: usize,
    },
}

/// Cycles of reset before a run, as in the testbenches.
pub const RESET_CYCLES: u64 = 2;

/// Resets `dut`, streams `inputs` in and collects `n_out` output words.
pub fn run(
    dut: &mut dyn StreamDut,
    inputs: &[Vec<u64>],
    n_out: usize,
    drive: &Drive,
) -> Result<Trace, DriveError> {
    let zero = vec![0u64; compiler::dataflow::words(dut.in_bits())];
    let mut out = Vec::with_capacity(compiler::dataflow::words(dut.out_bits()));
    for _ in 0..RESET_CYCLES {
        dut.cycle(true, false, &zero, false, &mut out);
    }
    if let Some(m) = dut.fault() {
        return Err(DriveError::Fault(m));
    }
    let mut t = Trace::default();
    let mut next_in = 0;
    let mut pattern = drive.stalls.iter();
    for cycle in 0u64.. {
        if t.outputs.len() >= n_out && next_in == inputs.len() || drive.stop_at == Some(cycle) {
            t.cycles = cycle;
            return Ok(t);
        }
        if cycle >= drive.max_cycles {
            return Err(DriveError::Watchdog {
                cycles: cycle,
                words_in: next_in,
                total_in: inputs.len(),
                words_out: t.outputs.len(),
                total_out: n_out,
            });
        }
        let (offer, take) = pattern.next().unwrap_or((true, true));
        let give = offer && next_in < inputs.len();
        let data = if give { &inputs[next_in] } else { &zero };
        let p = dut.cycle(false, give, data, take, &mut out);
        if let Some(m) = dut.fault() {
            return Err(DriveError::Fault(m));
        }
        if give && p.s_ready {
            t.in_cycles.push(cycle);
            next_in += 1;
        }
        if p.m_valid && take {
            t.outputs.push(out.clone());
            t.out_cycles.push(cycle);
        }
    }
    Ok(t)
}
