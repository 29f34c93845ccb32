//! The report's `index.html`: one self-contained page (figures inlined as SVG data URIs, CSS and
//! the table-sorting script inline, a Content-Security-Policy that forbids every network load)
//! with the sweep's description, the fitted law, the recommendation, the figures, failed runs,
//! the run table and the spec. Every string from a spec, a table or a fit is escaped.

use saescale_fit::stats::Spread;
use saescale_fit::{FitResult, Recommendation};

use crate::dataset::{Dataset, History, Kind};
use crate::figures::Skipped;
use crate::html::{base64, csp_hash, esc, frame_table, table, Cell};
use crate::plot::{number, Figure};

/// A drawn figure and its files.
pub struct Drawn<'a> {
    /// The figure.
    pub figure: &'a Figure,
    /// Its SVG document.
    pub svg: &'a str,
    /// Size in points (SVG user units).
    pub size: (u32, u32),
}

/// What the page shows besides the dataset.
pub struct PageInput<'a> {
    /// Drawn figures, in order.
    pub figures: Vec<Drawn<'a>>,
    /// Figures left out, and why.
    pub skipped: &'a [Skipped],
    /// The recommendation and how its target was chosen.
    pub recommendation: Option<(Recommendation, String)>,
    /// PNG resolution, for the links.
    pub dpi: u32,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;color:#1a1a1a;background:#fff;line-height:1.45}\
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}\
h1{font-size:1.7em;margin:.2em 0}h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1.08em;margin:1.4em 0 .4em}\
.lede{font-size:1.05em;color:#333}.meta{color:#555;font-size:.9em}code,pre{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.88em}\
pre{background:#f6f6f4;padding:12px;overflow-x:auto;border-radius:4px}\
nav a{margin-right:1em}\
table{border-collapse:collapse;font-size:.86em;margin:.5em 0}th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th{background:#f3f3f0;position:sticky;top:0}\
table.sortable th{cursor:pointer}table.sortable th[aria-sort=ascending]::after{content:' \\2191'}table.sortable th[aria-sort=descending]::after{content:' \\2193'}\
.scroll{max-height:560px;overflow:auto;border:1px solid #e4e4e4}.scroll td{white-space:nowrap}\
figure{margin:1.2em 0 2em}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.92em;color:#333;max-width:980px}\
.files a{margin-right:.8em}.warn{background:#fff4e5;border-left:4px solid #e69f00;padding:6px 10px}.note{color:#555}\
.formula{font-size:1.1em;margin:.6em 0}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:.92em}dt{color:#555}dd{margin:0}";

/// Sorts `table.sortable` by a clicked header: numerically where cells carry `data-v`.
const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),up=th.getAttribute('aria-sort')!=='ascending';\
t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});th.setAttribute('aria-sort',up?'ascending':'descending');\
var rows=Array.prototype.slice.call(b.rows);rows.sort(function(x,y){var p=x.cells[i].getAttribute('data-v'),q=y.cells[i].getAttribute('data-v'),r;\
if(p!==null&&q!==null){r=parseFloat(p)-parseFloat(q);}else if(p!==null){r=-1;}else if(q!==null){r=1;}else{r=x.cells[i].textContent.localeCompare(y.cells[i].textContent);}\
return up?r:-r;});rows.forEach(function(r){b.appendChild(r);});});});";

