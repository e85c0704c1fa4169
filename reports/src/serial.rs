//! The host side of the board top's UART protocol (`xnorflow board`): a flashed board is sent
//! the weight image (designs with weights in SPRAM), then one frame's pixel bytes at a time, and
//! each answer is decoded and checked against the golden model.
//!
//! The protocol is the board top's (`hdl::rtl::board`): a frame is the model's pixel bytes in
//! (h, w, c) order; the answer is each output word as `ceil(out_bits / 8)` bytes, least
//! significant first (one byte, the class, for a design ending in an argmax); a frame the board
//! abandons is answered with [`board::ERROR_BYTE`] alone. The host sends one frame and waits for
//! its answer before the next, so the board never sees a gap inside a frame longer than the
//! operating system's.

use crate::board::BoardError;
use crate::builddir::BuildDir;
use hdl::rtl::board;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// What the host must know of a build to talk to its board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// Pixel bytes per frame.
    pub frame_len: usize,
    /// Output words per frame.
    pub out_words: usize,
    /// Bytes per output word.
    pub out_bytes: usize,
    /// Bits per output word.
    pub out_bits: usize,
    /// The weight image to send after power-on ([`board::LOAD_MAGIC`] first); `None` when the
    /// weights are in the bitstream.
    pub weights: Option<Vec<u8>>,
}

impl Protocol {
    /// The protocol of build `b`'s board top.
    pub fn of(b: &BuildDir) -> Result<Protocol, BoardError> {
        let last = b.graph.nodes.last().ok_or_else(|| BoardError::Design("the graph is empty".into()))?;
        let out_bits = b.graph.out_bits();
        Ok(Protocol {
            frame_len: b.model.input.len(),
            out_words: last.out_words,
            out_bytes: out_bits.div_ceil(8),
            out_bits,
            weights: crate::board::weight_image(b)?,
        })
    }

    /// Bytes of one frame's answer.
    pub fn answer_len(&self) -> usize {
        self.out_words * self.out_bytes
    }

    /// The output words of an answer, each as 64-bit limbs (least significant first), as the
    /// simulators give them.
    pub fn words(&self, answer: &[u8]) -> Vec<Vec<u64>> {
        answer
            .chunks(self.out_bytes)
            .map(|w| {
                let mut limbs = vec![0u64; self.out_bits.div_ceil(64)];
                for (i, &byte) in w.iter().enumerate() {
                    limbs[i / 8] |= u64::from(byte) << (8 * (i % 8));
                }
                limbs
            })
            .collect()
    }

    /// An answer's bytes from the output words (the inverse of [`Protocol::words`]).
    pub fn bytes(&self, words: &[Vec<u64>]) -> Vec<u8> {
        words
            .iter()
            .flat_map(|w| {
                (0..self.out_bytes).map(move |i| (w.get(i / 8).copied().unwrap_or(0) >> (8 * (i % 8))) as u8)
            })
            .collect()
    }
}

