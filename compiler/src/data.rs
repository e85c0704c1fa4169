//! Datasets: MNIST in IDX form (gzip or raw) and the 8x8 digits CSV.
//!
//! Every dataset is returned as u8 pixels (height x width x channels, channel fastest) and u8 labels,
//! the domain of a model's input quantizer. The digits' 0..=16 intensities are scaled to 0..=255 by
//! `round(v * 255 / 16)` so that one pixel threshold means the same thing on both datasets.
//!
//! Files are opened through [`limits::open_file`] (regular files within
//! [`MAX_DATASET_FILE_BYTES`] only) and read as streams: an IDX header is read and checked first,
//! its declared size bounded by [`MAX_DATASET_BYTES`] and by what the file can hold, and no more
//! than the header declares is ever decompressed.

use crate::model::limits::{
    self, grouped, FileError, MAX_DATASET_BYTES, MAX_DATASET_FILE_BYTES, MAX_DEFLATE_RATIO,
};
use crate::model::Shape;
use flate2::read::GzDecoder;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read (missing, not a regular file, too large).
    #[error(transparent)]
    File(#[from] FileError),
    /// None of the usual file names exist in the data directory.
    #[error("no {what} in {dir} (looked for {tried})")]
    NotFound {
        /// Which file.
        what: String,
        /// The data directory.
        dir: PathBuf,
        /// The names tried.
        tried: String,
    },
    /// The content is malformed.
    #[error("{source_name}: {message}")]
    Malformed {
        /// File (or stream) name.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// Which dataset.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    /// MNIST 28x28 handwritten digits (IDX files).
    Mnist,
    /// The 8x8 optical digits (UCI, as shipped by scikit-learn), one CSV.
    Digits,
}

/// Training or test part.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training images.
    Train,
    /// Held-out test images.
    Test,
}

/// Images and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Shape of one image.
    pub shape: Shape,
    /// Number of classes.
    pub classes: usize,
    /// `len() * shape.len()` pixels, image after image.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Keeps the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.images.truncate(n * self.shape.len());
        }
    }

    /// Removes the last `n` images (all of them when there are fewer) and returns them as a dataset
    /// of their own: a validation split held out of training, so that choosing a learning rate or
    /// a method never looks at the test split.
    pub fn split_off(&mut self, n: usize) -> Dataset {
        let keep = self.len().saturating_sub(n);
        Dataset {
            shape: self.shape,
            classes: self.classes,
            images: self.images.split_off(keep * self.shape.len()),
            labels: self.labels.split_off(keep),
        }
    }
}

fn malformed(source_name: &str, message: impl Into<String>) -> DataError {
    DataError::Malformed { source_name: source_name.into(), message: message.into() }
}

/// Decompresses `bytes` if they start with the gzip magic, else returns them as they are. At most
/// [`MAX_DATASET_BYTES`] are decompressed.
pub fn maybe_gunzip(bytes: Vec<u8>, source_name: &str) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    GzDecoder::new(bytes.as_slice())
        .take(MAX_DATASET_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| malformed(source_name, format!("bad gzip stream: {e}")))?;
    if out.len() as u64 > MAX_DATASET_BYTES {
        return Err(malformed(
            source_name,
            format!(
                "decompresses to more than {} bytes, the limit for a dataset file (MAX_DATASET_BYTES): \
                 corrupt, or a decompression bomb",
                grouped(MAX_DATASET_BYTES)
            ),
        ));
    }
    Ok(out)
}

/// An IDX array of unsigned bytes: its dimensions and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Extents, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Parses an IDX file of unsigned bytes (type code 0x08), gzip or raw.
pub fn parse_idx(bytes: Vec<u8>, source_name: &str) -> Result<Idx, DataError> {
    read_idx(bytes.as_slice(), bytes.len() as u64, source_name)
}

