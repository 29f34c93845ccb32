//! Reports end to end through the library (issue 7): a small sweep store written by hand (runs
//! whose held-out loss follows a known law, one failed run, names with markup in them) and an
//! external table, each loaded, fitted and written; every SVG must parse, every PNG must have
//! the requested size and DPI and not be blank, the CSVs must hold the drawn numbers, and every
//! string from the spec or the table must come out escaped.

#[path = "support/checks.rs"]
mod checks;

use std::path::Path;

use saescale_fit::law::JointParams;
use saescale_fit::{fit, BootstrapConfig, ExcludedRow, FitConfig, Method, Points, SaeSetting, Source, Starts};
use saescale_report::figures;
use saescale_report::report::png_size;
use saescale_report::{load, write, Options};
use saescale_sweep::store::{names, RunState, RunStatus};
use saescale_sweep::{Plan, RunStore, SweepSpec};

use checks::{check_csv, check_png, check_self_contained, check_svg};

/// Held-out loss of the fake runs: L(F, S) = 1 + 40/F^0.5 + 60/S^0.5, whose compute-optimal F
/// lies inside the feature grid at every budget below (F* ≈ 475 at 1e11 with κ = 12·64·256).
const TRUTH: JointParams = JointParams { E: 1.0, A: 40.0, B: 60.0, alpha: 0.5, beta: 0.5 };

const MARKUP: &str = "<script>alert(1)</script>";

fn spec_text() -> String {
    format!(
        r#"# A comment with {MARKUP}
name = "escape-test"
description = "Runs named {MARKUP} & co"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
lr = 1e-3
[sweep]
budgets = [1e11, 2e11, 4e11, 8e11]
features = [128, 256, 512, 1024, 2048]
"#
    )
}

/// A sweep directory as the supervisor would leave it: every run done except the one at
/// F = 2048 of the largest budget, which failed.
fn fake_sweep(dir: &Path) -> Plan {
    let text = spec_text();
    let mut plan = Plan::new(&SweepSpec::parse(&text, "sweep.toml").unwrap()).unwrap();
    for run in &mut plan.runs {
        run.spec.name = Some(format!("{MARKUP}/F{}", run.features));
    }
    let store = RunStore::open_locked(dir).unwrap();
    store.write_plan(&plan, &text).unwrap();
    let last = plan.runs.len() - 1;
    for (i, run) in plan.runs.iter().enumerate() {
        store.prepare(run).unwrap();
        let run_dir = store.run_dir(&run.id);
        if i == last {
            let status = RunStatus { state: RunState::Failed, reason: Some(format!("trainer crashed: {MARKUP}")), attempts: 2, ..RunStatus::new() };
            store.write_status(&run.id, &status).unwrap();
            continue;
        }
        let (f, s) = (run.features as f64, run.steps as f64);
        // ±0.3% deterministic wiggle so that the bootstrap replicates differ.
        let loss = TRUTH.predict(f, s) * (1.0 + 0.003 * ((i * 7 % 5) as f64 - 2.0) / 2.0);
        let mut metrics = String::new();
        for k in 1..=20u64 {
            let step = run.steps * k / 20;
            let partial = TRUTH.predict(f, step.max(1) as f64);
            metrics.push_str(&format!("{{\"step\":{step},\"tokens\":{},\"loss\":{partial}}}\n", step * 256));
        }
        std::fs::write(run_dir.join(names::METRICS), metrics).unwrap();
        let final_json = format!(
            r#"{{"loss":{loss},"mse":0.1,"fvu":0.2,"l1":0.3,"l0":{},"dead_fraction":{},"flops":{},"steps":{},"wall_s":1.0}}"#,
            2000.0 / f.sqrt(),
            if f >= 1024.0 { 0.05 } else { 0.0 },
            run.flops,
            run.steps
        );
        std::fs::write(run_dir.join(names::FINAL), final_json).unwrap();
        let mut status = store.status(&run.id).unwrap().unwrap();
        status.state = RunState::Done;
        status.attempts = 1;
        store.write_status(&run.id, &status).unwrap();
    }
    saescale_report::results::write_results(&store, &plan).unwrap();
    plan
}

/// Fits the done runs as `saescale fit <dir>` would (columns features, steps; κ = 12·d·batch),
/// from one start near the truth, with a small bootstrap; writes fit.json.
fn fit_sweep(dir: &Path, plan: &Plan) {
    let done: Vec<_> = plan.runs[..plan.runs.len() - 1].iter().collect();
    let store = RunStore::open(dir).unwrap();
    let x: Vec<f64> = done.iter().map(|r| r.features as f64).collect();
    let y: Vec<f64> = done.iter().map(|r| r.steps as f64).collect();
    let loss: Vec<f64> = done.iter().map(|r| store.final_metrics(&r.id).unwrap().unwrap().loss.unwrap()).collect();
    let kappa = saescale_spec::compute::run_flops(64, 1, 1, 256);
    let mut config = FitConfig::new(Method::Huber, kappa);
    config.starts = Starts::Given(vec![TRUTH.to_log()]);
    config.bootstrap = Some(BootstrapConfig::new(40, 1));
    let mut result = fit(&Points::new(&x, &y, &loss).unwrap(), &config).unwrap();
    result.source = Source {
        path: Some(dir.join("results.parquet").display().to_string()),
        x_col: "features".into(),
        y_col: Some("steps".into()),
        rows: done.len(),
        tokens_per_y: 256.0,
        sae: Some(SaeSetting { d_in: 64, batch_size: 256 }),
        ..Source::default()
    };
    std::fs::write(dir.join("fit.json"), serde_json::to_string(&result).unwrap()).unwrap();
}

