//! The behaviour of every hardware block, written once.
//!
//! Each block of the dataflow (MVTU controller and datapath, sliding-window unit, max-pool, FIFO,
//! width converter, argmax, and a residual block's duplicate, sign, channel pad and add) is a state machine on bit-packed `u64` words: its registers, its
//! combinational outputs and its clock edge. Two executors run exactly this code:
//! - `sim::cycle`, the cycle-accurate model of a whole dataflow graph (fast, bit-packed);
//! - the rust-hdl leaves of `hdl`, whose `update` converts their one-bit signals to words and
//!   calls the same [`Unit`] (rust-hdl stays the container and simulator of the hierarchy).
//!
//! The Verilog of each block, printed by `hdl`, is the independent second description; the
//! co-simulation tests check it against this one cycle for cycle.
//!
//! Clocking convention (every block): `m_valid` and `m_data` are registers; `s_ready` may depend
//! combinationally on the consumer's `m_ready`. A simulator evaluates the readies from the sink
//! back to the source, then clocks the blocks from the last to the first, so that each block
//! samples its producer's outputs from before the edge. Reset is synchronous and active high.

pub mod argmax;
pub mod bits;
pub mod fifo;
pub mod mvtu;
pub mod pool;
pub mod residual;
pub mod swu;
pub mod uart;
pub mod width;

pub use argmax::Argmax;
pub use fifo::Fifo;
pub use mvtu::{Controller, Mvtu};
pub use pool::Pool;
pub use residual::{Add, ChannelPad, Duplicate, Sign};
pub use swu::Swu;
pub use uart::{UartRx, UartTx};
pub use width::WidthConverter;

/// [`Unit::sleep`] of a block whose coming edges all leave its registers as they are: as many as
/// come.
pub const FOREVER: u64 = u64::MAX;

