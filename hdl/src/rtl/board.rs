//! A board's top level around an accelerator: a UART receiver takes a frame's pixel bytes, the
//! input quantizer (a 256-entry table) turns each into the first layer's element, a packer fills
//! the accelerator's input words, and the accelerator's output words leave as bytes through a
//! UART transmitter.
//!
//! Framing (8N1, least significant bit first, at `clks_per_bit` clocks a bit):
//! - in: the frame's pixels, one byte each, in the model's (h, w, c) order, back to back or with
//!   gaps; a frame is complete after `frame_len` bytes.
//! - out: each output word of the accelerator as `ceil(out_bits / 8)` bytes, least significant
//!   first: the class (one byte) for a design that ends in an argmax, else every score word.
//! - errors: a framing error (a stop bit of 0), a gap of more than `timeout` clocks inside a
//!   frame, or a byte the input queue cannot take (a whole frame's elements still waiting for
//!   the accelerator) abandon the partial frame: the accelerator and the queue are reset (which
//!   empties them, words of earlier frames included) and the byte [`ERROR_BYTE`] is sent; the
//!   next byte starts a new frame.
//!
//! Bytes go through the quantizer into a queue of one frame's elements (block RAM,
//! [`QUEUE_RAM`]); the packer behind it fills the accelerator's input words from the queue.
//!
//! - weights (designs with weights in SPRAM only, which the configuration image cannot hold):
//!   after power-on the board first expects [`LOAD_MAGIC`], then the weight image
//!   ([`super::loader::image`]: every SPRAM word in the loader's order, each `ceil(bits / 8)`
//!   bytes of the widest memory, least significant first); it answers [`LOAD_ACK`] once the last
//!   word is written, and only then takes frames. Another first byte, a framing error or a
//!   silence of `timeout` clocks inside the image answers [`ERROR_BYTE`] and waits for the magic
//!   again. Frames sent before the acknowledgement would be read as the image.
//!
//! A power-on reset holds everything in reset for the first 15 clocks (iCE40 registers start at
//! their initial values, so no reset pin is needed).

use super::builder::{concat, cond, if_, if_else, lit, nb, Expr, Module, Stmt};
pub use super::loader::{LOAD_ACK, LOAD_MAGIC};
use super::{fifo, Design};
use crate::words::ubits;
use crate::{HdlError, MemStyle};

/// The byte the board sends when it abandons a partial frame.
pub const ERROR_BYTE: u8 = 0xEE;

/// Where the board top's one-frame input queue (`frame_len` elements of `elem_bits`) lives:
/// block RAM, on every board (`dataflow::cost::ice40::board_top` counts it there).
pub const QUEUE_RAM: MemStyle = MemStyle::Block;

/// The input queue's handshake flags: registered, as the legalizer makes every iCE40 FIFO's
/// (`legalize::flags`), so that its count's compares stay off the packer's and the UART's
/// paths. One constant with the cost model, which counts their flip-flops.
pub const QUEUE_FLAGS: compiler::dataflow::Flags = compiler::dataflow::cost::ice40::BOARD_QUEUE_FLAGS;

/// What the board top needs to know about its accelerator and its UART.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardParams {
    /// Clocks per UART bit (the clock over the baud rate), at least 4.
    pub clks_per_bit: u64,
    /// Pixel bytes per frame.
    pub frame_len: usize,
    /// Bits of one quantized input element (1, or 8 after an 8-bit quantizer).
    pub elem_bits: usize,
    /// The accelerator's input word width (whole elements).
    pub in_bits: usize,
    /// The accelerator's output word width.
    pub out_bits: usize,
    /// The input quantizer: element of each pixel byte, low `elem_bits` bits.
    pub table: Vec<u64>,
    /// Clocks without a byte after which a partial frame is abandoned.
    pub timeout: u64,
    /// Words of each SPRAM weight memory in loading order ([`super::loader`]); empty for a
    /// design without SPRAM, whose framing is then exactly the one above.
    pub spram_words: Vec<usize>,
    /// Bits of the widest SPRAM word (the loader's `wload_data`); 0 without SPRAM.
    pub spram_bits: usize,
}

impl BoardParams {
    /// Elements per input word.
    pub fn elems_per_word(&self) -> usize {
        self.in_bits / self.elem_bits
    }

    /// Bytes per output word.
    pub fn out_bytes(&self) -> usize {
        self.out_bits.div_ceil(8)
    }

