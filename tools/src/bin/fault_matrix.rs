//! Runs every fault scenario of the reliability suite and prints RELIABILITY.md's table.
//!
//! ```text
//! cargo run --release -p wsbeat-tools --bin fault_matrix               # print the table
//! cargo run --release -p wsbeat-tools --bin fault_matrix -- --write    # also update RELIABILITY.md
//! cargo run --release -p wsbeat-tools --bin fault_matrix -- flood      # only scenarios matching "flood"
//! ```
//! The scenarios are the ones `tests/faults.rs` runs (shared code in `testkit/src/`): each
//! asserts its promises; a failed assertion shows as FAIL in the table and the exit code is 1.

use std::fmt::Write as _;
use std::time::Duration;

use wsbeat_testkit::scenarios::{ALL, Row, run};

const BEGIN: &str = "<!-- fault-matrix:begin -->";
const END: &str = "<!-- fault-matrix:end -->";

fn fmt_d(d: Option<Duration>) -> String {
    match d {
        None => "–".into(),
        Some(d) if d < Duration::from_millis(1) => format!("{} µs", d.as_micros()),
        Some(d) => format!("{:.0} ms", d.as_secs_f64() * 1000.0),
    }
}

fn main() {
    wsbeat_testkit::process::set_helper_args(Vec::new());
    wsbeat_testkit::process::helper_main_if_requested();
    let mut write = false;
    let mut filter = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--write" => write = true,
            "-h" | "--help" => {
                eprintln!("usage: fault_matrix [--write] [FILTER]");
                return;
            }
            f => filter = Some(f.to_owned()),
        }
    }
    if write && filter.is_some() {
        eprintln!("--write rewrites the whole table: run it without a filter");
        std::process::exit(2);
    }
    // Assertion failures are reported in the table, not as a panic dump.
    std::panic::set_hook(Box::new(|_| {}));
    let mut table = String::new();
    table.push_str(
        "| # | Scenario | wsbeat promises | Detected in | Reconnected in | Messages sent / delivered / reported / lost | Result |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut failed = 0;
    let mut n = 0;
    for (name, f) in ALL {
        if filter.as_deref().is_some_and(|flt| !name.contains(flt)) {
            continue;
        }
        n += 1;
        eprint!("{name} ... ");
        let f = *f;
        let outcome = std::panic::catch_unwind(move || run(f));
        let (row, result) = match outcome {
            Ok(row) => {
                eprintln!("ok");
                let note = if row.note.is_empty() {
                    "pass".to_string()
                } else {
                    format!("pass: {}", row.note)
                };
                (row, note)
            }
            Err(p) => {
                failed += 1;
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let first = msg.lines().next().unwrap_or("").to_owned();
                eprintln!("FAILED: {first}");
                (
                    Row {
                        scenario: name,
                        promise: "",
                        detect: None,
                        recover: None,
                        acc: None,
                        note: String::new(),
                    },
                    format!("**FAIL**: {}", first.replace('|', "/")),
                )
            }
        };
        let msgs = match &row.acc {
            Some(a) => format!(
                "{} / {} / {} / {}",
                a.sent,
                a.delivered,
                a.reported + a.refused,
                a.lost.len()
            ),
            None => "–".into(),
        };
        let _ = writeln!(
            table,
            "| {n} | {} | {} | {} | {} | {msgs} | {} |",
            row.scenario,
            row.promise,
            fmt_d(row.detect),
            fmt_d(row.recover),
            result
        );
    }
    print!("{table}");
    if write {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../RELIABILITY.md");
        let doc = std::fs::read_to_string(path).expect("read RELIABILITY.md");
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("RELIABILITY.md lacks the {BEGIN} / {END} markers");
        };
        let stamp = format!(
            "_Measured by `cargo run --release -p wsbeat-tools --bin fault_matrix -- --write` on {} \
             ({} cores); {} of {n} scenarios passed._\n\n",
            std::process::Command::new("date")
                .arg("-u")
                .arg("+%Y-%m-%d %H:%M UTC")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            n - failed
        );
        let new = format!("{}{BEGIN}\n{stamp}{table}{}", &doc[..b], &doc[e..]);
        std::fs::write(path, new).expect("write RELIABILITY.md");
        eprintln!("updated {path}");
    }
    if failed > 0 {
        eprintln!("{failed} scenario(s) failed");
        std::process::exit(1);
    }
}
