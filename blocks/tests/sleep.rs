//! Every block's sleep ([`Unit::sleep`], [`Unit::skip`]) against its edges: whenever a block says
//! it may sleep `k` edges, running up to `k` edges with those inputs shows nothing at its ports
//! (no handshake, the same valid, data and ready) and leaves exactly the registers that skipping
//! them leaves; whenever it says it runs `k` edges alone ([`Unit::run_alone`]), up to `k` edges
//! under inputs drawn afresh at each make no handshake, keep the ready under either consumer
//! ready, valid and data up to the last, and leave the registers that skipping them leaves. Random blocks of every kind, under inputs and backpressure that come and go in runs,
//! with the odd reset.

use blocks::{Argmax, ChannelPad, Fifo, Mvtu, Pool, Sign, Swu, Unit, WidthConverter, FOREVER};
use compiler::dataflow::{LaneInput, MemStyle, MvtuConfig, MvtuOutput, PoolConfig, Popcount, SwuConfig};
use compiler::model::{BitMatrix, IntType};
use proptest::prelude::*;
use std::fmt::Debug;

/// A xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What [`check`] saw: sleeps that changed registers (a counter running), and runs alone whose
/// last edge changed the outputs (an output register loading).
struct Seen {
    moving: usize,
    loads: usize,
    absorbed: usize,
    completed: usize,
}