/// Reads an IDX file of unsigned bytes (type code 0x08), gzip or raw, from a stream of `len`
/// bytes. The header is read and checked first: the size it declares must be within
/// [`MAX_DATASET_BYTES`] and within what `len` bytes can hold (raw: exactly; gzip: at most
/// [`MAX_DEFLATE_RATIO`] times `len`), and no more than that size is decompressed, so a
/// decompression bomb is refused after reading a few bytes.
pub fn read_idx(reader: impl Read, len: u64, source_name: &str) -> Result<Idx, DataError> {
    let mut r = BufReader::new(reader);
    let gzip = r
        .fill_buf()
        .map_err(|e| malformed(source_name, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        read_idx_stream(GzDecoder::new(r), len, true, source_name)
    } else {
        read_idx_stream(r, len, false, source_name)
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn read_up_to(
    r: &mut impl Read,
    n: usize,
    what: &dyn Fn(std::io::Error) -> DataError,
) -> Result<Vec<u8>, DataError> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf).map_err(what)?;
    Ok(buf)
}

fn read_idx_stream(mut r: impl Read, len: u64, gzip: bool, source_name: &str) -> Result<Idx, DataError> {
    let bad = |m: String| malformed(source_name, m);
    let io = |e: std::io::Error| {
        bad(if gzip { format!("bad gzip stream: {e}") } else { format!("cannot read: {e}") })
    };
    let magic = read_up_to(&mut r, 4, &io)?;
    if magic.len() < 4 || magic[0] != 0 || magic[1] != 0 {
        return Err(bad("not an IDX file (bad magic number)".into()));
    }
    if magic[2] != 0x08 {
        return Err(bad(format!("IDX type 0x{:02x} is not unsigned bytes (0x08)", magic[2])));
    }
    let nd = usize::from(magic[3]);
    if nd == 0 {
        return Err(bad("IDX file with zero dimensions".into()));
    }
    let header = 4 + 4 * nd;
    let dim_bytes = read_up_to(&mut r, 4 * nd, &io)?;
    if dim_bytes.len() < 4 * nd {
        return Err(bad(format!("truncated header ({} of {header} bytes)", 4 + dim_bytes.len())));
    }
    let dims: Vec<usize> =
        dim_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let want = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    if want > MAX_DATASET_BYTES {
        return Err(bad(format!(
            "dimensions {dims:?} declare {} data bytes, more than the limit of {} for a dataset file \
             (MAX_DATASET_BYTES): corrupt, or not a dataset this build reads",
            grouped(want),
            grouped(MAX_DATASET_BYTES)
        )));
    }
    if gzip {
        let most = len.saturating_mul(MAX_DEFLATE_RATIO);
        if want > most {
            return Err(bad(format!(
                "dimensions {dims:?} declare {} data bytes, but a gzip file of {} bytes decompresses to at \
                 most {}: corrupt, or a decompression bomb",
                grouped(want),
                grouped(len),
                grouped(most)
            )));
        }
    } else {
        let have = len.saturating_sub(header as u64);
        if have != want {
            return Err(bad(format!(
                "dimensions {dims:?} need {want} data bytes, file has {have} (truncated or corrupt)"
            )));
        }
    }
    // Grown as the data arrives rather than reserved up front: a gzip file may still be short.
    let mut data = Vec::with_capacity(want.min(1 << 24) as usize);
    (&mut r).take(want).read_to_end(&mut data).map_err(io)?;
    let got = data.len() as u64;
    if got < want {
        return Err(bad(format!(
            "dimensions {dims:?} need {want} data bytes, file has {got} (truncated or corrupt)"
        )));
    }
    // One byte more tells a longer stream from an exact one (and lets gzip check its trailer).
    if !read_up_to(&mut r, 1, &io)?.is_empty() {
        return Err(bad(format!(
            "holds more than the {want} data bytes its dimensions {dims:?} declare (corrupt, or not an IDX file)"
        )));
    }
    Ok(Idx { dims, data })
}

/// Builds a dataset from IDX images (`n x h x w`) and labels (`n`).
pub fn from_idx(images: Idx, labels: Idx, classes: usize, source_name: &str) -> Result<Dataset, DataError> {
    let [n, h, w] = images.dims[..] else {
        return Err(malformed(
            source_name,
            format!("images have dimensions {:?}, expected [n, h, w]", images.dims),
        ));
    };
    if n == 0 {
        return Err(malformed(source_name, "holds no images"));
    }
    if h == 0 || w == 0 {
        return Err(malformed(
            source_name,
            format!("images are {h}x{w} pixels: an image needs at least one pixel"),
        ));
    }
    if labels.dims != [n] {
        return Err(malformed(
            source_name,
            format!("{n} images but labels have dimensions {:?}", labels.dims),
        ));
    }
    if let Some(i) = labels.data.iter().position(|&l| usize::from(l) >= classes) {
        return Err(malformed(
            source_name,
            format!("label {} of image {i} is not below {classes}", labels.data[i]),
        ));
    }
    Ok(Dataset { shape: Shape::new(h, w, 1), classes, images: images.data, labels: labels.data })
}

/// Reads an IDX file through the guarded open.
fn load_idx(path: &Path) -> Result<Idx, DataError> {
    let (file, len) = limits::open_file(path, MAX_DATASET_FILE_BYTES, "dataset file")?;
    read_idx(file, len, &path.display().to_string())
}

/// Finds the first of `names` in `dir`. Anything of that name counts, so that a directory or a
/// pipe in its place is refused by name rather than reported missing.
fn find(dir: &Path, what: &str, names: &[String]) -> Result<PathBuf, DataError> {
    names.iter().map(|n| dir.join(n)).find(|p| p.exists()).ok_or_else(|| DataError::NotFound {
        what: what.into(),
        dir: dir.to_path_buf(),
        tried: names.join(", "),
    })
}

fn idx_names(stem: &str, kind: &str) -> Vec<String> {
    let mut v = Vec::new();
    for sep in [".", "-"] {
        for ext in [".gz", ""] {
            v.push(format!("{stem}{sep}{kind}-ubyte{ext}"));
        }
    }
    v
}

/// Loads MNIST's training or test split from a directory of IDX files
/// (`train-images.idx3-ubyte[.gz]` or `train-images-idx3-ubyte[.gz]`, and likewise for labels and t10k).
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let stem = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let ip = find(dir, &format!("MNIST {stem} images"), &idx_names(&format!("{stem}-images"), "idx3"))?;
    let lp = find(dir, &format!("MNIST {stem} labels"), &idx_names(&format!("{stem}-labels"), "idx1"))?;
    let images = load_idx(&ip)?;
    let labels = load_idx(&lp)?;
    from_idx(images, labels, 10, &ip.display().to_string())
}

