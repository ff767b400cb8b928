//! Faults, hostile servers and broken paths: every scenario of the fault matrix as a test.
//!
//! Each test runs alone (a process-wide lock: timings and /proc accounting need it), asserts
//! the event sequence and timing bounds, message accounting (delivered once in order, or
//! reported back), no duplicate connections, and that no client thread or descriptor is left
//! behind. `cargo run --example fault_matrix` runs the same scenarios and prints the table
//! of RELIABILITY.md.

mod support;

use support::scenarios::{self, run};

/// Entry point of the server-process helper (`support::process`): a no-op unless the test
/// binary was re-executed as a server.
#[test]
fn helper_process_entry() {
    support::process::helper_main_if_requested();
}

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let row = run(scenarios::$name);
                eprintln!("{row:?}");
            }
        )*
    };
}

scenario_tests!(
    blackhole,
    cut_rst,
    refused_then_accepts,
    delayed_path,
    throttled_path,
    flapping,
    server_killed,
    server_restart_same_port,
    http_401,
    http_404,
    http_503_retry_after,
    http_429_retry_after,
    handshake_garbage,
    handshake_hangs,
    unresolvable_host,
    close_1000,
    close_1001,
    close_1008,
    close_1011,
    close_1012_restarts_schedule,
    close_1013,
    close_4000,
    oversized_message,
    invalid_utf8,
    reserved_bits,
    bad_opcode,
    masked_server_frame,
    drip,
    flood,
    close_in_every_state,
);

#[test]
fn every_scenario_is_a_test() {
    // The matrix and the tests must not drift apart.
    assert_eq!(scenarios::ALL.len(), 30);
}
