//! Seeded stream traffic: per-cycle input gaps and output backpressure. Every executor that is
//! compared cycle by cycle (rust-hdl, Icarus, the cycle model, Verilator) draws its stalls from
//! here, so the same seed gives the same pattern everywhere.

/// Random stalls: the probability that the producer withholds a word in a cycle, and that the
/// consumer is not ready, drawn from `seed`.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Stalls {
    /// Input gap probability.
    pub gap: f64,
    /// Output backpressure probability.
    pub backpressure: f64,
    /// Seed.
    pub seed: u64,
}

impl Stalls {
    /// The per-cycle decisions `(producer offers a word if it has one, consumer ready)` for
    /// `cycles` cycles.
    pub fn pattern(&self, cycles: usize) -> Vec<(bool, bool)> {
        self.iter().take(cycles).collect()
    }

    /// The endless sequence of which [`Stalls::pattern`] is a prefix.
    pub fn iter(&self) -> impl Iterator<Item = (bool, bool)> {
        let (gap, bp) = (self.gap, self.backpressure);
        let mut rng = Mix(self.seed);
        // `unit()` is never negative, so without stalls every draw would say "offer, ready": skip
        // the draws (a simulator's per-cycle loop spends about 5% on them).
        let free = gap <= 0.0 && bp <= 0.0;
        std::iter::repeat_with(
            move || if free { (true, true) } else { (rng.unit() >= gap, rng.unit() >= bp) },
        )
    }
}

/// A small deterministic generator (SplitMix64): fixed forever, unlike a library RNG's stream.
struct Mix(u64);

impl Mix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_stalls_means_always_offer_and_ready() {
        assert!(Stalls::default().pattern(100).iter().all(|&(o, r)| o && r));
    }

    #[test]
    fn rates_follow_the_probabilities_and_seeds_differ() {
        let s = Stalls { gap: 0.25, backpressure: 0.75, seed: 3 };
        let p = s.pattern(20_000);
        let gaps = p.iter().filter(|x| !x.0).count() as f64 / 20_000.0;
        let bps = p.iter().filter(|x| !x.1).count() as f64 / 20_000.0;
        assert!((gaps - 0.25).abs() < 0.02 && (bps - 0.75).abs() < 0.02, "{gaps} {bps}");
        assert_ne!(p, Stalls { seed: 4, ..s }.pattern(20_000));
        assert_eq!(p, s.pattern(20_000));
    }
}
