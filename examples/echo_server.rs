//! The seed article's server, in Rust: echoes `{"ModeCode":"message"|"heart_beat",...}` JSON
//! (and any other text or binary), answers pings, survives non-JSON input.
//!
//! ```text
//! cargo run --example echo_server -- [ADDR] [--reply-delay MS] [--silent-after MS]
//! ```
//! ADDR defaults to the seed's `127.0.0.1:8002`; use `127.0.0.1:0` for an ephemeral port. The
//! first line on stdout is the URL it listens on. It runs until killed.

use std::time::Duration;

use wsbeat_testkit::server::EchoServer;

fn usage() -> ! {
    eprintln!("usage: echo_server [ADDR] [--reply-delay MS] [--silent-after MS]");
    std::process::exit(2);
}

fn main() {
    let mut addr = "127.0.0.1:8002".to_string();
    let mut delay = None;
    let mut silent_after = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("{name} needs a number of milliseconds");
                usage()
            })
        };
        match a.as_str() {
            "--reply-delay" => delay = Some(num("--reply-delay")),
            "--silent-after" => silent_after = Some(num("--silent-after")),
            "-h" | "--help" => usage(),
            s if !s.starts_with('-') => addr = s.to_string(),
            other => {
                eprintln!("unknown option {other}");
                usage()
            }
        }
    }
    let server = EchoServer::start(&addr).unwrap_or_else(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        std::process::exit(1)
    });
    if let Some(ms) = delay {
        server.set_reply_delay(Duration::from_millis(ms));
    }
    println!("{}", server.url());
    eprintln!("seed-protocol echo server listening on {}", server.url());
    if let Some(ms) = silent_after {
        std::thread::sleep(Duration::from_millis(ms));
        eprintln!("going silent (connections stay open, nothing is answered)");
        server.set_silent(true);
    }
    loop {
        std::thread::park();
    }
}
