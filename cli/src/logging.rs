//! `-v`: the library's `log` records on stderr, after the tool's own timestamp; records that
//! may carry secrets (`wsbeat::may_carry_secrets`) are dropped.

use std::io::{self, Write};

use crate::output::timestamp;

/// The library's `log` records on stderr: `HH:MM:SS.mmm LEVEL target: message`.
pub(crate) struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        // tungstenite logs the raw handshake request (Authorization, cookies) at trace level:
        // never shown, as the C and Python log bridges do.
        m.level() <= log::max_level() && !wsbeat::may_carry_secrets(m.target(), m.level())
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(
                io::stderr(),
                "{} {:<5} {}: {}",
                timestamp(),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

/// Nothing by default (events already say what happened); more with each `-v`.
pub(crate) fn init_log(verbose: u8) {
    static LOGGER: StderrLog = StderrLog;
    if verbose > 0 && log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(match verbose {
            1 => log::LevelFilter::Info,
            2 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        });
    }
}