/// Row `i` of the digits CSV belongs to the test split when `i % 5 == 4` (359 of 1797 rows): a fixed,
/// interleaved 80/20 split, so that both parts see every writer block of the original file.
pub fn digits_is_test(row: usize) -> bool {
    row % 5 == 4
}

/// Parses the digits CSV (gzip or plain): each row 64 intensities 0..=16, then the label 0..=9.
pub fn parse_digits(bytes: Vec<u8>, source_name: &str, split: Split) -> Result<Dataset, DataError> {
    let bytes = maybe_gunzip(bytes, source_name)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| malformed(source_name, "not UTF-8 text"))?;
    let mut ds = Dataset { shape: Shape::new(8, 8, 1), classes: 10, images: Vec::new(), labels: Vec::new() };
    let mut row = 0;
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let here = |m: String| malformed(&format!("{source_name} line {}", ln + 1), m);
        let vals = line
            .split(',')
            .map(|v| v.trim().parse::<u8>().map_err(|_| here(format!("'{v}' is not a small integer"))))
            .collect::<Result<Vec<_>, _>>()?;
        if vals.len() != 65 {
            return Err(here(format!("{} values, expected 64 pixels and a label", vals.len())));
        }
        if let Some(v) = vals[..64].iter().find(|&&v| v > 16) {
            return Err(here(format!("pixel value {v} outside 0..=16")));
        }
        if vals[64] > 9 {
            return Err(here(format!("label {} outside 0..=9", vals[64])));
        }
        if digits_is_test(row) == (split == Split::Test) {
            ds.images.extend(vals[..64].iter().map(|&v| ((u32::from(v) * 255 + 8) / 16) as u8));
            ds.labels.push(vals[64]);
        }
        row += 1;
    }
    if ds.is_empty() {
        return Err(malformed(source_name, "no rows"));
    }
    Ok(ds)
}