/// Drives `u` (input words of `bits` bits) for `steps` cycles, checking every sleep and every
/// other run alone it takes.
fn check<U: Unit + Clone + Debug>(
    mut u: U,
    bits: usize,
    steps: usize,
    seed: u64,
) -> Result<Seen, TestCaseError> {
    let mut rng = Rng(seed | 1);
    let (mut v, mut r, mut moving, mut loads, mut absorbed, mut completed) = (true, true, 0, 0, 0, 0);
    let mut word = vec![0u64; bits.div_ceil(64)];
    for cycle in 0..steps {
        // Inputs hold for runs of cycles, so that sleeps have time to last.
        if rng.next() % 6 == 0 {
            v = !v;
        }
        if rng.next() % 8 == 0 {
            r = !r;
        }
        for (i, w) in word.iter_mut().enumerate() {
            let left = bits - 64 * i;
            *w = if left >= 64 { rng.next() } else { rng.next() & ((1 << left) - 1) };
        }
        if rng.next() % 400 == 0 {
            u.reset();
            continue;
        }
        let a = u.run_alone();
        if a > 0 && rng.next() % 2 == 0 {
            let e = a.min(1 + rng.next() % 40);
            let mut edges = u.clone();
            for n in 0..e {
                let (v, r) = (rng.next() % 2 == 0, rng.next() % 2 == 0);
                prop_assert!(!(v && edges.ready(r)), "cycle {}: an input handshake in a run alone", cycle);
                prop_assert!(!(edges.valid() && r), "cycle {}: an output handshake in a run alone", cycle);
                for m in [false, true] {
                    prop_assert_eq!(edges.ready(m), u.ready(m), "cycle {}: ready in a run alone", cycle);
                }
                let junk: Vec<u64> = word.iter().map(|_| rng.next()).collect();
                edges.edge(v, &junk, r);
                if n + 1 < e {
                    prop_assert_eq!(edges.valid(), u.valid(), "cycle {}: valid before the run's end", cycle);
                    prop_assert_eq!(edges.data(), u.data(), "cycle {}: data before the run's end", cycle);
                }
            }
            // The run's last edge may change the ready (a vector's last word entering).
            for m in [false, true] {
                prop_assert!(
                    e == a || edges.ready(m) == u.ready(m),
                    "cycle {}: ready after part of a run alone",
                    cycle
                );
            }
            let before = (u.valid(), u.data().to_vec());
            u.skip(e);
            prop_assert_eq!(
                format!("{u:?}"),
                format!("{edges:?}"),
                "cycle {}: {} edges run alone of {}",
                cycle,
                e,
                a
            );
            loads += usize::from(before != (u.valid(), u.data().to_vec()));
            continue;
        }
        let k = u.sleep(false, r);
        if u.absorbs() && k > 0 && rng.next() % 3 == 0 {
            // A word taken asleep at edge `p` of `e` edges without input words: absorbed, then
            // the edges skipped at the wake, as a simulator does.
            let e = k.min(1 + rng.next() % 40);
            let p = rng.next() % e;
            let mut edges = u.clone();
            for n in 0..e {
                for m in [false, true] {
                    prop_assert!(edges.ready(m), "cycle {}: an absorbing unit not ready", cycle);
                }
                prop_assert!(!(edges.valid() && r), "cycle {}: an output handshake while absorbing", cycle);
                edges.edge(n == p, &word, r);
                prop_assert_eq!(edges.valid(), u.valid(), "cycle {}: valid while absorbing", cycle);
                if u.valid() {
                    prop_assert_eq!(edges.data(), u.data(), "cycle {}: data while absorbing", cycle);
                }
                for m in [false, true] {
                    prop_assert_eq!(edges.ready(m), u.ready(m), "cycle {}: ready while absorbing", cycle);
                }
            }
            if u.absorb_is_edge() {
                // The word's whole edge, after the edges before it.
                u.skip(p);
                u.absorb(&word);
                u.skip(e - p - 1);
            } else {
                u.absorb(&word);
                u.skip(e);
            }
            prop_assert_eq!(
                format!("{u:?}"),
                format!("{edges:?}"),
                "cycle {}: a word absorbed at {} of {}",
                cycle,
                p,
                e
            );
            absorbed += 1;
            continue;
        }
        if u.completes() && rng.next() % 3 == 0 {
            // The word completing an output word taken asleep, then the output handshake with
            // no input word, or with one taken asleep after it, as a simulator does.
            let mut edges = u.clone();
            for m in [false, true] {
                prop_assert!(edges.ready(m) && !edges.valid(), "cycle {}: completing, not ready", cycle);
            }
            edges.edge(true, &word, rng.next() % 2 == 0);
            u.absorb(&word);
            prop_assert_eq!(format!("{u:?}"), format!("{edges:?}"), "cycle {}: the completing word", cycle);
            // Ready for the handshake's edge at least while the consumer is (a max-pool's ready
            // follows it once its output register is full).
            prop_assert!(u.ready(true) && u.valid(), "cycle {}: a completed word, not ready", cycle);
            let next: Vec<u64> = word.iter().map(|w| !w).collect();
            let more = rng.next() % 2 == 0;
            edges.edge(more, &next, true);
            u.edge(false, &[], true);
            prop_assert!(
                !u.valid() && u.takes_next_asleep(),
                "cycle {}: the handshake leaves a unit that takes no word asleep",
                cycle
            );
            if more {
                u.absorb(&next);
            }
            prop_assert_eq!(format!("{u:?}"), format!("{edges:?}"), "cycle {}: the handshake", cycle);
            completed += 1;
            continue;
        }
        let k = u.sleep(v, r);
        if k == 0 {
            u.edge(v, &word, r);
            continue;
        }
        let e = k.min(1 + rng.next() % 40);
        let mut edges = u.clone();
        for _ in 0..e {
            prop_assert!(!(v && edges.ready(r)), "cycle {}: an input handshake in a sleep", cycle);
            prop_assert!(!(edges.valid() && r), "cycle {}: an output handshake in a sleep", cycle);
            edges.edge(v, &word, r);
            prop_assert_eq!(edges.valid(), u.valid(), "cycle {}: valid", cycle);
            prop_assert_eq!(edges.data(), u.data(), "cycle {}: data", cycle);
            prop_assert_eq!(edges.ready(r), u.ready(r), "cycle {}: ready", cycle);
        }
        let before = format!("{u:?}");
        u.skip(e);
        let after = format!("{u:?}");
        prop_assert_eq!(&after, &format!("{edges:?}"), "cycle {}: {} edges skipped (sleep {})", cycle, e, k);
        moving += usize::from(k < FOREVER && after != before);
    }
    Ok(Seen { moving, loads, absorbed, completed })
}

/// One edge of a window unit -> FIFO -> MVTU chain as a simulator runs it: readies from the MVTU
/// back, then edges from the MVTU to the window unit, each sampling the registers from before the
/// edge. Returns whether the window unit took a word and whether the MVTU made an output
/// handshake.
fn chain_edge(s: &mut Swu, f: &mut Fifo, m: &mut Mvtu, v: bool, word: &[u64], r: bool) -> (bool, bool) {
    let mr = m.ready(r);
    let fr = f.ready(mr);
    let sr = s.ready(fr);
    let out = m.valid() && r;
    if f.valid() {
        let d = f.data().to_vec();
        m.edge(true, &d, r);
    } else {
        m.edge(false, &[], r);
    }
    let d = s.data().to_vec();
    f.edge(s.valid(), &d, mr);
    s.edge(v, word, fr);
    (v && sr, out)
}

