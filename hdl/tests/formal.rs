//! Formal checks, fast subset: one small configuration per block kind with every property
//! (AXI4-Stream rules, token conservation both halves, bounded progress) proven by Yosys +
//! yosys-smtbmc + z3, and every kind's mutant caught. Skipped with a message when the tools are
//! missing. `make formal` runs the full set (`examples/formal.rs`).

use compiler::dataflow::Flags;
use hdl::formal::{self, Effort, Property};
use std::time::Duration;

fn tools() -> bool {
    match formal::tools_available() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipping the formal checks: {e}");
            false
        }
    }
}

fn effort() -> Effort {
    Effort {
        extra_depth: 0,
        induction: 4,
        timeout: Duration::from_secs(300),
        induction_timeout: Duration::from_secs(20),
        // Induction only where invariants make it succeed quickly: the others are bounded proofs.
        induction_needs_invariants: true,
    }
}

#[test]
fn every_block_kind_meets_its_properties_and_every_mutant_is_caught() {
    if !tools() {
        return;
    }
    let designs = formal::designs(true).expect("designs");
    let mut kinds = Vec::new();
    let mut failures = Vec::new();
    for d in &designs {
        kinds.push(d.kind);
        for p in Property::ALL {
            let r = formal::check(d, p, &effort()).unwrap_or_else(|e| panic!("{} {}: {e}", d.kind, d.config));
            eprintln!("{} | {} | {} | {} | {:.1} s", r.block, r.config, p.name(), r.cell(), r.seconds);
            if !r.passed() {
                failures.push(format!("{} {} {}: {}", d.kind, d.config, p.name(), r.cell()));
            }
        }
        let m = formal::standard_mutant(d).expect("mutant");
        let r =
            formal::check(&m.design, m.expected, &Effort { induction: 0, ..effort() }).expect("mutant check");
        eprintln!("mutant {} {}: {} ({:.1} s)", d.kind, m.description, r.cell(), r.seconds);
        if r.passed() {
            failures.push(format!(
                "mutant {} `{}` was not caught by {}",
                d.kind,
                m.description,
                m.expected.name()
            ));
        }
    }
    assert_eq!(kinds.len(), 7, "one configuration per block kind");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The iCE40 pipeline's registers (at the cuts and on the lane sums) keep every stream
/// property of the MVTU: the handshake rules with induction, conservation and progress bounded;
/// the controller mutant is still caught.
#[test]
fn the_ice40_pipelined_mvtus_meet_their_properties() {
    if !tools() {
        return;
    }
    let mut failures = Vec::new();
    for d in formal::pipelined_mvtus().expect("designs") {
        assert!(d.config.contains("cuts input+"), "{}", d.config);
        for p in Property::ALL {
            let r = formal::check(&d, p, &effort()).unwrap_or_else(|e| panic!("{}: {e}", d.config));
            eprintln!("{} | {} | {} | {:.1} s", r.config, p.name(), r.cell(), r.seconds);
            if !r.passed() {
                failures.push(format!("{} {}: {}", d.config, p.name(), r.cell()));
            }
        }
        let m = formal::standard_mutant(&d).expect("mutant");
        let r = formal::check(&m.design, m.expected, &Effort { induction: 0, ..effort() }).expect("mutant");
        if r.passed() {
            failures.push(format!("mutant `{}` not caught on {}", m.description, d.config));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_fifo_proofs_are_inductive() {
    if !tools() {
        return;
    }
    let d = formal::fifo(3, 5, 2).expect("fifo");
    for p in [Property::Axi, Property::NoExtra] {
        let r = formal::check(&d, p, &effort()).expect("check");
        assert!(
            matches!(r.outcome, formal::Outcome::Proven { induction: Some(true), .. }),
            "{}: {}",
            p.name(),
            r.cell()
        );
    }
}

/// The FIFO in block RAM meets every property (bounded: its output register and bypass are
/// state the pointer invariants do not describe), and dropping the bypass for the word written
/// as it is read breaks AXI4-Stream (the head word changes while it waits).
#[test]
fn the_block_ram_fifo_meets_its_properties_and_needs_its_bypass() {
    if !tools() {
        return;
    }
    let d = formal::fifo_in(3, 5, 2, hdl::MemStyle::Block).expect("fifo");
    for p in Property::ALL {
        let r = formal::check(&d, p, &effort()).expect("check");
        assert!(r.passed(), "{}: {}", p.name(), r.cell());
    }
    let m = formal::mutate(&d, "no bypass", Property::Axi, "bypass ? written : q", "q").expect("mutant");
    let r = formal::check(&m.design, m.expected, &Effort { induction: 0, ..effort() }).expect("check");
    assert!(!r.passed(), "the FIFO without its bypass passed: {}", r.cell());
}

/// iCE40's registered handshake flags (a FIFO's full and empty, a width converter's ready and
/// valid, loaded from the next count's compares) keep every stream property, the handshake
/// rules and no-extra-word by induction; a flag loaded from the count before the edge is caught
/// (a late `full` overwrites a held word, a late `valid` emits a word twice).
#[test]
fn the_registered_flags_meet_their_properties() {
    if !tools() {
        return;
    }
    let designs = [
        (
            formal::fifo_flags(3, 2, 2, hdl::MemStyle::Distributed, Flags::Registered).expect("fifo"),
            // A late `full` takes a word into a full FIFO, over the head word while it waits.
            ("full <= next == 2'd2", "full <= count == 2'd2", Property::Axi),
        ),
        (
            formal::width_converter_flags(3, 2, 6, Flags::Registered).expect("dwc"),
            // A late `valid` pops the word it just emptied out a second time.
            ("valid <= next >= 3'd2", "valid <= cnt >= 3'd2", Property::NoExtra),
        ),
    ];
    let mut failures = Vec::new();
    for (d, (from, to, expected)) in &designs {
        for p in Property::ALL {
            let r = formal::check(d, p, &effort()).unwrap_or_else(|e| panic!("{}: {e}", d.config));
            eprintln!("{} | {} | {} | {:.1} s", d.config, p.name(), r.cell(), r.seconds);
            let inductive = matches!(r.outcome, formal::Outcome::Proven { induction: Some(true), .. });
            if !r.passed() || matches!(p, Property::Axi | Property::NoExtra) && !inductive {
                failures.push(format!("{} {}: {}", d.config, p.name(), r.cell()));
            }
        }
        let m =
            formal::mutate(d, "flag from the count before the edge", *expected, from, to).expect("mutant");
        let deeper = Effort { induction: 0, extra_depth: 8, ..effort() };
        let r = formal::check(&m.design, m.expected, &deeper).expect("mutant");
        eprintln!("mutant `{to}`: {}", r.cell());
        if r.passed() {
            failures.push(format!("{}: the mutant `{to}` passed", d.config));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_missing_tool_or_bad_mutation_is_an_error_not_a_panic() {
    let d = formal::fifo(2, 2, 2).expect("fifo");
    let e = formal::mutate(&d, "nothing", Property::Axi, "no such text", "x").expect_err("must fail");
    assert!(e.to_string().contains("is not in the FIFO Verilog"), "{e}");
}
