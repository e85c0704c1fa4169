//! Resource limits: the largest sizes xnorflow accepts from files and options, and the one guarded
//! way to read an input file.
//!
//! A few bytes of a model file, a dataset header or a command-line option can declare gigabytes,
//! and every later stage (golden model, compiler, simulators, training) allocates from those sizes.
//! So sizes are checked here, before anything is allocated, against limits far above what a
//! binarized network for an FPGA needs (MNIST is 28x28 pixels, BNN-PYNQ's LFC has 1024x1024 weight
//! matrices, a VGG-style 224x224x64 activation still fits). Each error names the limit; raise a
//! constant here if a real model needs more.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Most elements (values, not bytes) of any tensor of a model: its input, each layer's output and
/// each convolution's padded input. The golden model stores a binary tensor as one 64-bit word
/// group per pixel, so this bounds one frame's tensor at 32 MiB. 2^22 = 4,194,304 (2048x2048x1,
/// 224x224x64).
pub const MAX_TENSOR_ELEMS: usize = 1 << 22;

/// Most storage bits (rows padded to whole 64-bit words) of one weight matrix: 2^30 bits = 128 MiB,
/// a hundred times a VGG-16 fully connected layer.
pub const MAX_MATRIX_BITS: usize = 1 << 30;

/// Most fractional bits of an 8-bit fixed-point input (`quant.fixed8`): the input is an 8-bit
/// integer, so at most all 8 of its bits are fractional (`frac_bits` 8 reads a pixel as p / 256).
pub const MAX_FRAC_BITS: u8 = 8;

/// Largest model file (`.xnf` or its text form) read: 1 GiB, eight times a model made of
/// [`MAX_MATRIX_BITS`] matrices would need for one of them.
pub const MAX_MODEL_FILE_BYTES: u64 = 1 << 30;

/// Largest dataset file (IDX or CSV, compressed or not) read: 2 GiB (MNIST's training images are
/// 47 MB raw, 10 MB compressed).
pub const MAX_DATASET_FILE_BYTES: u64 = 1 << 31;

/// Most bytes of data one dataset file may hold once decompressed (an IDX array's pixels, a CSV's
/// text): 2 GiB.
pub const MAX_DATASET_BYTES: u64 = 1 << 31;

/// Deflate's best compression ratio is 1032:1 (a run of one byte value), so a gzip file of `n`
/// bytes never decompresses to more than `n * MAX_DEFLATE_RATIO` bytes: a header that declares
/// more is corrupt or a decompression bomb, and is refused before decompressing anything.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

/// Most latent weights (parameters) of a network to train: 2^26 = 67,108,864, 256 MiB as f32 and
/// about 1.3 GiB with Adam's two moments and the gradients (LFC on MNIST has 2.9 million).
pub const MAX_TRAIN_PARAMS: usize = 1 << 26;

/// Most activation values one training step holds per copy: batch x the output elements of every
/// layer, 2^28 = 268,435,456 (1 GiB as f32; the backward pass keeps a few copies).
pub const MAX_TRAIN_ACTIVATIONS: usize = 1 << 28;

/// Largest training checkpoint read (its tensor file or its metadata): 16 bytes per weight of a
/// [`MAX_TRAIN_PARAMS`] network (the weights and Adam's two moments as f32, plus BatchNorm).
pub const MAX_CHECKPOINT_BYTES: u64 = 16 * MAX_TRAIN_PARAMS as u64;

/// An input file that could not be opened as one: names the file, what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The OS refused (missing file, no permission...).
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (part of the message, not a separate source, so that it prints once).
        error: std::io::Error,
    },
    /// A directory, named pipe, device or socket: reading one would block forever or never end.
    #[error("{} is a {kind}, not a regular file; give the path of a {what}", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
        /// What was expected ("model file", "dataset file").
        what: &'static str,
    },
    /// Larger than the limit for its kind of file.
    #[error(
        "{} is {} bytes, more than the {} bytes a {what} may have \
         (compiler::model::limits); is it the right file?",
        path.display(), grouped(*.size), grouped(*.limit)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
        /// What was expected.
        what: &'static str,
    },
}

impl FileError {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. } => path,
        }
    }

    /// The message without the path, for callers that name the file themselves
    /// ("cannot load model m.xnf: ...").
    pub fn reason(&self) -> String {
        match self {
            FileError::Io { error, .. } => error.to_string(),
            FileError::NotRegular { kind, what, .. } => {
                format!("it is a {kind}, not a regular file; give the path of a {what}")
            }
            FileError::TooLarge { size, limit, what, .. } => format!(
                "it is {} bytes, more than the {} bytes a {what} may have (compiler::model::limits); is it \
                 the right file?",
                grouped(*size),
                grouped(*limit)
            ),
        }
    }
}

/// What a path that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe (FIFO).
    NamedPipe,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "directory",
            FileKind::NamedPipe => "named pipe",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Socket => "socket",
            FileKind::Other => "special file",
        })
    }
}

fn kind_of(t: std::fs::FileType) -> FileKind {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return FileKind::NamedPipe;
        }
        if t.is_char_device() {
            return FileKind::CharDevice;
        }
        if t.is_block_device() {
            return FileKind::BlockDevice;
        }
        if t.is_socket() {
            return FileKind::Socket;
        }
    }
    if t.is_dir() {
        FileKind::Directory
    } else {
        FileKind::Other
    }
}

/// Opens `path` for reading if it is a regular file of at most `limit` bytes (`what` names the
/// kind of file in errors). Returns the file and its size.
///
/// The type is checked on the path before opening, because opening a named pipe blocks until a
/// writer comes; a device such as `/dev/zero` never ends. Callers read at most `limit` bytes
/// anyway ([`read_file`]), in case the file grows after the check.
pub fn open_file(path: &Path, limit: u64, what: &'static str) -> Result<(std::fs::File, u64), FileError> {
    let io = |error| FileError::Io { path: path.to_path_buf(), error };
    let meta = std::fs::metadata(path).map_err(io)?;
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(FileError::NotRegular {
                path: path.to_path_buf(),
                kind: kind_of(meta.file_type()),
                what,
            });
        }
        if meta.len() > limit {
            return Err(FileError::TooLarge { path: path.to_path_buf(), size: meta.len(), limit, what });
        }
        Ok(meta.len())
    };
    check(&meta)?;
    let file = std::fs::File::open(path).map_err(io)?;
    // The path may have been replaced between the two calls; what counts is what was opened.
    let size = check(&file.metadata().map_err(io)?)?;
    Ok((file, size))
}

/// Reads a whole regular file of at most `limit` bytes (see [`open_file`]).
pub fn read_file(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_file(path, limit, what)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| FileError::Io { path: path.to_path_buf(), error })?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { path: path.to_path_buf(), size: bytes.len() as u64, limit, what });
    }
    Ok(bytes)
}

/// `n` with thousands separators (`4,194,304`), for limits in messages.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_inserts_separators() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(4_194_304), "4,194,304");
    }

    #[test]
    fn directories_are_not_regular_files() {
        let dir = std::env::temp_dir();
        let e = read_file(&dir, 10, "model file").expect_err("a directory");
        assert!(matches!(e, FileError::NotRegular { kind: FileKind::Directory, .. }), "{e}");
    }
}
