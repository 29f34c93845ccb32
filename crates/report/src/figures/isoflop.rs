//! IsoFLOP curves: loss against size X for each compute budget, drawn from the fit's IsoFLOP
//! profile ([`FitResult::isoflop`]) so that the figure shows what fit.json holds and locates
//! nothing itself. Per budget with a minimum: the curve the fit took the minimum of (its
//! [`BudgetOptimum::curve`], an Akima spline or a least-squares parabola), that minimum
//! (`x_opt`, `loss_opt`: a filled diamond when interior, outlined at the edge of the sampled
//! sizes, where the true minimum may lie beyond), the budget's fitted runs, and the joint law
//! `L(X, C/(κX))` along the budget when the fit is parametric. The runs of budgets the fit
//! skipped are drawn as points with the reason in a note; runs the fit left out are outlined.
//!
//! ## Which runs a budget's indices name
//! [`BudgetOptimum::indices`] and [`SkippedBudget::indices`] index the fitted `Points`. Those
//! are the runs of [`Dataset::runs`] with `in_fit`, in their order ([`crate::load`]):
//! - A sweep. `saescale fit <dir>` (saescale-pipeline's `fit::load_sweep` and `points_from`)
//!   reads `results.parquet` (else `results.csv`): one row per planned run in plan order, as
//!   `saescale_table::write_results` builds it from `RunStore::records`. It keeps the rows whose
//!   `state` is `done` and that pass `source.filters`, in file order, and `--drop-highest-loss`
//!   then drops rows (the rest keep their order; `source.excluded` names the dropped file
//!   rows). `load::load_sweep` builds one run per record of the same `RunStore::records`, in
//!   the same order, and sets `in_fit` for a done run with a positive loss that passes the same
//!   filters (applied to the same table, rebuilt with `results_frame`) and is not in
//!   `source.excluded`. A done run without a positive, finite loss makes the fit fail rather
//!   than drop the row, so the two agree while the store is as it was when the fit was made.
//! - An external table. Both the fit (`fit::load`) and `load::load_table` read the table and
//!   apply `source.filters`, keeping file order; the fit drops the `source.excluded` rows, and
//!   `load_table` makes one run per filtered row with `in_fit` unless it is excluded.
//!
//! The correspondence breaks when the store changed after the fit (runs finished, failed or
//! were re-run; or a fit of a sweep's results file named as a table, whose rows the report
//! reads as the sweep's). [`fitted_runs`] checks what it can — the count against
//! [`FitResult::n_points`], each budget's runs against its compute and size range — and when
//! they disagree the figure draws the fit's curves and minima without runs and says why.
//!
//! Without a fit the figure shows the runs alone, grouped by budget ([`runs_only`]): no curves
//! and no minima, which are the fit's to compute. A fit without a profile (fit.json of schema 1
//! of a parametric fit) or with a schema-1 profile (minima without runs or curves) is skipped.

use saescale_fit::interp::Interpolation;
use saescale_fit::isoflop::{group_by_budget, Warning};
use saescale_fit::law::JointParams;
use saescale_fit::{BudgetOptimum, FitResult, IsoFlopConfig, IsoFlopFit, SkipReason, SkippedBudget};

