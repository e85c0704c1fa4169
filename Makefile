# xnorflow's entry points. `make demo` and `make test` are the README's two set-up commands.
CARGO ?= cargo

.PHONY: demo test lint bench deps ci clean mnist-results mnist-fixed8 irnet-ablation irnet-ablation-conv irnet-conv-replication irnet-vs-ste irnet-vs-ste-tuned act-bits hdl-lanes mvtu-estimate formal sim-speed hdl-speed estimate-vs-synth cnv-results resnet-results ice40-estimate ice40-blocks ice40-lc

## Install the hardware tools (Verilator, Yosys, Icarus Verilog, nextpnr-ice40) when missing.
deps:
	bash .ci/install-deps

## The built-in main job: no data to fetch, no arguments.
demo: deps
	$(CARGO) run --release --bin xnorflow -- demo

## Every test, in release mode (the golden-model property tests simulate many networks).
test: deps
	bash .ci/install-qonnx
	$(CARGO) test --release --workspace --all-targets

## Formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

## Golden-model throughput: the binary LFC against this CPU's XNOR + popcount roofline, and the
## 8-bit-input, W1A2 and W1A4 LFCs against the binary one (each integer-input kernel this CPU runs).
bench:
	$(CARGO) bench -p xnorflow-sim --bench golden

## Cycle model (one thread, and both cores on two halves of the frames) against Verilator and the golden model (LFC, LFC-W1A2, CNV, UP5K demo) and rust-hdl (one MVTU), cycles/s -> results/sim_speed.csv.
## The first run verilates the LFC design (about 3 minutes).
sim-speed: deps
	$(CARGO) bench -p xnorflow-reports --bench sim_speed

## Wall-clock of what the emitted Verilog's size decides, on BNN-PYNQ's LFC: `xnorflow compile` at
## 128 cycles/frame, verilating + C++-compiling the LFC at BNN-PYNQ's folding, Icarus on one frame.
hdl-speed: deps
	scripts/hdl_speed.sh

## Estimates against Yosys per node, TFC/SFC/LFC x three foldings (about 30 min) -> results/estimate_vs_synth.csv.
estimate-vs-synth: deps
	scripts/estimate_vs_synth.sh results/estimate_vs_synth.csv

## TFC/SFC/LFC x four methods on MNIST, binarized input, short budget (about 25 min on 2 cores) -> results/mnist.csv.
mnist-results:
	EPOCHS_SFC=15 scripts/mnist_results.sh ../shared/data/mnist results/mnist.csv

## The same grid with the best recipe found (8-bit first layer, lr 1e-2, dropout 0.1) and IR-Net
## with the paper's and a tuned EDE range, TFC and SFC (about 25 min on 2 cores)
## -> results/mnist_fixed8.csv. ARCHS="tfc sfc lfc" adds LFC (3 epochs, about 17 min more).
mnist-fixed8:
	INPUT=fixed8 LR=1e-2 DROPOUT=0.1 EPOCHS_TFC=20 EPOCHS_SFC=20 EPOCHS_LFC=3 ARCHS="$${ARCHS:-tfc sfc}" \
	  VARIANTS="ste xnor bireal irnet irnet-tuned" scripts/mnist_results.sh ../shared/data/mnist results/mnist_fixed8.csv

## W1A1 against W1A2..W1A4 (train --act-bits), IR-Net with the recipe of mnist-fixed8 (LFC with
## dropout 0.2): SFC 20 epochs, LFC 8 epochs; 68 min on 2 cores shared with other work
act-bits:
	rm -f results/act_bits.csv
	scripts/act_bits.sh ../shared/data/mnist results/act_bits.csv sfc:1:20:0.1 sfc:2:20:0.1 sfc:3:20:0.1 \
	  lfc:1:8:0.2 lfc:2:8:0.2 sfc:4:20:0.1

## Residual BNNs against plain conv nets of the same binary MACs (issue 28): resnet-mnist (W1A3
## branches, 8-bit stream) and c8p0-c8p0-c8p0-p-c16p0-c16p0-p-c32p0-c32p0-p (W1A1), IR-Net and
## STE, 8 epochs on the first 20,000 training images (the last 5,000 of them held out), lr 3e-3,
## seed 1; each run took 7-9 min with one thread beside another run on 2 shared cores. Each model
## twice: with BatchNorm's moving averages, and with --bn-recalibrate 100 (running statistics
## recomputed over 100 batches = 10,000 training images after the last epoch)
resnet-results:
	rm -f results/resnet.csv
	for r in 0 100; do RAYON_NUM_THREADS=1 EPOCHS=8 LIMIT=20000 BNRECAL=$$r scripts/resnet_results.sh \
	  ../shared/data/mnist results/resnet.csv resnet:irnet plain:irnet resnet:ste plain:ste || exit 1; done

## IR-Net's ablation (STE, Libra-PB only, EDE only, both) with the recipe of mnist-fixed8: TFC and SFC
## ten seeds each; about 1 h 10 min on 2 cores
irnet-ablation:
	scripts/irnet_ablation.sh mlp ../shared/data/mnist results/irnet_ablation.csv

