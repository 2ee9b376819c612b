use super::{message, TempDir};
use crate::data::Table;
use ferrograd_nn::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn reads_quotes_crlf_bom_blank_and_comment_lines() {
    let dir = TempDir::new("dialect");
    let path = dir.write(
        "t.csv",
        "\u{FEFF}# exported by a spreadsheet\r\n \"a\" , b,\"c d\"\r\n\r\n1, \"2.5\" ,-3e2\r\n# note\r\n   \r\n4,5,6\r\n",
    );
    let t = Table::read(&path).unwrap();
    assert_eq!(t.names(), ["a", "b", "c d"]);
    assert_eq!(t.rows(), 2);
    assert_eq!(t.values(), &[1.0, 2.5, -300.0, 4.0, 5.0, 6.0]);
    assert_eq!((t.line(0), t.line(1)), (Some(4), Some(7)));
    let picked = t.columns(&["c d", "a"]).unwrap();
    assert_eq!(picked.dims(), &[2, 2]);
    assert_eq!(picked.data(), &[-300.0, 1.0, 6.0, 4.0]);
}

#[test]
fn generated_table_round_trips() {
    let dir = TempDir::new("round-trip");
    let mut rng = StdRng::seed_from_u64(12);
    let names = ["x0", "x1", "x2", "target"];
    let values: Vec<f64> = (0..250 * names.len())
        .map(|_| rng.random_range(-1e3..1e3) * 10f64.powi(rng.random_range(-8..8)))
        .collect();
    let mut text = names.join(",") + "\n";
    for row in values.chunks(names.len()) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        text += &(cells.join(",") + "\n");
    }
    let t = Table::read(&dir.write("gen.csv", text)).unwrap();
    assert_eq!(t.names(), names);
    assert_eq!(t.rows(), 250);
    assert_eq!(t.values(), values.as_slice());
    let y = t.columns(&["target"]).unwrap();
    let want: Vec<f32> = values.chunks(4).map(|r| r[3] as f32).collect();
    assert_eq!(y.data(), want.as_slice());
}

#[test]
fn non_numeric_cell_names_file_line_column_and_text() {
    let dir = TempDir::new("non-numeric");
    let path = dir.write("bad.csv", "a,b\n1,2\n\n3,abc\n");
    let m = message(Table::read(&path));
    for part in [
        "bad.csv",
        "line 4",
        "column \"b\"",
        "\"abc\" is not a number",
    ] {
        assert!(m.contains(part), "{m}");
    }
    let long = "x".repeat(200);
    let m = message(Table::read(&dir.write("long.csv", format!("a\n{long}\n"))));
    assert!(m.contains(&format!("\"{}…\"", "x".repeat(32))), "{m}");
    assert!(!m.contains(&"x".repeat(33)), "{m}");
    let m = message(Table::read(&dir.write("empty-cell.csv", "a,b\n1,\"\"\n")));
    assert!(m.contains("line 2, column \"b\": empty cell"), "{m}");
}

#[test]
fn nan_and_infinity_are_refused_in_every_spelling() {
    let dir = TempDir::new("non-finite");
    for cell in ["NaN", "nan", "inf", "-Infinity", "+INF", "1e400"] {
        let path = dir.write("nf.csv", format!("a,b\n1,2\n3,{cell}\n"));
        let m = message(Table::read(&path));
        for part in ["nf.csv", "line 3", "column \"b\"", cell, "not finite"] {
            assert!(m.contains(part), "{cell}: {m}");
        }
    }
}

#[test]
fn ragged_rows_are_refused_with_both_counts() {
    let dir = TempDir::new("ragged");
    let m = message(Table::read(&dir.write("short.csv", "a,b,c\n1,2,3\n4,5\n")));
    assert!(
        m.contains("short.csv") && m.contains("line 3: got 2 cells, header has 3"),
        "{m}"
    );
    let m = message(Table::read(&dir.write("long.csv", "a,b\r\n1,2,\r\n")));
    assert!(
        m.contains("long.csv") && m.contains("line 2: got 3 cells, header has 2"),
        "{m}"
    );
}

