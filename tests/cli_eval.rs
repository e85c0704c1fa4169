//! `xnorflow eval --predictions --confusion`: the CSV holds the golden model's scores and
//! predictions for every image, agrees with the accuracy and the confusion table printed, the
//! plot is written, and bad output paths are refused before the run with one error line.

use compiler::data::{parse_digits, Split};
use compiler::model::random::{random_model, LayerSpec};
use compiler::model::{Model, Padding, Shape};
use sim::golden::Golden;
use std::path::Path;

mod common;
use common::{refused, stderr, stdout, xnorflow};

/// A small random CNN on the 8x8 digits.
fn digits_model() -> Model {
    let specs = [
        LayerSpec::QuantBinary(100),
        LayerSpec::Conv2d { out: 4, kernel: 3, stride: 1, padding: Padding::Bit { amount: 1, bit: false } },
        LayerSpec::MaxPool { kernel: 2, stride: 2 },
        LayerSpec::Dense(10),
    ];
    random_model("cli-eval", Shape::new(8, 8, 1), &specs, 5).expect("valid")
}

fn write_model(dir: &Path) -> Model {
    let m = digits_model();
    compiler::format::save(&m, &dir.join("m.xnf")).expect("saved");
    m
}

/// Index of the largest score, the lowest on ties.
fn argmax(scores: &[i32]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}

/// One CSV row.
struct Row {
    index: usize,
    label: usize,
    predicted: usize,
    correct: bool,
    scores: Vec<i32>,
}

fn parse_row(line: &str) -> Row {
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f.len(), 5, "{line}");
    let n = |s: &str| s.parse::<usize>().unwrap_or_else(|e| panic!("{line}: {s:?}: {e}"));
    let correct = match f[3] {
        "1" => true,
        "0" => false,
        other => panic!("{line}: correct is {other:?}"),
    };
    let scores =
        f[4].split(';').map(|s| s.parse().unwrap_or_else(|e| panic!("{line}: {s:?}: {e}"))).collect();
    Row { index: n(f[0]), label: n(f[1]), predicted: n(f[2]), correct, scores }
}

#[test]
fn predictions_csv_and_confusion_agree_with_the_golden_model_and_the_accuracy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = write_model(dir.path());
    let args = ["eval", "m.xnf", "--dataset", "digits", "--limit", "50", "--predictions", "p.csv"];
    let o = xnorflow(&[&args[..], &["--confusion", "c.svg"]].concat(), dir.path());
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));

    let csv = std::fs::read_to_string(dir.path().join("p.csv")).expect("predictions written");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 51, "{csv}");
    assert_eq!(lines[0], "index,label,predicted,correct,scores");
    let rows: Vec<Row> = lines[1..].iter().map(|l| parse_row(l)).collect();

    // The same images, labels and scores as the golden model on the built-in test split.
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz")).expect("digits");
    let data = parse_digits(bytes, "digits", Split::Test).expect("parses");
    let golden = Golden::new(&model).expect("golden");
    let mut ties = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.index, i);
        assert_eq!(r.label, usize::from(data.labels[i]), "row {i}");
        assert_eq!(r.correct, r.label == r.predicted, "row {i}");
        assert_eq!(r.scores.len(), 10, "row {i}");
        assert_eq!(argmax(&r.scores), r.predicted, "row {i}: {:?}", r.scores);
        let want = golden.run(data.image(i)).expect("runs");
        assert_eq!((&r.scores, r.predicted), (&want.scores, want.class), "row {i}");
        ties += usize::from(r.scores.iter().filter(|&&s| s == r.scores[r.predicted]).count() > 1);
    }
    let correct = rows.iter().filter(|r| r.correct).count();
    // The fixture exercises both values of `correct` and the tie rule.
    assert!(correct > 0 && correct < 50 && ties > 0, "{correct} correct, {ties} ties");

    // The printed accuracy is the CSV's fraction.
    let acc_line = out.lines().find(|l| l.contains("accuracy")).unwrap_or_else(|| panic!("{out}"));
    let pct = format!("accuracy {:.2}% ({correct}/50)", correct as f64 / 50.0 * 100.0);
    assert!(acc_line.contains(&pct), "{acc_line:?} lacks {pct:?}");

    // The confusion table follows the accuracy line and counts the CSV's rows.
    let all: Vec<&str> = out.lines().collect();
    let at = all.iter().position(|l| l.starts_with("confusion matrix")).unwrap_or_else(|| panic!("{out}"));
    assert!(all[..at].contains(&acc_line), "{out}");
    let header: Vec<&str> = all[at + 1].split_whitespace().collect();
    assert_eq!(header[header.len() - 10..], ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], "{out}");
    for t in 0..10 {
        let line = all[at + 2 + t];
        assert_eq!(line.len(), all[at + 1].len(), "ragged table:\n{out}");
        let cells: Vec<usize> = line.split_whitespace().map(|c| c.parse().expect("number")).collect();
        assert_eq!(cells[0], t, "{out}");
        for (p, &c) in cells[1..].iter().enumerate() {
            let want = rows.iter().filter(|r| r.label == t && r.predicted == p).count();
            assert_eq!(c, want, "cell ({t}, {p}):\n{out}");
        }
    }

    let svg = std::fs::read_to_string(dir.path().join("c.svg")).expect("confusion drawn");
    // plotters writes each text on a line of its own.
    assert!(svg.contains("<svg") && svg.contains(">\npredicted\n</text>"), "not the plot:\n{svg}");
    // Nothing left behind by the atomic write.
    assert!(!dir.path().join("p.csv.tmp").exists());
}

#[test]
fn bad_output_paths_are_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_model(dir.path());
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    std::fs::create_dir(dir.path().join("plot.svg")).expect("mkdir");
    let base = ["eval", "m.xnf", "--dataset", "digits", "--limit", "5"];
    let run = |extra: &[&str]| refused(&[&base[..], extra].concat(), dir.path());

    let e = run(&["--predictions", "p.csv", "--confusion", "c.pdf"]);
    assert!(e.contains("c.pdf") && e.contains(".svg or .png"), "{e}");
    // Refused before the run: no predictions written.
    assert!(!dir.path().join("p.csv").exists());

    let e = run(&["--predictions", "out"]);
    assert!(e.contains("--predictions") && e.contains("directory"), "{e}");
    assert!(dir.path().join("out").is_dir());

    let e = run(&["--confusion", "plot.svg"]);
    assert!(e.contains("plot.svg") && e.contains("directory"), "{e}");

    let e = run(&["--predictions", "missing/p.csv"]);
    assert!(e.contains("no directory missing"), "{e}");
}