/// The page.
pub fn render(data: &Dataset, input: &PageInput<'_>) -> String {
    let csp = format!("default-src 'none'; img-src data:; style-src {}; script-src {}; base-uri 'none'; form-action 'none'", csp_hash(STYLE), csp_hash(SCRIPT));
    let mut body = String::new();
    body.push_str(&header(data));
    body.push_str(&nav(data));
    for note in &data.notes {
        body.push_str(&format!("<p class=\"warn\">{}</p>", esc(note)));
    }
    if let Some(history) = &data.history {
        body.push_str(&history_section(history));
    }
    if let Some(fit) = &data.fit {
        body.push_str(&fit_section(data, fit));
    }
    if let Some((rec, target)) = &input.recommendation {
        body.push_str(&recommendation_section(data, rec, target));
    }
    body.push_str(&figures_section(input));
    if data.vars.kind == Kind::Sweep {
        body.push_str(&failed_section(data));
    }
    if let Some(frame) = &data.table {
        body.push_str(&format!(
            "<section id=\"runs\"><h2>Runs</h2><p class=\"note\">{} rows; click a column header to sort. Also as <a href=\"runs.csv\">runs.csv</a> and <a href=\"runs.parquet\">runs.parquet</a>.</p><div class=\"scroll\">{}</div></section>\n",
            frame.height(),
            frame_table(frame)
        ));
    }
    if let Some(spec) = &data.spec {
        body.push_str(&format!("<section id=\"spec\"><h2>Sweep spec</h2><pre>{}</pre></section>\n", esc(spec)));
    }
    body.push_str(&format!(
        "<footer class=\"meta\"><p>Generated by saescale-report {} from <code>{}</code>. Figures use DejaVu Sans (Bitstream Vera licence), drawn as outlines.</p></footer>",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&data.input)
    ));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style></head>\n<body><main>\n{body}\n</main><script>{SCRIPT}</script></body></html>\n",
        esc(&csp),
        esc(&format!("saescale report: {}", data.title))
    )
}

/// A nightly sweep's history: the nights, the baseline of the latest, and what is flagged.
fn history_section(history: &History) -> String {
    let latest = history.nights.last().map_or("", String::as_str);
    let mut out = format!(
        "<section id=\"history\"><h2>History</h2><p>{} nights, {} to {}. This page shows the latest, {}, compared with the baseline night {}. \
         A figure has regressed when it breaks its tolerance on the last two nights in a row against the median of the seven nights before each; \
         a last night that breaks it alone is suspicious (shown, not failed).</p>\n",
        history.nights.len(),
        esc(history.nights.first().map_or("", String::as_str)),
        esc(latest),
        esc(latest),
        esc(&history.nights[history.baseline])
    );
    if history.findings.is_empty() {
        out.push_str("<p class=\"note\">Nothing regressed or suspicious.</p>");
    } else {
        let rows: Vec<Vec<Cell>> = history.findings.iter().map(|f| vec![Cell::text(&f.subject), Cell::text(&f.figure), Cell::text(&f.status)]).collect();
        out.push_str(&table(&["run".into(), "figure".into(), "status".into()], &rows, true));
    }
    out.push_str("</section>\n");
    out
}

fn header(data: &Dataset) -> String {
    let mut out = format!("<header><h1>Scaling report: {}</h1>", esc(&data.title));
    if let Some(d) = &data.description {
        out.push_str(&format!("<p class=\"lede\">{}</p>", esc(d)));
    }
    let done = data.measured().count();
    let failed = data.failed().count();
    let what = match data.vars.kind {
        Kind::Sweep => format!("sweep directory, {} runs: {done} finished, {failed} failed", data.runs.len()),
        Kind::Table => format!("table, {} rows", data.runs.len()),
    };
    out.push_str(&format!("<p class=\"meta\">Input: <code>{}</code> ({})</p></header>\n", esc(&data.input), esc(&what)));
    out
}

fn nav(data: &Dataset) -> String {
    let mut links = Vec::new();
    if data.history.is_some() {
        links.push(("history", "History"));
    }
    if data.fit.is_some() {
        links.push(("fit", "Fitted law"));
        links.push(("recommendation", "Recommendation"));
    }
    links.push(("figures", "Figures"));
    if data.vars.kind == Kind::Sweep {
        links.push(("failed", "Failed runs"));
    }
    if data.table.is_some() {
        links.push(("runs", "Runs"));
    }
    if data.spec.is_some() {
        links.push(("spec", "Spec"));
    }
    let items: Vec<String> = links.iter().map(|(id, label)| format!("<a href=\"#{id}\">{label}</a>")).collect();
    format!("<nav>{}</nav>\n", items.join(""))
}