    fn check(&self) -> Result<(), HdlError> {
        let bad = |m: String| Err(HdlError::Check(format!("board: {m}")));
        if self.clks_per_bit < 4 {
            return bad(format!("{} clocks per UART bit; at least 4 are needed", self.clks_per_bit));
        }
        if self.elem_bits == 0
            || self.elem_bits > 8
            || self.in_bits < self.elem_bits
            || self.in_bits % self.elem_bits != 0
        {
            return bad(format!("{}-bit words of {}-bit elements", self.in_bits, self.elem_bits));
        }
        if self.frame_len == 0 || self.table.len() != 256 || self.out_bits == 0 || self.timeout == 0 {
            return bad("an empty frame, a table without 256 entries or an empty output".into());
        }
        if self.spram_words.contains(&0) || self.spram_words.is_empty() != (self.spram_bits == 0) {
            return bad("an empty SPRAM memory, or SPRAM memories without a word width".into());
        }
        Ok(())
    }
}

/// The UART receiver's module name under `prefix`.
pub fn rx_name(prefix: &str, clks_per_bit: u64) -> String {
    format!("{prefix}_uart_rx_{clks_per_bit}")
}

/// The UART transmitter's module name under `prefix`.
pub fn tx_name(prefix: &str, clks_per_bit: u64) -> String {
    format!("{prefix}_uart_tx_{clks_per_bit}")
}

/// Adds the board top `{accel}_board` around the accelerator module `accel` (already in `d`,
/// with its AXI4-Stream style ports) and its quantizer table file; returns the board top's name.
pub fn define(d: &mut Design, accel: &str, p: &BoardParams) -> Result<String, HdlError> {
    p.check()?;
    let rx = d.define(rx_name(accel, p.clks_per_bit), |_, n| uart_rx(n, p.clks_per_bit));
    let tx = d.define(tx_name(accel, p.clks_per_bit), |_, n| uart_tx(n, p.clks_per_bit));
    // One frame of quantized elements, before the packer, in block RAM (every iCE40 part has
    // EBRs; the board top is only built for iCE40 boards): words of the accelerator's input
    // width in flip-flops took most of the board top's cells and its slowest path (the write
    // pointer fanning out to every word's clock enable). Its flags are registered
    // ([`QUEUE_FLAGS`]).
    let fifo = fifo::define_node(d, accel, p.elem_bits, p.frame_len, QUEUE_RAM, QUEUE_FLAGS);
    let table_file = format!("{accel}_board_table.mem");
    let text: String = p.table.iter().map(|v| format!("{:x}\n", v & ((1u64 << p.elem_bits) - 1))).collect();
    d.file(table_file.clone(), text);
    let name = format!("{accel}_board");
    Ok(d.define(name, |_, n| board(n, accel, &rx, &tx, &fifo, &table_file, p)))
}

/// A design whose top module `top` is the UART receiver at `cpb` clocks a bit (ports `clk`, `rst`,
/// `rx`, `valid`, `data`, `error`; the behaviour: `blocks::UartRx`).
pub fn rx_design(top: &str, cpb: u64) -> Design {
    let mut d = Design::new(top);
    d.define(top.into(), |_, n| uart_rx(n, cpb));
    d
}

/// A design whose top module `top` is the UART transmitter at `cpb` clocks a bit (ports `clk`,
/// `rst`, `s_valid`, `s_data`, `s_ready`, `tx`; the behaviour: `blocks::UartTx`).
pub fn tx_design(top: &str, cpb: u64) -> Design {
    let mut d = Design::new(top);
    d.define(top.into(), |_, n| uart_tx(n, cpb));
    d
}

