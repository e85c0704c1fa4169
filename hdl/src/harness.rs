//! Drives a stream block in rust-hdl's simulator: words in, words out, with random input gaps and
//! output backpressure from a seed, recording the cycle of every handshake.

use crate::bus::{self, Bus};
use crate::HdlError;
use rust_hdl::prelude::*;

/// A block with one ready/valid input stream and one output stream.
pub trait StreamBlock: Block {
    /// Clock, reset, input and output ports.
    fn ports(&mut self) -> StreamPorts<'_>;
}

/// Mutable access to a stream block's ports.
pub struct StreamPorts<'a> {
    /// Clock.
    pub clock: &'a mut Signal<In, Clock>,
    /// Synchronous reset.
    pub rst: &'a mut Signal<In, Bit>,
    /// Input data.
    pub s_data: &'a mut Bus<In>,
    /// Input valid.
    pub s_valid: &'a mut Signal<In, Bit>,
    /// Input ready.
    pub s_ready: &'a Signal<Out, Bit>,
    /// Output data.
    pub m_data: &'a Bus<Out>,
    /// Output valid.
    pub m_valid: &'a Signal<Out, Bit>,
    /// Output ready.
    pub m_ready: &'a mut Signal<In, Bit>,
}

/// Implements [`StreamBlock`] for a block with the usual port names.
#[macro_export]
macro_rules! stream_block {
    ($t:ty) => {
        impl $crate::harness::StreamBlock for $t {
            fn ports(&mut self) -> $crate::harness::StreamPorts<'_> {
                $crate::harness::StreamPorts {
                    clock: &mut self.clock,
                    rst: &mut self.rst,
                    s_data: &mut self.s_data,
                    s_valid: &mut self.s_valid,
                    s_ready: &self.s_ready,
                    m_data: &self.m_data,
                    m_valid: &self.m_valid,
                    m_ready: &mut self.m_ready,
                }
            }
        }
    };
}

pub use compiler::dataflow::traffic::Stalls;

/// What a run observed.
#[derive(Clone, Debug, Default)]
pub struct StreamRun {
    /// Output words in order.
    pub outputs: Vec<Vec<u64>>,
    /// Cycle of each output handshake (cycle 0 is the first after reset).
    pub out_cycles: Vec<u64>,
    /// Cycle of each input handshake.
    pub in_cycles: Vec<u64>,
}

fn settle<B: Block>(b: &mut B) -> Result<(), HdlError> {
    if simulate(b, 10_000) {
        Ok(())
    } else {
        Err(HdlError::Check("the circuit did not settle (combinational loop?)".into()))
    }
}

fn cycle<B: StreamBlock>(b: &mut B, clock: bool) -> Result<(), HdlError> {
    b.ports().clock.next = Clock { clk: clock };
    settle(b)
}

/// Resets `block`, then streams `inputs` through it until `n_out` words came out or
/// `max_cycles` passed (an error: a deadlock or a lost word).
pub fn run<B: StreamBlock>(
    block: &mut B,
    inputs: &[Vec<u64>],
    n_out: usize,
    stalls: Stalls,
    max_cycles: u64,
) -> Result<StreamRun, HdlError> {
    block.connect_all();
    check_all(block).map_err(|e| HdlError::Check(format!("{e:?}")))?;
    let pattern = stalls.pattern(max_cycles as usize);
    let mut r = StreamRun::default();
    {
        let p = block.ports();
        p.rst.next = true;
        p.s_valid.next = false;
        p.m_ready.next = false;
    }
    for _ in 0..2 {
        cycle(block, false)?;
        cycle(block, true)?;
    }
    block.ports().rst.next = false;
    let mut next_in = 0;
    for (t, &(offer, take)) in pattern.iter().enumerate() {
        let t = t as u64;
        let give = next_in < inputs.len() && offer;
        {
            let p = block.ports();
            p.s_valid.next = give;
            if give {
                bus::write(p.s_data, &inputs[next_in]);
            }
            p.m_ready.next = take;
        }
        cycle(block, false)?;
        let p = block.ports();
        if p.s_valid.val() && p.s_ready.val() {
            r.in_cycles.push(t);
            next_in += 1;
        }
        if p.m_valid.val() && p.m_ready.val() {
            r.outputs.push(bus::read(p.m_data));
            r.out_cycles.push(t);
        }
        cycle(block, true)?;
        if r.outputs.len() >= n_out && next_in == inputs.len() {
            return Ok(r);
        }
    }
    Err(HdlError::Check(format!(
        "no progress after {max_cycles} cycles: {} of {} words in, {} of {n_out} out",
        next_in,
        inputs.len(),
        r.outputs.len()
    )))
}