/// Every figure's SVG parses, its PNG has the size the DPI asks for, its CSV has rows.
fn check_figures(data: &saescale_report::Dataset, out: &Path, dpi: u32, expected: &[&str]) {
    let drawn: Vec<_> = figures::all(data).into_iter().filter_map(Result::ok).collect();
    let names: Vec<&str> = drawn.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, expected);
    for figure in &drawn {
        let svg = check_svg(&out.join(format!("{}.svg", figure.name)));
        let (w, h) = figure.size();
        assert_eq!(svg.size, (w.round(), h.round()));
        for panel in &figure.panels {
            assert!(svg.texts.contains(&panel.x.label), "{}: no x label {:?} in {:?}", figure.name, panel.x.label, svg.texts);
        }
        check_png(&out.join(format!("{}.png", figure.name)), png_size(figure, dpi), dpi);
        let (header, rows) = check_csv(&out.join(format!("{}.csv", figure.name)));
        assert!(header.contains(&"series".to_string()));
        let points: usize = figure.panels.iter().flat_map(|p| &p.layers).map(|l| l.data.len()).sum();
        assert_eq!(rows.len(), points, "{}: one CSV row per drawn point", figure.name);
    }
}

#[test]
fn sweep_report_has_every_figure_and_escapes_what_it_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("sweep");
    let plan = fake_sweep(&sweep);
    fit_sweep(&sweep, &plan);
    let data = load(&sweep).unwrap();
    assert_eq!(data.runs.len(), 20);
    assert_eq!(data.failed().count(), 1);
    assert_eq!(data.runs.iter().filter(|r| r.in_fit).count(), 19);

    let out = tmp.path().join("report");
    let written = write(&data, &Options { dpi: 120, target: None }, &out).unwrap();
    let expected = ["loss_vs_compute", "isoflop", "allocation", "sparsity", "training_curves", "residuals"];
    assert_eq!(written.figures, expected);
    assert_eq!(written.skipped.iter().map(|s| s.name).collect::<Vec<_>>(), ["lr_law"]);
    check_figures(&data, &out, 120, &expected);

    // The run table, as Parquet and CSV, one row per planned run.
    let (header, rows) = check_csv(&out.join("runs.csv"));
    assert_eq!(rows.len(), 20);
    let name = header.iter().position(|h| h == "name").unwrap();
    assert!(rows[0][name].starts_with(MARKUP), "CSV keeps the name as it is: {:?}", rows[0][name]);
    let table = saescale_report::table::Table::read(&out.join("runs.parquet")).unwrap();
    assert_eq!(table.height(), 20);

    let html = std::fs::read_to_string(&written.index).unwrap();
    check_self_contained(&html);
    assert!(!html.contains(MARKUP) && !html.contains("<script>alert"), "unescaped markup in the page");
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    assert!(html.matches(escaped).count() >= 20 + 1 + 1 + 1, "names, description, spec and failure reason must all appear escaped");
    assert!(html.contains(&format!("trainer crashed: {escaped}")), "the failed run and its reason");
    assert!(html.contains("Runs named &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    // The fitted law at full precision, the recommendation and every figure inline.
    let fit = saescale_report::load::read_fit(&sweep.join("fit.json")).unwrap();
    assert!(html.contains(&format!("{}", fit.params.unwrap().alpha)));
    assert!(html.contains("id=\"recommendation\"") && html.contains("optimal features F"));
    for name in expected {
        assert!(html.contains(&format!("<figure id=\"fig-{name}\">")), "{name}");
        assert!(html.contains(&format!("href=\"{name}.csv\"")), "{name}");
    }
}

#[test]
fn sweep_without_a_fit_still_reports_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("sweep");
    fake_sweep(&sweep);
    let data = load(&sweep).unwrap();
    assert!(data.fit.is_none());
    let out = tmp.path().join("report");
    let written = write(&data, &Options::default(), &out).unwrap();
    assert_eq!(written.figures, ["loss_vs_compute", "isoflop", "sparsity", "training_curves"]);
    let html = std::fs::read_to_string(&written.index).unwrap();
    check_self_contained(&html);
    assert!(!html.contains("id=\"recommendation\""));
    check_figures(&data, &out, 150, &["loss_vs_compute", "isoflop", "sparsity", "training_curves"]);
}

