//! `saescale report` and the report at the end of `saescale run`, with the built binary in
//! temporary directories (issue 7): a small sweep trained by a stand-in trainer whose loss follows
//! a known law, and a fit of the Chinchilla reference points (docs/METHODS.md §4, V1). Every SVG must
//! parse, every PNG must have the requested size and not be blank, and each page is opened in
//! headless Chromium: no console errors, every figure decoded, a non-blank screenshot, and markup
//! from the spec shown as text.
//!
//! The browser check needs `chromium` (Debian package); without it the check is skipped with a
//! loud message, unless SAESCALE_REQUIRE_CHROMIUM is set, when it fails. Screenshots are kept
//! under the target directory (`CARGO_TARGET_TMPDIR/report-screenshots/`) for a look.

#[path = "../../report/tests/support/checks.rs"]
mod checks;
#[path = "support/chromium.rs"]
mod chromium;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checks::{check_csv, check_not_blank, check_png, check_self_contained, check_svg, decode_png};

const BIN: &str = env!("CARGO_BIN_EXE_saescale");
const MARKUP: &str = "<script>alert('spec')</script>";

fn saescale(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN).args(args).current_dir(dir).env_remove("SAESCALE_TRAINER").output().expect("run saescale")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn lawful_trainer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lawful-trainer.sh")
}

fn spec() -> String {
    format!(
        r#"# {MARKUP}
name = "lawful"
description = "Stand-in runs; {MARKUP} must show as text"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
lr = 1e-3
[run.eval]
rows = 2048
[sweep]
budgets = [1e11, 2e11, 4e11, 8e11]
features = [128, 256, 512, 1024, 2048]
[executor]
slots = 2
max_attempts = 1
"#
    )
}

/// The figure files of a report: each SVG parses, each PNG has `dpi`'s size, each CSV has rows.
/// Returns the PNG sizes by figure name.
fn check_report_files(dir: &Path, figures: &[&str], dpi: u32) {
    for name in figures {
        let svg = check_svg(&dir.join(format!("{name}.svg")));
        // Points are 1/100 inch, so the PNG is the SVG's size × dpi/100.
        let expected = ((svg.size.0 * f64::from(dpi) / 100.0).round() as u32, (svg.size.1 * f64::from(dpi) / 100.0).round() as u32);
        let png = check_png(&dir.join(format!("{name}.png")), expected, dpi);
        assert!(png.size.0 >= 500, "{name}: {:?}", png.size);
        check_csv(&dir.join(format!("{name}.csv")));
    }
    check_csv(&dir.join("runs.csv"));
    assert!(std::fs::metadata(dir.join("runs.parquet")).unwrap().len() > 0);
    check_self_contained(&std::fs::read_to_string(dir.join("index.html")).unwrap());
}

/// Opens the page in Chromium (if there is one) and checks what a reader sees.
fn check_in_browser(page: &Path, figures: usize, shot_name: &str) {
    let Some(browser) = chromium::find() else { return };
    let visit = chromium::visit(&browser, page, 1280, 2200);
    assert!(visit.errors.is_empty(), "the page logged errors: {:#?}", visit.errors);
    assert_eq!(visit.images, figures as u64, "figures on the page");
    assert_eq!(visit.images_decoded, visit.images, "every inline figure decodes");
    assert!(visit.title.starts_with("saescale report: "), "{}", visit.title);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join(shot_name), &visit.screenshot).unwrap();
    let image = decode_png(&visit.screenshot, shot_name);
    assert_eq!(image.size, (1280, 2200));
    check_not_blank(&image, shot_name);
    eprintln!("screenshot: {}", shots.join(shot_name).display());
    // What the reader sees: the fitted law, and markup as text rather than as markup.
    assert!(visit.text.contains("Fitted law"), "{}", &visit.text[..visit.text.len().min(400)]);
    if page.to_string_lossy().contains("lawful") {
        assert!(visit.text.contains(MARKUP), "the spec's markup is shown as text");
    }
}

