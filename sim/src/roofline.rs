//! This CPU's XNOR + popcount roofline: the rate of the golden model's inner operation on data that
//! sits in L1, with a given number of threads. The golden model's throughput is judged against it.
//!
//! One binary operation counts as in the usual BNN convention: each XNOR-popcount lane is one MAC and
//! two operations (the XNOR and the accumulate), so ops = 2 * bits processed.

use crate::golden::{xor_popcount, xor_popcount_block_x4, LANES};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Words per operand: 2 x 1 KiB, well inside any L1 data cache.
pub const WORDS: usize = 128;

/// Binary ops per second of the better of the two kernels on L1-resident data, measured for at least
/// `min_time` on each of `threads` threads (all in parallel).
pub fn measure(threads: usize, min_time: Duration) -> f64 {
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(_) => return 0.0,
    };
    let single = run_parallel(&pool, threads, min_time, |data, reps| {
        let mut acc = 0u32;
        for _ in 0..reps {
            let (a, b) = black_box((&data[..WORDS], &data[WORDS..2 * WORDS]));
            acc = acc.wrapping_add(xor_popcount(a, b));
        }
        (acc, reps * WORDS as u64 * 64)
    });
    // The golden model's dense kernel: a block of LANES interleaved weight rows against four frames.
    let blocked = run_parallel(&pool, threads, min_time, |data, reps| {
        let n = WORDS / LANES;
        let mut acc = 0u64;
        for _ in 0..reps {
            let d = black_box(data);
            let x = [
                &d[WORDS..WORDS + n],
                &d[2 * WORDS..2 * WORDS + n],
                &d[3 * WORDS..3 * WORDS + n],
                &d[4 * WORDS..],
            ];
            let r = xor_popcount_block_x4(&d[..WORDS], x);
            acc = acc.wrapping_add(r.iter().flatten().sum::<u64>());
        }
        (acc as u32, reps * 4 * WORDS as u64 * 64)
    });
    single.max(blocked)
}

/// Runs `kernel(data, reps)` on every thread until `min_time` has passed; returns ops/s.
fn run_parallel(
    pool: &rayon::ThreadPool,
    threads: usize,
    min_time: Duration,
    kernel: impl Fn(&[u64], u64) -> (u32, u64) + Sync,
) -> f64 {
    let mut reps = 1024u64;
    loop {
        let start = Instant::now();
        let bits: u64 = pool.install(|| {
            (0..threads)
                .into_par_iter()
                .map(|t| {
                    let data: Vec<u64> = (0..5 * WORDS as u64)
                        .map(|i| (i + t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .collect();
                    let (acc, bits) = kernel(&data, reps);
                    black_box(acc);
                    bits
                })
                .sum()
        });
        let dt = start.elapsed();
        if dt >= min_time {
            return 2.0 * bits as f64 / dt.as_secs_f64();
        }
        reps *= 2;
    }
}