/// Significant digits of fitted values on the page. A reader wants a few digits with the
/// interval; full precision stays in fit.json and the CSVs, where derived quantities are
/// computed from unrounded parameters (docs/METHODS.md §6, pitfall 2). The cells' sort keys
/// keep the full value.
const SHOWN_DIGITS: usize = 5;

/// A fitted value as the page shows it.
fn shown(value: f64) -> String {
    number(value, SHOWN_DIGITS)
}

fn spread_cells(s: Option<&Spread>) -> [Cell; 2] {
    match s {
        Some(s) => [Cell::number(s.sd, shown(s.sd)), Cell::text(format!("[{}, {}]", shown(s.ci95[0]), shown(s.ci95[1])))],
        None => [Cell::text(""), Cell::text("")],
    }
}

fn fit_section(data: &Dataset, fit: &FitResult) -> String {
    let v = &data.vars;
    let mut out = String::from("<section id=\"fit\"><h2>Fitted law</h2>\n");
    let boot = fit.bootstrap.as_ref();
    if let Some(p) = &fit.params {
        out.push_str(&format!(
            "<p class=\"formula\">L̂({x}, {y}) = E + A/{x}<sup>α</sup> + B/{y}<sup>β</sup>, &nbsp; C = κ·{x}·{y}, κ = {}</p>",
            esc(&format!("{}", fit.kappa)),
            x = esc(&v.x_symbol),
            y = esc(&v.y_symbol)
        ));
        let spreads = boot.and_then(|b| b.params.as_ref());
        let mut rows: Vec<Vec<Cell>> = [
            ("E", p.E, spreads.map(|s| &s.E)),
            ("A", p.A, spreads.map(|s| &s.A)),
            ("B", p.B, spreads.map(|s| &s.B)),
            ("α", p.alpha, spreads.map(|s| &s.alpha)),
            ("β", p.beta, spreads.map(|s| &s.beta)),
        ]
        .into_iter()
        .map(|(name, value, s)| {
            let [sd, ci] = spread_cells(s);
            vec![Cell::text(name), Cell::number(value, shown(value)), sd, ci]
        })
        .collect();
        if let Some(ls) = fit.log_sigma {
            let [sd, ci] = spread_cells(boot.and_then(|b| b.log_sigma.as_ref()));
            rows.push(vec![Cell::text("ln σ"), Cell::number(ls, shown(ls)), sd, ci]);
        }
        out.push_str(&table(&["parameter".into(), "estimate".into(), "bootstrap sd".into(), "95% CI".into()], &rows, false));
    }
    let f = &fit.frontier;
    out.push_str(&format!(
        "<p class=\"formula\">{x}*(C) = G·(C/κ)<sup>a</sup>, &nbsp; {y}*(C) = (C/κ)<sup>b</sup>/G, &nbsp; L*(C) = {} + {}·(C/κ)<sup>−{}</sup></p>",
        esc(&shown(f.E)),
        esc(&shown(f.K)),
        esc(&shown(f.gamma)),
        x = esc(&v.x_symbol),
        y = esc(&v.y_symbol)
    ));
    let derived = boot.map(|b| &b.derived);
    let rows: Vec<Vec<Cell>> = [("a", fit.derived.a, derived.map(|d| &d.a)), ("b", fit.derived.b, derived.map(|d| &d.b)), ("G", fit.derived.G, derived.map(|d| &d.G))]
        .into_iter()
        .map(|(name, value, s)| {
            let [sd, ci] = spread_cells(s);
            vec![Cell::text(name), Cell::number(value, shown(value)), sd, ci]
        })
        .collect();
    out.push_str(&table(&["derived".into(), "estimate".into(), "bootstrap sd".into(), "95% CI".into()], &rows, false));
    out.push_str(&format!(
        "<p class=\"note\">Values are shown to {SHOWN_DIGITS} significant digits; fit.json and the figures' CSV files hold them at full precision.</p>\n"
    ));
    out.push_str(&details(data, fit));
    if let Some(iso) = &fit.isoflop {
        for w in &iso.warnings {
            out.push_str(&format!("<p class=\"warn\">{}</p>", esc(&w.to_string())));
        }
    }
    out.push_str("</section>\n");
    out
}

