//! `xnorflow import`: a QONNX (Brevitas) or FINN-ONNX model into a model file, proven on a check
//! set against the ONNX graph run in floating point.

use super::eval::{load_dataset, DatasetArg, SplitArg};
use super::{progress, thousands};
use anyhow::{bail, Context, Result};
use compiler::data::Dataset;
use compiler::model::{limits, Model, Shape};
use compiler::onnx::graph::{Data, Tensor};
use compiler::onnx::{self, interp, ImportOptions, Imported, InputScale};
use rayon::prelude::*;
use sim::golden::Golden;
use std::path::PathBuf;

/// Input scalings on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum ScaleArg {
    /// pixel/255, floats in [0, 1] (torchvision's ToTensor; Brevitas' BNN-PYNQ models).
    Unit,
    /// The raw pixel byte as a float, 0..255.
    Raw,
}

/// Check sets on the command line.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum CheckArg {
    /// MNIST test images (needs --data).
    Mnist,
    /// The built-in 8x8 digits test split.
    Digits,
    /// No check (the model is written unproven).
    None,
}

/// Arguments of `xnorflow import`.
///
/// Example: `xnorflow import TFC_1W1A.onnx -o tfc.xnf --data ../shared/data/mnist`
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX file (QONNX as Brevitas exports it, or FINN-ONNX).
    pub model: PathBuf,
    /// The model file to write (.xnf).
    #[arg(short, long)]
    pub output: PathBuf,
    /// What the graph's float input holds for a pixel byte v. Default: raw when the graph
    /// annotates its input as UINT8 (FINN's finn_datatype), else unit.
    #[arg(long, value_enum)]
    pub input_scale: Option<ScaleArg>,
    /// Frame shape HxWxC when the graph's input is a flat vector (default 28x28x1 for 784 values,
    /// 8x8x1 for 64).
    #[arg(long, value_parser = parse_shape)]
    pub input_shape: Option<Shape>,
    /// The model's name (default: the graph's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Check set: the float graph and the imported model must give the same class on every
    /// image, or nothing is written. Default: mnist for 28x28x1 inputs, digits for 8x8x1.
    #[arg(long, value_enum)]
    pub check_dataset: Option<CheckArg>,
    /// Directory of the check set's files (MNIST IDX files).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Check only the first N test images.
    #[arg(long)]
    pub check_limit: Option<usize>,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
}

fn parse_shape(s: &str) -> Result<Shape, String> {
    let p: Vec<usize> = s
        .split('x')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?} is not a shape HxWxC such as 28x28x1"))?;
    match p[..] {
        [h, w, c] if h > 0 && w > 0 && c > 0 => Ok(Shape::new(h, w, c)),
        _ => Err(format!("{s:?} is not a shape HxWxC such as 28x28x1")),
    }
}

