//! `--serve`: the seed-protocol echo server (also embedded when no URL is given), with the
//! switches that make it misbehave on purpose.

use std::io::{self, Write};
use std::process::ExitCode;
use std::thread;

use wsbeat_testkit::server::EchoServer;

use crate::args::ServerOpts;
use crate::output::{human, shown_url};

pub(crate) fn start_server(addr: &str, o: &ServerOpts) -> io::Result<EchoServer> {
    let server = EchoServer::start(addr)?;
    if let Some(d) = o.close_after {
        server.set_close_after(
            Some(d),
            o.close_code.unwrap_or(1000),
            "wsbeat --close-after",
        );
    }
    if o.silent_after.is_some() {
        server.set_silent_after(o.silent_after);
    }
    if let Some(d) = o.reply_delay {
        server.set_reply_delay(d);
    }
    Ok(server)
}

pub(crate) fn describe_server(o: &ServerOpts) -> String {
    let mut parts = Vec::new();
    if let Some(d) = o.silent_after {
        parts.push(format!("connections go silent {} after opening", human(d)));
    }
    if let Some(d) = o.close_after {
        parts.push(format!(
            "connections are closed with {} {} after opening",
            o.close_code.unwrap_or(1000),
            human(d)
        ));
    }
    if let Some(d) = o.reply_delay {
        parts.push(format!("replies are delayed by {}", human(d)));
    }
    parts.join("; ")
}

pub(crate) fn serve(addr: &str, opts: &ServerOpts) -> ExitCode {
    let server = match start_server(addr, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsbeat: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    // The URL is the first line of stdout: scripts and tests read the port from it.
    let url = shown_url(&server.url());
    println!("{url}");
    let _ = io::stdout().flush();
    eprintln!("wsbeat: seed-protocol echo server listening on {url}");
    if opts.any() {
        eprintln!("wsbeat: misbehaving on purpose: {}", describe_server(opts));
    }
    loop {
        thread::park(); // until killed
    }
}
