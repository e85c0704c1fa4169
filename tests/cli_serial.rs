//! `xnorflow board` against an emulated board on a pseudo-terminal: the host configures the
//! port raw (a cooked terminal would rewrite or swallow pixel bytes such as 0x0A, 0x0D and
//! 0x04), sends the weight image to a design with weights in SPRAM and waits for its
//! acknowledgement, sends each frame and decodes the class, resends a frame the board abandons
//! (0xEE), and refuses a board that answers another class than the golden model or none at all.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};

mod common;
use common::{stderr, stdout, succeeded, xnorflow};

/// How the emulated board misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    None,
    /// Answers 0xEE to the frame with this index the first time it comes.
    AbandonOnce(usize),
    /// Answers another class on the frame with this index.
    WrongClass(usize),
    /// Never answers.
    Silent,
}

/// A pseudo-terminal: the master end (the board's side) and the slave's path (the host's port).
/// The slave stays open here so the master does not see a hang-up between the host's opens.
struct Pty {
    master: File,
    path: PathBuf,
    _slave: File,
}

#[allow(unsafe_code)] // openpty has no safe wrapper in std; confined to this test helper
fn pty() -> Pty {
    // SAFETY: plain libc calls on a descriptor this function owns; the name buffer is sized and
    // NUL-terminated by ptsname_r.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let path = PathBuf::from(std::ffi::CStr::from_ptr(name.as_ptr()).to_str().expect("utf-8 name"));
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(&path).expect("slave opens");
        Pty { master: File::from_raw_fd(m), path, _slave: slave }
    }
}

/// Serves the board's protocol on `master` with the golden model of `model`: the weight image
/// first when `image` is given (answered 'K' when it arrives intact), then frames of the model's
/// pixels, each answered with its class byte.
fn emulate(mut master: File, model: &Path, image: Option<Vec<u8>>, fault: Fault) {
    let model = compiler::format::load(model).expect("model loads");
    let golden = sim::golden::Golden::new(&model).expect("golden model");
    let frame_len = golden.frame_len();
    std::thread::spawn(move || {
        let read = |master: &mut File, n: usize| -> Option<Vec<u8>> {
            let mut buf = vec![0u8; n];
            master.read_exact(&mut buf).ok().map(|_| buf)
        };
        if let Some(image) = image {
            let Some(got) = read(&mut master, image.len()) else { return };
            let ack = if got == image { b'K' } else { 0xEE };
            let _ = master.write_all(&[ack]);
        }
        let mut abandoned = false;
        let mut index = 0;
        while let Some(frame) = read(&mut master, frame_len) {
            let class = golden.run(&frame).expect("golden runs").class as u8;
            let answer = match fault {
                Fault::Silent => continue,
                Fault::AbandonOnce(i) if i == index && !abandoned => {
                    abandoned = true;
                    0xEE
                }
                Fault::WrongClass(i) if i == index => (class + 1) % 10,
                _ => class,
            };
            if answer != 0xEE {
                index += 1;
            }
            if master.write_all(&[answer]).is_err() {
                return;
            }
        }
    });
}

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/results/ice40/demo-up5k/model.xnf");

fn demo_build(dir: &Path) -> PathBuf {
    succeeded(&["compile", DEMO, "-o", "b", "--arch", "ice40", "--part", "up5k"], dir);
    dir.join("b")
}