/// 8N1 receiver (the behaviour: `blocks::UartRx`): a two-flop synchronizer, the start bit checked at its middle, data bits and the
/// stop bit sampled at theirs. `valid` (one clock) with the byte, or `error` (one clock) for a
/// stop bit of 0.
fn uart_rx(name: &str, cpb: u64) -> Module {
    let cw = ubits(cpb);
    let mut m = Module::new(name);
    let (clk, rst, rx) = (m.input("clk"), m.input("rst"), m.input("rx"));
    let _ = clk;
    let valid_o = m.output("valid");
    let data_o = m.output_bus("data", 8);
    let error_o = m.output("error");
    let s0 = m.reg1("s0", true);
    let s1 = m.reg1("s1", true);
    // 0 idle, 1 start bit, 2 data bits, 3 stop bit.
    let state = m.reg("state", 2, Some(0));
    let cnt = m.reg("cnt", cw, Some(0));
    let idx = m.reg("idx", 3, Some(0));
    let shift = m.reg("shift", 8, Some(0));
    let valid = m.reg1("valid_r", false);
    let error = m.reg1("error_r", false);
    let st = |v: u64| state.clone().eq(lit(2, v));
    let at = |v: u64| cnt.clone().eq(lit(cw, v));
    let zero = || nb(cnt.clone(), lit(cw, 0));
    let inc = || nb(cnt.clone(), cnt.clone().plus(lit(cw, 1)));
    m.always(
        "clk",
        vec![
            nb(s0.clone(), rx),
            nb(s1.clone(), s0.clone()),
            nb(valid.clone(), lit(1, 0)),
            nb(error.clone(), lit(1, 0)),
            if_else(
                rst,
                vec![nb(state.clone(), lit(2, 0)), zero()],
                vec![
                    if_(st(0).land(s1.clone().lnot()), vec![nb(state.clone(), lit(2, 1)), zero()]),
                    if_(
                        st(1),
                        vec![if_else(
                            at(cpb / 2 - 1),
                            vec![
                                zero(),
                                nb(idx.clone(), lit(3, 0)),
                                // A start bit gone high by its middle was a glitch.
                                nb(state.clone(), cond(s1.clone(), lit(2, 0), lit(2, 2))),
                            ],
                            vec![inc()],
                        )],
                    ),
                    if_(
                        st(2),
                        vec![if_else(
                            at(cpb - 1),
                            vec![
                                zero(),
                                nb(shift.clone(), concat(vec![s1.clone(), shift.clone().slice(7, 1)])),
                                nb(idx.clone(), idx.clone().plus(lit(3, 1))),
                                if_(idx.clone().eq(lit(3, 7)), vec![nb(state.clone(), lit(2, 3))]),
                            ],
                            vec![inc()],
                        )],
                    ),
                    if_(
                        st(3),
                        vec![if_else(
                            at(cpb - 1),
                            vec![
                                zero(),
                                nb(state.clone(), lit(2, 0)),
                                nb(valid.clone(), s1.clone()),
                                nb(error.clone(), s1.lnot()),
                            ],
                            vec![inc()],
                        )],
                    ),
                ],
            ),
        ],
    );
    m.assign(valid_o, valid);
    m.assign(data_o, shift);
    m.assign(error_o, error);
    m
}

/// 8N1 transmitter with a ready/valid byte input (the behaviour: `blocks::UartTx`): start bit,
/// eight data bits, stop bit.
fn uart_tx(name: &str, cpb: u64) -> Module {
    let cw = ubits(cpb);
    let mut m = Module::new(name);
    let (clk, rst) = (m.input("clk"), m.input("rst"));
    let _ = clk;
    let s_valid = m.input("s_valid");
    let s_data = m.input_bus("s_data", 8);
    let s_ready = m.output("s_ready");
    let tx = m.output("tx");
    let shift = m.reg("shift", 10, Some(0x3ff));
    let left = m.reg("left", 4, Some(0));
    let cnt = m.reg("cnt", cw, Some(0));
    let idle = m.wire1("idle", left.clone().eq(lit(4, 0)));
    m.always(
        "clk",
        vec![if_else(
            rst,
            vec![nb(left.clone(), lit(4, 0)), nb(shift.clone(), lit(10, 0x3ff))],
            vec![if_else(
                idle.clone(),
                vec![if_(
                    s_valid,
                    vec![
                        nb(shift.clone(), concat(vec![lit(1, 1), s_data, lit(1, 0)])),
                        nb(left.clone(), lit(4, 10)),
                        nb(cnt.clone(), lit(cw, 0)),
                    ],
                )],
                vec![if_else(
                    cnt.clone().eq(lit(cw, cpb - 1)),
                    vec![
                        nb(cnt.clone(), lit(cw, 0)),
                        nb(shift.clone(), concat(vec![lit(1, 1), shift.clone().slice(9, 1)])),
                        nb(left.clone(), left.minus(lit(4, 1))),
                    ],
                    vec![nb(cnt.clone(), cnt.plus(lit(cw, 1)))],
                )],
            )],
        )],
    );
    m.assign(s_ready, idle.clone());
    m.assign(tx, cond(idle, lit(1, 1), shift.bit(0)));
    m
}