/// Why talking to the board failed.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// The port could not be opened or configured.
    #[error("cannot use {port}: {why}")]
    Open {
        /// The port.
        port: String,
        /// Why.
        why: String,
    },
    /// Reading or writing the port.
    #[error("the serial port failed: {0}")]
    Io(#[from] std::io::Error),
    /// The board did not answer in time.
    #[error(
        "no answer from the board within {waited:.1} s ({got} of {want} bytes): is it flashed with this \
         build's bitstream (iceprog BUILD/board/board.bin), is the port its UART, and is the baud rate the \
         bitstream's?"
    )]
    Timeout {
        /// Seconds waited.
        waited: f64,
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// The board abandoned the frame or the weight image (framing error, silence inside it).
    #[error("the board answered 0xEE: it abandoned the {what} (a framing error or a gap inside it)")]
    Abandoned {
        /// What was being sent.
        what: &'static str,
    },
    /// The weight loader answered something else than its acknowledgement.
    #[error("the board answered 0x{0:02X} to the weight image instead of 0x4B ('K')")]
    NotLoaded(u8),
    /// The board's answer does not decode to a class.
    #[error("frame {frame}: the answer {answer:02X?} does not decode to a class")]
    Undecodable {
        /// Frame index.
        frame: usize,
        /// The bytes.
        answer: Vec<u8>,
    },
    /// The build cannot be put on a board, or its weight image cannot be made.
    #[error(transparent)]
    Board(#[from] BoardError),
    /// The golden model.
    #[error(transparent)]
    Golden(#[from] sim::golden::SimError),
    /// Images and labels do not match the design.
    #[error("{0}")]
    Frames(String),
}

/// What a run of labelled images on the board gave.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BoardRun {
    /// Frames sent and answered.
    pub frames: usize,
    /// Frames whose class is the label.
    pub correct: usize,
    /// Frames whose golden-model class is the label.
    pub golden_correct: usize,
    /// Indices of the frames whose class differs from the golden model's.
    pub mismatches: Vec<usize>,
    /// Frames resent after the board abandoned them.
    pub resent: usize,
    /// Whether the weight image was sent first.
    pub loaded_weights: bool,
    /// Wall-clock seconds for the frames (the weight image not included).
    pub seconds: f64,
    /// Each frame's class and, for designs that stream them, scores.
    pub predictions: Vec<crate::cosim::HwPrediction>,
}

impl BoardRun {
    /// Frames per second over the port.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// Sends `images` (frames of `p.frame_len` pixels, one label each) to the board on `port`, after
/// the weight image when `load` and the design has one, and checks each answer against the
/// golden model. A frame the board abandons is sent once more; `progress(done)` hears each frame.
pub fn run(
    b: &BuildDir,
    port: &mut Port,
    p: &Protocol,
    images: &[u8],
    labels: &[u8],
    load: bool,
    progress: &mut dyn FnMut(usize),
) -> Result<BoardRun, SerialError> {
    check_frames(b, p, images, labels)?;
    port.drain(Duration::from_millis(50));
    let loaded_weights = match (&p.weights, load) {
        (Some(image), true) => {
            port.load_weights(image)?;
            true
        }
        _ => false,
    };
    let mut resent = 0;
    let t0 = Instant::now();
    let mut r = tally(
        b,
        p,
        images,
        labels,
        &mut |_, pixels| match port.classify(p, pixels) {
            Err(SerialError::Abandoned { .. }) => {
                resent += 1;
                port.drain(Duration::from_millis(20));
                port.classify(p, pixels)
            }
            r => r,
        },
        progress,
    )?;
    r.seconds = t0.elapsed().as_secs_f64();
    r.resent = resent;
    r.loaded_weights = loaded_weights;
    Ok(r)
}

/// [`run`] on the board simulated at bit level (`crate::board::simulate`: the board top's
/// Verilog, UART included, in Verilator or Icarus), the weight image first for a design with
/// weights in SPRAM; `None` when neither simulator is installed.
pub fn simulate(
    b: &BuildDir,
    p: &Protocol,
    images: &[u8],
    labels: &[u8],
    progress: &mut dyn FnMut(usize),
) -> Result<Option<BoardRun>, SerialError> {
    check_frames(b, p, images, labels)?;
    let frames: Vec<&[u8]> = images.chunks(p.frame_len).collect();
    let owned: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    let v = sim::stream::vectors(&b.model, &b.graph, &owned)?;
    let mut expected = if p.weights.is_some() { vec![board::LOAD_ACK] } else { Vec::new() };
    expected.extend(v.expected.iter().flat_map(|w| p.bytes(w)));
    let t0 = Instant::now();
    let Some(got) = crate::board::simulate(b, &frames, &expected)? else { return Ok(None) };
    let seconds = t0.elapsed().as_secs_f64();
    let answers = match (&p.weights, got.split_first()) {
        (None, _) => &got[..],
        (Some(_), Some((&board::LOAD_ACK, rest))) => rest,
        (Some(_), Some((&other, _))) => return Err(SerialError::NotLoaded(other)),
        (Some(_), None) => &[],
    };
    let al = p.answer_len();
    let mut r = tally(
        b,
        p,
        images,
        labels,
        &mut |i, _| {
            answers.get(i * al..(i + 1) * al).map(<[u8]>::to_vec).ok_or(SerialError::Timeout {
                waited: seconds,
                got: answers.len().saturating_sub(i * al),
                want: al,
            })
        },
        progress,
    )?;
    r.seconds = seconds;
    r.loaded_weights = p.weights.is_some();
    Ok(Some(r))
}

fn check_frames(b: &BuildDir, p: &Protocol, images: &[u8], labels: &[u8]) -> Result<(), SerialError> {
    crate::builddir::check_labelled(images, labels, p.frame_len, &b.model.input)
        .map_err(SerialError::Frames)?;
    Ok(())
}

/// Where a frame's answer comes from: `(index, pixels) -> answer bytes`.
type Answer<'a> = dyn FnMut(usize, &[u8]) -> Result<Vec<u8>, SerialError> + 'a;

/// Each frame's answer from `answer(index, pixels)`, decoded and counted against the labels and
/// the golden model's classes.
fn tally(
    b: &BuildDir,
    p: &Protocol,
    images: &[u8],
    labels: &[u8],
    answer: &mut Answer<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<BoardRun, SerialError> {
    let golden = sim::golden::Golden::new(&b.model)?.run_batch(images)?;
    let mut run = BoardRun {
        frames: 0,
        correct: 0,
        golden_correct: 0,
        mismatches: Vec::new(),
        resent: 0,
        loaded_weights: false,
        seconds: 0.0,
        predictions: Vec::with_capacity(labels.len()),
    };
    for (i, (pixels, &label)) in images.chunks(p.frame_len).zip(labels).enumerate() {
        let bytes = answer(i, pixels)?;
        let hw = sim::stream::decode_output(&b.graph, &p.words(&bytes))
            .ok_or(SerialError::Undecodable { frame: i, answer: bytes })?;
        let label = usize::from(label);
        run.frames += 1;
        run.correct += usize::from(hw.0 == label);
        run.golden_correct += usize::from(golden[i].class == label);
        if hw.0 != golden[i].class {
            run.mismatches.push(i);
        }
        run.predictions.push(hw);
        progress(i + 1);
    }
    Ok(run)
}

/// A serial port (or any byte stream) with reads that give up after a timeout.
pub struct Port {
    writer: File,
    bytes: Receiver<std::io::Result<u8>>,
    /// Seconds per byte on the wire (10 bits a byte at the baud rate), to size timeouts.
    byte_time: f64,
}

impl Port {
    /// Opens `path` at `baud`, 8N1, raw (no echo, no line editing, no flow control). A terminal
    /// device is configured with `stty`; anything else (a FIFO, a file) is used as it is.
    pub fn open(path: &Path, baud: u64) -> Result<Port, SerialError> {
        let err = |why: String| SerialError::Open { port: path.display().to_string(), why };
        let f =
            std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| err(e.to_string()))?;
        if std::io::IsTerminal::is_terminal(&f) {
            let out = std::process::Command::new("stty")
                .arg("-F")
                .arg(path)
                .args([&baud.to_string(), "raw", "-echo", "cs8", "-cstopb", "-parenb", "clocal"])
                .output()
                .map_err(|e| err(format!("cannot run stty: {e}")))?;
            if !out.status.success() {
                return Err(err(format!("stty failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
            }
        }
        Port::from_file(f, baud)
    }

    /// A port over an open, already configured stream.
    pub fn from_file(f: File, baud: u64) -> Result<Port, SerialError> {
        let mut reader = f.try_clone()?;
        let (tx, bytes) = mpsc::channel();
        // A blocking read with a deadline: the reader thread forwards bytes as they come and
        // ends with the stream (or when the port is dropped and the channel closes).
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if buf[..n].iter().any(|&b| tx.send(Ok(b)).is_err()) {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(Port { writer: f, bytes, byte_time: 10.0 / baud.max(1) as f64 })
    }

    /// Sends `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        self.writer.write_all(bytes)?;
        self.writer.flush()?;
        Ok(())
    }

    /// Receives exactly `n` bytes, waiting at most `wait` for all of them.
    pub fn recv(&mut self, n: usize, wait: Duration) -> Result<Vec<u8>, SerialError> {
        let t0 = Instant::now();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let left = wait.saturating_sub(t0.elapsed());
            match self.bytes.recv_timeout(left) {
                Ok(b) => out.push(b?),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Err(SerialError::Timeout { waited: wait.as_secs_f64(), got: out.len(), want: n })
                }
            }
        }
        Ok(out)
    }

    /// Discards what arrives within `quiet` (a board's leftovers from an earlier session).
    pub fn drain(&mut self, quiet: Duration) -> usize {
        let mut n = 0;
        while let Ok(Ok(_)) = self.bytes.recv_timeout(quiet) {
            n += 1;
        }
        n
    }

    /// How long `bytes` take on the wire, plus `slack`.
    fn wire(&self, bytes: usize, slack: Duration) -> Duration {
        Duration::from_secs_f64(bytes as f64 * self.byte_time) + slack
    }

    /// Sends the weight image and waits for the loader's acknowledgement.
    pub fn load_weights(&mut self, image: &[u8]) -> Result<(), SerialError> {
        self.send(image)?;
        let wait = self.wire(image.len(), ANSWER_SLACK);
        match self.recv(1, wait)?[0] {
            board::LOAD_ACK => Ok(()),
            board::ERROR_BYTE => Err(SerialError::Abandoned { what: "weight image" }),
            other => Err(SerialError::NotLoaded(other)),
        }
    }

    /// Sends one frame and returns its answer's bytes.
    pub fn classify(&mut self, p: &Protocol, pixels: &[u8]) -> Result<Vec<u8>, SerialError> {
        self.send(pixels)?;
        let wait = self.wire(pixels.len() + p.answer_len(), ANSWER_SLACK);
        let first = self.recv(1, wait)?;
        let rest = p.answer_len() - 1;
        if first[0] == board::ERROR_BYTE {
            // A one-byte answer of 0xEE is the error byte (a design with more than 238 classes
            // cannot tell it from a class); a longer answer that stops after 0xEE is too.
            if rest == 0 {
                return Err(SerialError::Abandoned { what: "frame" });
            }
            return match self.recv(rest, self.wire(rest, ERROR_SLACK)) {
                Ok(r) => Ok([first, r].concat()),
                Err(SerialError::Timeout { .. }) => Err(SerialError::Abandoned { what: "frame" }),
                Err(e) => Err(e),
            };
        }
        let r = self.recv(rest, self.wire(rest, ANSWER_SLACK))?;
        Ok([first, r].concat())
    }
}

/// Time allowed beyond the wire time for the board to answer (the accelerator's latency is
/// microseconds; USB-UART bridges buffer for milliseconds).
const ANSWER_SLACK: Duration = Duration::from_secs(2);

/// After a leading 0xEE, how long the rest of a longer answer may take to show it is data.
const ERROR_SLACK: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_bytes_become_words_least_significant_first() {
        let p = Protocol { frame_len: 4, out_words: 2, out_bytes: 9, out_bits: 70, weights: None };
        let mut a = vec![0u8; 18];
        a[0] = 0x34;
        a[1] = 0x12;
        a[8] = 0x3F;
        a[9] = 0xFF;
        let w = p.words(&a);
        assert_eq!(w, vec![vec![0x1234, 0x3F], vec![0xFF, 0]]);
    }
}