#[test]
fn the_board_command_classifies_digits_and_resends_an_abandoned_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = demo_build(dir.path());
    let p = pty();
    emulate(p.master.try_clone().expect("clone"), Path::new(DEMO), None, Fault::AbandonOnce(3));
    let port = p.path.to_str().expect("utf-8");
    let o = succeeded(
        &["board", build.to_str().unwrap(), "--port", port, "--limit", "40", "--predictions", "p.csv"],
        dir.path(),
    );
    let out = stdout(&o);
    eprintln!("{out}");
    assert!(out.contains("every class the same"), "{out}");
    assert!(out.contains("1 frames abandoned by the board (0xEE) and sent again"), "{out}");
    // The accuracy equals `eval`'s on the same 40 images.
    let csv = std::fs::read_to_string(dir.path().join("p.csv")).expect("predictions");
    assert_eq!(csv.lines().count(), 41, "{csv}");
    let correct = csv.lines().skip(1).filter(|l| l.split(',').nth(3) == Some("1")).count();
    let o = xnorflow(&["eval", DEMO, "--dataset", "digits", "--limit", "40"], dir.path());
    let eval = stdout(&o);
    let pct = format!("{:.2}%", 100.0 * correct as f64 / 40.0);
    assert!(eval.contains(&pct) && out.contains(&format!("accuracy {pct} ({correct}/40)")), "{out}\n{eval}");
}

#[test]
fn the_board_command_refuses_a_wrong_class_and_a_silent_board() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = demo_build(dir.path());
    let p = pty();
    emulate(p.master.try_clone().expect("clone"), Path::new(DEMO), None, Fault::WrongClass(5));
    let o = xnorflow(
        &["board", build.to_str().unwrap(), "--port", p.path.to_str().unwrap(), "--limit", "12"],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("disagrees with the golden model on images 5:"), "{}", stderr(&o));
    let p = pty();
    emulate(p.master.try_clone().expect("clone"), Path::new(DEMO), None, Fault::Silent);
    let o = xnorflow(
        &["board", build.to_str().unwrap(), "--port", p.path.to_str().unwrap(), "--limit", "2"],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no answer from the board"), "{}", stderr(&o));
    // Not a port at all.
    let o = xnorflow(&["board", build.to_str().unwrap(), "--port", "/nonexistent/tty"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("cannot use /nonexistent/tty"), "{}", stderr(&o));
}

/// The MNIST SFC compiled for the UP5K keeps two layers' weights in SPRAM: the host sends the
/// weight image (magic byte first) before the first frame, and the board's 'K' lets it go on.
#[test]
fn the_board_command_loads_spram_weights_before_mnist_frames() {
    let mnist = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist"));
    if !mnist.exists() {
        eprintln!("skipped: {} is missing", mnist.display());
        return;
    }
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/results/ice40/sfc/model.xnf");
    let dir = tempfile::tempdir().expect("tempdir");
    succeeded(&["compile", model, "-o", "s", "--arch", "ice40", "--part", "up5k"], dir.path());
    let b = reports::builddir::BuildDir::open(&dir.path().join("s")).expect("build opens");
    let image = reports::board::weight_image(&b).expect("image").expect("the SFC has SPRAM weights");
    assert_eq!(image[0], 0x57);
    let p = pty();
    emulate(p.master.try_clone().expect("clone"), Path::new(model), Some(image), Fault::None);
    let o = succeeded(
        &[
            "board",
            "s",
            "--port",
            p.path.to_str().unwrap(),
            "--dataset",
            "mnist",
            "--data",
            mnist.to_str().unwrap(),
            "--limit",
            "6",
        ],
        dir.path(),
    );
    let out = stdout(&o);
    assert!(
        out.contains("weight image sent and acknowledged") && out.contains("every class the same"),
        "{out}"
    );
}

/// `--simulate`: no board, the board top's Verilog (UART, quantizer, accelerator) at bit level
/// in Verilator or Icarus gets the images as UART bytes; its classes are the golden model's.
#[test]
fn the_board_command_simulates_the_board_top_before_flashing() {
    if !tools::installed("verilator") && !tools::installed("iverilog") {
        eprintln!("skipped: neither Verilator nor Icarus Verilog is installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let build = demo_build(dir.path());
    let o = succeeded(&["board", build.to_str().unwrap(), "--simulate", "--limit", "12"], dir.path());
    let out = stdout(&o);
    assert!(out.contains("12 digits test images on the simulated board top"), "{out}");
    assert!(out.contains("every class the same"), "{out}");
    // Neither a port nor --simulate: refused by the argument parser, naming --port.
    let o = xnorflow(&["board", build.to_str().unwrap()], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("--port"), "{}", stderr(&o));
}
