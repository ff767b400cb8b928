//! `wsbeat`: a command-line WebSocket client that never gives up, and a misbehaving
//! seed-protocol echo server to try it against.
//!
//! ```text
//! wsbeat [OPTIONS] [URL]
//! wsbeat --serve [ADDR] [SERVER OPTIONS]
//! ```
//!
//! Lines from stdin are sent as text messages, received messages go to stdout, and a status
//! line per event goes to stderr (or, with `--json`, one JSON object per event to stdout).
//! Run with `--help` for the options; `docs/CLI.md` documents formats and exit codes.
//!
//! The modules, one concern each: `args` (usage text and parser), `client` (the client side),
//! `serve` (`--serve` and the embedded server), `output` (human and JSON output), `logging`
//! (`-v`).

mod args;
mod client;
mod logging;
mod output;
mod serve;

use std::process::ExitCode;

use args::{ArgError, Command, USAGE, parse_args};

fn usage_error(e: &ArgError) -> ExitCode {
    eprintln!("wsbeat: {e}\n\n{USAGE}");
    ExitCode::from(2)
}

pub(crate) fn config_error(what: impl std::fmt::Display) -> ExitCode {
    eprintln!("wsbeat: {what}\nRun `wsbeat --help` for the options.");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    match parse_args(std::env::args_os().skip(1)) {
        Err(e) => usage_error(&e),
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("wsbeat {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve {
            addr,
            opts,
            verbose,
        }) => {
            logging::init_log(verbose);
            serve::serve(&addr, &opts)
        }
        Ok(Command::Client(o)) => {
            logging::init_log(o.verbose);
            client::run_client(*o)
        }
    }
}