/// A stream block with ready/valid ports: its registers and their clock edge.
///
/// ### Inputs (at each edge)
/// - `s_valid`/`s_data`: the producer's word; `m_ready`: the consumer accepts.
///
/// ### Outputs
/// - [`Unit::ready`] (`s_ready`, combinational in `m_ready`), [`Unit::valid`] (`m_valid`) and
///   [`Unit::data`] (`m_data`), both registered.
pub trait Unit {
    /// `m_valid`.
    fn valid(&self) -> bool;
    /// `m_data`, little-endian words of the output width (bits above it are 0).
    fn data(&self) -> &[u64];
    /// `s_ready` when the consumer's ready is `m_ready`.
    fn ready(&self, m_ready: bool) -> bool;
    /// One rising clock edge without reset: the registers take their next values. `s_data` is
    /// read only when `s_valid` is high (a simulator may pass an empty slice otherwise).
    fn edge(&mut self, s_valid: bool, s_data: &[u64], m_ready: bool);
    /// How many coming edges a simulator may leave out while `s_valid` and `m_ready` keep these
    /// values, applying them later with [`Unit::skip`]: edges that read no `s_data`, make no
    /// handshake on either port and change neither [`Unit::valid`], [`Unit::data`] nor
    /// `ready(m_ready)`, so that no other block can tell them from skipped ones. 0 (always safe):
    /// the next edge must run; [`FOREVER`]: every coming edge is of that kind (an empty FIFO with
    /// no input word, a stalled output register).
    ///
    /// A block that returns more than 0 for edges that change a register (a counter running
    /// through a pass) must also implement [`Unit::skip`]; the default skip only suits edges
    /// that change nothing.
    fn sleep(&self, s_valid: bool, m_ready: bool) -> u64 {
        let _ = (s_valid, m_ready);
        0
    }
    /// How many coming edges run the same whatever the inputs are at each of them: they read no
    /// `s_data` and make no handshake on either port; all but the last leave `ready(m_ready)`
    /// (for either `m_ready`), [`Unit::valid`] and [`Unit::data`] as they are, and the last may
    /// change them (an output register loading at the end of a run of internal steps, a vector's
    /// last word raising `s_ready` for the next). A simulator may leave them out without
    /// watching the inputs and apply them with [`Unit::skip`]; from the cycle after the last,
    /// the consumer sees the new outputs and the producer the new ready, as after any edge.
    /// 0 (the default): none.
    ///
    /// Where [`Unit::sleep`] ends one edge before an output register loads, this one takes
    /// that edge too, so that a simulator need not visit the unit to load it.
    fn run_alone(&self) -> u64 {
        0
    }
    /// The next input word, whenever it comes, is taken (`s_ready` is high for either
    /// `m_ready`) and changes neither `ready(m_ready)`, [`Unit::valid`] nor what the unit's
    /// edges without an input word do to its outputs: a simulator may let the unit sleep for
    /// [`Unit::sleep`]`(false, m_ready)` edges without watching `s_valid`, handing it each word
    /// at its edge with [`Unit::absorb`] and the edges without one at its wake with
    /// [`Unit::skip`] (a word written apart from the rest of the state: a window unit's row
    /// memory, a width converter's bit buffer, a max-pool's window maximum; or, with
    /// [`Unit::absorb_is_edge`], a word that moves through registers no port shows: an MVTU's
    /// stage B). `false` (the default): none is.
    fn absorbs(&self) -> bool {
        false
    }
    /// The next input word, whenever it comes, completes one output word and no more, and the
    /// unit is ready for it (`s_ready` high for either `m_ready`, [`Unit::valid`] low): taking it
    /// ([`Unit::absorb`]) raises `valid` from the next cycle and keeps the ready high while
    /// `m_ready` is (a max-pool's full output register holds its input: its ready then follows
    /// `m_ready`; a simulator hands the word over at the next cycle only to a consumer taking
    /// words asleep, whose ready is high, and visits the unit otherwise); the edge
    /// after it, with `m_ready` high, makes the output handshake, and leaves the unit with
    /// `valid` low, ready, and taking its next word asleep again (`absorbs` or `completes`):
    /// that edge's input word, if any, is the one [`Unit::absorb`] takes after the edge
    /// `edge(false, &[], true)` (a width converter: the pop, then the push). A simulator may then
    /// let the unit take that word asleep too, and hand its output word over to a consumer
    /// taking words asleep without visiting it. `false` (the default): none does.
    fn completes(&self) -> bool {
        false
    }
    /// The unit takes its next input word asleep, one way or the other: [`Unit::absorbs`] or
    /// [`Unit::completes`].
    fn takes_next_asleep(&self) -> bool {
        self.absorbs() || self.completes()
    }
    /// How [`Unit::absorb`] takes its word. `false` (the default): the word's part of its edge
    /// only (a word written apart from the rest of the state), the rest of that edge left to
    /// the wake's [`Unit::skip`] with the other edges of the sleep. `true`: the word's whole
    /// edge (a word that moves through the unit's registers: an MVTU's stage B), after the
    /// edges before it were applied: a simulator skips up to the word's edge, absorbs, and
    /// skips from the edge after it at the wake.
    fn absorb_is_edge(&self) -> bool {
        false
    }
    /// The part of an edge that takes the input word `s_data` (or the whole edge, with
    /// [`Unit::absorb_is_edge`]), while [`Unit::absorbs`] or [`Unit::completes`]: the rest of
    /// that edge is left to [`Unit::skip`]. Only called where one of them allowed it.
    fn absorb(&mut self, s_data: &[u64]) {
        let _ = s_data;
        debug_assert!(false, "absorb on a unit that absorbs no word");
    }
    /// Applies `edges` coming edges at once, at most what [`Unit::sleep`] allowed for the inputs
    /// they had, or what [`Unit::run_alone`] allowed: the registers become what those edges
    /// would have left.
    fn skip(&mut self, edges: u64) {
        let _ = edges;
    }
    /// One rising clock edge with reset high: the control registers return to 0 (memories keep
    /// their contents, as in the RTL).
    fn reset(&mut self);
}
