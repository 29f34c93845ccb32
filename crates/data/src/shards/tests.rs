use std::collections::BTreeSet;

use super::*;
use crate::{open, DataConfig};

/// Writes a shard directory whose row `i` (counted over all shards) is
/// `[i, i + 0.5, 0, ...]`, so every row names itself.
fn dataset(dir: &Path, tokens: &[u64], d: usize, dtype: Dtype, ext: &str) -> Manifest {
    let mut shards = Vec::new();
    let mut next = 0u64;
    for (s, &n) in tokens.iter().enumerate() {
        let mut rows = vec![0f32; n as usize * d];
        for row in rows.chunks_exact_mut(d) {
            row[0] = next as f32;
            row[1] = next as f32 + 0.5;
            next += 1;
        }
        let file = format!("{s:05}.{ext}");
        write_shard(&dir.join(&file), &rows, d, dtype).unwrap();
        shards.push(ShardEntry { file, tokens: n, outliers: Vec::new() });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        d,
        dtype,
        model: "test".into(),
        layer: Some(0),
        hook: None,
        heldout_shards: 1,
        shards,
        outlier_filter: None,
        normalization: None,
    };
    manifest.write(dir).unwrap();
    manifest
}

fn config(dir: &Path, d: usize, shuffle_buffer: usize, chunk_rows: usize, seed: u64) -> ShardsConfig {
    ShardsConfig { path: dir.to_path_buf(), d_in: d, shuffle_buffer, chunk_rows, seed }
}

fn read_ids(source: &mut ShardSource, rows: usize) -> Vec<u64> {
    let d = source.d_in();
    let mut out = vec![0f32; rows * d];
    source.fill(&mut out).unwrap();
    out.chunks_exact(d).map(|r| r[0] as u64).collect()
}

#[test]
fn every_dtype_and_format_streams_the_rows_written() {
    for dtype in [Dtype::F32, Dtype::F16, Dtype::Bf16] {
        for ext in ["npy", "safetensors"] {
            let dir = tempfile::tempdir().unwrap();
            // Ids up to 119 and halves are exact in bf16 (8 significant bits) and f16.
            dataset(dir.path(), &[50, 40, 30], 4, dtype, ext);
            let mut source = ShardSource::open(&config(dir.path(), 4, 32, 8, 1), Split::Train).unwrap();
            let mut out = vec![0f32; 90 * 4];
            source.fill(&mut out).unwrap();
            let mut rows: Vec<[f32; 4]> = out.chunks_exact(4).map(|r| [r[0], r[1], r[2], r[3]]).collect();
            rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
            let expected: Vec<[f32; 4]> = (0..90).map(|i| [i as f32, i as f32 + 0.5, 0.0, 0.0]).collect();
            assert_eq!(rows, expected, "{dtype:?} .{ext}");
        }
    }
}

#[test]
fn an_epoch_is_a_permutation_and_heldout_is_disjoint() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path(), &[1000, 777, 1, 300, 500], 3, Dtype::F32, "npy");
    let mut train = ShardSource::open(&config(dir.path(), 3, 256, 32, 7), Split::Train).unwrap();
    assert_eq!(train.rows_per_epoch(), 2078);
    for epoch in 0..2 {
        let ids = read_ids(&mut train, 2078);
        let set: BTreeSet<u64> = ids.iter().copied().collect();
        assert_eq!(set.len(), 2078, "epoch {epoch}: a row was duplicated");
        assert_eq!(set, (0..2078).collect(), "epoch {epoch}: a row was lost");
        assert_ne!(ids, (0..2078).collect::<Vec<_>>(), "epoch {epoch} is not shuffled");
    }
    let mut heldout = ShardSource::open(&config(dir.path(), 3, 256, 32, 7), Split::Heldout).unwrap();
    let ids: BTreeSet<u64> = read_ids(&mut heldout, 500).into_iter().collect();
    assert_eq!(ids, (2078..2578).collect());
}

#[test]
fn shuffling_is_deterministic_per_seed_and_mixes_shards() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path(), &[400, 400, 400, 400, 10], 2, Dtype::F32, "safetensors");
    let ids = |seed| read_ids(&mut ShardSource::open(&config(dir.path(), 2, 128, 16, seed), Split::Train).unwrap(), 3200);
    assert_eq!(ids(3), ids(3));
    assert_ne!(ids(3), ids(4));
    // Epochs differ in order.
    let two = ids(3);
    assert_ne!(two[..1600], two[1600..]);
    // One batch of 64 rows draws on more than one shard (a window holds 8 random chunks).
    let shards: BTreeSet<u64> = two[..64].iter().map(|id| id / 400).collect();
    assert!(shards.len() > 1, "a batch came from one shard only: {shards:?}");
}

#[test]
fn seek_then_read_equals_read_through() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path(), &[333, 200, 129, 50], 2, Dtype::Bf16, "npy");
    let config = config(dir.path(), 2, 64, 16, 9);
    let mut through = ShardSource::open(&config, Split::Train).unwrap();
    let stream = read_ids(&mut through, 3 * 662 + 100);
    for n in [0, 1, 15, 16, 63, 64, 65, 400, 661, 662, 663, 1500, 2000] {
        let mut seeked = ShardSource::open(&config, Split::Train).unwrap();
        seeked.seek(n as u64).unwrap();
        assert_eq!(seeked.cursor(), n as u64);
        assert_eq!(read_ids(&mut seeked, 80), stream[n..n + 80], "seek({n})");
    }
    // Seeking backwards on a used source also works.
    through.seek(5).unwrap();
    assert_eq!(read_ids(&mut through, 10), stream[5..15]);
}

