//! The board top at bit level: real digits test images sent as UART bytes with random gaps come
//! back as the golden model's classes; a framing error and a silence inside a frame abandon it
//! with the error byte, and the next frame is classified again. A design with its weights in
//! SPRAM first takes them over the UART (the simulation starts with empty SPRAMs) and then
//! classifies the same way. Runs in Verilator (`--binary --timing`) when it is installed, else
//! Icarus; skipped without either.

mod common;

use common::folding;
use compiler::data::{parse_digits, Split};
use compiler::dataflow::target::{Arch, Ice40Part};
use compiler::dataflow::Popcount;
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Padding, Shape};
use hdl::rtl::board::{self, TbByte, ERROR_BYTE, LOAD_ACK};
use reports::build::{self, BuildOptions};
use reports::builddir::BuildDir;

/// A small conv net on the digits' 8x8 images, at a folding that streams several elements a word.
fn build_dir(dir: &std::path::Path) -> BuildDir {
    build_dir_with(dir, false)
}

/// [`build_dir`], with every layer's weights in SPRAM (`spram`, compiled for the UP5K).
fn build_dir_with(dir: &std::path::Path, spram: bool) -> BuildDir {
    let specs = [
        LayerSpec::QuantBinary(7),
        LayerSpec::Conv2d { out: 8, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: false } },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(16),
        LayerSpec::Dense(10),
    ];
    let m = random_model("uart", Shape::new(8, 8, 1), &specs, 11).expect("model");
    let mut f = folding(&m, &[(2, 1), (4, 16), (2, 8)], Popcount::Compressor);
    let mut opts = BuildOptions { frames: 1, ..BuildOptions::default() };
    if spram {
        // Eight memories of 1, 16 and 8 bits, 36, 32 and 10 words deep.
        f.layers.values_mut().for_each(|l| l.mem_style = compiler::dataflow::MemStyle::Spram);
        opts.arch = Some(Arch::Ice40(Ice40Part::Up5k));
    }
    build::compile(&m, &f, dir, &opts, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    BuildDir::open(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the testbench in `dir` with Verilator or Icarus; `None` when neither is installed.
fn run_tb(dir: &std::path::Path) -> Option<String> {
    run_tb_with(dir, &[])
}

/// [`run_tb`] with macros defined (`-D`).
fn run_tb_with(dir: &std::path::Path, defines: &[&str]) -> Option<String> {
    reports::board::run_testbench(dir, defines).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn uart_board_classifies_real_images_and_recovers_from_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = build_dir(&tmp.path().join("b"));
    classifies_and_recovers(&b, tmp.path(), 1);
}

/// The packer behind the input queue: a dense first layer at SIMD 16 takes sixteen pixels a
/// word (four words a frame), so an element in the wrong slot, a slot counter that survives an
/// abandoned frame or a word that keeps an earlier frame's bits gives other classes.
#[test]
fn uart_board_packs_several_elements_a_word() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let specs = [LayerSpec::QuantBinary(7), LayerSpec::Dense(32), LayerSpec::Dense(10)];
    let m = random_model("uart_dense", Shape::new(8, 8, 1), &specs, 12).expect("model");
    let f = folding(&m, &[(4, 16), (2, 8)], Popcount::Compressor);
    let opts = BuildOptions { frames: 1, ..BuildOptions::default() };
    let dir = tmp.path().join("b");
    build::compile(&m, &f, &dir, &opts, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let b = BuildDir::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    classifies_and_recovers(&b, tmp.path(), 16);
}

/// 32 digits with random gaps through build `b`'s board top (input words of `epw` elements),
/// two of them abandoned (a framing error, a silence) and sent again.
fn classifies_and_recovers(b: &BuildDir, tmp: &std::path::Path, epw: usize) {
    // 8 clocks a bit keeps the simulation short; the logic is the same at 12 MHz / 115200.
    let p = reports::board::params(b, 8_000_000, 1_000_000).expect("params");
    assert_eq!(p.elems_per_word(), epw);
    assert_eq!(p.clks_per_bit, 8);
    let dir = tmp.join("board");
    let top = reports::board::write(b, &p, &dir, None).expect("board top").top;
    let digits = parse_digits(reports_digits(), "digits", Split::Test).expect("digits");
    let golden = sim::golden::Golden::new(&b.model).expect("golden");
    let frame = 64;
    let images: Vec<&[u8]> = digits.images.chunks(frame).take(32).collect();
    let mut rng = 0x9e37_79b9_u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let (mut sent, mut want) = (Vec::new(), Vec::new());
    for (i, img) in images.iter().enumerate() {
        // Frame 5 breaks off with a framing error in its 20th byte, frame 9 with a silence
        // longer than the timeout after its 30th; each is then sent again whole.
        let broken = match i {
            5 => Some((20, true)),
            9 => Some((30, false)),
            _ => None,
        };
        if let Some((at, framing)) = broken {
            for (j, &px) in img.iter().enumerate().take(at) {
                let bad_stop = framing && j + 1 == at;
                sent.push(TbByte { byte: px, gap: next(3) as u16, bad_stop });
            }
            want.push(ERROR_BYTE);
            if !framing {
                // Silence past the timeout, then the frame from its start.
                sent.push(TbByte { byte: img[0], gap: (p.timeout + 200) as u16, bad_stop: false });
                sent.extend(img[1..].iter().map(|&px| TbByte {
                    byte: px,
                    gap: next(3) as u16,
                    bad_stop: false,
                }));
                want.push(golden.run(img).expect("golden").class as u8);
                continue;
            }
        }
        for &px in img.iter() {
            // Mostly back to back, sometimes a pause of up to two byte times.
            let gap = if next(8) == 0 { next(160) } else { next(3) };
            sent.push(TbByte { byte: px, gap: gap as u16, bad_stop: false });
        }
        want.push(golden.run(img).expect("golden").class as u8);
    }
    std::fs::write(dir.join("board_tb_in.mem"), board::tb_input(&sent)).expect("write");
    std::fs::write(dir.join("board_tb_out.mem"), board::tb_expected(&want)).expect("write");
    let max_cycles = sent.len() as u64 * 12 * p.clks_per_bit + 200_000;
    let tb = board::testbench(&top, p.clks_per_bit, sent.len(), want.len(), max_cycles);
    std::fs::write(dir.join("board_tb.v"), tb).expect("write");
    let Some(out) = run_tb(&dir) else {
        eprintln!("skipped: neither Verilator nor Icarus Verilog is installed");
        return;
    };
    assert!(out.contains(&format!("PASS {} bytes", want.len())), "{out}");
}

/// Weights in SPRAM: the simulation starts with every SPRAM empty (`XNORFLOW_SPRAM_LOADER`), a
/// byte other than the magic is refused with the error byte, the weight image `weights.bin`
/// (magic, then every word) is sent with gaps and acknowledged, and then 32 digits come back as
/// the golden model's classes. A loader that fills the memories in another order, or at other
/// addresses, gives other classes.
#[test]
fn uart_board_loads_spram_weights_then_classifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = build_dir_with(&tmp.path().join("b"), true);
    let p = reports::board::params(&b, 8_000_000, 1_000_000).expect("params");
    assert_eq!((p.spram_words.as_slice(), p.spram_bits), (&[36, 36, 32, 32, 32, 32, 10, 10][..], 16));
    let dir = tmp.path().join("board");
    let top = reports::board::write(&b, &p, &dir, None).expect("board top").top;
    let image = std::fs::read(dir.join(reports::board::WEIGHTS_BIN)).expect("weights.bin");
    assert_eq!(image.len(), 1 + 2 * (2 * 36 + 4 * 32 + 2 * 10));
    assert_eq!(image[0], board::LOAD_MAGIC);
    let digits = parse_digits(reports_digits(), "digits", Split::Test).expect("digits");
    let golden = sim::golden::Golden::new(&b.model).expect("golden");
    let mut sent = vec![TbByte { byte: 0x00, gap: 0, bad_stop: false }];
    let mut want = vec![ERROR_BYTE];
    sent.extend(image.iter().enumerate().map(|(i, &byte)| TbByte {
        byte,
        gap: (i % 5) as u16,
        bad_stop: false,
    }));
    want.push(LOAD_ACK);
    for img in digits.images.chunks(64).take(32) {
        sent.extend(img.iter().map(|&byte| TbByte { byte, gap: 1, bad_stop: false }));
        want.push(golden.run(img).expect("golden").class as u8);
    }
    std::fs::write(dir.join("board_tb_in.mem"), board::tb_input(&sent)).expect("write");
    std::fs::write(dir.join("board_tb_out.mem"), board::tb_expected(&want)).expect("write");
    let max_cycles = sent.len() as u64 * 12 * p.clks_per_bit + 200_000;
    let tb = board::testbench(&top, p.clks_per_bit, sent.len(), want.len(), max_cycles);
    std::fs::write(dir.join("board_tb.v"), tb).expect("write");
    let v = std::fs::read_to_string(dir.join(reports::board::BOARD_V)).expect("board.v");
    assert!(v.contains("SB_SPRAM") || v.contains("`ifndef XNORFLOW_SPRAM_LOADER"), "no SPRAM form");
    let Some(out) = run_tb_with(&dir, &[hdl::rtl::memory::LOADER_MACRO]) else {
        eprintln!("skipped: neither Verilator nor Icarus Verilog is installed");
        return;
    };
    assert!(out.contains(&format!("PASS {} bytes", want.len())), "{out}");
}

/// The built-in digits (the same file the CLI bundles).
fn reports_digits() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/digits.csv.gz")).expect("data/digits.csv.gz")
}
