//! Training to model file, proven bit-exact: for every method and layer kind, the float network's
//! inference path and the golden model on the exported file give the same class for every test
//! image. Also: resuming from a checkpoint gives the same model as an uninterrupted run, and a short
//! IR-Net run on the digits beats a fixed accuracy bound.

use compiler::data::{parse_digits, Dataset, Split};
use compiler::model::{Layer, Provenance};
use sim::golden::Golden;
use train::arch::{Arch, InputKind};
use train::method::Method;
use train::net::{argmax, has_tie, Net};
use train::trainer::{train, EpochReport, Progress, Quiet, TrainConfig};

const DIGITS: &[u8] = include_bytes!("../../data/digits.csv.gz");

fn digits(split: Split) -> Dataset {
    parse_digits(DIGITS.to_vec(), "digits", split).expect("bundled data parses")
}

/// (agreeing images, float ties, golden accuracy) of `net` and its export on `data`.
fn exactness(net: &Net, data: &Dataset) -> (usize, usize, f64) {
    let model = train::export::export(net, "t", Provenance::default()).expect("exports");
    let golden = Golden::new(&model).expect("valid model");
    let float = net.predict(&data.images).expect("inference");
    let gold = golden.run_batch(&data.images).expect("frames fit");
    let mut agree = 0;
    let mut ties = 0;
    let mut correct = 0;
    for (i, (f, g)) in float.iter().zip(&gold).enumerate() {
        ties += usize::from(has_tie(f));
        assert_eq!(argmax(f), g.class, "image {i}: float {f:?} vs golden scores {:?}", g.scores);
        agree += 1;
        correct += usize::from(g.class == usize::from(data.labels[i]));
    }
    (agree, ties, correct as f64 / data.len() as f64)
}

fn cfg(arch: &str, input: InputKind, method: Method, epochs: usize) -> TrainConfig {
    TrainConfig {
        batch: 64,
        lr: 3e-3,
        ..TrainConfig::new(Arch::parse(arch, input, 10).expect("arch"), method, epochs, 5)
    }
}

#[test]
fn every_method_exports_bit_exactly() {
    let (tr, te) = (digits(Split::Train), digits(Split::Test));
    for method in Method::ALL {
        for (arch, input) in [
            ("96-48", InputKind::Binary { threshold: 100 }),
            ("64", InputKind::Fixed8),
            ("c8p0-p-c8p1-32", InputKind::Binary { threshold: 64 }),
            ("c6-p-40", InputKind::Fixed8),
        ] {
            let (net, _) = train(&cfg(arch, input, method, 5), &tr, None, &mut Quiet).expect("trains");
            let (agree, ties, acc) = exactness(&net, &te);
            assert_eq!(agree, te.len());
            // Trained, not random: far above the 10% of chance after 5 epochs (0.57-0.91 measured).
            assert!(acc > 0.4, "{method} {arch} {input:?}: accuracy {acc} ({ties} ties)");
        }
    }
}

#[test]
fn negative_gammas_become_inverted_rows() {
    let tr = digits(Split::Train);
    let (net, _) =
        train(&cfg("48", InputKind::Fixed8, Method::Irnet, 1), &tr, None, &mut Quiet).expect("trains");
    // Flip the sign of half of the BatchNorm scales: the export must invert those rows and stay exact.
    if let train::net::NetLayer::Dense { bn, .. } = &net.layers[0] {
        let g: Vec<f32> = bn.gamma.as_tensor().to_vec1().expect("vector");
        let flipped: Vec<f32> = g.iter().enumerate().map(|(i, &v)| if i % 2 == 0 { -v } else { v }).collect();
        bn.gamma
            .set(&candle_core::Tensor::new(flipped.as_slice(), &candle_core::Device::Cpu).expect("t"))
            .expect("set");
    }
    let before = train::export::export(&net, "t", Provenance::default()).expect("exports");
    let (agree, _, _) = exactness(&net, &digits(Split::Test));
    assert_eq!(agree, 359);
    let Layer::Dense(w) = &before.layers[1] else { panic!("dense first layer") };
    assert_eq!(w.out(), 48);
}

