//! `saescale fit` and `saescale recommend` end to end: the built binary on the reference
//! tables (tests/data, docs/METHODS.md §4) and on a synthetic sweep directory, in temporary
//! directories. Golden values: docs/METHODS.md §5 (T1, T4, T9).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn saescale(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saescale")).args(args).current_dir(dir).output().expect("run saescale")
}

fn data(name: &str) -> String {
    format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn chinchilla_fit(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("fit.json");
    let csv = data("chinchilla_epoch_svg_extracted.csv");
    let mut args = vec!["fit", csv.as_str(), "--x-col", "Model Size", "--compute-col", "Training FLOP", "--kappa", "6"];
    args.extend_from_slice(&["--drop-highest-loss", "5", "--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let result = saescale(&args, dir);
    assert!(result.status.success(), "{}", text(&result));
    assert!(text(&result).contains("alpha"), "{}", text(&result));
    out
}

/// T1 through the CLI, then `recommend` at Chinchilla's budget.
#[test]
fn chinchilla_fit_and_recommend() {
    let dir = tempfile::tempdir().unwrap();
    let fit = chinchilla_fit(dir.path(), &["--bootstrap", "200", "--seed", "1"]);
    let json = read_json(&fit);
    assert_eq!(json["method"], "huber");
    assert_eq!(json["n_points"], 240);
    assert_eq!(json["starts"]["total"], 4500);
    assert!(json["starts"]["at_best"].as_u64().unwrap() >= 10);
    let objective = json["objective"]["value"].as_f64().unwrap();
    assert!((objective / 1.01827402e-3 - 1.0).abs() < 1e-6, "{objective}");
    assert_eq!(json["objective"]["name"], "huber");
    assert_eq!(json["objective"]["delta"], 1e-3);
    assert!((json["params"]["alpha"].as_f64().unwrap() - 0.34731).abs() < 5e-4);
    assert!((json["params"]["E"].as_f64().unwrap() - 1.81722).abs() < 5e-4);
    assert_eq!(json["source"]["excluded"].as_array().unwrap().len(), 5);
    assert_eq!(json["source"]["compute_col"], "Training FLOP");
    assert_eq!(json["kappa"], 6.0);
    let sd = json["bootstrap"]["params"]["alpha"]["sd"].as_f64().unwrap();
    assert!(sd > 0.01 && sd < 0.02, "SD(alpha) {sd}");
    assert!(json["bootstrap"]["derived"]["a"]["ci95"].is_array());
    assert_eq!(json["bootstrap"]["frontier_samples"].as_array().unwrap().len(), 200 - json["bootstrap"]["failed"].as_u64().unwrap() as usize);

    let out = saescale(&["recommend", "--fit", fit.to_str().unwrap(), "--compute", "5.88e23", "--json"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let x = rec["x"]["value"].as_f64().unwrap();
    // Our T1 optimum gives N* ≈ 7.40e10 at 5.88e23 (Epoch's MLE parameters give 7.30e10, T4).
    assert!((x / 7.4e10 - 1.0).abs() < 0.02, "{x}");
    assert!(rec["x"]["ci95"].is_array());
    let factor = rec["extrapolation"].as_f64().unwrap();
    assert!(factor > 40.0 && factor < 50.0 && rec["extrapolation_warning"] == false, "{factor}");

    let out = saescale(&["recommend", "--fit", fit.to_str().unwrap(), "--compute", "1e26"], dir.path());
    assert!(out.status.success());
    assert!(text(&out).contains("warning: more than 100x beyond the fitted range"), "{}", text(&out));
    let out = saescale(&["recommend", "--fit", fit.to_str().unwrap(), "--features", "7e10"], dir.path());
    assert!(out.status.success() && text(&out).contains("compute (FLOP)"), "{}", text(&out));
}

/// T9 through the CLI: filters, compute column and the IsoFLOP method.
#[test]
fn isoflop_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let csv = data("isoflops_open_athena.csv");
    let out = dir.path().join("iso.json");
    let args = [
        "fit", csv.as_str(), "--where", "source=epochai_chinchilla", "--where", "outlier=False", "--x-col", "params",
        "--compute-col", "budget", "--kappa", "6", "--method", "isoflop", "--out", out.to_str().unwrap(),
    ];
    let result = saescale(&args, dir.path());
    assert!(result.status.success(), "{}", text(&result));
    let json = read_json(&out);
    let a = json["derived"]["a"].as_f64().unwrap();
    assert!((0.46..=0.54).contains(&a), "a = {a}");
    assert_eq!(json["n_points"], 85);
    assert_eq!(json["isoflop"]["budgets"].as_array().unwrap().len(), 7);
    assert_eq!(json["source"]["filters"][1], "outlier=False");
}

/// A sweep directory with an SAE results table (as crates/sweep writes it): automatic
/// columns, κ = 12·d·batch, memory and GPU-hours in `recommend`, and an lr law.
#[test]
fn sweep_directory_fit_and_sae_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    std::fs::create_dir(&sweep).unwrap();
    let (d_in, batch): (f64, f64) = (64.0, 256.0);
    let mut csv = String::from("id,state,d_in,features,steps,batch_size,tokens,flops,lr,loss\n");
    // Loss = E + A/F^α + B/S^β, with a mild quadratic penalty in ln(lr/lr*(C)).
    let law = |f: f64, s: f64| 0.05 + 3.0 * f.powf(-0.4) + 8.0 * s.powf(-0.35);
    let mut id = 0;
    for budget in [1e13f64, 3e13, 1e14, 3e14, 1e15] {
        for k in -3..=3 {
            let f = (budget / (12.0 * d_in * batch)).sqrt() * 0.2 * 2f64.powi(k);
            let s = (budget / (12.0 * d_in * f * batch)).round();
            let lr_opt: f64 = 0.5 * budget.powf(-0.2);
            for m in [0.25, 0.5, 1.0, 2.0, 4.0] {
                let lr = lr_opt * m;
                let loss = law(f, s) * (1.0 + 0.01 * f64::ln(m).powi(2));
                csv.push_str(&format!("{id},done,{d_in},{f},{s},{batch},{},{},{lr},{loss}\n", s * batch, 12.0 * d_in * f * s * batch));
                id += 1;
            }
        }
    }
    csv.push_str(&format!("{id},failed,{d_in},1000,10,{batch},2560,0,0.001,\n"));
    std::fs::write(sweep.join("results.csv"), csv).unwrap();
    let out = dir.path().join("sae.json");
    let result = saescale(&["fit", sweep.to_str().unwrap(), "--out", out.to_str().unwrap(), "--lr-col", "lr", "--bootstrap", "50"], dir.path());
    assert!(result.status.success(), "{}", text(&result));
    let json = read_json(&out);
    assert_eq!(json["source"]["sae"]["d_in"], 64);
    assert_eq!(json["source"]["tokens_per_y"], batch);
    assert_eq!(json["kappa"], 12.0 * d_in * batch);
    let p = json["lr_law"]["fit"]["law"]["p"].as_f64().unwrap();
    assert!((p - 0.2).abs() < 0.05, "lr exponent {p}");

    let args = ["recommend", "--fit", out.to_str().unwrap(), "--features", "1048576", "--tokens-per-s", "1e6"];
    let rec = saescale(&args, dir.path());
    let shown = text(&rec);
    assert!(rec.status.success(), "{shown}");
    for needle in ["memory", "GPU-hours", "steps to use", "learning rate"] {
        assert!(shown.contains(needle), "missing {needle}: {shown}");
    }
    let rec = saescale(&["recommend", "--fit", out.to_str().unwrap(), "--compute", "1e16", "--json"], dir.path());
    let answer: Value = serde_json::from_slice(&rec.stdout).unwrap();
    assert!(answer["sae"]["memory_bytes"]["value"].as_f64().unwrap() > 0.0);
    assert!(answer["sae"]["gpu_hours"].is_null());
    assert!(answer["lr"]["value"].as_f64().unwrap() > 0.0);

    // 2^20 latents need ~5 GB to train at d = 64, batch 256: on 1 GiB GPUs they are sharded.
    let gpu_args = |memory: &str| {
        let fit = out.to_str().unwrap().to_string();
        saescale(&["recommend", "--fit", &fit, "--features", "1048576", "--tokens-per-s", "1e6", "--gpu-memory", memory, "--json"], dir.path())
    };
    let rec = gpu_args("1GiB");
    assert!(rec.status.success(), "{}", text(&rec));
    let sae = &serde_json::from_slice::<Value>(&rec.stdout).unwrap()["sae"];
    let count = sae["gpus"]["count"].as_u64().unwrap();
    let one_gpu = sae["memory_bytes"]["value"].as_f64().unwrap();
    assert!(count > 1 && (count as f64) < one_gpu / (1u64 << 30) as f64 + 2.0, "{count} GPUs for {one_gpu} bytes");
    assert!(sae["gpus"]["per_gpu_bytes"].as_u64().unwrap() <= 1 << 30);
    let (gpu_hours, wall) = (sae["gpu_hours"]["value"].as_f64().unwrap(), sae["wall_hours"]["value"].as_f64().unwrap());
    assert!((wall * count as f64 / gpu_hours - 1.0).abs() < 1e-9, "{wall} h on {count} GPUs, {gpu_hours} GPU-hours");
    let shown = text(&saescale(&["recommend", "--fit", out.to_str().unwrap(), "--features", "1048576", "--gpu-memory", "1GiB"], dir.path()));
    assert!(shown.contains(&format!("GPUs           {count} of 1.0 GiB with the latents sharded")), "{shown}");
    for (memory, needle) in [("1KiB", "does not fit"), ("80 parsecs", "unknown unit")] {
        let rec = gpu_args(memory);
        assert_eq!(rec.status.code(), Some(2), "{}", text(&rec));
        assert!(text(&rec).contains(needle), "{memory}: {}", text(&rec));
    }
}

/// Bad tables and flags: a clear message naming file, column and row, exit code 2.
#[test]
fn bad_input_is_exit_code_two() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good_rows: String = (0..8).map(|i| format!("{},{},{}\n", 1e6 * 2f64.powi(i), 1e9 * 3f64.powi(i % 3), 2.0 + 0.1 * i as f64)).collect();
    let cases: Vec<(String, Vec<&str>, Vec<&str>)> = vec![
        (write("missing.csv", &format!("n,d,loss\n{good_rows}")), vec!["--x-col", "N"], vec!["no column `N`", "n, d, loss", "missing.csv"]),
        (write("neg.csv", &format!("n,d,loss\n{good_rows}1e6,-5,2\n")), vec!["--x-col", "n"], vec!["column `d`, row 8", "must be positive"]),
        (write("nan.csv", &format!("n,d,loss\n{good_rows}1e6,5,NaN\n")), vec!["--x-col", "n"], vec!["column `loss`, row 8", "not finite"]),
        (write("text.csv", &format!("n,d,loss\n{good_rows}1e6,5,abc\n")), vec!["--x-col", "n"], vec!["column `loss`, row 8", "not a number"]),
        (write("few.csv", "n,d,loss\n1e6,1e9,2\n2e6,1e9,1.9\n4e6,1e9,1.8\n"), vec!["--x-col", "n"], vec!["3 points cannot determine 5 parameters"]),
    ];
    for (path, extra, needles) in cases {
        let out_path = dir.path().join("out.json");
        let mut args = vec!["fit", path.as_str(), "--y-col", "d", "--kappa", "6", "--out", out_path.to_str().unwrap()];
        args.extend(extra);
        let out = saescale(&args, dir.path());
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{path}: {shown}");
        for needle in needles {
            assert!(shown.contains(needle), "{path}: missing {needle:?} in {shown}");
        }
        assert!(!out_path.exists());
    }
    let path = write("ok.csv", &format!("n,d,loss\n{good_rows}"));
    let out = saescale(&["fit", &path, "--x-col", "n", "--y-col", "d", "--out", "x.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--kappa is required"), "{}", text(&out));
    let out = saescale(&["fit", &path, "--x-col", "n", "--y-col", "d", "--kappa", "6", "--method", "magic", "--out", "x.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out = saescale(&["recommend", "--fit", &path, "--compute", "1e20"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // A sweep table that mixes architectures: their compute may be counted differently, so
    // the fit asks for one at a time.
    let sweep = dir.path().join("mixed");
    std::fs::create_dir(&sweep).unwrap();
    let rows: String = (0..8)
        .map(|i| format!("{i},done,{},64,{},100,256,0.5\n", if i % 2 == 0 { "relu" } else { "topk" }, 128 << (i % 4)))
        .collect();
    std::fs::write(sweep.join("results.csv"), format!("id,state,architecture,d_in,features,steps,batch_size,loss\n{rows}")).unwrap();
    let out = saescale(&["fit", sweep.to_str().unwrap(), "--out", "mixed.json"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--where architecture=NAME"), "{}", text(&out));
}

/// A sweep with a `[sweep] k` axis: the joint law is refused across k and fitted at one k,
/// L(n, k) is fitted to the longest-trained runs of each (F, k), and `recommend --l0 K` reads
/// the fit at that k from the sweep directory.
#[test]
fn a_k_axis_sweep_fits_per_k_and_l_of_n_k_and_recommends_at_a_target_l0() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    std::fs::create_dir(&sweep).unwrap();
    let (d_in, batch) = (64.0f64, 256.0f64);
    let gao = saescale_fit::sparsity::SparsityParams { alpha: -0.5, beta_k: 0.26, beta_n: -0.1, gamma: -0.04, zeta: -1.3, eta: -0.3 };
    let mut csv = String::from("id,state,architecture,d_in,features,k,steps,batch_size,loss\n");
    let mut id = 0;
    for k in [8.0f64, 16.0, 32.0] {
        for budget in [1e13f64, 3e13, 1e14, 3e14] {
            for f in [512.0f64, 1024.0, 2048.0, 4096.0, 8192.0] {
                let steps = (budget / (12.0 * d_in * f * batch)).round();
                // The joint law at each k; the longest-trained runs of each (F, k), below,
                // follow Gao's L(n, k) exactly.
                let loss = 0.05 * (k / 8.0).powf(-0.3) + 3.0 * f.powf(-0.4) + 8.0 * steps.powf(-0.35);
                csv.push_str(&format!("{id},done,topk,{d_in},{f},{k},{steps},{batch},{loss}\n"));
                id += 1;
            }
        }
        for f in [512.0f64, 1024.0, 2048.0, 4096.0, 8192.0] {
            csv.push_str(&format!("{id},done,topk,{d_in},{f},{k},100000000,{batch},{}\n", gao.predict(f, k)));
            id += 1;
        }
    }
    std::fs::write(sweep.join("results.csv"), csv).unwrap();
    let sweep_arg = sweep.to_str().unwrap();

    let mixed = saescale(&["fit", sweep_arg, "--out", "mixed.json"], dir.path());
    assert_eq!(mixed.status.code(), Some(2), "{}", text(&mixed));
    assert!(text(&mixed).contains("several k (8, 16, 32)") && text(&mixed).contains("--where k=8"), "{}", text(&mixed));

    for k in ["8", "16", "32"] {
        let out = sweep.join(format!("fit-k{k}.json"));
        let result = saescale(&["fit", sweep_arg, "--where", &format!("k={k}"), "--out", out.to_str().unwrap()], dir.path());
        assert!(result.status.success(), "{}", text(&result));
    }

    // Where `saescale run` writes it, so that `recommend --l0` finds it.
    let law = sweep.join("sparsity-fit.json");
    let result = saescale(&["fit", sweep_arg, "--sparsity", "--out", law.to_str().unwrap()], dir.path());
    assert!(result.status.success(), "{}", text(&result));
    assert!(text(&result).contains("beta_n"), "{}", text(&result));
    let fitted: saescale_fit::sparsity::SparsityFit = serde_json::from_str(&std::fs::read_to_string(&law).unwrap()).unwrap();
    assert_eq!(fitted.n_points, 15, "only the longest-trained run of each (F, k)");
    // Fitted to those points alone, noise-free, the law's parameters come back.
    for (name, (got, want)) in saescale_fit::sparsity::SparsityParams::NAMES.iter().zip(fitted.params.values().into_iter().zip(gao.values())) {
        assert!((got - want).abs() < 1e-3, "{name}: fitted {got}, true {want}");
    }

    let recommend = |l0: &str| saescale(&["recommend", "--fit", sweep_arg, "--l0", l0, "--compute", "1e15"], dir.path());
    let answer = recommend("16");
    assert!(answer.status.success(), "{}", text(&answer));
    assert!(text(&answer).contains("fit-k16.json") && text(&answer).contains("k = 16"), "{}", text(&answer));
    // L(n, k) at the recommended size and k = 16, next to the joint law's answer.
    let json = saescale(&["recommend", "--fit", sweep_arg, "--l0", "16", "--compute", "1e15", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let x_star = json["x"]["value"].as_f64().unwrap();
    let law_loss = json["sparsity_law_loss"]["value"].as_f64().unwrap();
    assert!((law_loss - fitted.predict(x_star, 16.0).0).abs() < 1e-12 * law_loss, "L(n, k) at X* = {x_star}: {law_loss}");
    assert!(text(&answer).contains("L(n, k)") && text(&answer).contains("sparsity-fit.json"), "{}", text(&answer));
    let missing = recommend("7");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("no fit at k = 7; it has k = 8, 16, 32"), "{}", text(&missing));
    let without = saescale(&["recommend", "--fit", sweep_arg, "--compute", "1e15"], dir.path());
    assert_eq!(without.status.code(), Some(2));
    assert!(text(&without).contains("one fit per k (8, 16, 32): choose one with --l0 K"), "{}", text(&without));
    let wrong_k = saescale(&["recommend", "--fit", sweep.join("fit-k8.json").to_str().unwrap(), "--l0", "16", "--compute", "1e15"], dir.path());
    assert_eq!(wrong_k.status.code(), Some(2));
    assert!(text(&wrong_k).contains("is not a fit at k = 16"), "{}", text(&wrong_k));
}