fn board(name: &str, accel: &str, rx: &str, tx: &str, fifo: &str, table: &str, p: &BoardParams) -> Module {
    let (eb, iw, ow) = (p.elem_bits, p.in_bits, p.out_bits);
    let (epw, ob) = (p.elems_per_word(), p.out_bytes());
    let (kw, pw, tw, lw) =
        (ubits(epw as u64 - 1), ubits(p.frame_len as u64), ubits(p.timeout), ubits(ob as u64));
    let mut m = Module::new(name);
    let clk = m.input("clk");
    let uart_rx = m.input("uart_rx");
    let uart_tx = m.output("uart_tx");
    m.comment("Power-on reset: 15 clocks after configuration.");
    let por = m.reg("por", 4, Some(0));
    let rst = m.wire1("rst", por.clone().ne(lit(4, 15)));
    m.always("clk", vec![if_(rst.clone(), vec![nb(por.clone(), por.clone().plus(lit(4, 1)))])]);
    // Receiver.
    let (rx_valid, rx_data, rx_error) =
        (m.net("rx_valid", None), m.net("rx_data", Some(8)), m.net("rx_error", None));
    m.instance(
        rx,
        "rx",
        vec![
            ("clk", clk.clone()),
            ("rst", rst.clone()),
            ("rx", uart_rx),
            ("valid", rx_valid.clone()),
            ("data", rx_data.clone()),
            ("error", rx_error.clone()),
        ],
    );
    m.comment("The input quantizer: element of each pixel byte.");
    let tbl = m.memory("qtable", eb, 256, None, Some(table));
    let elem = m.wire("elem", eb, tbl.at(rx_data.clone()));
    m.comment("The packer behind the queue: elements into input words, a frame at a time.");
    let word = m.reg("word", iw, Some(0));
    let k = m.reg("k", kw, Some(0));
    let opix = m.reg("opix", pw, Some(0));
    let full = m.reg1("full", false);
    let acc_s_ready = m.net("acc_s_ready", None);
    m.comment("Framing: the pixel count of the frame being received and the silence inside it.");
    let pix = m.reg("pix", pw, Some(0));
    let idle = m.reg("idle", tw, Some(0));
    let abandon = m.reg1("abandon", false);
    let err_pending = m.reg1("err_pending", false);
    let loader = Loader::new(&mut m, p, &rx_data);
    // The accelerator waits in reset while its weights arrive (its memories have no reset).
    // The reset of the accelerator, the queue and the packer is registered, a clock after its
    // causes: as a gate it began the board's slowest path (the power-on count or the loader's
    // state through it to the queue's read address and bypass compare), and no byte arrives
    // within a clock of an abandon, the power-on reset or the last weight.
    let acc_rst_next = match &loader {
        Some(l) => rst.clone().lor(abandon.clone()).lor(l.loading.clone()),
        None => rst.clone().lor(abandon.clone()),
    };
    let acc_rst = m.reg1("acc_rst", true);
    m.always("clk", vec![nb(acc_rst.clone(), acc_rst_next)]);
    let (q_ready, q_valid, q_data) =
        (m.net("q_ready", None), m.net("q_valid", None), m.net("q_data", Some(eb)));
    let overflow = m.wire1("overflow", rx_valid.clone().land(q_ready.clone().lnot()));
    let timed_out = m.wire1("timed_out", idle.clone().eq(lit(tw, p.timeout)));
    let last_pix = m.wire1("last_pix", pix.clone().eq(lit(pw, p.frame_len as u64 - 1)));
    let on_byte = vec![
        nb(idle.clone(), lit(tw, 0)),
        nb(pix.clone(), cond(last_pix.clone(), lit(pw, 0), pix.clone().plus(lit(pw, 1)))),
    ];
    let clear = vec![nb(pix.clone(), lit(pw, 0)), nb(idle.clone(), lit(tw, 0))];
    let mut on_abandon = clear.clone();
    on_abandon.push(nb(abandon.clone(), lit(1, 0)));
    // The output serializer's state, advanced below.
    let obuf = m.reg("obuf", 8 * ob, Some(0));
    let left = m.reg("left", lw, Some(0));
    let (tx_ready, m_valid, m_data) =
        (m.net("tx_ready", None), m.net("m_valid", None), m.net("m_data", Some(ow)));
    // An error byte first, then the loader's acknowledgement, then output words.
    let urgent = match &loader {
        Some(l) => err_pending.clone().lor(l.ack.clone()),
        None => err_pending.clone(),
    };
    let m_ready = m.wire1("m_ready", left.clone().eq(lit(lw, 0)).land(urgent.clone().lnot()));
    let tx_valid = m.wire1("tx_valid", left.clone().ne(lit(lw, 0)).lor(urgent));
    let out_byte = match &loader {
        Some(l) => cond(l.ack.clone(), lit(8, u64::from(LOAD_ACK)), obuf.clone().slice(7, 0)),
        None => obuf.clone().slice(7, 0),
    };
    let tx_data = m.wire("tx_data", 8, cond(err_pending.clone(), lit(8, u64::from(ERROR_BYTE)), out_byte));
    let shifted = if ob > 1 { concat(vec![lit(8, 0), obuf.clone().slice(8 * ob - 1, 8)]) } else { lit(8, 0) };
    let padded = if 8 * ob > ow { concat(vec![lit(8 * ob - ow, 0), m_data.clone()]) } else { m_data.clone() };
    m.always(
        "clk",
        vec![if_else(
            rst.clone(),
            {
                let mut v = clear.clone();
                v.extend([
                    nb(abandon.clone(), lit(1, 0)),
                    nb(err_pending.clone(), lit(1, 0)),
                    nb(left.clone(), lit(lw, 0)),
                ]);
                if let Some(l) = &loader {
                    v.extend(l.restart());
                    v.push(nb(l.loading.clone(), lit(1, 1)));
                    v.push(nb(l.ack.clone(), lit(1, 0)));
                }
                v
            },
            vec![
                {
                    let framing = vec![
                        if_(rx_valid.clone(), on_byte),
                        if_(
                            pix.clone().ne(lit(pw, 0)).land(rx_valid.clone().lnot()),
                            vec![nb(idle.clone(), idle.clone().plus(lit(tw, 1)))],
                        ),
                        if_(
                            rx_error.clone().lor(timed_out).lor(overflow),
                            vec![nb(abandon.clone(), lit(1, 1)), nb(err_pending.clone(), lit(1, 1))],
                        ),
                    ];
                    let running = match &loader {
                        // A write lasts one clock, the last one too: a write enable left high
                        // after loading would hold that memory's port and stop its reads.
                        Some(l) => vec![
                            nb(l.we.clone(), lit(1, 0)),
                            if_else(
                                l.loading.clone(),
                                l.load(&rx_valid, &rx_data, &rx_error, &err_pending, p),
                                framing,
                            ),
                        ],
                        None => framing,
                    };
                    if_else(abandon.clone(), on_abandon, running)
                },
                if_(
                    m_valid.clone().land(m_ready.clone()),
                    vec![nb(obuf.clone(), padded), nb(left.clone(), lit(lw, ob as u64))],
                ),
                if_(
                    tx_valid.clone().land(tx_ready.clone()),
                    vec![if_else(
                        err_pending.clone(),
                        vec![nb(err_pending.clone(), lit(1, 0))],
                        match &loader {
                            Some(l) => vec![if_else(
                                l.ack.clone(),
                                vec![nb(l.ack.clone(), lit(1, 0))],
                                vec![nb(obuf.clone(), shifted), nb(left.clone(), left.minus(lit(lw, 1)))],
                            )],
                            None => vec![nb(obuf.clone(), shifted), nb(left.clone(), left.minus(lit(lw, 1)))],
                        },
                    )],
                ),
            ],
        )],
    );
    // Every byte goes into the queue: while the weights load or a frame is abandoned the queue
    // is held in reset (`acc_rst`), which drops it.
    let q_take = m.wire1("q_take", full.clone().lnot());
    m.instance(
        fifo,
        "inq",
        vec![
            ("clock", clk.clone()),
            ("rst", acc_rst.clone()),
            ("s_valid", rx_valid.clone()),
            ("s_data", elem),
            ("s_ready", q_ready),
            ("m_valid", q_valid.clone()),
            ("m_data", q_data.clone()),
            ("m_ready", q_take),
        ],
    );
    m.always("clk", pack(&acc_rst, &acc_s_ready, &q_valid, &q_data, &word, &k, &opix, &full, p));
    let mut conns = vec![
        ("clk", clk.clone()),
        ("rst", acc_rst),
        ("s_axis_tdata", word),
        ("s_axis_tvalid", full),
        ("s_axis_tready", acc_s_ready),
        ("m_axis_tdata", m_data),
        ("m_axis_tvalid", m_valid),
        ("m_axis_tready", m_ready),
    ];
    if let Some(l) = &loader {
        conns.extend([
            ("wload_we", l.we.clone()),
            ("wload_sel", l.wsel.clone()),
            ("wload_addr", l.waddr.clone()),
            ("wload_data", l.wdata.clone()),
        ]);
    }
    m.instance(accel, "accel", conns);
    m.instance(
        tx,
        "tx",
        vec![
            ("clk", clk),
            ("rst", rst),
            ("s_valid", tx_valid),
            ("s_data", tx_data),
            ("s_ready", tx_ready),
            ("tx", uart_tx),
        ],
    );
    m
}