fn details(data: &Dataset, fit: &FitResult) -> String {
    let mut items: Vec<(String, String)> = vec![("method".into(), fit.method.as_str().into())];
    if let Some(o) = &fit.objective {
        let name = match o.objective {
            saescale_fit::objective::Objective::Huber { delta } => format!("sum of Huber (δ = {delta:e}) on ln-loss residuals"),
            saescale_fit::objective::Objective::HuberLikelihood { delta } => format!("−log-likelihood, Huber density (δ = {delta:e})"),
            saescale_fit::objective::Objective::LeastSquares => "half sum of squared ln-loss residuals".into(),
        };
        items.push(("objective".into(), format!("{name}; value at the optimum {}", shown(o.value))));
    }
    if let Some(opt) = &fit.optimizer {
        items.push(("optimizer".into(), format!("{} from {}", opt.solver, opt.grid)));
    }
    if let Some(s) = &fit.starts {
        items.push(("starts".into(), format!("{} tried, {} converged, {} within {:e} of the best objective", s.total, s.converged, s.at_best, s.tolerance)));
    }
    let excluded = &fit.source.excluded;
    let mut points = format!("{} points fitted", fit.n_points);
    if !excluded.is_empty() {
        let rows: Vec<String> = excluded.iter().map(|e| format!("{} ({})", e.row, e.reason)).collect();
        points.push_str(&format!("; excluded rows: {}", rows.join(", ")));
    }
    if !fit.source.filters.is_empty() {
        points.push_str(&format!("; filters: {}", fit.source.filters.join(", ")));
    }
    items.push(("points".into(), points));
    items.push((
        "compute".into(),
        format!("{} … {} FLOP, C = κ·{}·{} with κ = {}", number(fit.compute_range[0], 4), number(fit.compute_range[1], 4), data.vars.x_symbol, data.vars.y_symbol, fit.kappa),
    ));
    let src = &fit.source;
    let y = src.y_col.clone().or_else(|| src.compute_col.as_ref().map(|c| format!("{c} / (κ·X)"))).unwrap_or_default();
    items.push(("columns".into(), format!("X = {}, Y = {}, loss = {}", src.x_col, y, src.loss_col)));
    if let Some(b) = &fit.bootstrap {
        items.push((
            "bootstrap".into(),
            format!("{} replicates (seed {}): {} used, {} restarted from the optimum, {} failed; percentile intervals", b.config.replicates, b.config.seed, b.converged, b.retried, b.failed),
        ));
    } else {
        items.push(("bootstrap".into(), "none (fit with --bootstrap N for intervals)".into()));
    }
    let mut out = String::from("<dl>");
    for (k, v) in items {
        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v)));
    }
    out.push_str("</dl>\n");
    out
}

fn estimate_cells(e: &saescale_fit::Estimate) -> [Cell; 2] {
    [
        Cell::number(e.value, number(e.value, 7)),
        Cell::text(e.ci95.map_or_else(String::new, |[lo, hi]| format!("[{}, {}]", number(lo, 4), number(hi, 4)))),
    ]
}