use super::{log_grid, Skipped};
use crate::dataset::{Dataset, Run};
use crate::plot::palette::{self, Rgb};
use crate::plot::{number, Axis, Coloring, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "isoflop";
const TITLE: &str = "IsoFLOP curves";

/// Legend entry (and CSV series) of the interior minima.
pub(crate) const MINIMUM: &str = "IsoFLOP minimum (fit)";
/// Legend entry (and CSV series) of the minima at the edge of the sampled sizes.
pub(crate) const EDGE_MINIMUM: &str = "minimum at the edge of the sizes";
/// Legend entry (and CSV series) of the runs of budgets the fit skipped.
pub(crate) const SKIPPED_RUNS: &str = "runs of a budget without a minimum";
/// Legend entry (and CSV series) of the runs the fit left out.
pub(crate) const NOT_IN_FIT: &str = "not in the fit";

/// Series name of the fit's curve through one budget (`label` as [`budget_label`]).
pub(crate) fn curve_series(label: &str) -> String {
    format!("fitted curve, {label}")
}

/// Legend label of a budget (also each of its points' tag).
pub(crate) fn budget_label(budget: f64) -> String {
    format!("C = {}", number(budget, 3))
}

/// A budget's legend label, with what placed its runs when an isoflop design did (all of a
/// budget's runs are one stage): `C = 2e11 (fit of stage 0)`.
fn placed_label(budget: f64, members: &[&Run]) -> String {
    let label = budget_label(budget);
    match members.first().and_then(|r| r.placed_by.as_deref()) {
        Some(by) if members.iter().all(|r| r.placed_by.as_deref() == Some(by)) => format!("{label} ({by})"),
        _ => label,
    }
}

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let Some(fit) = &data.fit else { return runs_only(data) };
    let skip = |reason: String| Err(Skipped { name: NAME, title: TITLE, reason });
    let Some(iso) = &fit.isoflop else {
        return skip(format!(
            "the {} fit records no IsoFLOP profile (fit.json of schema {} has one only for the isoflop method); refit with `saescale fit` to draw it",
            fit.method.as_str(),
            fit.schema_version
        ));
    };
    if iso.budgets.iter().any(|b| b.indices.is_empty() || b.curve.is_empty()) {
        return skip("the fit's IsoFLOP profile (fit.json of schema 1) has minima but not their runs or curves; refit with `saescale fit` to draw it".into());
    }
    if iso.budgets.is_empty() {
        let mut reason = format!("no compute budget of the fit's IsoFLOP profile has a minimum ({} budget(s) without one", iso.skipped.len());
        for note in skip_notes(&iso.skipped) {
            reason.push_str("; ");
            reason.push_str(note.trim_end_matches('.'));
        }
        reason.push(')');
        return skip(reason);
    }
    Ok(profile_figure(data, fit, iso))
}

/// The fitted runs, in the order the fit's indices count them (see the module docs), or why
/// they cannot be the runs `iso` was computed from.
pub(crate) fn fitted_runs<'a>(data: &'a Dataset, fit: &FitResult, iso: &IsoFlopFit) -> Result<Vec<&'a Run>, String> {
    let runs: Vec<&Run> = data.runs.iter().filter(|r| r.in_fit).collect();
    if runs.is_empty() {
        return Err("the runs are not available".into());
    }
    if runs.len() != fit.n_points {
        return Err(format!("{} runs are marked as fitted but the fit has {} points (did the runs change since the fit?)", runs.len(), fit.n_points));
    }
    // A budget's points lie within the budget tolerance of its first point's compute, so
    // within that factor of their geometric mean; the slack covers the rounding of ln/exp.
    let gap = (1.0 + iso.config.budget_tolerance).ln() + 1e-9;
    let near = |a: f64, b: f64| (a / b - 1.0).abs() <= 1e-9;
    let check = |compute: f64, indices: &[usize]| -> Result<(), String> {
        let members: Vec<&Run> = indices.iter().map(|&i| runs.get(i).copied()).collect::<Option<_>>().ok_or("a budget names a point beyond the runs")?;
        if members.iter().any(|r| (r.compute / compute).ln().abs() > gap) {
            return Err(format!("the runs the fit puts at C = {} do not have that compute (did the runs change since the fit?)", number(compute, 4)));
        }
        Ok(())
    };
    for b in &iso.budgets {
        check(b.compute, &b.indices)?;
        // `check` has seen every index inside the runs.
        let span = b.indices.first().zip(b.indices.last()).map(|(&i, &j)| (runs[i].x, runs[j].x));
        if span.is_some_and(|(first, last)| !(near(first, b.x_range[0]) && near(last, b.x_range[1]))) {
            return Err(format!("the runs the fit puts at C = {} do not span its sizes (did the runs change since the fit?)", number(b.compute, 4)));
        }
    }
    for s in &iso.skipped {
        check(s.compute, &s.indices)?;
    }
    Ok(runs)
}

