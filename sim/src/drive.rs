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
    /// How many cycles, from the one about to run on, with these inputs held and reset low,
    /// change neither port and make no handshake, so that a driver may run them at once with
    /// [`StreamDut::pass`] (a pipeline whose every block waits for a timer of its own). 0 (the
    /// default, always safe): the next cycle must be run with [`StreamDut::cycle`].
    fn quiet(&self, s_valid: bool, m_ready: bool) -> u64 {
        let _ = (s_valid, m_ready);
        0
    }
    /// Runs `cycles` cycles at once, at most what [`StreamDut::quiet`] allowed for the inputs
    /// they have. A device that overrides `quiet` overrides this too: the default, for devices
    /// whose `quiet` is always 0, is never called with more than 0.
    fn pass(&mut self, cycles: u64) {
        debug_assert_eq!(cycles, 0, "StreamDut::quiet allowed cycles that pass does not run");
    }
}

/// The cycles from the present one on that a driver may run at once (see [`StreamDut::quiet`]):
/// at most `limit`, and only while the stall pattern keeps the inputs `(offer, take)` the present
/// cycle drew; takes the pattern's draws of the cycles after the present one that it counts.
fn quiet_run(
    dut: &dyn StreamDut,
    give: bool,
    (offer, take): (bool, bool),
    pattern: &mut std::iter::Peekable<impl Iterator<Item = (bool, bool)>>,
    limit: u64,
) -> u64 {
    let q = dut.quiet(give, take).min(limit);
    if q == 0 {
        return 0;
    }
    let mut n = 1;
    while n < q && pattern.next_if_eq(&(offer, take)).is_some() {
        n += 1;
    }
    n
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

/// Holds `dut` in reset for [`RESET_CYCLES`]; returns an all-zero input word and an output buffer
/// sized for its ports.
fn reset(dut: &mut dyn StreamDut) -> Result<(Vec<u64>, Vec<u64>), DriveError> {
    let zero = vec![0u64; compiler::dataflow::words(dut.in_bits())];
    let mut out = Vec::with_capacity(compiler::dataflow::words(dut.out_bits()));
    for _ in 0..RESET_CYCLES {
        dut.cycle(true, false, &zero, false, &mut out);
    }
    match dut.fault() {
        Some(m) => Err(DriveError::Fault(m)),
        None => Ok((zero, out)),
    }
}

/// Resets `dut`, streams `inputs` in and collects `n_out` output words.
pub fn run(
    dut: &mut dyn StreamDut,
    inputs: &[Vec<u64>],
    n_out: usize,
    drive: &Drive,
) -> Result<Trace, DriveError> {
    let (zero, mut out) = reset(dut)?;
    let mut t = Trace::default();
    let mut next_in = 0;
    let mut pattern = drive.stalls.iter().peekable();
    let mut cycle = 0u64;
    loop {
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
        let draw = pattern.next().unwrap_or((true, true));
        let give = draw.0 && next_in < inputs.len();
        // Cycles where nothing happens at the ports run at once, stopping where the run would
        // stop or the watchdog fire.
        let limit = drive.max_cycles.min(drive.stop_at.unwrap_or(u64::MAX)) - cycle;
        let quiet = quiet_run(dut, give, draw, &mut pattern, limit);
        if quiet > 0 {
            dut.pass(quiet);
            cycle += quiet;
            continue;
        }
        let take = draw.1;
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
        cycle += 1;
    }
}

/// How to drive a streaming run ([`run_streaming`]).
#[derive(Copy, Clone, Debug)]
pub struct StreamDrive {
    /// Input gaps and output backpressure.
    pub stalls: Stalls,
    /// The watchdog: this many cycles without any handshake while words are still due is a
    /// deadlock (or a lost word).
    pub idle_limit: u64,
}

/// What a streaming run observed: counts and the few cycles the measurements need, never a
/// per-word record, so its memory does not grow with the number of frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Frames run.
    pub frames: usize,
    /// Output words compared.
    pub words: usize,
    /// Output words that differ from the expected ones.
    pub mismatches: usize,
    /// The first differing word: `(index in the run, got, expected)`.
    pub first_mismatch: Option<(usize, Vec<u64>, Vec<u64>)>,
    /// Cycle of the first input handshake.
    pub first_in_cycle: Option<u64>,
    /// Cycles run.
    pub cycles: u64,
}

/// One frame that has left the design in a streaming run ([`run_streaming`]).
#[derive(Debug)]
pub struct FrameDone<'a> {
    /// Frame index in the run.
    pub index: usize,
    /// Cycle of its first input handshake.
    pub first_in: u64,
    /// Cycle of its last output handshake.
    pub last_out: u64,
    /// The words the design produced for it (whatever was expected).
    pub outputs: &'a [Vec<u64>],
}

