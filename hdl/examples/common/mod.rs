//! What the synthesis-sweep examples share: a seeded random stream and a pool that runs one
//! Yosys job per core.

#![allow(dead_code)]

use compiler::dataflow::MvtuConfig;
use compiler::model::BitMatrix;
use std::sync::Mutex;

/// A xorshift stream: synthesis must not see structure it could exploit.
pub struct Rng(pub u64);

impl Rng {
    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `measure` over every job on one thread per core; the rows in job order.
pub fn run_all<J: Sync>(jobs: &[J], measure: impl Fn(&J) -> String + Sync) -> Vec<String> {
    let rows = Mutex::new(vec![String::new(); jobs.len()]);
    let next = Mutex::new(0usize);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("lock");
                    *n += 1;
                    *n - 1
                };
                let Some(job) = jobs.get(i) else { break };
                let row = measure(job);
                rows.lock().expect("lock")[i] = row;
            });
        }
    });
    rows.into_inner().expect("no thread panicked")
}

/// Random weights for `cfg` and, per row, its output's thresholds drawn from the middle half of
/// the accumulator's range, ascending within a row, as trained layers have them.
pub fn random_layer(cfg: &MvtuConfig, rng: &mut Rng) -> (BitMatrix, Vec<i32>) {
    let w = BitMatrix::from_fn(cfg.mh, cfg.mw, |_, _| rng.next() & 1 == 1);
    let (lo, hi) = cfg.acc_range();
    let span = ((hi - lo) / 2).max(1) as u64;
    let levels = cfg.output.levels();
    let mut t = Vec::with_capacity(cfg.mh * levels);
    for _ in 0..cfg.mh {
        let mut row: Vec<i32> =
            (0..levels).map(|_| (lo + (hi - lo) / 4 + (rng.next() % span) as i64) as i32).collect();
        row.sort_unstable();
        t.extend(row);
    }
    (w, t)
}