/// Drives a window unit -> FIFO -> MVTU chain for `steps` cycles under inputs and backpressure
/// that come and go in runs; wherever the chain may run on its own for `k` edges
/// ([`Swu::quiet_input`], [`Mvtu::chain_run`], with the MVTU's word handed over at the first
/// when the consumer is ready), a copy runs some of them with [`Swu::run_chain`] and must leave
/// the three exactly as their edges do, which make no handshake at the window unit's input, an
/// output handshake only at the first and load the MVTU's output register only at the last.
/// Returns how many chain runs it checked and how many of them ran a pass from the MVTU's input
/// buffer.
fn check_chain(
    mut s: Swu,
    mut f: Fifo,
    mut m: Mvtu,
    simd: usize,
    steps: usize,
    seed: u64,
) -> Result<(usize, usize), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let (mut v, mut r, mut runs, mut buffered) = (true, true, 0, 0);
    for cycle in 0..steps {
        if rng.next() % 5 == 0 {
            v = !v;
        }
        if rng.next() % 7 == 0 {
            r = !r;
        }
        let word = [rng.next() & ((1u64 << simd) - 1)];
        let hand = m.valid() && r;
        let k = s.quiet_input(v).min(m.chain_run(hand));
        if k >= 2 && rng.next() % 2 == 0 {
            let e = 1 + rng.next() % k;
            let (mut s2, mut f2, mut m2) = (s.clone(), f.clone(), m.clone());
            buffered += usize::from(m.chain_run(false) > 0 && !m.ready(true));
            for n in 0..e {
                let (took, out) = chain_edge(&mut s, &mut f, &mut m, v, &word, r);
                prop_assert!(!took, "cycle {}: the window unit took a word in a chain run", cycle);
                prop_assert!(n == 0 || !out, "cycle {}: an output handshake inside a chain run", cycle);
                prop_assert!(n + 1 == e || !m.valid(), "cycle {}: the output register loaded early", cycle);
            }
            s2.run_chain(&mut f2, &mut m2, e, r);
            prop_assert_eq!(
                format!("{s2:?}"),
                format!("{s:?}"),
                "cycle {}: window unit after {} of {}",
                cycle,
                e,
                k
            );
            prop_assert_eq!(
                format!("{f2:?}"),
                format!("{f:?}"),
                "cycle {}: FIFO after {} of {}",
                cycle,
                e,
                k
            );
            prop_assert_eq!(
                format!("{m2:?}"),
                format!("{m:?}"),
                "cycle {}: MVTU after {} of {}",
                cycle,
                e,
                k
            );
            runs += 1;
            continue;
        }
        chain_edge(&mut s, &mut f, &mut m, v, &word, r);
    }
    Ok((runs, buffered))
}

/// An `mh x mw` MVTU with threshold outputs, sparse random weights and `stages` pipeline
/// stages after the lanes; `None` where the shape is not a legal one.
fn mvtu(
    mw: usize,
    mh: usize,
    pe: usize,
    simd: usize,
    input: LaneInput,
    stages: usize,
    seed: u64,
) -> Option<Mvtu> {
    let cfg = MvtuConfig {
        name: "L1".into(),
        mw,
        mh,
        pe,
        simd,
        input,
        output: MvtuOutput::Threshold,
        popcount: Popcount::Compressor,
        mem_style: MemStyle::Auto,
    };
    cfg.validate().ok()?;
    let t: Vec<i32> = (0..mh).map(|r| (r as i32 * 5) % 7 - 3).collect();
    Some(Mvtu::new(&cfg, &matrix(mh, mw, seed), Some(&t)).expect("unit").pipelined(&cfg, stages))
}