/// One budget of the profile as drawn.
struct Budget<'a> {
    /// The fit's optimum.
    optimum: &'a BudgetOptimum,
    /// Its fitted runs, by increasing size (empty when the runs are not available).
    members: Vec<&'a Run>,
    /// The budget shown: the planned budget its runs share, else the fit's.
    shown: f64,
}

fn profile_figure(data: &Dataset, fit: &FitResult, iso: &IsoFlopFit) -> Figure {
    let runs = fitted_runs(data, fit, iso);
    let pick = |indices: &[usize]| -> Vec<&Run> { runs.as_ref().map_or_else(|_| Vec::new(), |runs| indices.iter().map(|&i| runs[i]).collect()) };
    let budgets: Vec<Budget> = iso
        .budgets
        .iter()
        .map(|optimum| {
            let members = pick(&optimum.indices);
            let shown = if members.is_empty() { optimum.compute } else { super::group_budget(&members, optimum.compute) };
            Budget { optimum, members, shown }
        })
        .collect();
    let coloring = Coloring::of(&budgets.iter().map(|b| b.shown).collect::<Vec<_>>(), "budget C (FLOP)", 8);
    let discrete = matches!(coloring, Coloring::Groups(_));
    let mut layers = Vec::new();
    let (mut minima, mut edge_minima) = (Vec::new(), Vec::new());
    for b in &budgets {
        let (color, label) = (coloring.color(b.shown), placed_label(b.shown, &b.members));
        layers.extend(budget_layers(b, &label, color, discrete, fit.params.map(|p| (p, fit.kappa))));
        let point = Datum::at(b.optimum.x_opt, b.optimum.loss_opt).tagged(label).colored(color);
        if b.optimum.interior {
            minima.push(point);
        } else {
            edge_minima.push(point);
        }
    }
    let skipped: Vec<Datum> = iso.skipped.iter().flat_map(|s| pick(&s.indices)).filter_map(run_point).collect();
    let excluded = if runs.is_ok() { excluded_points(data, &budgets, &coloring, iso.config.budget_tolerance) } else { Vec::new() };
    layers.extend(legend_layers(discrete, fit.params.is_some(), iso.config.interpolation));
    if !skipped.is_empty() {
        layers.push(Layer::new(SKIPPED_RUNS, palette::GREY, Mark::dots(Shape::Square, 3.4), skipped));
    }
    if !excluded.is_empty() {
        layers.push(Layer::new(NOT_IN_FIT, palette::GREY, Mark::rings(Shape::Circle, 3.6), excluded));
    }
    layers.push(Layer::new(MINIMUM, palette::BLACK, Mark::dots(Shape::Diamond, 5.0), minima));
    if !edge_minima.is_empty() {
        layers.push(Layer::new(EDGE_MINIMUM, palette::BLACK, Mark::rings(Shape::Diamond, 5.0), edge_minima));
    }
    let mut notes = skip_notes(&iso.skipped);
    if let Err(reason) = &runs {
        notes.push(format!("Runs are not drawn: {reason}."));
    }
    // The skipped budgets' warnings say what the skip notes say.
    notes.extend(iso.warnings.iter().filter(|w| !matches!(w, Warning::Skipped { .. } | Warning::Unsteady { .. })).map(|w| w.to_string()));
    Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: profile_caption(data, fit, iso),
        panels: vec![panel(data, layers)],
        colorbar: coloring.colorbar(),
        notes,
    }
}