/// `saescale run` plans, trains (stand-in), fits and writes reports/<name>/ (issue 7 item 4).
#[test]
fn run_ends_with_a_report_that_a_browser_opens_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("sweep.toml"), spec()).unwrap();
    let trainer = lawful_trainer();
    let out = saescale(&["run", "sweep.toml", "--no-progress", "--trainer", trainer.to_str().unwrap()], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let report = tmp.path().join("reports/lawful");
    assert!(report.join("index.html").is_file(), "{}", text(&out));
    let figures = ["loss_vs_compute", "isoflop", "allocation", "sparsity", "training_curves", "residuals"];
    check_report_files(&report, &figures, 150);
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(!html.contains(MARKUP) && html.contains("&lt;script&gt;alert(&#39;spec&#39;)&lt;/script&gt;"));
    check_in_browser(&report.join("index.html"), figures.len(), "lawful.png");

    // `saescale report` on the sweep again, at 300 dpi and for a feature target.
    let again = saescale(&["report", "runs/lawful", "--out", "print", "--dpi", "300", "--features", "4096"], tmp.path());
    assert!(again.status.success(), "{}", text(&again));
    check_report_files(&tmp.path().join("print"), &figures, 300);
    let html = std::fs::read_to_string(tmp.path().join("print/index.html")).unwrap();
    assert!(html.contains("features F = 4096"), "the target is stated");
}

/// The Chinchilla reference points (V1, five highest losses dropped) through `fit` and `report`.
#[test]
fn chinchilla_fit_report() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = format!("{}/../../tests/data/chinchilla_epoch_svg_extracted.csv", env!("CARGO_MANIFEST_DIR"));
    let fit = saescale(
        &["fit", &csv, "--x-col", "Model Size", "--compute-col", "Training FLOP", "--kappa", "6", "--drop-highest-loss", "5", "--bootstrap", "60", "--out", "fit.json"],
        tmp.path(),
    );
    assert!(fit.status.success(), "{}", text(&fit));
    let out = saescale(&["report", "fit.json", "--out", "chinchilla", "--dpi", "110", "--compute", "5.88e23"], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let report = tmp.path().join("chinchilla");
    let figures = ["loss_vs_compute", "isoflop", "allocation", "residuals"];
    check_report_files(&report, &figures, 110);
    let (header, rows) = check_csv(&report.join("runs.csv"));
    assert_eq!(rows.len(), 245);
    let in_fit = header.iter().position(|h| h == "in_fit").unwrap();
    assert_eq!(rows.iter().filter(|r| r[in_fit] == "false").count(), 5);
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("240 points fitted"));
    assert!(html.contains("compute C = 5.88e23 FLOP"));
    check_in_browser(&report.join("index.html"), figures.len(), "chinchilla.png");
}

/// The browser check itself: a page with a failing script and a missing image must be caught.
#[test]
fn browser_check_catches_a_broken_page() {
    let Some(browser) = chromium::find() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("broken.html");
    std::fs::write(&page, "<!DOCTYPE html><title>t</title><p>text</p><img src=\"missing.png\"><script>console.error('boom'); undefinedFunction();</script>").unwrap();
    let visit = chromium::visit(&browser, &page, 800, 600);
    let all = visit.errors.join("\n");
    assert!(all.contains("boom"), "console.error not seen: {all}");
    assert!(all.contains("undefinedFunction"), "exception not seen: {all}");
    assert!(all.contains("missing.png") || all.contains("ERR_FILE_NOT_FOUND"), "failed load not seen: {all}");
    assert_eq!((visit.images, visit.images_decoded), (1, 0));
}

#[test]
fn bad_input_is_exit_code_two() {
    let tmp = tempfile::tempdir().unwrap();
    let out = saescale(&["report", "nowhere", "--out", "r"], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    std::fs::write(tmp.path().join("fit.json"), "[]").unwrap();
    let out = saescale(&["report", "fit.json", "--out", "r"], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a fit written by `saescale fit`"), "{}", text(&out));
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = saescale(&["report", "empty", "--out", "r"], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