/// Sparse random bits.
fn matrix(rows: usize, cols: usize, seed: u64) -> BitMatrix {
    BitMatrix::from_fn(rows, cols, |r, c| (seed.wrapping_mul(r as u64 * 31 + c as u64 + 7) >> 17) & 1 == 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fifos_converters_and_small_units_sleep_as_they_step(
        width in 1usize..70,
        depth in 1usize..5,
        out_bits in 1usize..100,
        pe in 1usize..4,
        fields in 1usize..4,
        k in 2u8..5,
        signed: bool,
        seed: u64,
    ) {
        check(Fifo::new(width, depth), width, 300, seed)?;
        let seen = check(WidthConverter::new(width, out_bits), width, 300, seed)?;
        // A converter short of an output word takes words asleep.
        prop_assert!(out_bits <= 2 * width || seen.absorbed > 0, "a converter absorbed a word");
        // One whose output words are a few input words completes them asleep.
        prop_assert!(out_bits % width != 0 || out_bits > 4 * width || seen.completed > 0, "a converter completed a word asleep");
        check(Argmax::new(pe, 6, fields, signed), pe * 6, 300, seed)?;
        let ty = IntType { bits: k, signed: true };
        check(Sign::new(ty, fields), fields * usize::from(k), 300, seed)?;
        check(ChannelPad::new(width, fields, fields + depth - 1), width, 300, seed)?;
    }

    #[test]
    fn window_and_pool_units_sleep_as_they_step(
        h in 2usize..7,
        w in 2usize..7,
        cf in 1usize..3,
        simd in 1usize..4,
        kernel in 1usize..4,
        stride in 1usize..3,
        pad in 0usize..2,
        elem_bits in 1usize..3,
        seed: u64,
    ) {
        let c = simd * cf;
        let swu = SwuConfig {
            name: "S".into(), h, w, c, elem_bits: 1, simd, kernel, stride, pad, pad_bit: seed % 2 == 0,
        };
        if swu.validate().is_ok() {
            let seen = check(Swu::new(&swu), simd, 2000, seed)?;
            prop_assert!(w * cf < 2 || seen.absorbed > 0, "a window unit absorbed a word");
        }
        let pool = PoolConfig {
            name: "P".into(), h, w, c, simd, elem_bits, signed: elem_bits > 1 && seed % 2 == 0, kernel: 2,
        };
        if pool.validate().is_ok() {
            let seen = check(Pool::new(&pool), simd * elem_bits, 600, seed)?;
            prop_assert!(seen.absorbed > 0, "a max-pool absorbed a word");
            prop_assert!(seen.completed > 0, "a max-pool completed a window asleep");
        }
    }

    /// MVTUs of several passes of several words (binary, narrow and wide integer inputs), with
    /// up to three pipeline stages after the lanes (iCE40's cuts), run passes from their input
    /// buffer asleep.
    #[test]
    fn mvtus_sleep_as_they_step(
        sf in 1usize..11,
        nf in 1usize..5,
        pe in 1usize..4,
        simd in 1usize..5,
        bits in prop::sample::select(vec![1u8, 2, 5, 8]),
        stages in 0usize..4,
        seed: u64,
    ) {
        let input = if bits == 1 { LaneInput::Binary } else { LaneInput::Int { bits, signed: seed % 2 == 0 } };
        let u = mvtu(sf * simd, nf * pe, pe, simd, input, stages, seed);
        prop_assume!(u.is_some());
        let seen = check(u.expect("a valid MVTU"), simd * input.bits(), 1500, seed)?;
        // A pass's first two words (one more per pipeline stage) enter while the last pass's
        // result is on its way or waits in the output register; from the next on, a pass from
        // the buffer can sleep until its last.
        prop_assert!(sf < 4 + stages || nf < 2 || seen.moving > 0, "passes from the buffer slept");
        // Without pipeline stages, a pass from the buffer before the vector's last runs alone
        // up to the edge that loads its result (passes of one or two words end while the one
        // before is still in the output register).
        prop_assert!(stages > 0 || nf < 3 || sf < 3 || seen.loads > 0, "passes ran alone into the output register");
        // A first pass's words after the first few (the last result on its way or waiting in
        // the output register), but for the pass's last, enter stage B asleep.
        prop_assert!(sf < 4 + stages || seen.absorbed > 0, "first-pass words taken asleep");
    }

    /// Window unit -> FIFO -> MVTU chains (FIFOs from one word to deeper than a vector, MVTUs
    /// of one to four passes, with or without pipeline stages) run their edges on their own
    /// as the three units' edges run them, through first passes and passes from the buffer.
    #[test]
    fn chains_run_as_their_units_step(
        h in 3usize..6,
        w in 3usize..6,
        cf in 1usize..3,
        simd in 1usize..4,
        depth in 1usize..12,
        nf in 1usize..5,
        pe in 1usize..3,
        stages in 0usize..2,
        seed: u64,
    ) {
        let swu = SwuConfig {
            name: "S".into(), h, w, c: simd * cf, elem_bits: 1, simd, kernel: 3, stride: 1, pad: 0, pad_bit: false,
        };
        prop_assume!(swu.validate().is_ok());
        let m = mvtu(9 * simd * cf, nf * pe, pe, simd, LaneInput::Binary, stages, seed);
        prop_assume!(m.is_some());
        let m = m.expect("a valid MVTU");
        let (runs, buffered) = check_chain(Swu::new(&swu), Fifo::new(simd, depth), m, simd, 3000, seed)?;
        prop_assert!(runs > 0, "no chain run");
        // Without stages, chains run through passes from the buffer too.
        prop_assert!(stages > 0 || nf < 2 || buffered > 0, "no chain run in a pass from the buffer");
    }
}