/// Stops a run after `n` epochs, as an interrupted user would.
struct StopAfter(usize);
impl Progress for StopAfter {
    fn epoch(&mut self, _r: &EpochReport) {
        self.0 -= 1;
    }
    fn should_stop(&mut self) -> bool {
        self.0 == 0
    }
}

#[test]
fn resuming_a_checkpoint_gives_the_uninterrupted_model() {
    let tr = digits(Split::Train);
    // With dropout: its masks come from (seed, epoch, step), so a resumed run draws the same ones.
    let c =
        TrainConfig { dropout: 0.1, ..cfg("64-32", InputKind::Binary { threshold: 100 }, Method::Irnet, 4) };
    let (straight, reports) = train(&c, &tr, None, &mut Quiet).expect("trains");
    assert_eq!(reports.len(), 4);
    let plain = cfg("64-32", InputKind::Binary { threshold: 100 }, Method::Irnet, 4);
    let (no_dropout, _) = train(&plain, &tr, None, &mut Quiet).expect("trains");
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("run.safetensors");
    let (_, first) = train(&c, &tr, Some(&ckpt), &mut StopAfter(2)).expect("trains");
    assert_eq!(first.len(), 2);
    let (resumed, all) = train(&c, &tr, Some(&ckpt), &mut Quiet).expect("resumes");
    assert_eq!(all.len(), 4);
    let a = train::export::export(&straight, "m", Provenance::default()).expect("exports");
    let b = train::export::export(&resumed, "m", Provenance::default()).expect("exports");
    assert_eq!(a, b, "a resumed run must export the same model");
    let p = train::export::export(&no_dropout, "m", Provenance::default()).expect("exports");
    assert_ne!(a, p, "dropout must change training");
    // Another configuration must not silently resume this checkpoint.
    let other = cfg("64-32", InputKind::Binary { threshold: 100 }, Method::Ste, 4);
    let Err(err) = train(&other, &tr, Some(&ckpt), &mut Quiet) else { panic!("config mismatch must fail") };
    assert!(err.to_string().contains("another configuration"), "{err}");
    // Nor a run on other images (--limit and --holdout are not part of the configuration).
    let mut fewer = tr.clone();
    fewer.truncate(tr.len() - 1);
    let Err(err) = train(&c, &fewer, Some(&ckpt), &mut Quiet) else { panic!("data mismatch must fail") };
    assert!(err.to_string().contains(&format!("{} training images", tr.len())), "{err}");
    // Nor may a checkpoint written under other training math (older ones carry no revision).
    let meta = ckpt.with_extension("json");
    let json = std::fs::read_to_string(&meta).expect("metadata");
    let mut v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["revision"], serde_json::json!(train::trainer::TRAINING_REVISION));
    v.as_object_mut().expect("object").remove("revision");
    std::fs::write(&meta, v.to_string()).expect("write");
    let Err(err) = train(&c, &tr, Some(&ckpt), &mut Quiet) else { panic!("revision mismatch must fail") };
    assert!(err.to_string().contains("training revision 1"), "{err}");
}

#[test]
fn the_recipe_names_everything_that_changes_training() {
    let base = cfg("64-32", InputKind::Fixed8, Method::Irnet, 4);
    let c = TrainConfig { dropout: 0.2, shift: 1, weight_decay: 0.5, t_min: 1.0, ..base.clone() };
    let r = c.recipe();
    for part in ["arch 64-32-10", "method irnet", "input fixed8", "epochs 4", "EDE t 1 -> 10", "dropout 0.2"]
    {
        assert!(r.contains(part), "'{part}' missing from: {r}");
    }
    for part in
        ["weight decay 0.5", "shift 1", &format!("training revision {}", train::trainer::TRAINING_REVISION)]
    {
        assert!(r.contains(part), "'{part}' missing from: {r}");
    }
    assert!(!r.contains("plain head"), "{r}");
    assert!(TrainConfig { plain_head: true, ..base.clone() }.recipe().contains("plain head"));
    let plain = TrainConfig { method: Method::Ste, ..base }.recipe();
    assert!(!plain.contains("EDE") && !plain.contains("dropout") && !plain.contains("shift"), "{plain}");
}

