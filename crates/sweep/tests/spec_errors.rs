//! Malformed sweep specs give errors naming the file, line and column and what was expected
//! (issue 5: "malformed specs (table of cases) give clear errors").

use saescale_sweep::{Error, Plan, SpecError, SweepSpec};

const GOOD: &str = r#"name = "t"
[run]
seed = 0
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11, 2e11]
features = [128, 256]
"#;

/// Parses and plans; returns the spec error.
fn spec_error(text: &str) -> SpecError {
    let result = SweepSpec::parse(text, "sweeps/bad.toml").map_err(Error::from).and_then(|spec| Plan::new(&spec));
    match result {
        Err(Error::Spec(error)) => error,
        Err(other) => panic!("expected a spec error, got {other}"),
        Ok(_) => panic!("expected an error for:\n{text}"),
    }
}

#[test]
fn the_good_spec_plans() {
    let plan = Plan::new(&SweepSpec::parse(GOOD, "good.toml").unwrap()).unwrap();
    assert_eq!(plan.runs.len(), 4);
}

#[test]
fn malformed_specs_point_at_the_mistake() {
    // (edit: from → to, expected line, expected column, words the message must contain)
    let cases: &[(&str, &str, usize, usize, &[&str])] = &[
        // Unknown keys, at every level, including inside the run template.
        ("name = \"t\"", "name = \"t\"\nbudget = 1", 2, 1, &["unknown field `budget`", "name"]),
        ("batch_size = 256", "batch_size = 256\nlearning_rate = 1e-3", 11, 1, &["unknown field `learning_rate`", "lr"]),
        ("architecture = \"relu\"", "architecture = \"relu\"\nlambda = 5", 9, 1, &["unknown field `lambda`", "l1_coefficient"]),
        ("features = [128, 256]", "features = [128, 256]\nfeature = [1]", 14, 1, &["unknown field `feature`", "features"]),
        // F not a positive integer.
        ("features = [128, 256]", "features = [128, 0]", 13, 18, &["positive integer", "0"]),
        ("features = [128, 256]", "features = [128, -5]", 13, 18, &["positive integer"]),
        ("features = [128, 256]", "features = [128, 25.5]", 13, 18, &["positive integer", "25.5"]),
        ("features = [128, 256]", "features = [128, \"many\"]", 13, 18, &["positive integer"]),
        // Budgets must be positive numbers of FLOP.
        ("budgets = [1e11, 2e11]", "budgets = [1e11, -2e11]", 12, 18, &["positive number of FLOP"]),
        // A budget too small for one step at some F names the budget, F and the step cost.
        ("budgets = [1e11, 2e11]", "budgets = [1e6, 2e11]", 12, 12, &["too small for one step", "features = 128", "12·64·128·256"]),
        // The swept keys may not be written in the template.
        ("architecture = \"relu\"", "architecture = \"relu\"\nfeatures = 512", 9, 1, &["run.sae.features", "[sweep]"]),
        ("batch_size = 256", "batch_size = 256\nsteps = 10", 11, 1, &["run.train.steps", "[sweep]"]),
        // Wrong types and enum values.
        ("architecture = \"relu\"", "architecture = \"gated\"", 8, 16, &["gated", "relu", "topk"]),
        ("batch_size = 256", "batch_size = \"big\"", 10, 14, &["big"]),
        // Values the trainer would refuse, located at the key in [run].
        ("batch_size = 256", "batch_size = 256\nlr = -1.0", 11, 1, &["run.train.lr", "positive"]),
        ("architecture = \"relu\"", "architecture = \"topk\"\nk = 200", 9, 1, &["run.sae.k", "F = 128"]),
        ("architecture = \"relu\"", "architecture = \"relu\"\nk = 8", 9, 1, &["run.sae.k", "topk"]),
        ("d_in = 64", "d_in = 64\nmean_active = -1.0", 7, 1, &["mean_active"]),
        // The swept part: shape of [sweep].
        ("features = [128, 256]", "", 12, 11, &["`budgets` needs `features`"]),
        ("budgets = [1e11, 2e11]\nfeatures = [128, 256]", "budgets = []\nfeatures = [1]", 12, 11, &["at least one compute budget"]),
        ("features = [128, 256]", "features = [128, 256]\ngrid = [{ features = 8, steps = 1 }]", 14, 8, &["either"]),
        ("budgets = [1e11, 2e11]\nfeatures = [128, 256]", "grid = [{ features = 8 }]", 12, 9, &["missing field `steps`"]),
        ("budgets = [1e11, 2e11]\nfeatures = [128, 256]", "grid = [{ features = 8, steps = 0 }]", 12, 33, &["positive integer"]),
        ("budgets = [1e11, 2e11]", "budgets = [1e11, 1e11]", 12, 18, &["same run as an earlier point"]),
        ("features = [128, 256]", "features = [128, 256]\nlr_multipliers = [0.0]", 14, 19, &["positive number"]),
        // Top level.
        ("name = \"t\"", "name = \"a/b\"", 1, 8, &["sweep name"]),
        ("name = \"t\"\n", "", 1, 1, &["missing field `name`"]),
        ("[sweep]", "[executor]\nslots = 0\n[sweep]", 12, 9, &["positive integer"]),
        ("[sweep]", "[executor]\nkind = \"slurmm\"\n[sweep]", 12, 8, &["slurmm", "local"]),
        // Plain TOML syntax errors.
        ("batch_size = 256", "batch_size = 256 256", 10, 18, &["expected"]),
    ];
    let mut failures = Vec::new();
    for (from, to, line, column, words) in cases {
        assert!(GOOD.contains(from), "case edits missing text {from:?}");
        let text = GOOD.replacen(from, to, 1);
        let error = spec_error(&text);
        let shown = error.to_string();
        let placed = error.line == Some(*line) && error.column == Some(*column);
        let worded = words.iter().all(|w| error.message.contains(w));
        if !(placed && worded && shown.starts_with("sweeps/bad.toml:")) {
            failures.push(format!("{to:?}: expected {line}:{column} with {words:?}, got\n{shown}"));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