/// A budget's layers: the fit's curve, the joint law along it (`law`: parameters and κ of a
/// parametric fit) and its fitted runs.
fn budget_layers(b: &Budget, label: &str, color: Rgb, discrete: bool, law: Option<(JointParams, f64)>) -> Vec<Layer> {
    let o = b.optimum;
    let curve: Vec<Datum> = o.curve.iter().map(|&[x, loss]| Datum::at(x, loss).tagged(label)).collect();
    let mut layers = vec![Layer::new(curve_series(label), color, Mark::line(1.5), curve).unlisted()];
    if let Some((p, kappa)) = law {
        let grid = log_grid(o.x_range[0] / 1.5, o.x_range[1] * 1.5, 60);
        let curve: Vec<Datum> = grid.into_iter().map(|x| Datum::at(x, p.predict(x, o.compute / (kappa * x))).tagged(label)).collect();
        layers.push(Layer::new(format!("joint law, {label}"), color, Mark::dashed(1.2), curve).unlisted().overlay());
    }
    if !b.members.is_empty() {
        let points: Vec<Datum> = b.members.iter().filter_map(|r| run_point(r)).collect();
        let layer = Layer::new(label, color, Mark::dots(Shape::Circle, 3.6), points);
        layers.push(if discrete { layer } else { layer.unlisted() });
    }
    layers
}

/// A run at (X, loss), tagged with its id.
fn run_point(run: &Run) -> Option<Datum> {
    Some(Datum::at(run.x, run.loss?).tagged(run.id.clone()))
}

/// Measured runs the fit left out, in the colour of the fit budget whose compute they share
/// (within the budget tolerance), else grey.
fn excluded_points(data: &Dataset, budgets: &[Budget], coloring: &Coloring, tolerance: f64) -> Vec<Datum> {
    let gap = (1.0 + tolerance).ln();
    data.measured()
        .filter(|r| !r.in_fit)
        .filter_map(|r| {
            let distance = |b: &&Budget| (r.compute / b.optimum.compute).ln().abs();
            let home = budgets.iter().filter(|b| distance(b) <= gap).min_by(|a, b| distance(a).total_cmp(&distance(b)));
            Some(run_point(r)?.colored(home.map_or(palette::GREY, |b| coloring.color(b.shown))))
        })
        .collect()
}

/// Legend entries without data for the per-budget layers.
fn legend_layers(discrete: bool, parametric: bool, interpolation: Interpolation) -> Vec<Layer> {
    let mut layers = Vec::new();
    if !discrete {
        layers.push(Layer::new("runs (colour: budget)", palette::GREY, Mark::dots(Shape::Circle, 3.6), Vec::new()));
    }
    layers.push(Layer::new(format!("the fit's {} per budget", curve_name(interpolation)), palette::GREY, Mark::line(1.5), Vec::new()));
    if parametric {
        layers.push(Layer::new("fitted joint law per budget", palette::GREY, Mark::dashed(1.2), Vec::new()));
    }
    layers
}

fn curve_name(interpolation: Interpolation) -> &'static str {
    match interpolation {
        Interpolation::Akima => "Akima spline",
        Interpolation::Parabola => "least-squares parabola",
    }
}

/// Why budgets have no minimum, one note per reason (per budget for a swinging curve).
fn skip_notes(skipped: &[SkippedBudget]) -> Vec<String> {
    let list = |keep: &dyn Fn(&SkipReason) -> bool| -> Vec<String> { skipped.iter().filter(|s| keep(&s.reason)).map(|s| number(s.compute, 3)).collect() };
    let few = list(&|r| matches!(r, SkipReason::TooFewSizes { .. }));
    let flat = list(&|r| matches!(r, SkipReason::NoCurvature));
    let mut notes = Vec::new();
    if !few.is_empty() {
        notes.push(format!("{} budget(s) have fewer than three distinct sizes and no minimum (C = {}).", few.len(), few.join(", ")));
    }
    if !flat.is_empty() {
        notes.push(format!("{} budget(s) have a parabola that does not open upwards and no minimum (C = {}).", flat.len(), flat.join(", ")));
    }
    for s in skipped {
        if let SkipReason::Unsteady { swing, span } = s.reason {
            notes.push(format!(
                "Budget C = {}: the curve through its runs swings {} beyond their losses (span {}), so the fit takes no minimum there.",
                number(s.compute, 3),
                number(swing, 3),
                number(span, 3)
            ));
        }
    }
    notes
}