/// The packer's clock (reset with the accelerator): a complete word waits in `word` (`full`)
/// until the accelerator takes it; only an empty word takes the queue's head, into slot `k`,
/// and the last slot or the frame's last element completes it. The first element of a word
/// clears the other slots, so that a frame's last word has zeros past its elements and the
/// accelerator's ready reaches nothing but `full` (it ends the accelerator's ready chain,
/// which had run on into every bit's clock enable).
#[allow(clippy::too_many_arguments)]
fn pack(
    rst: &Expr,
    acc_ready: &Expr,
    q_valid: &Expr,
    q_data: &Expr,
    word: &Expr,
    k: &Expr,
    opix: &Expr,
    full: &Expr,
    p: &BoardParams,
) -> Vec<Stmt> {
    let (eb, iw, epw) = (p.elem_bits, p.in_bits, p.elems_per_word());
    let (kw, pw) = (ubits(epw as u64 - 1), ubits(p.frame_len as u64));
    let last_pix = opix.clone().eq(lit(pw, p.frame_len as u64 - 1));
    let last = k.clone().eq(lit(kw, epw as u64 - 1)).lor(last_pix.clone());
    let first = if iw > eb { concat(vec![lit(iw - eb, 0), q_data.clone()]) } else { q_data.clone() };
    let mut take: Vec<Stmt> = (0..epw)
        .map(|q| {
            let slot = match q {
                0 => nb(word.clone(), first.clone()),
                _ => nb(word.clone().slice(q * eb + eb - 1, q * eb), q_data.clone()),
            };
            if_(k.clone().eq(lit(kw, q as u64)), vec![slot])
        })
        .collect();
    take.extend([
        nb(k.clone(), cond(last.clone(), lit(kw, 0), k.clone().plus(lit(kw, 1)))),
        nb(opix.clone(), cond(last_pix, lit(pw, 0), opix.clone().plus(lit(pw, 1)))),
        if_(last, vec![nb(full.clone(), lit(1, 1))]),
    ]);
    vec![if_else(
        rst.clone(),
        vec![nb(k.clone(), lit(kw, 0)), nb(opix.clone(), lit(pw, 0)), nb(full.clone(), lit(1, 0))],
        vec![if_else(
            full.clone(),
            vec![if_(acc_ready.clone(), vec![nb(full.clone(), lit(1, 0))])],
            vec![if_(q_valid.clone(), take)],
        )],
    )]
}