impl FrameDone<'_> {
    /// Cycles from the first input word to the last output word, both included.
    pub fn latency(&self) -> u64 {
        self.last_out - self.first_in + 1
    }
}

/// Resets `dut` and streams `frames` through it: each item is one frame's input words and the
/// output words expected from it, pulled only when the design can take its first word, so the
/// run holds a frame or two at a time. `frame_done` hears each frame as its last output word
/// leaves: its cycles and the words the design produced. Gives the same cycles as [`run`] on the
/// same words and stalls.
pub fn run_streaming<E>(
    dut: &mut dyn StreamDut,
    frames: &mut dyn Iterator<Item = Result<(Words, Words), E>>,
    drive: &StreamDrive,
    frame_done: &mut dyn FnMut(&FrameDone),
) -> Result<Result<StreamStats, DriveError>, E> {
    use std::collections::VecDeque;
    // Per frame not yet finished: input words still to send, and the cycle of its first one.
    let mut feeding: VecDeque<(usize, Option<u64>)> = VecDeque::new();
    let mut produced: Vec<Vec<u64>> = Vec::new();
    let (zero, mut out) = match reset(dut) {
        Ok(z) => z,
        Err(e) => return Ok(Err(e)),
    };
    let mut st = StreamStats::default();
    let (mut inputs, mut expected): (VecDeque<Vec<u64>>, VecDeque<Vec<u64>>) = Default::default();
    // Output words still due per frame, oldest first.
    let mut due: VecDeque<usize> = VecDeque::new();
    let (mut words_in, mut exhausted, mut last_progress) = (0usize, false, 0u64);
    let mut pattern = drive.stalls.iter().peekable();
    let mut cycle = 0u64;
    loop {
        while inputs.is_empty() && !exhausted {
            match frames.next() {
                None => exhausted = true,
                Some(f) => {
                    let (i, e) = f?;
                    feeding.push_back((i.len(), None));
                    due.push_back(e.len());
                    inputs.extend(i);
                    expected.extend(e);
                    st.frames += 1;
                }
            }
        }
        if inputs.is_empty() && exhausted && expected.is_empty() {
            st.cycles = cycle;
            return Ok(Ok(st));
        }
        if cycle - last_progress >= drive.idle_limit {
            return Ok(Err(DriveError::Watchdog {
                cycles: cycle,
                words_in,
                total_in: words_in + inputs.len(),
                words_out: st.words,
                total_out: st.words + expected.len(),
            }));
        }
        let draw = pattern.next().unwrap_or((true, true));
        let give = draw.0 && !inputs.is_empty();
        // Cycles where nothing happens at the ports run at once, up to the watchdog.
        let quiet = quiet_run(dut, give, draw, &mut pattern, drive.idle_limit - (cycle - last_progress));
        if quiet > 0 {
            dut.pass(quiet);
            cycle += quiet;
            continue;
        }
        let take = draw.1;
        let p = dut.cycle(false, give, inputs.front().filter(|_| give).unwrap_or(&zero), take, &mut out);
        if let Some(m) = dut.fault() {
            return Ok(Err(DriveError::Fault(m)));
        }
        if give && p.s_ready {
            st.first_in_cycle.get_or_insert(cycle);
            // The oldest frame with words left to send owns this one.
            if let Some(f) = feeding.iter_mut().find(|f| f.0 > 0) {
                f.1.get_or_insert(cycle);
                f.0 -= 1;
            }
            inputs.pop_front();
            words_in += 1;
            last_progress = cycle;
        }
        if p.m_valid && take {
            last_progress = cycle;
            match expected.pop_front() {
                Some(want) => {
                    if want != out {
                        st.mismatches += 1;
                        if st.first_mismatch.is_none() {
                            st.first_mismatch = Some((st.words, out.clone(), want));
                        }
                    }
                    produced.push(out.clone());
                    if let Some(d) = due.front_mut() {
                        *d -= 1;
                        if *d == 0 {
                            due.pop_front();
                            let first_in = feeding.pop_front().and_then(|f| f.1).unwrap_or(cycle);
                            frame_done(&FrameDone {
                                index: st.frames - due.len() - 1,
                                first_in,
                                last_out: cycle,
                                outputs: &produced,
                            });
                            produced.clear();
                        }
                    }
                }
                None => {
                    // A word nobody asked for: a duplicated or invented output.
                    st.mismatches += 1;
                    if st.first_mismatch.is_none() {
                        st.first_mismatch = Some((st.words, out.clone(), Vec::new()));
                    }
                }
            }
            st.words += 1;
        }
        cycle += 1;
    }
}
