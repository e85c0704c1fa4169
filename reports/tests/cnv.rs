//! The CNV-shaped network at BNN-PYNQ's folding: lowered, simulated by the cycle model against
//! the golden model, its steady-state frame time equal to the prediction.

use compiler::dataflow::traffic::Stalls;
use compiler::dataflow::{fold, Popcount};
use sim::cycle::CycleModel;
use sim::drive::{self, Drive};
use sim::stream;

#[test]
fn cnv_at_bnn_pynq_folding_is_golden_exact_at_the_predicted_rate() {
    let m = reports::reference::cnv_random(1).expect("model");
    let f = reports::reference::bnn_pynq_cnv_folding(&m, Popcount::Compressor).expect("folding");
    let g = fold::lower(&m, &f).expect("lower");
    assert_eq!(g.cycles_per_frame(), 32_768, "{g}");
    let images = stream::random_images(m.input.len(), 4, 2);
    let v = stream::vectors(&m, &g, &images).expect("vectors");
    let mut dut = CycleModel::new(&g, &m).expect("cycle model");
    let expected = v.flat_expected();
    let d = Drive {
        stalls: Stalls { seed: 0, gap: 0.0, backpressure: 0.0 },
        max_cycles: 2_000_000,
        stop_at: None,
    };
    let t = drive::run(&mut dut, &v.flat_inputs(), expected.len(), &d).expect("no deadlock");
    assert_eq!(t.outputs, expected);
    let c = &t.out_cycles;
    eprintln!("{g}\nout cycles {c:?}, fifo {:?}", dut.fifo_high_water());
    assert_eq!(c[3] - c[2], 32_768);
    assert_eq!(c[2] - c[1], 32_768);
}
