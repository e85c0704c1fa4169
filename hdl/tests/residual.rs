//! Residual graphs in rust-hdl: the accelerator's DAG of stages (duplicate, sign, channel pad,
//! add and the bypass chains) runs random residual networks under random foldings and stalls, with
//! the golden model's words on the cycle model's cycles (the leaves run the same `blocks` units,
//! the wiring is rust-hdl's own).

use compiler::dataflow::fold;
use compiler::dataflow::NodeKind;
use compiler::model::random::random_resnet;
use hdl::accel::{Accelerator, Stage};
use hdl::harness::{self, Stalls};
use sim::cycle::CycleModel;
use sim::drive::{self, Drive};

#[test]
fn residual_accelerators_match_the_golden_model_on_the_cycle_models_cycles() {
    let (mut pads, mut cases) = (0, 0);
    for seed in 0..12u64 {
        let m = random_resnet(seed, 1 + seed as usize % 3, 6).expect("model");
        let g = fold::lower(&m, &fold::random_folding(&m, seed).expect("shapes")).expect("lower");
        pads += g.all_nodes().filter(|n| matches!(n.kind, NodeKind::ChannelPad { .. })).count();
        let images = sim::stream::random_images(m.input.len(), 2, seed);
        let v = sim::stream::vectors(&m, &g, &images).expect("vectors");
        let (ins, want) = (v.flat_inputs(), v.flat_expected());
        let stalls = Stalls { gap: 0.3, backpressure: 0.3, seed };
        let max_cycles = 40 * g.cycles_per_frame() as u64 + 20_000;
        let mut acc = Accelerator::new(&g, &m).expect("accelerator");
        assert!(acc.stages.iter().any(|s| matches!(s, Stage::Add(_))));
        let run = harness::run(&mut acc, &ins, want.len(), stalls, max_cycles)
            .unwrap_or_else(|e| panic!("{e}\n{g}"));
        assert_eq!(run.outputs, want, "rust-hdl against the golden model\n{g}");
        let mut cm = CycleModel::new(&g, &m).expect("cycle model");
        let t = drive::run(&mut cm, &ins, want.len(), &Drive { stalls, max_cycles, stop_at: None })
            .expect("cycle model run");
        assert_eq!(t.out_cycles, run.out_cycles, "cycle model and rust-hdl cycles\n{g}");
        assert_eq!(t.in_cycles, run.in_cycles, "input handshakes\n{g}");
        cases += 1;
    }
    assert_eq!(cases, 12);
    assert!(pads > 0, "no downsampling block among the cases");
}
