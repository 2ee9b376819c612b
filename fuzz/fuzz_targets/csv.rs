//! CSV tables of user data (`Table`, read by cde, regress and maml).
#![no_main]
use ferrograd_models::data::Table;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::csv_seeds));
    let Ok(table) = Table::from_bytes(&bytes, Path::new("fuzz.csv")) else {
        return;
    };
    let width = table.names().len();
    assert!(width >= 1 && table.rows() >= 1);
    assert_eq!(table.values().len(), width * table.rows());
    assert!(table.values().iter().all(|v| v.is_finite()));
    let names: Vec<&str> = table.names().iter().map(String::as_str).collect();
    if let Ok(t) = table.columns(&names) {
        assert_eq!(t.dims(), &[table.rows(), width]);
    }
    // A name longer than every column's is no column (a fixed name is not:
    // the fuzzer found a header naming a column "\0no such column").
    let longest = table.names().iter().map(String::len).max().unwrap_or(0);
    assert!(table.columns(&["x".repeat(longest + 1)]).is_err());
});