/// The weight loader's registers: where the next word goes, the word being assembled, and the
/// registered write it hands the accelerator (`wload_*`).
struct Loader {
    loading: Expr,
    started: Expr,
    ack: Expr,
    byte: Expr,
    word: Expr,
    next: Expr,
    sel: Expr,
    addr: Expr,
    idle: Expr,
    we: Expr,
    wsel: Expr,
    waddr: Expr,
    wdata: Expr,
    sel_bits: usize,
    addr_bits: usize,
    byte_bits: usize,
    idle_bits: usize,
    word_bytes: usize,
}

impl Loader {
    fn new(m: &mut Module, p: &BoardParams, rx_data: &Expr) -> Option<Loader> {
        if p.spram_words.is_empty() {
            return None;
        }
        let n = p.spram_words.len();
        let word_bytes = p.spram_bits.div_ceil(8);
        let deepest = p.spram_words.iter().copied().max().unwrap_or(1);
        let (sel_bits, addr_bits) = (ubits(n as u64 - 1), ubits(deepest as u64 - 1));
        let (byte_bits, idle_bits) = (ubits(word_bytes as u64 - 1), ubits(p.timeout));
        m.comment("The SPRAM weight loader: the image arrives over the UART before any frame.");
        let word = m.reg("load_word", 8 * word_bytes, Some(0));
        // Bytes arrive least significant first: each shifts in from the top.
        let next = if word_bytes > 1 {
            concat(vec![rx_data.clone(), word.clone().slice(8 * word_bytes - 1, 8)])
        } else {
            rx_data.clone()
        };
        let next = m.wire("load_next", 8 * word_bytes, next);
        Some(Loader {
            loading: m.reg1("loading", true),
            started: m.reg1("load_started", false),
            ack: m.reg1("load_ack", false),
            byte: m.reg("load_byte", byte_bits, Some(0)),
            word,
            next,
            sel: m.reg("load_sel", sel_bits, Some(0)),
            addr: m.reg("load_addr", addr_bits, Some(0)),
            idle: m.reg("load_idle", idle_bits, Some(0)),
            we: m.reg1("wload_we", false),
            wsel: m.reg("wload_sel", sel_bits, Some(0)),
            waddr: m.reg("wload_addr", addr_bits, Some(0)),
            wdata: m.reg("wload_data", p.spram_bits, Some(0)),
            sel_bits,
            addr_bits,
            byte_bits,
            idle_bits,
            word_bytes,
        })
    }