fn profile_caption(data: &Dataset, fit: &FitResult, iso: &IsoFlopFit) -> String {
    let config = &iso.config;
    let merged = if config.interpolation == Interpolation::Akima && config.same_size > 1.0 {
        format!(", sizes within {}% of each other averaged into one node", number(100.0 * (config.same_size - 1.0), 3))
    } else {
        String::new()
    };
    let role = if iso.diagnostic {
        format!(" The profile is a diagnostic of the {} fit, whose frontier is the joint law's.", fit.method.as_str())
    } else {
        " The frontier of the isoflop fit is a power law through the filled minima.".to_string()
    };
    let placed = if data.runs.iter().any(|r| r.placed_by.is_some()) {
        " The legend says what placed each budget's runs: the design's prior, or the fit of the budgets finished before it."
    } else {
        ""
    };
    format!(
        "{} against {} for each compute budget of the fit's IsoFLOP profile (runs within {}% of a budget's first run share it), as fit.json records it. Solid: the {} the fit drew through the budget's runs{merged}, with its minimum marked with a diamond (outlined when the minimum is at the edge of the sampled sizes, so the true optimum may lie beyond).{}{role}{placed}",
        super::compute::capitalise(&data.vars.loss),
        data.vars.x,
        number(100.0 * config.budget_tolerance, 3),
        curve_name(config.interpolation),
        if fit.params.is_some() { " Dashed: the fitted joint law L(X, C/(κX)) along each budget." } else { "" },
    )
}

fn panel(data: &Dataset, layers: Vec<Layer>) -> Panel {
    Panel {
        title: None,
        x: Axis::log(data.vars.x.clone(), data.vars.x_column.clone()),
        y: Axis::log(data.vars.loss.clone(), "loss"),
        y2: None,
        layers,
    }
}