#[test]
fn empty_and_header_only_files_have_too_few_rows() {
    let dir = TempDir::new("few-rows");
    for (file, text, what) in [
        ("empty.csv", "", "empty file"),
        ("comments.csv", "\u{FEFF}# nothing\n\n", "empty file"),
        ("header.csv", "a,b\r\n\r\n", "header only"),
    ] {
        let m = message(Table::read(&dir.write(file, text)));
        assert!(m.contains(file) && m.contains(what), "{m}");
        assert!(m.contains("fewer rows than"), "{m}");
    }
}

#[test]
fn bad_header_names_are_refused() {
    let dir = TempDir::new("header");
    let m = message(Table::read(&dir.write("dup.csv", "a, \"b\" ,b\n1,2,3\n")));
    assert!(
        m.contains("dup.csv") && m.contains("line 1: duplicate column name \"b\""),
        "{m}"
    );
    let m = message(Table::read(&dir.write("blank.csv", "a,,c\n1,2,3\n")));
    assert!(
        m.contains("blank.csv") && m.contains("column 2 of the header has no name"),
        "{m}"
    );
}

#[test]
fn unreadable_file_is_an_io_error_naming_it() {
    let dir = TempDir::new("missing");
    let path = dir.path().join("absent.csv");
    let err = Table::read(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("absent.csv"));
}

#[test]
fn missing_column_lists_the_available_ones() {
    let dir = TempDir::new("columns");
    let t = Table::read(&dir.write("t.csv", "x,y\n1,2\n")).unwrap();
    let m = message(t.columns(&["x", "z"]));
    assert!(m.contains("t.csv") && m.contains("no column \"z\""), "{m}");
    assert!(m.contains("\"x\", \"y\""), "{m}");
    let big = Table::read(&dir.write("big.csv", "x,y\n1,2\n3,1e300\n")).unwrap();
    assert_eq!(big.columns(&["x"]).unwrap().data(), &[1.0, 3.0]);
    let m = message(big.columns(&["y"]));
    assert!(
        m.contains("line 3, column \"y\"") && m.contains("too large for f32"),
        "{m}"
    );
}

#[test]
fn a_hundred_thousand_rows_read_quickly() {
    let dir = TempDir::new("large");
    let mut text = String::from("a,b,c,d,e\n");
    for i in 0..100_000 {
        text += &format!("{i},{}.25,-{i}e-3,\"{}\",0.5\n", i % 97, i % 13);
    }
    let path = dir.write("large.csv", text);
    let start = std::time::Instant::now();
    let t = Table::read(&path).unwrap();
    let x = t.columns(&["e", "a"]).unwrap();
    let elapsed = start.elapsed();
    eprintln!("100000 x 5 table read in {elapsed:?}");
    assert_eq!(x.dims(), &[100_000, 2]);
    assert_eq!(x.data()[2 * 99_999 + 1], 99_999.0);
    // Well under a second in release; the bound catches quadratic behaviour.
    assert!(elapsed.as_secs_f64() < 5.0, "{elapsed:?}");
}

#[test]
fn quoted_names_may_hold_commas_and_quotes_but_cells_cannot_span_lines() {
    let dir = TempDir::new("quotes");
    let t = Table::read(&dir.write("q.csv", "\"mass, kg\",\"say \"\"hi\"\"\"\n1,2\n")).unwrap();
    assert_eq!(t.names(), ["mass, kg", "say \"hi\""]);
    let m = message(Table::read(&dir.write("open.csv", "a,b\n1,\"2\n3\",4\n")));
    assert!(
        m.contains("open.csv") && m.contains("line 2: unterminated quote"),
        "{m}"
    );
}