/// Loads the digits dataset from `dir/digits.csv.gz` (or `dir/digits.csv`).
pub fn load_digits(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let p = find(dir, "digits CSV", &["digits.csv.gz".into(), "digits.csv".into()])?;
    let bytes = limits::read_file(&p, MAX_DATASET_FILE_BYTES, "dataset file")?;
    parse_digits(bytes, &p.display().to_string(), split)
}

/// Loads `kind` from `dir`.
pub fn load(kind: DatasetKind, dir: &Path, split: Split) -> Result<Dataset, DataError> {
    match kind {
        DatasetKind::Mnist => load_mnist(dir, split),
        DatasetKind::Digits => load_digits(dir, split),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend(data);
        v
    }

    #[test]
    fn idx_parses_raw_and_gzip() {
        let raw = idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let mut gz = Vec::new();
        {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
            e.write_all(&raw).expect("in-memory write");
        }
        for bytes in [raw.clone(), gz] {
            let i = parse_idx(bytes, "t").expect("valid");
            assert_eq!(i.dims, vec![2, 2, 3]);
            assert_eq!(i.data[11], 12);
        }
    }

    #[test]
    fn idx_errors_say_what_is_wrong() {
        let e = parse_idx(idx(&[3, 2], &[0; 5]), "x").unwrap_err().to_string();
        assert!(e.contains("need 6 data bytes, file has 5"), "{e}");
        let e = parse_idx(vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "x").unwrap_err().to_string();
        assert!(e.contains("type 0x0d"), "{e}");
        let e = parse_idx(vec![1, 2, 3], "x").unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let e = parse_idx(vec![0x1f, 0x8b, 3, 4], "x").unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");
        let images = parse_idx(idx(&[2, 1, 1], &[0, 0]), "i").expect("valid");
        let labels = parse_idx(idx(&[2], &[1, 10]), "l").expect("valid");
        let e = from_idx(images, labels, 10, "x").unwrap_err().to_string();
        assert!(e.contains("label 10 of image 1"), "{e}");
    }

    #[test]
    fn digits_csv_errors_name_the_line() {
        let mut row = vec!["0"; 64].join(",");
        row.push_str(",3\n");
        let ok = parse_digits(row.repeat(5).into_bytes(), "d", Split::Test).expect("valid");
        assert_eq!(ok.len(), 1);
        let bad = format!("{row}{}", row.replace(",3\n", ",11\n"));
        let e = parse_digits(bad.into_bytes(), "d", Split::Train).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("label 11"), "{e}");
        let e = parse_digits(b"1,2,3\n".to_vec(), "d", Split::Train).unwrap_err().to_string();
        assert!(e.contains("3 values"), "{e}");
    }

    #[test]
    fn split_off_moves_the_last_images_with_their_labels() {
        let shape = Shape::new(1, 2, 1);
        let mut ds = Dataset { shape, classes: 10, images: (0..10).collect(), labels: vec![5, 6, 7, 8, 9] };
        let held = ds.split_off(2);
        assert_eq!((ds.len(), held.len()), (3, 2));
        assert_eq!(ds.image(2), &[4, 5]);
        assert_eq!(held.image(0), &[6, 7]);
        assert_eq!(held.labels, vec![8, 9]);
        assert_eq!((held.shape, held.classes), (shape, 10));
        let all = ds.split_off(7);
        assert!(ds.is_empty());
        assert_eq!(all.labels, vec![5, 6, 7]);
    }

    #[test]
    fn digits_scale_to_full_byte_range() {
        let mut row: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
        row.push("0".into());
        let ds = parse_digits(row.join(",").into_bytes(), "d", Split::Train).expect("valid");
        assert_eq!(ds.image(0)[0], 0);
        assert_eq!(ds.image(0)[16], 255);
        assert_eq!(ds.image(0)[8], 128);
    }
}