fn recommendation_section(data: &Dataset, rec: &Recommendation, target: &str) -> String {
    let v = &data.vars;
    let mut out = format!("<section id=\"recommendation\"><h2>Recommendation</h2><p>Target: {}.</p>\n", esc(target));
    let mut rows: Vec<(String, &saescale_fit::Estimate)> = vec![
        ("compute C (FLOP)".into(), &rec.compute),
        (format!("optimal {}", v.x), &rec.x),
        (format!("optimal {}", v.y), &rec.y),
    ];
    if v.kind == Kind::Sweep || (v.tokens_per_y - 1.0).abs() > 1e-12 {
        rows.push(("tokens".into(), &rec.tokens));
    }
    rows.push((format!("predicted {}", v.loss), &rec.loss));
    if let Some(lr) = &rec.lr {
        rows.push(("learning rate".into(), lr));
    }
    let cells: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|(name, e)| {
            let [value, ci] = estimate_cells(e);
            vec![Cell::text(name), value, ci]
        })
        .collect();
    out.push_str(&table(&["quantity".into(), "value".into(), "95% CI".into()], &cells, false));
    if let Some(sae) = data.fit.as_ref().and_then(|f| f.source.sae) {
        let bytes = saescale_spec::compute::training_memory_bytes(sae.d_in, rec.x.value.round().max(1.0) as usize, sae.batch_size);
        out.push_str(&format!(
            "<p class=\"note\">Training memory of that SAE (d = {}, batch {}): at least {} (weights, gradients, Adam state, activations).</p>",
            sae.d_in,
            sae.batch_size,
            esc(&saescale_sweep::plan::format_bytes(bytes))
        ));
    }
    let [lo, hi] = rec.compute_range;
    if rec.extrapolates_far() {
        out.push_str(&format!(
            "<p class=\"warn\">This is {}× beyond the fitted compute range [{}, {}] FLOP: the irreducible loss and the exponents are weakly identified there; treat these numbers as rough.</p>",
            number(rec.extrapolation, 3),
            number(lo, 3),
            number(hi, 3)
        ));
    } else if rec.extrapolation > 1.0 {
        out.push_str(&format!("<p class=\"note\">{}× outside the fitted compute range [{}, {}] FLOP.</p>", number(rec.extrapolation, 3), number(lo, 3), number(hi, 3)));
    } else {
        out.push_str(&format!("<p class=\"note\">Inside the fitted compute range [{}, {}] FLOP.</p>", number(lo, 3), number(hi, 3)));
    }
    out.push_str("</section>\n");
    out
}

fn figures_section(input: &PageInput<'_>) -> String {
    let mut out = String::from("<section id=\"figures\"><h2>Figures</h2>\n");
    for drawn in &input.figures {
        let f = drawn.figure;
        out.push_str(&format!(
            "<figure id=\"fig-{name}\"><h3>{title}</h3><img src=\"data:image/svg+xml;base64,{data}\" width=\"{w}\" height=\"{h}\" alt=\"{title}\"><figcaption>{caption}",
            name = esc(&f.name),
            title = esc(&f.title),
            data = base64(drawn.svg.as_bytes()),
            // Shown 1.35× its size in points (CSS keeps it within the page width).
            w = (f64::from(drawn.size.0) * 1.35).round(),
            h = (f64::from(drawn.size.1) * 1.35).round(),
            caption = esc(&f.caption)
        ));
        for note in &f.notes {
            out.push_str(&format!("<br><span class=\"note\">{}</span>", esc(note)));
        }
        out.push_str(&format!(
            "<br><span class=\"files\"><a href=\"{n}.svg\">SVG</a><a href=\"{n}.png\">PNG ({} dpi)</a><a href=\"{n}.csv\">CSV (the numbers drawn)</a></span></figcaption></figure>\n",
            input.dpi,
            n = esc(&f.name)
        ));
    }
    if !input.skipped.is_empty() {
        out.push_str("<p class=\"note\">Not drawn for this input:</p><ul>");
        for s in input.skipped {
            out.push_str(&format!("<li>{}: {}</li>", esc(s.title), esc(&s.reason)));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>\n");
    out
}

fn failed_section(data: &Dataset) -> String {
    let failed: Vec<Vec<Cell>> = data
        .failed()
        .map(|r| vec![Cell::text(r.id.clone()), Cell::text(r.name.clone()), Cell::text(r.reason.clone().unwrap_or_else(|| "(no reason recorded)".into()))])
        .collect();
    let unfinished = data.runs.iter().filter(|r| r.state == "pending" || r.state == "running").count();
    let mut out = String::from("<section id=\"failed\"><h2>Failed runs</h2>");
    if failed.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str(&table(&["id".into(), "name".into(), "reason".into()], &failed, false));
    }
    if unfinished > 0 {
        out.push_str(&format!("<p class=\"note\">{unfinished} run(s) not finished yet (pending or running).</p>"));
    }
    out.push_str("</section>\n");
    out
}
