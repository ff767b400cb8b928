//! The benchmark server: one process, a thread per connection, blocking tungstenite with
//! `TCP_NODELAY`. Every client of a run talks to the same instance.
//!
//! - `/echo` (or any other path): text and binary messages are echoed, one flush per message.
//! - `/sink`: data messages are counted, not answered; a text message starting with `?ack`
//!   is answered with `{"count":N,"bytes":B}` (the counts since the previous `?ack`).
//!
//! Pings are answered by tungstenite (the pong is flushed at once).

use std::io::{self, BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

/// `bench serve`: listen on an ephemeral port, print `listening <addr>`, serve until stdin
/// closes (the orchestrator holds the other end, so the server dies with it).
pub(crate) fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::Builder::new()
        .name("bench-accept".into())
        .spawn(move || accept_loop(listener))?;
    let mut out = io::stdout().lock();
    writeln!(out, "listening {addr}")?;
    out.flush()?;
    drop(out);
    let mut line = String::new();
    let stdin = io::stdin();
    while stdin.lock().read_line(&mut line)? > 0 {
        line.clear();
    }
    Ok(())
}

fn accept_loop(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let spawned = thread::Builder::new()
            .name("bench-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || handle(stream));
        if let Err(e) = spawned {
            eprintln!("bench server: cannot spawn a connection thread: {e}");
        }
    }
}

fn handle(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    // The Err type is tungstenite's (an HTTP error response); this callback never fails.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tungstenite::accept_hdr(stream, callback) else {
        return;
    };
    if path == "/sink" { sink(ws) } else { echo(ws) }
}

fn echo(mut ws: WebSocket<TcpStream>) {
    loop {
        let result = match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m),
            Ok(_) => ws.flush(), // pong to a ping, close reply
            Err(_) => return,
        };
        if result.is_err() {
            return;
        }
    }
}

fn sink(mut ws: WebSocket<TcpStream>) {
    let (mut count, mut bytes) = (0u64, 0u64);
    loop {
        let result = match ws.read() {
            Ok(Message::Text(t)) if t.starts_with("?ack") => {
                let reply = format!("{{\"count\":{count},\"bytes\":{bytes}}}");
                (count, bytes) = (0, 0);
                ws.send(Message::text(reply))
            }
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                count += 1;
                bytes += m.len() as u64;
                Ok(())
            }
            Ok(_) => ws.flush(),
            Err(_) => return,
        };
        if result.is_err() {
            return;
        }
    }
}
