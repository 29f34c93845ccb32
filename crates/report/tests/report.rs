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
use saescale_spec::layout;
use saescale_sweep::store::{RunState, RunStatus};
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
        std::fs::write(run_dir.join(layout::METRICS), metrics).unwrap();
        let final_json = format!(
            r#"{{"loss":{loss},"mse":0.1,"fvu":0.2,"l1":0.3,"l0":{},"dead_fraction":{},"flops":{},"steps":{},"wall_s":1.0}}"#,
            2000.0 / f.sqrt(),
            if f >= 1024.0 { 0.05 } else { 0.0 },
            run.flops,
            run.steps
        );
        std::fs::write(run_dir.join(layout::FINAL), final_json).unwrap();
        let mut status = store.status(&run.id).unwrap().unwrap();
        status.state = RunState::Done;
        status.attempts = 1;
        store.write_status(&run.id, &status).unwrap();
    }
    saescale_table::write_results(&store, &plan).unwrap();
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
    let kappa = saescale_spec::compute::kappa(saescale_spec::Architecture::Relu, 64, 256);
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
    let table = saescale_table::Table::read(&out.join("runs.parquet")).unwrap();
    assert_eq!(table.height(), 20);

    let html = std::fs::read_to_string(&written.index).unwrap();
    check_self_contained(&html);
    assert!(!html.contains(MARKUP) && !html.contains("<script>alert"), "unescaped markup in the page");
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    assert!(html.matches(escaped).count() >= 20 + 1 + 1 + 1, "names, description, spec and failure reason must all appear escaped");
    assert!(html.contains(&format!("trainer crashed: {escaped}")), "the failed run and its reason");
    assert!(html.contains("Runs named &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    // The fitted law to 5 significant digits (full precision stays in fit.json), the
    // recommendation and every figure inline.
    let fit = saescale_report::load::read_fit(&sweep.join("fit.json")).unwrap();
    let alpha = fit.params.unwrap().alpha;
    assert!(html.contains(&format!(">{}</td>", saescale_report::plot::number(alpha, 5))), "α to 5 digits");
    assert!(!html.contains(&format!("{alpha}")), "α at full precision ({alpha}) in the page");
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

/// Issue 18 item 5: the IsoFLOP and allocation figures draw the fit's IsoFLOP profile, so
/// their minima are exactly fit.json's (`x_opt`, `loss_opt`, `y_opt`: interior ones filled,
/// edge ones outlined), each budget's curve is exactly the fit's `curve`, and each budget's
/// runs are the fitted runs its `indices` name, in the Figure value and in the CSV written
/// next to it.
fn check_figures_draw_the_fit(data: &saescale_report::Dataset, out: &Path) {
    let fit = data.fit.as_ref().unwrap();
    let iso = fit.isoflop.as_ref().unwrap();
    let fitted: Vec<&saescale_report::dataset::Run> = data.runs.iter().filter(|r| r.in_fit).collect();
    assert_eq!(fitted.len(), fit.n_points);
    let drawn: Vec<_> = figures::all(data).into_iter().filter_map(Result::ok).collect();
    let isoflop = drawn.iter().find(|f| f.name == "isoflop").expect("an IsoFLOP figure");
    let layers = &isoflop.panels[0].layers;
    let layer = |name: &str| layers.iter().find(|l| l.name == name);
    let xy = |l: Option<&saescale_report::plot::Layer>| l.map_or_else(Vec::new, |l| l.data.iter().map(|d| [d.x, d.y]).collect::<Vec<_>>());
    let expected = |interior: bool| iso.budgets.iter().filter(|b| b.interior == interior).map(|b| [b.x_opt, b.loss_opt]).collect::<Vec<_>>();
    assert_eq!(xy(layer("IsoFLOP minimum (fit)")), expected(true));
    assert_eq!(xy(layer("minimum at the edge of the sizes")), expected(false));
    let curves: Vec<_> = layers.iter().filter(|l| l.name.starts_with("fitted curve, ")).collect();
    assert_eq!(curves.len(), iso.budgets.len());
    for (curve, budget) in curves.iter().zip(&iso.budgets) {
        assert_eq!(xy(Some(curve)), budget.curve, "{}", curve.name);
        // The budget's runs: the layer named as the curve's budget, tagged with the run ids.
        let label = curve.name.trim_start_matches("fitted curve, ");
        let runs = layer(label).unwrap_or_else(|| panic!("no runs layer {label:?}"));
        let tags: Vec<&str> = runs.data.iter().map(|d| d.tag.as_deref().unwrap()).collect();
        let ids: Vec<&str> = budget.indices.iter().map(|&i| fitted[i].id.as_str()).collect();
        assert_eq!(tags, ids, "{label}");
        assert_eq!(xy(Some(runs)), budget.indices.iter().map(|&i| [fitted[i].x, fitted[i].loss.unwrap()]).collect::<Vec<_>>());
    }
    let skipped: Vec<&str> = iso.skipped.iter().flat_map(|s| s.indices.iter().map(|&i| fitted[i].id.as_str())).collect();
    let drawn_skipped: Vec<&str> = layer("runs of a budget without a minimum").map_or_else(Vec::new, |l| l.data.iter().map(|d| d.tag.as_deref().unwrap()).collect());
    assert_eq!(drawn_skipped, skipped);
    let left_out: Vec<&str> = data.measured().filter(|r| !r.in_fit).map(|r| r.id.as_str()).collect();
    let drawn_left_out: Vec<&str> = layer("not in the fit").map_or_else(Vec::new, |l| l.data.iter().map(|d| d.tag.as_deref().unwrap()).collect());
    assert_eq!(drawn_left_out, left_out);

    // The CSV holds the same minima at full precision.
    let (header, rows) = check_csv(&out.join("isoflop.csv"));
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (series, x, loss) = (column("series"), column(&data.vars.x_column), column("loss"));
    for (name, interior) in [("IsoFLOP minimum (fit)", true), ("minimum at the edge of the sizes", false)] {
        let from_csv: Vec<[f64; 2]> = rows.iter().filter(|r| r[series] == name).map(|r| [r[x].parse().unwrap(), r[loss].parse().unwrap()]).collect();
        assert_eq!(from_csv, expected(interior), "{name} in isoflop.csv");
    }

    // The allocation figure marks the same minima at their budgets: X* and Y* of fit.json.
    let allocation = drawn.iter().find(|f| f.name == "allocation").expect("an allocation figure");
    for (panel, value) in allocation.panels.iter().zip([|b: &saescale_fit::BudgetOptimum| b.x_opt, |b: &saescale_fit::BudgetOptimum| b.y_opt]) {
        for (name, interior) in [("IsoFLOP minimum (fit)", true), ("IsoFLOP minimum at the edge of the sizes", false)] {
            let marked = xy(panel.layers.iter().find(|l| l.name == name));
            let wanted: Vec<[f64; 2]> = iso.budgets.iter().filter(|b| b.interior == interior).map(|b| [b.compute, value(b)]).collect();
            assert_eq!(marked, wanted, "{name} in {:?}", panel.title);
        }
    }
}

#[test]
fn issue_18_isoflop_figures_draw_the_fits_minima_and_curves_for_a_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("sweep");
    let plan = fake_sweep(&sweep);
    fit_sweep(&sweep, &plan);
    let data = load(&sweep).unwrap();
    let out = tmp.path().join("report");
    write(&data, &Options::default(), &out).unwrap();
    // Read back from fit.json, not from the dataset: the figure must agree with the file.
    let from_file = saescale_report::load::read_fit(&sweep.join("fit.json")).unwrap();
    assert_eq!(data.fit.as_ref().unwrap().isoflop, from_file.isoflop);
    assert_eq!(from_file.isoflop.as_ref().unwrap().budgets.len(), 4);
    // The fitted points are the done runs in plan order (fit_sweep), and so are the runs
    // the report marks as fitted: the fit's indices name the same runs in both.
    let fitted: Vec<String> = data.runs.iter().filter(|r| r.in_fit).map(|r| r.id.clone()).collect();
    assert_eq!(fitted, plan.runs[..plan.runs.len() - 1].iter().map(|r| r.id.to_string()).collect::<Vec<_>>());
    check_figures_draw_the_fit(&data, &out);
}

/// An external table fitted by the isoflop method, with a row left out, a near-duplicate size
/// (a digitised table's two readings of one model, merged into one spline node by the fit)
/// a budget whose minimum is at the edge of its sizes (outlined), and a budget with only two
/// sizes (skipped by the fit, its runs drawn as points), for both
/// interpolations: with the parabola the figure's former Akima minima would disagree.
#[test]
fn issue_18_isoflop_figures_draw_the_fits_minima_and_curves_for_a_table() {
    let truth = JointParams { E: 1.7, A: 400.0, B: 2000.0, alpha: 0.34, beta: 0.37 };
    let frontier = saescale_fit::Frontier::from_joint(&truth);
    let mut csv = String::from("params,flop,loss\n");
    let (mut x, mut c, mut loss) = (Vec::new(), Vec::new(), Vec::new());
    let mut row = |n: f64, budget: f64, wiggle: f64| {
        let l = truth.predict(n, budget / (6.0 * n)) * (1.0 + wiggle);
        csv.push_str(&format!("{n:e},{budget:e},{l}\n"));
        x.push(n);
        c.push(budget);
        loss.push(l);
    };
    for (k, budget) in [1e18, 1e19, 1e20, 1e21].iter().enumerate() {
        for j in -3..=3 {
            // Off-centre grids; the last budget's sizes start above its optimum (an edge minimum).
            let shift = if k == 3 { 3.5 } else { 0.5 * k as f64 - 0.5 };
            let n = frontier.x_opt(*budget, 6.0) * 2f64.powf(f64::from(j) + shift);
            row(n, *budget, 0.002 * (((k as i32 * 7 + j) % 5) as f64 - 2.0));
            if j == 0 {
                row(n * 1.02, *budget, 0.004);
            }
        }
    }
    row(1e11, 1e23, 0.0);
    row(2e11, 1e23, 0.0);
    for interpolation in [saescale_fit::Interpolation::Akima, saescale_fit::Interpolation::Parabola] {
        let tmp = tempfile::tempdir().unwrap();
        let table = tmp.path().join("lm.csv");
        std::fs::write(&table, &csv).unwrap();
        // Leave out the first row, as --drop-highest-loss would.
        let points = Points::from_compute(&x[1..], &c[1..], &loss[1..], 6.0).unwrap();
        let mut config = FitConfig::new(Method::Isoflop, 6.0);
        config.isoflop.interpolation = interpolation;
        let mut result = fit(&points, &config).unwrap();
        result.source = Source {
            path: Some(table.display().to_string()),
            x_col: "params".into(),
            y_col: None,
            compute_col: Some("flop".into()),
            rows: x.len(),
            excluded: vec![ExcludedRow { row: 0, reason: "drop-highest-loss".into() }],
            ..Source::default()
        };
        let iso = result.isoflop.as_ref().unwrap();
        assert_eq!((iso.budgets.len(), iso.skipped.len()), (4, 1), "{interpolation:?}");
        if interpolation == saescale_fit::Interpolation::Akima {
            // (The least-squares parabola through the last budget has its vertex inside.)
            assert_eq!(iso.budgets.iter().map(|b| b.interior).collect::<Vec<_>>(), [true, true, true, false]);
        }
        let fit_path = tmp.path().join("fit.json");
        std::fs::write(&fit_path, serde_json::to_string(&result).unwrap()).unwrap();
        let data = load(&fit_path).unwrap();
        assert_eq!(data.fit.as_ref().unwrap().isoflop, result.isoflop);
        // The runs the report marks as fitted are the fitted points, in order.
        let fitted: Vec<_> = data.runs.iter().filter(|r| r.in_fit).collect();
        assert_eq!(fitted.len(), points.len());
        for (i, run) in fitted.iter().enumerate() {
            assert!((run.x.ln() - points.ln_x[i]).abs() < 1e-12 && (run.loss.unwrap().ln() - points.ln_loss[i]).abs() < 1e-12, "point {i}");
        }
        let out = tmp.path().join("report");
        write(&data, &Options::default(), &out).unwrap();
        check_figures_draw_the_fit(&data, &out);
        let figure = figures::all(&data).into_iter().filter_map(Result::ok).find(|f| f.name == "isoflop").unwrap();
        assert!(figure.notes.iter().any(|n| n.contains("fewer than three distinct sizes") && n.contains("1e23")), "{:?}", figure.notes);
    }
}

/// The Chinchilla points as Epoch AI extracted them (tests/data/chinchilla_epoch_svg_extracted.csv:
/// 245 rows, one model size often read at several nearby values), five highest losses left out
/// as `saescale fit --drop-highest-loss 5` does (saescale-pipeline `points_from`), fitted by
/// the isoflop method: the figures still draw exactly fit.json's profile.
#[test]
fn issue_18_isoflop_figures_draw_the_fits_profile_of_the_chinchilla_points() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/chinchilla_epoch_svg_extracted.csv");
    let table = saescale_table::Table::read(&csv).unwrap();
    let column = |name: &str| table.positive_column(name).unwrap();
    let points = Points::from_compute(&column("Model Size"), &column("Training FLOP"), &column("loss"), 6.0).unwrap();
    let (kept, dropped) = points.drop_highest_loss(5);
    let mut result = fit(&kept, &FitConfig::new(Method::Isoflop, 6.0)).unwrap();
    result.source = Source {
        path: Some(csv.display().to_string()),
        x_col: "Model Size".into(),
        y_col: None,
        compute_col: Some("Training FLOP".into()),
        loss_col: "loss".into(),
        rows: table.height(),
        excluded: dropped.iter().map(|&row| ExcludedRow { row, reason: "drop-highest-loss".into() }).collect(),
        ..Source::default()
    };
    let iso = result.isoflop.as_ref().unwrap();
    assert!(iso.budgets.len() >= 2, "{iso:?}");
    let fit_path = tmp.path().join("fit.json");
    std::fs::write(&fit_path, serde_json::to_string(&result).unwrap()).unwrap();
    let data = load(&fit_path).unwrap();
    let fitted: Vec<_> = data.runs.iter().filter(|r| r.in_fit).collect();
    assert_eq!((data.runs.len(), fitted.len()), (245, 240));
    for (i, run) in fitted.iter().enumerate() {
        assert!((run.x.ln() - kept.ln_x[i]).abs() < 1e-12 && (run.loss.unwrap().ln() - kept.ln_loss[i]).abs() < 1e-12, "point {i}");
    }
    // Kept under the target directory for a look.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-tests/chinchilla-isoflop");
    let _ = std::fs::remove_dir_all(&out);
    write(&data, &Options::default(), &out).unwrap();
    check_figures_draw_the_fit(&data, &out);
}