/// Without a fit: the measured runs of each budget with at least three distinct sizes, as
/// points only. Curves and minima are the fit's to compute, so none are drawn; the budgets
/// are grouped with the fit's default tolerance.
fn runs_only(data: &Dataset) -> Result<Figure, Skipped> {
    let tolerance = IsoFlopConfig::default().budget_tolerance;
    let runs: Vec<&Run> = data.measured().collect();
    let ln_c: Vec<f64> = runs.iter().map(|r| r.compute.ln()).collect();
    let mut groups = Vec::new();
    let mut dropped = 0;
    for (compute, group) in group_by_budget(&ln_c, tolerance) {
        let mut members: Vec<&Run> = group.iter().map(|&i| runs[i]).collect();
        members.sort_by(|a, b| a.x.total_cmp(&b.x));
        let mut sizes: Vec<f64> = members.iter().map(|r| r.x).collect();
        sizes.dedup();
        if sizes.len() >= 3 {
            groups.push((super::group_budget(&members, compute), members));
        } else {
            dropped += 1;
        }
    }
    if groups.is_empty() {
        let reason = format!("no fit, and no compute budget (runs within {}% of each other's compute) has runs at three or more sizes", number(100.0 * tolerance, 3));
        return Err(Skipped { name: NAME, title: TITLE, reason });
    }
    let coloring = Coloring::of(&groups.iter().map(|g| g.0).collect::<Vec<_>>(), "budget C (FLOP)", 8);
    let discrete = matches!(coloring, Coloring::Groups(_));
    let mut layers: Vec<Layer> = groups
        .iter()
        .map(|(budget, members)| {
            let layer = Layer::new(placed_label(*budget, members), coloring.color(*budget), Mark::dots(Shape::Circle, 3.6), members.iter().filter_map(|r| run_point(r)).collect());
            if discrete { layer } else { layer.unlisted() }
        })
        .collect();
    if !discrete {
        layers.push(Layer::new("runs (colour: budget)", palette::GREY, Mark::dots(Shape::Circle, 3.6), Vec::new()));
    }
    let notes = if dropped > 0 { vec![format!("{dropped} budget(s) with fewer than three sizes are not drawn.")] } else { Vec::new() };
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "{} against {} for each compute budget (runs within {}% of a budget's first run share it). There is no fit yet, so only the runs are drawn: the per-budget curves and their minima are computed by `saescale fit` and drawn from its fit.json.",
            super::compute::capitalise(&data.vars.loss),
            data.vars.x,
            number(100.0 * tolerance, 3),
        ),
        panels: vec![panel(data, layers)],
        colorbar: coloring.colorbar(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Kind, Variables};
    use saescale_fit::{fit, FitConfig, Method, Points};

    /// Three budgets 1e18, 1e19, 1e20 (C = 6·X·Y) of five sizes `x*·2^j`, j = −2 … 2, with
    /// loss `2 − 0.1·log10(C/1e18) + 0.05·j²` (a minimum inside every budget), as table rows,
    /// fitted by the isoflop method.
    fn dataset() -> Dataset {
        let mut runs = Vec::new();
        for k in 0..3 {
            let compute = 1e18 * 10f64.powi(k);
            for j in -2..=2i32 {
                let x = 1e-3 * compute.sqrt() * 2f64.powi(j);
                let loss = 2.0 - 0.1 * f64::from(k) + 0.05 * f64::from(j * j);
                runs.push(Run { y: compute / (6.0 * x), compute, loss: Some(loss), ..Run::done_for_tests(format!("row {}", runs.len()), x) });
            }
        }
        let column = |f: &dyn Fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let points = Points::from_compute(&column(&|r| r.x), &column(&|r| r.compute), &column(&|r| r.loss.unwrap()), 6.0).unwrap();
        let result = fit(&points, &FitConfig::new(Method::Isoflop, 6.0)).unwrap();
        Dataset {
            title: "t".into(),
            description: None,
            input: "t".into(),
            spec: None,
            vars: Variables {
                kind: Kind::Table,
                x: "params".into(),
                x_symbol: "X".into(),
                x_column: "params".into(),
                y: "tokens".into(),
                y_symbol: "Y".into(),
                y_column: "tokens".into(),
                loss: "loss".into(),
                tokens_per_y: 1.0,
                kappa: 6.0,
            },
            runs,
            fit: Some(result),
            table: None,
            notes: Vec::new(),
            history: None,
        }
    }

    fn layer<'a>(figure: &'a Figure, name: &str) -> Option<&'a Layer> {
        figure.panels[0].layers.iter().find(|l| l.name == name)
    }

    /// Layers of runs: filled or outlined circles and squares with data.
    fn run_layers(figure: &Figure) -> Vec<&str> {
        let runs = |l: &&Layer| !l.data.is_empty() && matches!(l.mark, Mark::Markers { shape: Shape::Circle | Shape::Square, .. });
        figure.panels[0].layers.iter().filter(runs).map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn the_figure_draws_the_fits_minima_curves_and_runs() {
        let data = dataset();
        let iso = data.fit.as_ref().and_then(|f| f.isoflop.as_ref()).unwrap();
        assert_eq!(iso.budgets.len(), 3);
        let figure = figure(&data).unwrap();
        let minima: Vec<(f64, f64)> = layer(&figure, MINIMUM).unwrap().data.iter().map(|d| (d.x, d.y)).collect();
        assert_eq!(minima, iso.budgets.iter().map(|b| (b.x_opt, b.loss_opt)).collect::<Vec<_>>());
        assert!(layer(&figure, EDGE_MINIMUM).is_none());
        for b in &iso.budgets {
            let label = budget_label(b.compute);
            let curve: Vec<[f64; 2]> = layer(&figure, &curve_series(&label)).unwrap().data.iter().map(|d| [d.x, d.y]).collect();
            assert_eq!(curve, b.curve);
            let tags: Vec<String> = layer(&figure, &label).unwrap().data.iter().map(|d| d.tag.clone().unwrap()).collect();
            assert_eq!(tags, b.indices.iter().map(|i| format!("row {i}")).collect::<Vec<_>>());
        }
        // Nothing skipped: the notes are the fit's own warnings.
        assert_eq!(figure.notes, iso.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert!(figure.caption.contains("Akima spline the fit drew"), "{}", figure.caption);
    }

    /// An isoflop design's budgets say what placed their runs, in the legend and the caption.
    #[test]
    fn each_budget_of_an_isoflop_design_says_what_placed_it() {
        let mut data = dataset();
        for (i, run) in data.runs.iter_mut().enumerate() {
            run.placed_by = Some(if i < 5 { "prior".into() } else { format!("fit of stage {}", i / 5 - 1) });
        }
        let figure = figure(&data).unwrap();
        let budgets: Vec<f64> = data.fit.as_ref().unwrap().isoflop.as_ref().unwrap().budgets.iter().map(|b| b.compute).collect();
        let expected = [
            format!("{} (prior)", budget_label(budgets[0])),
            format!("{} (fit of stage 0)", budget_label(budgets[1])),
            format!("{} (fit of stage 1)", budget_label(budgets[2])),
        ];
        assert_eq!(run_layers(&figure), expected.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(layer(&figure, &curve_series(&expected[1])).is_some());
        assert!(figure.caption.contains("what placed each budget's runs"), "{}", figure.caption);
        // Without placements (a grid), the plain budget labels and no such sentence.
        let plain = super::figure(&dataset()).unwrap();
        assert_eq!(run_layers(&plain), budgets.iter().map(|&c| budget_label(c)).collect::<Vec<_>>());
        assert!(!plain.caption.contains("what placed"));
    }

    /// Runs that are not the ones the fit was made from (the store changed since) are not
    /// drawn against the fit's budgets; the fit's curves and minima still are.
    #[test]
    fn runs_that_do_not_match_the_fit_are_not_drawn() {
        let mut changed = dataset();
        changed.runs[0].in_fit = false;
        let mut swapped = dataset();
        // Same count, but the first point now has another budget's compute.
        swapped.runs.swap(0, 14);
        for (data, why) in [(changed, "the fit has 15 points"), (swapped, "do not have that compute")] {
            let (fit, iso) = (data.fit.as_ref().unwrap(), data.fit.as_ref().unwrap().isoflop.as_ref().unwrap());
            let err = fitted_runs(&data, fit, iso).unwrap_err();
            assert!(err.contains(why), "{err}");
            let figure = figure(&data).unwrap();
            assert!(run_layers(&figure).is_empty(), "{:?}", run_layers(&figure));
            assert_eq!(layer(&figure, MINIMUM).unwrap().data.len(), 3);
            assert!(figure.notes.iter().any(|n| n.starts_with("Runs are not drawn") && n.contains(why)), "{:?}", figure.notes);
        }
    }

    #[test]
    fn without_a_fit_only_the_runs_are_drawn() {
        let mut data = dataset();
        data.fit = None;
        let figure = figure(&data).unwrap();
        assert!(figure.panels[0].layers.iter().all(|l| matches!(l.mark, Mark::Markers { shape: Shape::Circle, filled: true, .. })));
        assert_eq!(run_layers(&figure), ["C = 1e18", "C = 1e19", "C = 1e20"]);
        assert!(figure.caption.contains("no fit yet"), "{}", figure.caption);
    }

    #[test]
    fn a_fit_without_a_usable_profile_skips_the_figure() {
        let mut data = dataset();
        let profile = data.fit.as_mut().unwrap().isoflop.as_mut().unwrap();
        // Schema 1: minima without their points or curves.
        profile.budgets.iter_mut().for_each(|b| b.indices.clear());
        assert!(figure(&data).unwrap_err().reason.contains("schema 1"));
        let profile = data.fit.as_mut().unwrap().isoflop.as_mut().unwrap();
        let budgets = std::mem::take(&mut profile.budgets);
        profile.skipped = budgets.iter().map(|b| SkippedBudget { compute: b.compute, indices: b.indices.clone(), reason: SkipReason::TooFewSizes { sizes: 2 } }).collect();
        let reason = figure(&data).unwrap_err().reason;
        assert!(reason.contains("no compute budget") && reason.contains("3 budget(s) have fewer than three distinct sizes"), "{reason}");
        data.fit.as_mut().unwrap().isoflop = None;
        assert!(figure(&data).unwrap_err().reason.contains("no IsoFLOP profile"));
    }
}
