//! `make formal`: proves every stream block kind at several configurations with Yosys,
//! yosys-smtbmc and z3 (`hdl::formal`), checks that each kind's mutant fails, prints a Markdown
//! table and writes it to `<csv>` and the `.md` beside it.
//!
//! Usage: `cargo run --release -p xnorflow-hdl --example formal -- results/formal.csv [--fast]`
//! (`FORMAL_ONLY=<kind substring>` restricts the run to matching block kinds, for development).

use hdl::formal::{self, Effort, FormalResult, Property};
use std::fmt::Write as _;
use std::time::Instant;

const HEAD: &str = "# Formal checks of the stream blocks

`make formal` (`cargo run --release -p xnorflow-hdl --example formal -- results/formal.csv`) proves,
for every block kind the emitter produces (FIFO, width converter, argmax, MVTU, sliding-window
unit, max-pool and the whole accelerator's AXI4-Stream top built from a lowered random model), at
several widths and foldings:

- **AXI4-Stream rules** on the output port: TVALID once high stays high until the handshake, TDATA
  is stable while TVALID && !TREADY, TVALID is low at power-up, after a cycle of reset and in the
  cycle right after reset. The input port is driven by a legal AXI4-Stream source (`assume`s of the
  same rules) and reset may come at any cycle; the sink's TREADY is free.
- **Token conservation**, in two halves over counters of frames and of words within the frame on
  each side: *no extra word* (the output never runs ahead of the input frames begun: no
  duplicated or invented word, under any gaps and backpressure) and *no lost word* (once the
  source stops at a frame boundary, with the sink ready, every frame that went in has come out
  with exactly the block's words per frame within the drain bound).
- **Bounded progress**: with the source always valid and the sink always ready, an output
  handshake at least every `L` cycles (the first counted from reset); `L` and the drain bound are
  measured per configuration on the rust-hdl simulation and then proven by the solver.

How: `hdl::formal` writes a wrapper module around the emitted Verilog (the properties are never
in the design) with immediate `assert`/`assume` and `$past`; Yosys 0.23 runs `read_verilog -formal`,
`prep`, `flatten`, `memory_map` (memories and `$readmemh` ROMs as registers), `async2sync`,
`dffunmap`, `write_smt2 -wires`, and writes a second, bit-level model after `opt -full; techmap;
opt -full`. `yosys-smtbmc -s z3` runs BMC to the depth shown, then k-induction (`-i`, k = 4, 30 s);
each run races four encodings (word or bit level, with or without `--unroll`) and takes the first
answer, because z3 4.8 hangs on some of them for some blocks (before its first query, for the
sliding-window unit's word-level model). \"proven: BMC N + induction\" is a proof for every trace
length; \"BMC N\" is a bounded proof (the depth always covers a whole frame plus the bound being
checked). The FIFO, width converter and argmax proofs are strengthened by invariants over the
block's registers (pointers, fill counts against the wrapper's word counters), read through probe
wires that the Yosys script connects to the flattened registers (`connect -set`), so the design
text is untouched. Internal streams of the accelerator are covered by the per-block proofs (each
block assumes only a legal source and guarantees a legal output).

Limits: the drain (no lost word) proof keeps the sink always ready, so a word lost only under
backpressure would be caught by the AXI rules or the no-extra-word counters only if it shows there;
the MVTU, SWU, max-pool and accelerator conservation and progress proofs are bounded (induction
would need invariants over their counters); the accelerator configurations are dense models and
two residual tops (an identity block, and a stride-2 block whose bypass pools and pads channels:
duplicate, sign, window, MVTU, bypass FIFO and saturating add in one design); a plain
convolutional top is covered stage by stage.

A deliberately broken variant of each kind (the emitted Verilog text mutated) must fail at least
one property: see *Mutants*. `cargo test --release -p xnorflow-hdl --test formal` runs a fast
subset (one configuration per kind and every mutant).
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fast = args.iter().any(|a| a == "--fast");
    let csv_path =
        args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "results/formal.csv".into());
    if let Err(e) = formal::tools_available() {
        eprintln!("skipping the formal checks: {e}");
        return;
    }
    let only = std::env::var("FORMAL_ONLY").ok();
    let t0 = Instant::now();
    let designs = match formal::designs(fast) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("building the designs failed: {e}");
            std::process::exit(1);
        }
    };
    let designs: Vec<_> = designs
        .into_iter()
        .filter(|d| only.as_deref().is_none_or(|o| d.kind.to_string().contains(o)))
        .collect();
    let effort = Effort::default();
    let mut results: Vec<FormalResult> = Vec::new();
    let mut bounds = Vec::new();
    for d in &designs {
        bounds.push((d.kind, d.config.clone(), d.progress_bound, d.drain_bound));
        for p in Property::ALL {
            match formal::check(d, p, &effort) {
                Ok(r) => {
                    eprintln!(
                        "{} | {} | {} | {} | {:.1} s",
                        r.block,
                        r.config,
                        p.name(),
                        r.cell(),
                        r.seconds
                    );
                    results.push(r);
                }
                Err(e) => {
                    eprintln!("{} {} {}: {e}", d.kind, d.config, p.name());
                    std::process::exit(1);
                }
            }
        }
    }
    // Mutants: one per kind, on the first configuration of that kind.
    let mut mutants = Vec::new();
    let mut seen = Vec::new();
    for d in designs.iter().filter(|_| std::env::var_os("FORMAL_NO_MUTANTS").is_none()) {
        if seen.contains(&d.kind) {
            continue;
        }
        seen.push(d.kind);
        let m = match formal::standard_mutant(d) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let no_induction = Effort { induction: 0, ..effort };
        let (caught, secs) = match formal::check(&m.design, m.expected, &no_induction) {
            Ok(r) => (if r.passed() { None } else { Some(r.clone()) }, r.seconds),
            Err(e) => {
                eprintln!("mutant {}: {e}", m.description);
                std::process::exit(1);
            }
        };
        eprintln!(
            "mutant {} {}: {}",
            d.kind,
            m.description,
            caught.as_ref().map_or("NOT caught".into(), |r| r.cell())
        );
        mutants.push((d.kind, d.config.clone(), m.description.clone(), caught, secs));
    }
    let total = t0.elapsed().as_secs_f64();

    let mut md = String::from(HEAD);
    md.push_str(
        "\n## Results\n\n| block | configuration | property | result | seconds |\n|---|---|---|---|---|\n",
    );
    let mut csv = String::from("block,configuration,property,result,bmc_depth,induction,seconds\n");
    for r in &results {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} |",
            r.block,
            r.config,
            r.property.name(),
            r.cell(),
            r.seconds
        );
        let (depth, ind) = match &r.outcome {
            formal::Outcome::Proven { bmc_depth, induction } => (
                bmc_depth.to_string(),
                induction.map_or("not tried".into(), |b| if b { "yes".into() } else { "no".to_string() }),
            ),
            _ => (String::new(), String::new()),
        };
        let status = if r.passed() { "proven" } else { "FAILED" };
        let _ = writeln!(
            csv,
            "{},\"{}\",{},{status},{depth},{ind},{:.2}",
            r.block,
            r.config,
            r.property.name(),
            r.seconds
        );
    }
    md.push_str("\n## Measured bounds\n\n| block | configuration | progress bound L (cycles) | drain bound (cycles) |\n|---|---|---|---|\n");
    for (k, c, l, dr) in &bounds {
        let _ = writeln!(md, "| {k} | {c} | {l} | {dr} |");
    }
    md.push_str(
        "\n## Mutants\n\n| block | configuration | mutation | caught by | seconds |\n|---|---|---|---|---|\n",
    );
    for (k, c, desc, caught, secs) in &mutants {
        let by = caught
            .as_ref()
            .map_or("NOT CAUGHT".to_string(), |r| format!("{}: {}", r.property.name(), r.cell()));
        let _ = writeln!(md, "| {k} | {c} | {desc} | {by} | {secs:.1} |");
        let _ = writeln!(
            csv,
            "{k},\"{c}\",mutant: {desc},{},,,{secs:.2}",
            if caught.is_some() { "caught" } else { "NOT CAUGHT" }
        );
    }
    let _ = writeln!(md, "\nTotal run time: {total:.0} s.");
    println!("{md}");
    let md_path = std::path::Path::new(&csv_path).with_extension("md");
    if let Err(e) = std::fs::write(&csv_path, csv).and_then(|()| std::fs::write(&md_path, &md)) {
        eprintln!("writing {csv_path}: {e}");
        std::process::exit(1);
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    let missed = mutants.iter().filter(|m| m.3.is_none()).count();
    if failed > 0 || missed > 0 {
        eprintln!("{failed} properties failed, {missed} mutants not caught");
        std::process::exit(1);
    }
}
