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
    kernel_blackhole,
    cut_rst,
    wss_blackhole,
    wss_cut_rst,
    refused_then_accepts,
    delayed_path,
    throttled_path,
    heartbeat_behind_slow_upload,
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
    assert_eq!(scenarios::ALL.len(), 34);
}