    /// Back to waiting for the magic byte.
    fn restart(&self) -> Vec<Stmt> {
        vec![
            nb(self.started.clone(), lit(1, 0)),
            nb(self.byte.clone(), lit(self.byte_bits, 0)),
            nb(self.sel.clone(), lit(self.sel_bits, 0)),
            nb(self.addr.clone(), lit(self.addr_bits, 0)),
            nb(self.idle.clone(), lit(self.idle_bits, 0)),
            nb(self.we.clone(), lit(1, 0)),
        ]
    }

    /// One clock while loading.
    fn load(
        &self,
        rx_valid: &Expr,
        rx_data: &Expr,
        rx_error: &Expr,
        err: &Expr,
        p: &BoardParams,
    ) -> Vec<Stmt> {
        let (sb, ab, bb, ib, wb) =
            (self.sel_bits, self.addr_bits, self.byte_bits, self.idle_bits, self.word_bytes);
        let n = p.spram_words.len();
        // The last address of the memory being filled.
        let mut last = lit(ab, p.spram_words[n - 1] as u64 - 1);
        for (k, &w) in p.spram_words.iter().enumerate().rev().skip(1) {
            last = cond(self.sel.clone().eq(lit(sb, k as u64)), lit(ab, w as u64 - 1), last);
        }
        let assembled = self.next.clone();
        let on_word = vec![
            nb(self.byte.clone(), lit(bb, 0)),
            nb(self.we.clone(), lit(1, 1)),
            nb(self.wsel.clone(), self.sel.clone()),
            nb(self.waddr.clone(), self.addr.clone()),
            nb(self.wdata.clone(), assembled.clone().slice(p.spram_bits - 1, 0)),
            if_else(
                self.addr.clone().eq(last),
                vec![
                    nb(self.addr.clone(), lit(ab, 0)),
                    if_else(
                        self.sel.clone().eq(lit(sb, n as u64 - 1)),
                        vec![nb(self.loading.clone(), lit(1, 0)), nb(self.ack.clone(), lit(1, 1))],
                        vec![nb(self.sel.clone(), self.sel.clone().plus(lit(sb, 1)))],
                    ),
                ],
                vec![nb(self.addr.clone(), self.addr.clone().plus(lit(ab, 1)))],
            ),
        ];
        let on_byte = if_else(
            self.started.clone(),
            vec![
                nb(self.word.clone(), assembled),
                nb(self.idle.clone(), lit(ib, 0)),
                if_else(
                    self.byte.clone().eq(lit(bb, wb as u64 - 1)),
                    on_word,
                    vec![nb(self.byte.clone(), self.byte.clone().plus(lit(bb, 1)))],
                ),
            ],
            vec![if_else(
                rx_data.clone().eq(lit(8, u64::from(LOAD_MAGIC))),
                vec![nb(self.started.clone(), lit(1, 1)), nb(self.idle.clone(), lit(ib, 0))],
                vec![nb(err.clone(), lit(1, 1))],
            )],
        );
        let timed_out = self.started.clone().land(self.idle.clone().eq(lit(ib, p.timeout)));
        let mut fail = self.restart();
        fail.push(nb(err.clone(), lit(1, 1)));
        vec![
            if_(self.started.clone(), vec![nb(self.idle.clone(), self.idle.clone().plus(lit(ib, 1)))]),
            if_(rx_valid.clone(), vec![on_byte]),
            if_(rx_error.clone().lor(timed_out), fail),
        ]
    }
}

