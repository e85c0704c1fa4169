//! Every plot kind rendered to PNG: the expected size, and drawn on (not a blank canvas).

mod common;

use compiler::dataflow::{MemStyle, Popcount};
use reports::explore::{self, ExploreOptions};
use reports::plot;

/// The share of pixels that are not white.
fn ink(path: &std::path::Path) -> f64 {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    assert_eq!(img.dimensions(), plot::SIZE, "{}", path.display());
    let dark = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    dark as f64 / (img.width() * img.height()) as f64
}

#[test]
fn explore_writes_every_plot_kind() {
    let mut a = common::mlp(64, &[32, 32], 10, false, 1);
    a.provenance.accuracy = Some(0.91);
    a.provenance.method = Some("irnet".into());
    let mut b = common::mlp(64, &[16, 16], 10, false, 2);
    b.provenance.accuracy = Some(0.87);
    let models = vec![("wide".to_string(), a), ("narrow".to_string(), b)];
    let o = ExploreOptions {
        fclk_mhz: 100.0,
        lut_budget: Some(2000),
        popcount: Popcount::Compressor,
        mem: MemStyle::Auto,
        simulate: None,
    };
    let designs = explore::explore(&models, &o, &|| {}).expect("explore");
    assert!(designs.iter().any(|d| d.pareto) && designs.iter().any(|d| !d.within_budget));
    // The fastest design within the budget is charted, and nothing faster fits.
    let c = explore::chosen(&designs, o.lut_budget).expect("a design fits");
    assert!(c.lut <= 2000 && designs.iter().filter(|d| d.fps > c.fps).all(|d| d.lut > 2000));
    let dir = tempfile::tempdir().expect("tempdir");
    let files = explore::write(dir.path(), &designs, &o).expect("write");
    for kind in ["accuracy_vs_cycles", "lut_vs_fps", "layer_cycles"] {
        for ext in ["png", "svg"] {
            let p = dir.path().join(format!("{kind}.{ext}"));
            assert!(files.contains(&p), "{kind}.{ext} not written");
        }
        let share = ink(&dir.path().join(format!("{kind}.png")));
        assert!(share > 0.01 && share < 0.9, "{kind}: {share:.3} of the pixels drawn");
    }
    let csv = std::fs::read_to_string(dir.path().join("explore.csv")).expect("csv");
    assert_eq!(csv.lines().count(), designs.len() + 1);
}

/// `explore --simulate`: every design's cycle model runs the images; its steady state is the
/// predicted cycles per frame, its accuracy (from its own output words) the golden model's on
/// the same images, and both land in the CSV.
#[test]
fn explore_measures_every_design_in_the_cycle_model() {
    let model = common::mlp(64, &[24, 16], 10, false, 4);
    let models = vec![("m".to_string(), model.clone())];
    let mut rng = 7u64;
    let mut next = move || {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) as u8
    };
    let frames = 6;
    let images = explore::Images {
        pixels: (0..64 * frames).map(|_| next()).collect(),
        labels: (0..frames).map(|_| next() % 10).collect(),
    };
    let golden = sim::golden::Golden::new(&model).expect("golden");
    let preds = golden.run_batch(&images.pixels).expect("runs");
    let correct = preds.iter().zip(&images.labels).filter(|(p, &l)| p.class == usize::from(l)).count();
    let o = ExploreOptions {
        fclk_mhz: 100.0,
        lut_budget: None,
        popcount: Popcount::Compressor,
        mem: MemStyle::Auto,
        simulate: Some(images.clone()),
    };
    let mut designs = explore::explore(&models, &o, &|| {}).expect("explore");
    let total = std::sync::atomic::AtomicU64::new(0);
    explore::simulate(&mut designs, &models, &images, 100.0, &|c| {
        total.fetch_add(c, std::sync::atomic::Ordering::Relaxed);
    })
    .expect("simulate");
    assert!(total.into_inner() > 0);
    for d in &designs {
        let m = d.measured.expect("measured");
        assert_eq!(m.frames, frames);
        assert_eq!(m.cycles_per_frame, d.cycles_per_frame, "{}", d.folding);
        assert!(m.latency_median_cycles >= m.latency_cycles && m.latency_cycles > 0, "{m:?}");
        assert_eq!(m.accuracy, 100.0 * correct as f64 / frames as f64);
    }
    let text = explore::csv(&designs);
    assert!(text.lines().next().expect("header").ends_with(",sim_frames,sim_cycles_per_frame,sim_fps,sim_latency_cycles,sim_latency_median_cycles,sim_accuracy_pct"));
    let d = &designs[0];
    let m = d.measured.expect("measured");
    assert!(text.contains(&format!(",{frames},{},", m.cycles_per_frame)), "{text}");
    let dir = tempfile::tempdir().expect("tempdir");
    explore::write(dir.path(), &designs, &o).expect("write");
    let svg = std::fs::read_to_string(dir.path().join("lut_vs_fps.svg")).expect("svg");
    assert!(svg.contains("measured: cycle model, 6 real images"), "the measured series is drawn");
}

#[test]
fn a_confusion_matrix_is_drawn_as_png_and_svg() {
    let mut c = reports::confusion::Confusion::new(10);
    // Distinct counts, so each can be found in the SVG's text.
    for t in 0..10 {
        for _ in 0..(40 + 3 * t) {
            c.add(t, t);
        }
    }
    for _ in 0..17 {
        c.add(3, 8);
    }
    for _ in 0..5 {
        c.add(7, 1);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("confusion.png");
    reports::confusion::draw(&png, &c, "digits test: 95.00%").expect("png");
    let bytes = std::fs::read(&png).expect("png written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let share = ink(&png);
    assert!(share > 0.05 && share < 0.9, "{share:.3} of the pixels drawn");

    let svg = dir.path().join("confusion.svg");
    reports::confusion::draw(&svg, &c, "digits test: 95.00%").expect("svg");
    let text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{text}");
    for n in ["40", "67", "17", "5", "predicted", "true", "digits test: 95.00%"] {
        assert!(
            text.contains(&format!(">{n}<")) || text.contains(&format!(">\n{n}\n<")),
            "no {n:?} in the SVG"
        );
    }
    // Every cell is written, zeros included: 88 zero cells, the scale's 0, class 0's two labels.
    let zeros = text.matches(">0<").count() + text.matches(">\n0\n<").count();
    assert_eq!(zeros, 88 + 1 + 2);

    // Neither an unknown extension nor a directory is drawn on.
    for bad in [dir.path().join("confusion.pdf"), dir.path().to_path_buf()] {
        let e = reports::confusion::draw(&bad, &c, "t").expect_err("refused");
        assert!(e.to_string().contains(".svg or .png"), "{e}");
    }
    let sub = dir.path().join("d.svg");
    std::fs::create_dir(&sub).expect("mkdir");
    let e = reports::confusion::draw(&sub, &c, "t").expect_err("refused");
    assert!(e.to_string().contains("directory"), "{e}");
}