#[test]
fn irnet_on_digits_beats_a_fixed_bound() {
    let (tr, te) = (digits(Split::Train), digits(Split::Test));
    let c =
        TrainConfig::new(Arch::parse("256-256", InputKind::Fixed8, 10).expect("arch"), Method::Irnet, 20, 1);
    let (net, _) = train(&c, &tr, None, &mut Quiet).expect("trains");
    let (agree, _, acc) = exactness(&net, &te);
    assert_eq!(agree, te.len());
    assert!(acc >= 0.93, "IR-Net 256-256 (8-bit input) on digits: {acc}");
}

/// Sum of squares of every latent weight matrix of `net`.
fn weight_energy(net: &Net) -> f64 {
    net.weight_vars()
        .iter()
        .map(|w| {
            w.as_tensor().sqr().and_then(|t| t.sum_all()).and_then(|t| t.to_scalar::<f32>()).expect("f32")
        })
        .map(f64::from)
        .sum()
}

#[test]
fn weight_decay_shrinks_the_latent_weights_and_still_exports_exactly() {
    let (tr, te) = (digits(Split::Train), digits(Split::Test));
    let plain = cfg("64-32", InputKind::Fixed8, Method::Irnet, 3);
    let decayed = TrainConfig { weight_decay: 0.5, ..plain.clone() };
    let (a, _) = train(&plain, &tr, None, &mut Quiet).expect("trains");
    let (b, _) = train(&decayed, &tr, None, &mut Quiet).expect("trains");
    let (ea, eb) = (weight_energy(&a), weight_energy(&b));
    assert!(eb < 0.9 * ea, "decay must shrink the weights: {eb} vs {ea}");
    let (agree, _, acc) = exactness(&b, &te);
    assert_eq!(agree, te.len());
    assert!(acc > 0.4, "decayed run still trains: {acc}");
}

/// The classifier's exported sign rows (+1 = true), from the model's last dense layer.
fn head_rows(net: &Net) -> Vec<Vec<bool>> {
    let model = train::export::export(net, "t", Provenance::default()).expect("exports");
    match model.layers.last() {
        Some(Layer::Dense(d)) => {
            (0..d.matrix.rows()).map(|r| (0..d.matrix.cols()).map(|c| d.matrix.get(r, c)).collect()).collect()
        }
        other => panic!("the last layer is not dense: {other:?}"),
    }
}

#[test]
fn a_plain_head_binarizes_the_classifier_without_libra_pb_and_exports_exactly() {
    let (tr, te) = (digits(Split::Train), digits(Split::Test));
    for method in [Method::Irnet, Method::IrnetLibra] {
        let base = cfg("64-32", InputKind::Fixed8, method, 3);
        let (balanced, _) = train(&base, &tr, None, &mut Quiet).expect("trains");
        let (plain, _) =
            train(&TrainConfig { plain_head: true, ..base }, &tr, None, &mut Quiet).expect("trains");
        assert_eq!(plain.head_method, method.without_libra());
        // The exported head is sign(w) of the raw latent weights, not of the standardized ones.
        let train::net::NetLayer::Head { w, .. } = plain.layers.last().expect("a head") else {
            panic!("no head")
        };
        let raw: Vec<Vec<f32>> = w.as_tensor().to_vec2().expect("f32 rows");
        let want: Vec<Vec<bool>> = raw.iter().map(|r| r.iter().map(|&x| x >= 0.0).collect()).collect();
        assert_eq!(head_rows(&plain), want, "{method}");
        // Libra-PB balances every row of the default head: as many +1 as -1, up to one.
        for row in head_rows(&balanced) {
            let ones = row.iter().filter(|&&b| b).count() as i64;
            assert!((2 * ones - row.len() as i64).abs() <= row.len() as i64 / 4, "{method}: unbalanced row");
        }
        let (agree, _, acc) = exactness(&plain, &te);
        assert_eq!(agree, te.len());
        assert!(acc > 0.4, "{method} with a plain head: {acc}");
    }
    // Methods without Libra-PB have nothing to remove.
    let ste = TrainConfig { plain_head: true, ..cfg("32", InputKind::Fixed8, Method::Ste, 1) };
    let Err(err) = train(&ste, &tr, None, &mut Quiet) else { panic!("ste with a plain head must fail") };
    assert!(err.to_string().contains("Libra-PB"), "{err}");
}