/// One byte the testbench sends: the byte, the idle clocks before its start bit, and whether its
/// stop bit is (wrongly) 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TbByte {
    /// The byte.
    pub byte: u8,
    /// Idle clocks (line high) before the start bit.
    pub gap: u16,
    /// Send a stop bit of 0: a framing error.
    pub bad_stop: bool,
}

/// The testbench's input file `board_tb_in.mem`: one 32-bit word per byte (bit 31 the bad stop
/// bit, bits 23..8 the gap, 7..0 the byte).
pub fn tb_input(bytes: &[TbByte]) -> String {
    bytes
        .iter()
        .map(|b| format!("{:08x}\n", u32::from(b.bad_stop) << 31 | u32::from(b.gap) << 8 | u32::from(b.byte)))
        .collect()
}

/// The testbench's expected output file `board_tb_out.mem`: one byte a line.
pub fn tb_expected(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}\n")).collect()
}

/// A bit-level testbench of board top `top` at `clks_per_bit`: it sends the `n_in` bytes of
/// `board_tb_in.mem` on `uart_rx` (8N1, with their gaps), decodes every byte on `uart_tx` and
/// compares it with `board_tb_out.mem` (`n_out` bytes), printing `RX hh` for each, then prints
/// `PASS n bytes` or the first difference (`FAIL ...`); a run past `max_cycles` is a failure. Icarus and Verilator
/// (`--binary --timing`) both run it.
pub fn testbench(top: &str, clks_per_bit: u64, n_in: usize, n_out: usize, max_cycles: u64) -> String {
    format!(
        r#"// Generated by xnorflow: a UART-level testbench of the board top.
`timescale 1ns/1ps
module board_tb;
  reg clk = 1'b0;
  always #1 clk = ~clk;
  reg rx = 1'b1;
  wire tx;
  {top} dut(.clk(clk), .uart_rx(rx), .uart_tx(tx));
  reg [31:0] in_mem [0:{n_in_1}];
  reg [7:0] out_mem [0:{n_out_1}];
  integer i, si, sg, got, ri, errors;
  reg [7:0] rbyte;
  initial begin
    $readmemh("board_tb_in.mem", in_mem);
    $readmemh("board_tb_out.mem", out_mem);
  end
  initial begin : send
    repeat (20) @(posedge clk);
    for (i = 0; i < {n_in}; i = i + 1) begin
      for (sg = 0; sg < in_mem[i][23:8]; sg = sg + 1) @(posedge clk);
      rx <= 1'b0;
      repeat ({cpb}) @(posedge clk);
      for (si = 0; si < 8; si = si + 1) begin
        rx <= in_mem[i][si];
        repeat ({cpb}) @(posedge clk);
      end
      rx <= ~in_mem[i][31];
      repeat ({cpb}) @(posedge clk);
      rx <= 1'b1;
    end
  end
  initial begin : receive
    got = 0;
    errors = 0;
    while (got < {n_out}) begin
      @(negedge tx);
      repeat ({half}) @(posedge clk);
      for (ri = 0; ri < 8; ri = ri + 1) begin
        repeat ({cpb}) @(posedge clk);
        rbyte[ri] = tx;
      end
      repeat ({cpb}) @(posedge clk);
      $display("RX %h", rbyte);
      if (tx !== 1'b1) begin
        $display("FAIL byte %0d: stop bit %b", got, tx);
        errors = errors + 1;
      end
      if (rbyte !== out_mem[got] && errors == 0) begin
        $display("FAIL byte %0d: got %h, expected %h", got, rbyte, out_mem[got]);
        errors = errors + 1;
      end
      got = got + 1;
    end
    if (errors == 0) $display("PASS %0d bytes", got);
    $finish;
  end
  initial begin : watchdog
    repeat ({max_cycles}) @(posedge clk);
    $display("FAIL timeout: %0d of {n_out} bytes received", got);
    $finish;
  end
endmodule
"#,
        n_in_1 = n_in.max(1) - 1,
        n_out_1 = n_out.max(1) - 1,
        cpb = clks_per_bit,
        half = clks_per_bit / 2,
    )
}