## The same ablation on a small binary conv net (c16-p-c32-p-128, 8 epochs, every variant over seeds
## 1-3, then STE and IR-Net over seeds 4-10, IR-Net with EDE 0.1 -> 1 over seeds 1-6, Libra-PB alone and
## EDE alone over seeds 4-5; two one-thread runs side by side) -> results/irnet_ablation_conv.csv.
## The committed CSV was measured at training revision 3 (commit 307921e, about 4 h 30 min); this
## revision trains conv nets four times faster (about 1 h 10 min) and rounds differently, so its
## numbers differ seed by seed.
irnet-ablation-conv:
	scripts/irnet_ablation.sh conv ../shared/data/mnist results/irnet_ablation_conv.csv
	SEEDS="4 5 6 7 8 9 10" VARIANTS="ste irnet" scripts/irnet_ablation.sh conv ../shared/data/mnist results/irnet_ablation_conv.csv
	SEEDS="1 2 3 4 5 6" VARIANTS="irnet-tuned" scripts/irnet_ablation.sh conv ../shared/data/mnist results/irnet_ablation_conv.csv
	SEEDS="4 5" VARIANTS="irnet-libra irnet-ede" scripts/irnet_ablation.sh conv ../shared/data/mnist results/irnet_ablation_conv.csv

## The pre-registered replication of the conv ablation (plan in
## results/irnet_ablation_conv_replication.md): STE and IR-Net over seeds 11-20, training revision 4;
## about 40 min on 2 cores -> results/irnet_ablation_conv_replication.csv
irnet-conv-replication:
	SEEDS="11 12 13 14 15 16 17 18 19 20" VARIANTS="ste irnet" scripts/irnet_ablation.sh conv ../shared/data/mnist results/irnet_ablation_conv_replication.csv

## IR-Net's ablation with each variant at its own learning rate, chosen on 10,000 held-out training
## images: TFC (every variant, 4 rates x 2 seeds to choose, then 10 test seeds; about 25 min on 2
## cores) and SFC (STE and IR-Net, 2 rates x 2 seeds, 5 test seeds; about 35 min)
## -> results/irnet_vs_ste_{tfc,sfc}{_validation,}.csv and a summary on stdout.
irnet-vs-ste:
	scripts/irnet_vs_ste.sh ../shared/data/mnist results
	ARCH=sfc VARIANTS="ste irnet" LRS="1e-2 3e-2" TEST_SEEDS="1 2 3 4 5" scripts/irnet_vs_ste.sh ../shared/data/mnist results

## STE and IR-Net each with learning rate, dropout and (IR-Net) EDE range chosen on the 10,000
## held-out images, then 10 test seeds: TFC (STE 9 settings, IR-Net 24; about 20 min on 2 cores)
## and SFC (STE 6, IR-Net 12; about 55 min) -> results/irnet_vs_ste_{tfc,sfc}_tuned{_validation,}.csv
irnet-vs-ste-tuned:
	TAG=_tuned VARIANTS="ste irnet" LRS_ste="3e-3 1e-2 3e-2" LRS_irnet="1e-2 3e-2" \
	  OPTS_ste="- --dropout=0 --dropout=0.2" \
	  OPTS_irnet="- --t-min=1;--t-max=1 --t-min=1 --t-max=1 \
	    --dropout=0 --t-min=1;--t-max=1;--dropout=0 --t-min=1;--dropout=0 --t-max=1;--dropout=0 \
	    --dropout=0.2 --t-min=1;--t-max=1;--dropout=0.2 --t-min=1;--dropout=0.2 --t-max=1;--dropout=0.2" \
	  scripts/irnet_vs_ste.sh ../shared/data/mnist results
	ARCH=sfc TAG=_tuned VARIANTS="ste irnet" LRS="1e-2 3e-2" OPTS_ste="- --dropout=0 --dropout=0.2" \
	  OPTS_irnet="- --dropout=0 --dropout=0.2 --t-max=1 --t-max=1;--dropout=0 --t-max=1;--dropout=0.2" \
	  scripts/irnet_vs_ste.sh ../shared/data/mnist results

## LUT/FF/BRAM per XNOR lane of one MVTU from Yosys synth_xilinx (about 10 min) -> results/hdl_lanes.csv.
hdl-lanes: deps
	$(CARGO) run --release -p xnorflow-hdl --example lut_per_lane -- results/hdl_lanes.csv

## One MVTU per lane input kind (binary, k-bit, 8-bit) x SIMD 8..64 x PE 1, 4: the cost model's LUTs
## against Yosys synth_xilinx (about 2 min) -> results/mvtu_estimate_vs_synth.csv.
mvtu-estimate: deps
	$(CARGO) run --release -p xnorflow-hdl --example mvtu_estimate -- results/mvtu_estimate_vs_synth.csv

## The iCE40 cost model against Yosys synth_ice40 per node on results/ice40/'s designs (about 7 min)
## -> results/ice40_estimate_vs_synth.csv.
ice40-estimate: deps
	scripts/ice40_estimate.sh results/ice40_estimate_vs_synth.csv

## nextpnr-ice40's logic cells per node, per design and per board top (about 40 min on 2 cores)
## -> results/ice40_lc.csv, for the packing model (Ice40Cost::lc) and the board top's estimate.
ice40-lc: deps
	scripts/ice40_lc.sh results/ice40_lc.csv

## The iCE40 cost model against Yosys synth_ice40 on single FIFOs, width converters and MVTUs
## (about 3 min) -> results/ice40_blocks.csv.
ice40-blocks: deps
	$(CARGO) run --release -p xnorflow-hdl --example ice40_blocks -- results/ice40_blocks.csv

## Formal proofs of every stream block (Yosys + yosys-smtbmc + z3): AXI4-Stream rules, token
## conservation, bounded progress, mutants -> results/formal.md, results/formal.csv.
formal: deps
	$(CARGO) run --release -p xnorflow-hdl --example formal -- results/formal.csv

## BNN-PYNQ's CNV (random weights) at its folding: compile time, sim, Verilator cosim, Yosys (about 15 min)
## -> results/cnv_*.
cnv-results: deps
	scripts/cnv_results.sh results

ci: lint test

clean:
	$(CARGO) clean
	rm -rf xnorflow-demo