/// Reads and imports an ONNX file; `scale` None takes the graph's annotated input scaling or
/// pixel/255. Returns the scaling used and where it came from.
pub fn read(
    path: &std::path::Path,
    opts: &ImportOptions,
    scale: Option<InputScale>,
) -> Result<(Imported, InputScale, &'static str)> {
    let bytes = limits::read_file(path, limits::MAX_MODEL_FILE_BYTES, "ONNX model")
        .map_err(|e| anyhow::anyhow!("cannot read {}: {}", path.display(), e.reason()))?;
    let graph = onnx::Graph::parse(&bytes).with_context(|| format!("cannot import {}", path.display()))?;
    let mut opts = opts.clone();
    let (scale, why) = match (scale, InputScale::annotated(&graph)) {
        (Some(s), _) => (s, "--input-scale"),
        (None, Some(s)) => (s, "the input's finn_datatype annotation UINT8"),
        (None, None) => (InputScale::Unit, "the default; --input-scale raw for raw bytes"),
    };
    opts.input_scale = scale;
    // Exporters name graphs generically ("torch-jit-export"); the file's name says more, except
    // for xnorflow's own exports, whose graph carries the model's name.
    if opts.name.is_none() && !graph.metadata.contains_key("xnorflow.provenance") {
        opts.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    let imported = onnx::import(graph, &opts).with_context(|| format!("cannot import {}", path.display()))?;
    Ok((imported, scale, why))
}

/// The float graph's input tensor for one frame of pixels (h, w, c order).
pub fn input_tensor(imported: &Imported, scale: InputScale, pixels: &[u8]) -> Tensor {
    let fm = imported.model.input;
    let shape = imported.graph.input_shape.clone();
    let data: Vec<f32> = if shape.len() == 4 {
        // NCHW from channel-fastest pixels.
        let mut v = Vec::with_capacity(pixels.len());
        for c in 0..fm.c {
            for h in 0..fm.h {
                for w in 0..fm.w {
                    v.push(scale.apply(pixels[(h * fm.w + w) * fm.c + c]));
                }
            }
        }
        v
    } else {
        pixels.iter().map(|&p| scale.apply(p)).collect()
    };
    Tensor::f32(shape, data)
}

/// The class of the float graph's output (an index, or the argmax of scores) and whether the
/// largest score was tied.
pub fn float_class(out: &Tensor) -> Result<(usize, bool)> {
    match &out.data {
        Data::I64(v) if v.len() == 1 => Ok((usize::try_from(v[0]).context("negative class index")?, false)),
        Data::F32(v) if !v.is_empty() => {
            let best = compiler::model::argmax(v);
            let ties = v.iter().filter(|&&x| x == v[best]).count() > 1;
            Ok((best, ties))
        }
        _ => bail!("the graph's output is neither scores nor one class index"),
    }
}

/// What the check found.
pub struct CheckResult {
    /// Images checked.
    pub images: usize,
    /// Images where the float graph and the model disagree: (index, float class, model class).
    pub mismatches: Vec<(usize, usize, usize)>,
    /// Images whose float scores had a tied maximum.
    pub ties: usize,
    /// Correct classes of the imported model.
    pub correct: usize,
}

/// Runs the float graph and the golden model on every image of `data`.
pub fn check(imported: &Imported, scale: InputScale, data: &Dataset) -> Result<CheckResult> {
    let golden = Golden::new(&imported.model)?;
    let frame = data.shape.len();
    let pb = progress(data.len() as u64, "check");
    let per: Vec<Result<(usize, usize, bool)>> = (0..data.len())
        .into_par_iter()
        .map(|i| {
            let px = &data.images[i * frame..(i + 1) * frame];
            let out = interp::output(&imported.graph, input_tensor(imported, scale, px))
                .with_context(|| format!("running the ONNX graph on image {i}"))?;
            let (f, tie) = float_class(&out)?;
            let g = golden.run(px)?.class;
            pb.inc(1);
            Ok((f, g, tie))
        })
        .collect();
    pb.finish_and_clear();
    let mut r = CheckResult { images: data.len(), mismatches: Vec::new(), ties: 0, correct: 0 };
    for (i, x) in per.into_iter().enumerate() {
        let (f, g, tie) = x?;
        if f != g {
            r.mismatches.push((i, f, g));
        }
        r.ties += usize::from(tie);
        r.correct += usize::from(g == usize::from(data.labels[i]));
    }
    Ok(r)
}

fn summary(m: &Model) -> String {
    m.layers.iter().map(|l| l.kind()).collect::<Vec<_>>().join(" -> ")
}

/// Runs `xnorflow import`.
pub fn run(args: Args) -> Result<()> {
    super::train::check_output(&args.output, args.force)?;
    let scale = args.input_scale.map(|s| match s {
        ScaleArg::Unit => InputScale::Unit,
        ScaleArg::Raw => InputScale::Raw,
    });
    let opts = ImportOptions {
        input_scale: InputScale::Unit,
        input_shape: args.input_shape,
        name: args.name.clone(),
    };
    let (mut imported, scale, why) = read(&args.model, &opts, scale)?;
    let m = &imported.model;
    println!(
        "{}: {} graph (IR {}, opset {}, {}), {} nodes after constant folding",
        args.model.display(),
        imported.dialect,
        imported.graph.ir_version,
        imported.graph.opset,
        if imported.graph.producer.is_empty() { "unknown producer" } else { &imported.graph.producer },
        imported.graph.nodes.len()
    );
    println!("input: {} pixels, read by the graph as {} ({why})", m.input, scale.describe());
    println!("model \"{}\": {}", m.name, summary(m));
    for n in &imported.notes {
        println!("note: {n}");
    }
    let kind = match args.check_dataset {
        Some(k) => k,
        None if m.input == Shape::new(28, 28, 1) => CheckArg::Mnist,
        None if m.input == Shape::new(8, 8, 1) => CheckArg::Digits,
        None => bail!(
            "no known dataset has {} images; name a check set with --check-dataset, or --check-dataset none to \
             write the model unchecked",
            m.input
        ),
    };
    let dataset = match kind {
        CheckArg::Mnist => Some(DatasetArg::Mnist),
        CheckArg::Digits => Some(DatasetArg::Digits),
        CheckArg::None => None,
    };
    if let Some(ds) = dataset {
        if matches!(ds, DatasetArg::Mnist) && args.data.is_none() {
            bail!(
                "the check set is MNIST: give --data DIR with the MNIST IDX files, or --check-dataset none to \
                 write the model unchecked"
            );
        }
        let mut data = load_dataset(ds, args.data.as_deref(), SplitArg::Test)?;
        if data.shape != m.input {
            bail!("the check set's images are {} but the model takes {}", data.shape, m.input);
        }
        if let Some(n) = args.check_limit {
            data.truncate(n);
        }
        let r = check(&imported, scale, &data)?;
        println!(
            "check: {} {:?} test images: float graph and imported model agree on {} ({} with tied float scores, \
             first index taken); accuracy {:.2}%",
            thousands(r.images as u64),
            ds,
            thousands((r.images - r.mismatches.len()) as u64),
            r.ties,
            100.0 * r.correct as f64 / r.images.max(1) as f64
        );
        if !r.mismatches.is_empty() {
            let list: Vec<String> = r
                .mismatches
                .iter()
                .take(10)
                .map(|(i, f, g)| format!("image {i}: float {f}, model {g}"))
                .collect();
            bail!(
                "the imported model differs from the ONNX graph on {} images ({}); nothing written",
                r.mismatches.len(),
                list.join("; ")
            );
        }
        // An xnorflow export carries its own provenance, kept as it was so that import of an
        // export is the identity; any other import records what its check measured.
        if !imported.graph.metadata.contains_key("xnorflow.provenance") {
            imported.model.provenance.dataset = Some(format!("{ds:?}").to_lowercase());
            imported.model.provenance.accuracy = Some(r.correct as f64 / r.images.max(1) as f64);
        }
    } else {
        println!("check: none (--check-dataset none); the model is written unproven");
    }
    compiler::format::save(&imported.model, &args.output)?;
    println!("wrote {}", args.output.display());
    Ok(())
}
