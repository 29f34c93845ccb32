//! Loading the reference tables of tests/data (docs/METHODS.md §4) without polars: both files are
//! plain comma-separated values without quoting.

#![allow(dead_code)]

use saescale_fit::Points;

/// A CSV table as named string columns.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn read(name: &str) -> Table {
        let path = format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut lines = text.lines();
        let header = lines.next().unwrap().split(',').map(str::to_string).collect();
        let rows = lines.map(|l| l.split(',').map(str::to_string).collect()).collect();
        Table { header, rows }
    }

    fn index(&self, column: &str) -> usize {
        self.header.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"))
    }

    pub fn f64s(&self, column: &str) -> Vec<f64> {
        let k = self.index(column);
        self.rows.iter().map(|r| r[k].parse().unwrap()).collect()
    }

    pub fn filter(&self, column: &str, value: &str) -> Table {
        let k = self.index(column);
        Table { header: self.header.clone(), rows: self.rows.iter().filter(|r| r[k] == value).cloned().collect() }
    }
}

/// V1: Epoch AI's digitised Chinchilla points, D = C/(6N), all 245 rows.
pub fn chinchilla_all() -> Points {
    let t = Table::read("chinchilla_epoch_svg_extracted.csv");
    Points::from_compute(&t.f64s("Model Size"), &t.f64s("Training FLOP"), &t.f64s("loss"), 6.0).unwrap()
}

/// V1 with the five highest-loss rows dropped: the 240 points of every acceptance number.
pub fn chinchilla_240() -> Points {
    let (points, dropped) = chinchilla_all().drop_highest_loss(5);
    assert_eq!(dropped, vec![0, 1, 2, 3, 4], "docs/METHODS.md §4: the dropped rows are rows 0..4");
    points
}
