//! Faults, hostile servers and broken paths: every scenario of the fault matrix as a test.
//!
//! Each test runs alone (a process-wide lock: timings and /proc accounting need it), asserts
//! the event sequence and timing bounds, message accounting (delivered once in order, or
//! reported back), no duplicate connections, and that no client thread or descriptor is left
//! behind. `cargo run -p wsbeat-tools --bin fault_matrix` runs the same scenarios and prints the table
//! of RELIABILITY.md.

use wsbeat_testkit::scenarios::{self, run};

/// Entry point of the server-process helper (`wsbeat_testkit::process`): a no-op unless the test
/// binary was re-executed as a server.
#[test]
fn helper_process_entry() {
    wsbeat_testkit::process::helper_main_if_requested();
}

/// One `#[test]` per scenario, named by its matrix row, from testkit's one list
/// (`for_each_scenario!`); and that list's names and functions, for the checks below.
macro_rules! scenario_tests {
    ($($name:ident => $f:path),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let row = run($f);
                eprintln!("{row:?}");
            }
        )*

        /// The generated tests' names, in order.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        /// The functions they run, as written in the list (`$crate::scenarios::name`).
        const TESTED_FNS: &[&str] = &[$(stringify!($f)),*];
    };
}

wsbeat_testkit::for_each_scenario!(scenario_tests);

/// The matrix (`ALL`, which the fault_matrix tool runs) and the tests come from the same list,
/// and every scenario function in testkit (`pub fn NAME() -> Row`) is on it: one added
/// without its line in `for_each_scenario!` fails here.
#[test]
fn every_scenario_is_a_test() {
    let matrix: Vec<&str> = scenarios::ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(matrix, TESTED);
    let mut unique = matrix.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), matrix.len(), "a row name is listed twice");

    let listed: Vec<String> = TESTED_FNS
        .iter()
        .map(|path| path.rsplit("::").next().unwrap_or(path).trim().to_owned())
        .collect();
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testkit/src/scenarios.rs"
    ))
    .unwrap();
    let defined: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn ")?.strip_suffix("() -> Row {"))
        .collect();
    assert!(
        defined.len() >= 30,
        "found only {defined:?} in scenarios.rs"
    );
    for f in &defined {
        assert!(
            listed.iter().any(|l| l == f),
            "scenario `{f}` in testkit/src/scenarios.rs is not in for_each_scenario!: it has no test"
        );
    }
    for l in &listed {
        assert!(
            defined.contains(&l.as_str()),
            "for_each_scenario! lists `{l}`, which is not a `pub fn {l}() -> Row` scenario"
        );
    }
}
