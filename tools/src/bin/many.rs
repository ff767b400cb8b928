//! Many heartbeating connections in one process (issue 18's figures): N clients, on a shared
//! `wsbeat::Runtime` or each on its own thread, against one Node.js `ws` server (a child
//! process: epoll, a few KB per connection; its memory is not counted here).
//!
//! Phases: connect all; idle (the heartbeat only), sampled in windows for RSS, threads and
//! CPU; the server killed and started again on the same port, with one message sent by every
//! client while it is down: every client must reconnect and every message be echoed.
//!
//!   many [--clients N] [--mode runtime|threads] [--threads T] [--interval SECS]
//!        [--windows K] [--window SECS] [--node PATH] [--server PATH] [--no-restart]
//!        [--downtime SECS]
//!
//! Run by `scripts/bench-many.sh` (raises the open-file limit first). Prints one table; exits
//! non-zero if a client did not come back or a message was lost (60-interop.sh runs a small
//! one as a check that the command works).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat, Runtime, State};

struct Opts {
    clients: usize,
    runtime: bool,
    threads: usize,
    interval: u64,
    windows: usize,
    window: u64,
    node: String,
    server: String,
    restart: bool,
    /// How long the server stays down (the same for every run, so spreads compare).
    downtime: u64,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        clients: 10_000,
        runtime: true,
        threads: 2,
        interval: 20,
        windows: 3,
        window: 20,
        node: "node".into(),
        server: "tests/interop/ws_server.js".into(),
        restart: true,
        downtime: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{a}: {e}"));
        match a.as_str() {
            "--clients" => o.clients = num(val()?)? as usize,
            "--threads" => o.threads = num(val()?)? as usize,
            "--interval" => o.interval = num(val()?)?,
            "--windows" => o.windows = num(val()?)?.max(1) as usize,
            "--window" => o.window = num(val()?)?,
            "--node" => o.node = val()?,
            "--server" => o.server = val()?,
            "--no-restart" => o.restart = false,
            "--downtime" => o.downtime = num(val()?)?,
            "--mode" => {
                o.runtime = match val()?.as_str() {
                    "runtime" => true,
                    "threads" => false,
                    m => return Err(format!("--mode {m}: runtime or threads")),
                }
            }
            "-h" | "--help" => {
                println!("{}", USAGE);
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

const USAGE: &str = "usage: many [--clients N] [--mode runtime|threads] [--threads T] \
[--interval SECS] [--windows K] [--window SECS] [--node PATH] [--server PATH] [--no-restart] \
[--downtime SECS]";

/// The Node.js `ws` echo server (tests/interop/ws_server.js) on `port` (0: ephemeral).
fn start_server(o: &Opts, port: u16) -> Result<(Child, u16), String> {
    let mut child = Command::new(&o.node)
        .arg(&o.server)
        .arg(port.to_string())
        .arg("echo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {} {}: {e}", o.node, o.server))?;
    let out = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port = line
        .strip_prefix("LISTENING ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or(format!("server said {line:?}"))?;
    Ok((child, port))
}

/// A field of /proc/self/status in kB (or a count).
fn status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// This process's CPU time (user + system) from /proc/self/stat.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime); the list starts at field 3 (the state).
    let field = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(14) + field(15);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn wait_until(what: &str, within: Duration, f: impl Fn() -> bool) -> Result<Duration, String> {
    let t0 = Instant::now();
    while !f() {
        if t0.elapsed() > within {
            return Err(format!("timed out after {within:?} waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(t0.elapsed())
}

#[derive(Default)]
struct Counts {
    opened: AtomicUsize,
    reopened: AtomicUsize,
    texts: AtomicUsize,
    pongs: AtomicUsize,
    /// When each reconnection opened (the restart's spread).
    reopened_at: Mutex<Vec<Instant>>,
}

fn min_med_max(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn run(o: &Opts) -> Result<(), String> {
    let (mut server, port) = start_server(o, 0)?;
    let url = format!("ws://127.0.0.1:{port}");
    let rss0 = status("VmRSS:");
    let rt = match o.runtime {
        true => Some(Runtime::new(o.threads).map_err(|e| e.to_string())?),
        false => None,
    };
    let counts = Arc::new(Counts::default());
    let interval = Duration::from_secs(o.interval);
    let t0 = Instant::now();
    let clients: Vec<Client> = (0..o.clients)
        .map(|_| {
            let c = counts.clone();
            let b = Client::builder(&url)
                .heartbeat(Heartbeat::ping(interval, interval / 2))
                .on_event(move |_, ev| {
                    let n = match ev {
                        Event::Opened {
                            reconnect: false, ..
                        } => &c.opened,
                        Event::Opened { .. } => {
                            let mut at = c.reopened_at.lock().unwrap_or_else(|p| p.into_inner());
                            at.push(Instant::now());
                            &c.reopened
                        }
                        Event::Text(_) => &c.texts,
                        Event::Pong { .. } => &c.pongs,
                        _ => return,
                    };
                    n.fetch_add(1, Ordering::Relaxed);
                });
            match &rt {
                Some(rt) => b.runtime(rt),
                None => b,
            }
            .connect()
            .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let n = o.clients;
    let took = wait_until("every client to open", Duration::from_secs(300), || {
        counts.opened.load(Ordering::Relaxed) == n
    })?;
    let connect_s = t0.elapsed().max(took).as_secs_f64();
    thread::sleep(Duration::from_secs(2)); // let the connect burst settle
    let (mut rss, mut cpu_pct, mut pongs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..o.windows {
        let (c0, p0, w0) = (cpu(), counts.pongs.load(Ordering::Relaxed), Instant::now());
        thread::sleep(Duration::from_secs(o.window));
        let secs = w0.elapsed().as_secs_f64();
        cpu_pct.push((cpu() - c0).as_secs_f64() / secs * 100.0);
        pongs.push((counts.pongs.load(Ordering::Relaxed) - p0) as f64 / secs);
        rss.push(status("VmRSS:").saturating_sub(rss0) as f64 / 1024.0);
    }
    let threads = status("Threads:");
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let mode = match &rt {
        Some(_) => format!("runtime of {} threads", o.threads),
        None => "a thread per client".into(),
    };
    println!("many: {n} clients, {mode}, heartbeat ping every {interval:?}, Node ws server");
    println!("  connect all: {connect_s:.1} s");
    let (a, b, c) = min_med_max(&mut rss);
    println!(
        "  RSS above the start (MiB, {} windows): min {a:.1}  median {b:.1}  max {c:.1}  \
         ({:.1} KiB per connection at the median)",
        rss.len(),
        b * 1024.0 / n as f64
    );
    let (a, b, c) = min_med_max(&mut cpu_pct);
    println!(
        "  idle CPU (% of one core, {} windows of {} s): min {a:.2}  median {b:.2}  max {c:.2}",
        cpu_pct.len(),
        o.window
    );
    let (a, b, c) = min_med_max(&mut pongs);
    println!(
        "  heartbeats answered per second: min {a:.0}  median {b:.0}  max {c:.0}  \
         (expected {:.0})",
        n as f64 / interval.as_secs_f64()
    );
    println!("  threads: {threads} in the process (1 is main), {fds} descriptors");
    if o.restart {
        let killed = Instant::now();
        let _ = server.kill();
        let _ = server.wait();
        wait_until(
            "every client to see the server gone",
            Duration::from_secs(120),
            || clients.iter().all(|c| c.state() != State::Open),
        )?;
        for c in &clients {
            c.send_text("sent while the server was down")
                .map_err(|e| e.to_string())?;
        }
        // The same downtime in every run: the spread of the reconnections depends on where
        // each client's backoff schedule is when the server returns.
        thread::sleep(Duration::from_secs(o.downtime).saturating_sub(killed.elapsed()));
        let t1 = Instant::now();
        let (s, _) = start_server(o, port)?;
        server = s;
        let back = wait_until(
            "every client to reconnect",
            Duration::from_secs(300),
            || counts.reopened.load(Ordering::Relaxed) >= n,
        );
        let echoed = wait_until(
            "every message to be echoed",
            Duration::from_secs(120),
            || counts.texts.load(Ordering::Relaxed) >= n,
        );
        let reopened = counts.reopened.load(Ordering::Relaxed);
        let texts = counts.texts.load(Ordering::Relaxed);
        let mut at: Vec<f64> = counts
            .reopened_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| t.saturating_duration_since(t1).as_secs_f64())
            .collect();
        if !at.is_empty() {
            at.sort_by(f64::total_cmp);
            let p = |q: usize| at[(at.len() - 1) * q / 100];
            println!(
                "  reconnections after the restart, s: p10 {:.2}  p50 {:.2}  p90 {:.2}  \
                 (spread p10..p90 {:.2} s; each client's own backoff and jitter)",
                p(10),
                p(50),
                p(90),
                p(90) - p(10)
            );
        }
        println!(
            "  server restart: {reopened}/{n} reconnected, {texts}/{n} messages sent while it \
             was down echoed ({} lost), in {:.1} s{}",
            n.saturating_sub(texts),
            t1.elapsed().as_secs_f64(),
            match (&back, &echoed) {
                (Ok(_), Ok(_)) => String::new(),
                (Err(e), _) | (_, Err(e)) => format!(" — {e}"),
            }
        );
        if back.is_err() || echoed.is_err() {
            return Err("not every client came back with its message".into());
        }
    }
    let t2 = Instant::now();
    drop(clients);
    println!("  drop all: {:.1} s", t2.elapsed().as_secs_f64());
    if let Some(stdin) = server.stdin.as_mut() {
        let _ = stdin.flush();
    }
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}

fn main() {
    let result = parse().and_then(|o| run(&o));
    if let Err(e) = result {
        eprintln!("many: {e}");
        std::process::exit(1);
    }
}