#[test]
fn mismatches_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dataset(dir.path(), &[20, 20, 20], 4, Dtype::F16, "npy");
    let message = |c: &ShardsConfig| ShardSource::open(c, Split::Train).err().expect("must fail").to_string();

    let wrong_d = message(&config(dir.path(), 8, 32, 8, 0));
    assert!(wrong_d.contains("manifest.json") && wrong_d.contains("d = 4") && wrong_d.contains("8"), "{wrong_d}");

    let mut wrong_dtype = manifest.clone();
    wrong_dtype.dtype = Dtype::Bf16;
    wrong_dtype.write(dir.path()).unwrap();
    let text = message(&config(dir.path(), 4, 32, 8, 0));
    assert!(text.contains("00000.npy") && text.contains("F16") && text.contains("Bf16"), "{text}");

    let mut wrong_tokens = manifest.clone();
    wrong_tokens.shards[1].tokens = 21;
    wrong_tokens.write(dir.path()).unwrap();
    let text = message(&config(dir.path(), 4, 32, 8, 0));
    assert!(text.contains("00001.npy") && text.contains("21"), "{text}");

    manifest.write(dir.path()).unwrap();
    let shard = dir.path().join("00001.npy");
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&shard).unwrap().set_len(len - 8).unwrap();
    let text = message(&config(dir.path(), 4, 32, 8, 0));
    assert!(text.contains("00001.npy") && text.contains("cut short"), "{text}");

    std::fs::remove_file(&shard).unwrap();
    let text = message(&config(dir.path(), 4, 32, 8, 0));
    assert!(text.contains("00001.npy"), "{text}");

    std::fs::write(dir.path().join(MANIFEST_FILE), "{\"version\": 1, \"d\": 4, \"dtype\": \"f16\"}").unwrap();
    let text = message(&config(dir.path(), 4, 32, 8, 0));
    assert!(text.contains("manifest.json") && text.contains("shards"), "{text}");
}

#[test]
fn prepare_stores_the_scale_and_filters_outliers() {
    let dir = tempfile::tempdir().unwrap();
    let d = 4;
    // Rows of norm 2 (train) with every 50th row of norm 200 (a BOS-like outlier).
    let mut shards = Vec::new();
    for s in 0..3 {
        let rows: Vec<f32> = (0..200).flat_map(|i| if i % 50 == 0 { [100.0; 4] } else { [1.0, -1.0, 1.0, -1.0] }).collect();
        let file = format!("{s}.safetensors");
        write_shard(&dir.path().join(&file), &rows, d, Dtype::F32).unwrap();
        shards.push(ShardEntry { file, tokens: 200, outliers: Vec::new() });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        d,
        dtype: Dtype::F32,
        model: String::new(),
        layer: None,
        hook: None,
        heldout_shards: 1,
        shards,
        outlier_filter: Some(OutlierFilter { max_norm_over_median: 10.0 }),
        normalization: None,
    };
    manifest.write(dir.path()).unwrap();
    let config = config(dir.path(), d, 64, 16, 0);
    let unprepared = ShardSource::open(&config, Split::Train).err().unwrap().to_string();
    assert!(unprepared.contains("prepare"), "{unprepared}");

    let prepared = prepare(dir.path(), 1000, None).unwrap();
    assert_eq!(prepared, Manifest::read(dir.path()).unwrap(), "the manifest on disk is the one returned");
    assert_eq!(prepared.shards[0].outliers, vec![0, 50, 100, 150]);
    let normalization = prepared.normalization.unwrap();
    // Median norm 2; kept rows all have norm 2, so s = √4 / 2 = 1.
    assert_eq!((normalization.median_norm, normalization.mean_norm, normalization.scale), (2.0, 2.0, 1.0));

    let data = DataConfig::Shards(config);
    let mut train = open(&data, Split::Train).unwrap();
    assert_eq!(train.stored_scale(), Some(1.0));
    assert_eq!(crate::scale_for(train.as_mut(), 10).unwrap(), 1.0);
    let mut out = vec![0f32; 392 * d];
    train.fill(&mut out).unwrap();
    assert!(out.iter().all(|&v| v.abs() == 1.0), "an outlier row was streamed");

    // Without the filter, the scale covers every row: E‖x‖ = (196·2 + 4·200)/200 = 5.96.
    let mut unfiltered = Manifest::read(dir.path()).unwrap();
    unfiltered.outlier_filter = None;
    unfiltered.normalization = None;
    unfiltered.write(dir.path()).unwrap();
    let n = prepare(dir.path(), 400, None).unwrap();
    assert!(n.shards.iter().all(|s| s.outliers.is_empty()));
    assert!((n.normalization.unwrap().mean_norm - 5.96).abs() < 1e-12);
}

#[test]
fn a_run_file_data_section_parses() {
    let text = "source = \"shards\"\npath = \"acts/l15\"\nd_in = 576\nshuffle_buffer = 4096\nseed = 2\n";
    let data: DataConfig = toml::from_str(text).unwrap();
    assert_eq!(data.d_in(), 576);
    let DataConfig::Shards(shards) = &data else { panic!("{data:?}") };
    assert_eq!((shards.path.to_str(), shards.chunk_rows, shards.seed), (Some("acts/l15"), 512, 2));
    let bad: DataConfig = toml::from_str("source = \"shards\"\npath = \"x\"\nd_in = 8\nshuffle_buffer = 4\n").unwrap();
    assert!(bad.validate().unwrap_err().to_string().contains("data.shuffle_buffer"));
    assert!(toml::from_str::<DataConfig>("source = \"shards\"\npath = \"x\"\nd_in = 8\nbuffer = 4\n").is_err());
}