/// A fit of an external table named by its fit.json, with rows left out, at another DPI.
#[test]
fn table_fit_report_reads_the_table_back() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = JointParams { E: 1.7, A: 400.0, B: 2000.0, alpha: 0.34, beta: 0.37 };
    let mut csv = String::from("model,params,flop,loss,note\n");
    let (mut x, mut c, mut loss) = (Vec::new(), Vec::new(), Vec::new());
    for (k, budget) in [1e18, 1e19, 1e20, 1e21].iter().enumerate() {
        for j in 0..7 {
            let n = 1e7 * 10f64.powf(0.5 * k as f64) * 2f64.powi(j);
            let l = truth.predict(n, budget / (6.0 * n)) * (1.0 + 0.002 * (((k as i32 * 7 + j) % 5) as f64 - 2.0));
            csv.push_str(&format!("m{k}{j},{n:e},{budget:e},{l},\"{MARKUP}, quoted\"\n"));
            x.push(n);
            c.push(*budget);
            loss.push(l);
        }
    }
    let table = tmp.path().join("lm.csv");
    std::fs::write(&table, csv).unwrap();
    // Leave out the first row, as --drop-highest-loss would.
    let points = Points::from_compute(&x[1..], &c[1..], &loss[1..], 6.0).unwrap();
    let mut config = FitConfig::new(Method::Huber, 6.0);
    config.starts = Starts::Given(vec![truth.to_log()]);
    config.bootstrap = Some(BootstrapConfig::new(30, 2));
    let mut result = fit(&points, &config).unwrap();
    result.source = Source {
        path: Some(table.display().to_string()),
        x_col: "params".into(),
        y_col: None,
        compute_col: Some("flop".into()),
        rows: 28,
        excluded: vec![ExcludedRow { row: 0, reason: "drop-highest-loss".into() }],
        ..Source::default()
    };
    result.lr_law = Some(lr_report());
    let fit_path = tmp.path().join("fit.json");
    std::fs::write(&fit_path, serde_json::to_string(&result).unwrap()).unwrap();

    let data = load(&fit_path).unwrap();
    assert_eq!(data.runs.len(), 28);
    assert!(!data.runs[0].in_fit && data.runs[0].excluded.as_deref() == Some("drop-highest-loss"));
    // Kept under the target directory for a look.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-tests/table");
    let _ = std::fs::remove_dir_all(&out);
    let written = write(&data, &Options { dpi: 96, target: Some(saescale_fit::Target::Compute(1e22)) }, &out).unwrap();
    let expected = ["loss_vs_compute", "isoflop", "allocation", "residuals", "lr_law"];
    assert_eq!(written.figures, expected);
    check_figures(&data, &out, 96, &expected);
    let (header, rows) = check_csv(&out.join("runs.csv"));
    assert!(header.contains(&"in_fit".to_string()) && header.contains(&"excluded".to_string()));
    assert_eq!(rows.len(), 28);
    let html = std::fs::read_to_string(&written.index).unwrap();
    check_self_contained(&html);
    assert!(!html.contains(MARKUP) && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;, quoted"));
    assert!(html.contains("compute C = 1e22 FLOP"));
}

/// A learning-rate law fitted to loss quadratic in ln lr around lr*(C) = 0.3·C^−0.25 at four
/// budgets, with one budget whose optimum lies beyond the swept rates (drawn outlined).
fn lr_report() -> saescale_fit::LrReport {
    use saescale_fit::lr::{bootstrap_lr_law, fit_lr_law, LrData, LrLaw};
    let truth = LrLaw { c: 0.3, p: 0.25 };
    let (mut c, mut lr, mut loss) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..5 {
        let budget = 10f64.powi(18 + k);
        // The last budget's sweep stops below its optimum.
        let shift = if k == 4 { -6 } else { 0 };
        for j in -3..=3 {
            let v = truth.lr(budget) * 2f64.powi(j + shift);
            c.push(budget);
            lr.push(v);
            loss.push(2.0 + 0.1 * (v / truth.lr(budget)).ln().powi(2) + 0.001 * f64::from(j % 2));
        }
    }
    let data = LrData::new(&c, &lr, &loss).unwrap();
    let fit = fit_lr_law(&data, 0.1, saescale_fit::Interpolation::Parabola).unwrap();
    assert_eq!(fit.budgets.iter().filter(|b| !b.interior).count(), 1);
    let (samples, _) = bootstrap_lr_law(&data, 0.1, saescale_fit::Interpolation::Parabola, &BootstrapConfig::new(30, 3)).unwrap();
    saescale_fit::LrReport::new("lr".into(), None, fit, samples)
}

#[test]
fn bad_inputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load(&tmp.path().join("missing.json")).unwrap_err();
    assert!(matches!(err, saescale_report::Error::Input { .. }), "{err}");
    let fit = tmp.path().join("fit.json");
    std::fs::write(&fit, "{\"not\": \"a fit\"}").unwrap();
    let err = load(&fit).unwrap_err();
    assert!(err.to_string().contains("not a fit written by `saescale fit`"), "{err}");
}
