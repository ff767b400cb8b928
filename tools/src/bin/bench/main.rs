//! wsbeat benchmarks: wsbeat against raw tungstenite and the clients people would pick
//! instead, side by side in one run, against one benchmark server on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example bench -- [--quick] [--repeat N] [--layouts unpinned,pinned]
//!     [--only latency,throughput,bulk,neighbour,idle,detect,reconnect,memory,scale] [--out DIR]
//!     [--python PATH] [--node PATH]
//! ```
//! `scripts/bench.sh` is the one command: it builds in release mode, installs the Python and
//! Node clients, raises the open-file limit and runs this. See BENCHMARKS.md.
//!
//! Every measure runs in a child process (`bench measure NAME ...`, or an external client
//! program speaking the same command line), so each starts clean and the pinned layout is
//! `taskset -c 0` on the server and the client process alike. The child prints one JSON
//! object; this orchestrator collects them, prints the table and writes JSON.

mod measures;
mod procfs;
mod report;
mod server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::measures::{Neighbour, Params, Placement};
use crate::report::{Group, Sample};
use wsbeat::Heartbeat;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => server::main().map_err(|e| e.to_string()),
        Some("measure") => run_measure(&args[1..]),
        Some("-h" | "--help") => {
            println!("{}", USAGE);
            Ok(())
        }
        _ => Options::parse(&args).and_then(orchestrate),
    };
    if let Err(e) = result {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: bench [--quick] [--repeat N] [--layouts unpinned,pinned,split] \
[--only GROUPS] [--out DIR] [--python PATH] [--node PATH] [--window SECS]
groups: latency,throughput,bulk,neighbour,idle,detect,reconnect,memory,scale
(internal: bench serve | bench measure NAME --url URL --n N --size S --warmup W ...)";

// ---- child side ------------------------------------------------------------------------

fn run_measure(args: &[String]) -> Result<(), String> {
    let name = args.first().ok_or("measure: which one?")?;
    let mut p = Params {
        url: String::new(),
        n: 0,
        size: 64,
        warmup: 0,
        window: Duration::from_secs(5),
        trials: 3,
        outbox_bytes: None,
        event_capacity: None,
        placement: Placement::Thread,
        rt_idle: 1000,
    };
    let (name, placement) = Placement::parse(name);
    p.placement = placement;
    let mut mode = String::new();
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => p.url = v.clone(),
            "--n" => p.n = num()?,
            "--size" => p.size = num()?,
            "--warmup" => p.warmup = num()?,
            "--window" => p.window = Duration::from_secs_f64(v.parse().map_err(|_| "--window")?),
            "--trials" => p.trials = num()?,
            "--outbox-bytes" => p.outbox_bytes = Some(num()?),
            "--event-capacity" => p.event_capacity = Some(num()?),
            "--rt-idle" => p.rt_idle = num()?,
            "--mode" => mode = v.clone(),
            _ => return Err(format!("measure: unknown flag {flag}")),
        }
    }
    let out = match (name, mode.as_str()) {
        ("raw", "latency") => measures::raw_latency(&p),
        ("raw", "throughput") => measures::raw_throughput(&p, true),
        ("raw-unbatched", "throughput") => measures::raw_throughput(&p, false),
        ("wsbeat-callback", "latency") => measures::wsbeat_callback_latency(&p),
        ("wsbeat-channel", "latency") => measures::wsbeat_channel_latency(&p),
        ("wsbeat-forward", "latency") => measures::wsbeat_forward_latency(&p),
        ("wsbeat", "throughput") => measures::wsbeat_throughput(&p, Heartbeat::default()),
        ("wsbeat-hboff", "throughput") => measures::wsbeat_throughput(&p, Heartbeat::off()),
        ("nb-none", _) => measures::neighbour_latency(&p, Neighbour::None, Duration::ZERO, false),
        ("nb-bthread", _) => measures::neighbour_latency(&p, Neighbour::None, Duration::ZERO, true),
        (nb, _) if nb.starts_with("nb-") => {
            // nb-rt-1ms, nb-thread-10ms: A on B's runtime or on its own thread, D ms.
            let (where_, ms) = nb[3..].split_once('-').ok_or("nb-WHERE-Dms")?;
            let ms: u64 = ms
                .strip_suffix("ms")
                .and_then(|m| m.parse().ok())
                .ok_or("nb-WHERE-Dms")?;
            let a = match where_ {
                "rt" => Neighbour::SameRuntime,
                "thread" => Neighbour::OwnThread,
                _ => return Err(format!("unknown neighbour measure {nb}")),
            };
            measures::neighbour_latency(&p, a, Duration::from_millis(ms), false)
        }
        ("idle", m) => measures::idle(&p, m.starts_with("channel"), m == "channel-pong"),
        ("detect", _) => measures::detect(&p),
        ("reconnect", _) => measures::reconnect(&p),
        ("memory", m) => measures::memory(&p, m == "channel"),
        ("scale", m) => measures::scale(&p, m == "channel"),
        _ => return Err(format!("unknown measure {name} (mode {mode:?})")),
    }?;
    println!("{out}");
    Ok(())
}

// ---- orchestrator ----------------------------------------------------------------------

/// Run settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub repeat: usize,
    pub layouts: Vec<String>,
    pub only: Option<Vec<String>>,
    pub out: PathBuf,
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
    pub window: f64,
    pub lat_n: usize,
    pub lat_warmup: usize,
    pub thr_n: usize,
    pub bulk_n: usize,
    pub detect_trials: usize,
    pub reconnect_trials: usize,
    pub scale_n: usize,
    pub scale_window: f64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = Options {
            quick,
            repeat: if quick { 1 } else { 5 },
            layouts: vec!["unpinned".into(), "pinned".into()],
            only: None,
            out: PathBuf::from("bench-results"),
            python: None,
            node: None,
            window: if quick { 5.0 } else { 30.0 },
            lat_n: if quick { 5_000 } else { 20_000 },
            lat_warmup: if quick { 500 } else { 2_000 },
            thr_n: if quick { 50_000 } else { 200_000 },
            bulk_n: if quick { 32 } else { 256 },
            detect_trials: if quick { 3 } else { 10 },
            reconnect_trials: if quick { 3 } else { 5 },
            scale_n: 1000,
            scale_window: if quick { 3.0 } else { 10.0 },
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--quick" {
                continue;
            }
            let v = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
            let num = || v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
            let list = || v.split(',').map(str::to_owned).collect::<Vec<_>>();
            match flag.as_str() {
                "--repeat" => o.repeat = num()?.max(1),
                "--layouts" => o.layouts = list(),
                "--only" => o.only = Some(list()),
                "--out" => o.out = PathBuf::from(v),
                "--python" => o.python = Some(PathBuf::from(v)),
                "--node" => o.node = Some(PathBuf::from(v)),
                "--window" => o.window = v.parse().map_err(|_| "--window: seconds")?,
                "--scale-n" => o.scale_n = num()?,
                "--latency-n" => o.lat_n = num()?,
                "--throughput-n" => o.thr_n = num()?,
                "--bulk-n" => o.bulk_n = num()?,
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        for l in &o.layouts {
            if l != "unpinned" && l != "pinned" && l != "split" {
                return Err(format!("unknown layout {l} (unpinned, pinned, split)"));
            }
        }
        Ok(o)
    }

    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|g| g.iter().any(|x| x == group))
    }
}

/// How a client of the comparison runs.
#[derive(Debug, Clone)]
pub enum Runner {
    /// A `bench measure NAME` child.
    Rust(&'static str),
    /// An external client program speaking the same command line.
    External(Vec<String>),
    /// Not available in this run; the reason is printed in its row.
    Skipped(String),
}

/// One client of the latency / throughput comparison.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub id: &'static str,
    pub label: &'static str,
    pub runner: Runner,
}

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The Python interpreter for `websocket-client` (the script's venv unless told otherwise).
fn python_for_websocket_client(o: &Options) -> Result<(PathBuf, String), String> {
    let py = o
        .python
        .clone()
        .unwrap_or_else(|| repo_root().join("bench/.venv/bin/python"));
    if !py.exists() {
        return Err(format!(
            "skipped: no Python venv at {} (scripts/bench.sh creates it)",
            py.display()
        ));
    }
    let out = Command::new(&py)
        .args(["-c", "import websocket; print(websocket.__version__)"])
        .output()
        .map_err(|e| format!("skipped: {}: {e}", py.display()))?;
    if !out.status.success() {
        return Err("skipped: websocket-client is not installed in the venv".into());
    }
    Ok((py, String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

fn node_ws(o: &Options) -> Result<(PathBuf, String), String> {
    let node = o.node.clone().unwrap_or_else(|| PathBuf::from("node"));
    let ok = Command::new(&node)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err("skipped: node is not installed".into());
    }
    let pkg = repo_root().join("bench/node/node_modules/ws/package.json");
    let text = std::fs::read_to_string(&pkg)
        .map_err(|_| "skipped: ws not installed in bench/node (scripts/bench.sh does)")?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok((node, v["version"].as_str().unwrap_or("?").to_owned()))
}

/// The C and Python-ctypes layers plug in here once they exist: a client program at the
/// documented path speaking the measure command line (see BENCHMARKS.md).
fn layer_runner(layer_marker: &str, client: &str, interpreter: Option<PathBuf>) -> Runner {
    let root = repo_root();
    if !root.join(layer_marker).exists() {
        return Runner::Skipped(format!("skipped: layer not built ({layer_marker} missing)"));
    }
    let prog = root.join(client);
    if !prog.exists() {
        return Runner::Skipped(format!(
            "skipped: bench client {client} missing (scripts/bench.sh builds the C one)"
        ));
    }
    let mut cmd = Vec::new();
    if let Some(i) = interpreter {
        cmd.push(i.display().to_string());
    }
    cmd.push(prog.display().to_string());
    Runner::External(cmd)
}

/// The neighbour-delay rows: client B's round trips on a 1-thread runtime (`measures::neighbour_latency`).
pub(crate) fn neighbour_clients() -> Vec<ClientSpec> {
    [
        ("nb-bthread", "B on its own thread, no A"),
        ("nb-none", "B on Runtime(1), no A (reference)"),
        ("nb-thread-1ms", "B on Runtime(1), A 1 ms on its own thread"),
        (
            "nb-thread-10ms",
            "B on Runtime(1), A 10 ms on its own thread",
        ),
        ("nb-rt-1ms", "B on Runtime(1), A 1 ms on the same runtime"),
        ("nb-rt-10ms", "B on Runtime(1), A 10 ms on the same runtime"),
    ]
    .into_iter()
    .map(|(id, label)| ClientSpec {
        id,
        label,
        runner: Runner::Rust(id),
    })
    .collect()
}

fn clients(o: &Options, group: Group, meta: &mut BTreeMap<String, Value>) -> Vec<ClientSpec> {
    if group == Group::Neighbour {
        return neighbour_clients();
    }
    let root = repo_root();
    let (py, wsc) = match python_for_websocket_client(o) {
        Ok((py, v)) => {
            meta.insert("websocket_client_version".into(), json!(v));
            let script = root.join("bench/python/ws_client.py");
            (
                Some(py.clone()),
                Runner::External(vec![py.display().to_string(), script.display().to_string()]),
            )
        }
        Err(reason) => (None, Runner::Skipped(reason)),
    };
    let node = match node_ws(o) {
        Ok((node, v)) => {
            meta.insert("node_ws_version".into(), json!(v));
            let script = root.join("bench/node/ws_client.mjs");
            Runner::External(vec![
                node.display().to_string(),
                script.display().to_string(),
            ])
        }
        Err(reason) => Runner::Skipped(reason),
    };
    let c = layer_runner("include/wsbeat.h", "target/release/bench-c-client", None);
    let pyc = match (&py, repo_root().join("python/wsbeat/__init__.py").exists()) {
        (Some(py), _) => layer_runner(
            "python/wsbeat/__init__.py",
            "bench/python/wsbeat_client.py",
            Some(py.clone()),
        ),
        (None, false) => layer_runner("python/wsbeat/__init__.py", "", None),
        (None, true) => {
            Runner::Skipped("skipped: no Python venv (scripts/bench.sh makes it)".into())
        }
    };
    let mut v = Vec::new();
    match group {
        Group::Latency => {
            v.push(ClientSpec {
                id: "raw",
                label: "raw tungstenite (baseline)",
                runner: Runner::Rust("raw"),
            });
            v.push(ClientSpec {
                id: "wsbeat-callback",
                label: "wsbeat, answered in callback",
                runner: Runner::Rust("wsbeat-callback"),
            });
            v.push(ClientSpec {
                id: "wsbeat-channel",
                label: "wsbeat, through channel",
                runner: Runner::Rust("wsbeat-channel"),
            });
            v.push(ClientSpec {
                id: "wsbeat-forward",
                label: "wsbeat, callback forwards to a thread",
                runner: Runner::Rust("wsbeat-forward"),
            });
            for (id, label) in [
                ("wsbeat-callback-rt", "wsbeat, in callback, on Runtime(1)"),
                ("wsbeat-channel-rt", "wsbeat, channel, on Runtime(1)"),
                ("wsbeat-forward-rt", "wsbeat, forwards, on Runtime(1)"),
                (
                    "wsbeat-callback-rt1k",
                    "wsbeat, in callback, Runtime(1) + 1,000 idle",
                ),
                (
                    "wsbeat-channel-rt1k",
                    "wsbeat, channel, Runtime(1) + 1,000 idle",
                ),
                (
                    "wsbeat-forward-rt1k",
                    "wsbeat, forwards, Runtime(1) + 1,000 idle",
                ),
            ] {
                v.push(ClientSpec {
                    id,
                    label,
                    runner: Runner::Rust(id),
                });
            }
        }
        _ => {
            v.push(ClientSpec {
                id: "raw",
                label: "raw tungstenite batched (baseline)",
                runner: Runner::Rust("raw"),
            });
            v.push(ClientSpec {
                id: "raw-unbatched",
                label: "raw tungstenite, flush each",
                runner: Runner::Rust("raw-unbatched"),
            });
            v.push(ClientSpec {
                id: "wsbeat",
                label: "wsbeat send_*_wait",
                runner: Runner::Rust("wsbeat"),
            });
            v.push(ClientSpec {
                id: "wsbeat-hboff",
                label: "wsbeat send_*_wait, heartbeat off",
                runner: Runner::Rust("wsbeat-hboff"),
            });
            v.push(ClientSpec {
                id: "wsbeat-rt",
                label: "wsbeat send_*_wait, on Runtime(1)",
                runner: Runner::Rust("wsbeat-rt"),
            });
            v.push(ClientSpec {
                id: "wsbeat-rt1k",
                label: "wsbeat send_*_wait, Runtime(1) + 1,000 idle",
                runner: Runner::Rust("wsbeat-rt1k"),
            });
        }
    }
    let with_api = |r: &Runner, api: &str| match r {
        Runner::External(cmd) => {
            let mut cmd = cmd.clone();
            cmd.extend([s("--api"), s(api)]);
            Runner::External(cmd)
        }
        other => other.clone(),
    };
    if group == Group::Latency {
        v.push(ClientSpec {
            id: "c-layer",
            label: "wsbeat C, answered in callback",
            runner: with_api(&c, "callback"),
        });
        v.push(ClientSpec {
            id: "c-layer-pull",
            label: "wsbeat C, ws_next_event (pull)",
            runner: with_api(&c, "pull"),
        });
        v.push(ClientSpec {
            id: "py-ctypes",
            label: "wsbeat Python, next_event (pull)",
            runner: with_api(&pyc, "pull"),
        });
        v.push(ClientSpec {
            id: "py-ctypes-callback",
            label: "wsbeat Python, answered in on_message",
            runner: with_api(&pyc, "callback"),
        });
    } else {
        v.push(ClientSpec {
            id: "c-layer",
            label: "wsbeat C layer ws_send_wait",
            runner: c,
        });
        v.push(ClientSpec {
            id: "py-ctypes",
            label: "wsbeat Python (ctypes) send_wait",
            runner: pyc,
        });
    }
    v.push(ClientSpec {
        id: "websocket-client",
        label: "Python websocket-client",
        runner: wsc,
    });
    v.push(ClientSpec {
        id: "node-ws",
        label: "Node.js ws",
        runner: node,
    });
    v
}

/// The CPU a client process runs on: `pinned`, the server's CPU too (every wake-up is a
/// context switch on one CPU); `split`, CPU 0 with the server on CPU 1 (a server elsewhere:
/// the reply arrives after the client waits for it, as over a network); `unpinned`, free.
fn pin_prefix(layout: &str) -> Vec<String> {
    match layout {
        "pinned" | "split" => vec!["taskset".into(), "-c".into(), "0".into()],
        _ => Vec::new(),
    }
}

/// The CPU the server process runs on (see [`pin_prefix`]).
fn server_pin_prefix(layout: &str) -> Vec<String> {
    match layout {
        "split" => vec!["taskset".into(), "-c".into(), "1".into()],
        other => pin_prefix(other),
    }
}

/// The benchmark server child (`bench serve`), killed on drop.
struct ServerProc {
    child: Child,
    url: String,
}

impl ServerProc {
    fn start(layout: &str) -> Result<ServerProc, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut argv = server_pin_prefix(layout);
        argv.push(exe.display().to_string());
        argv.push("serve".into());
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server ({}): {e}", argv[0]))?;
        let stdout = child.stdout.take().ok_or("server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .strip_prefix("listening ")
            .ok_or(format!("server said {line:?}"))?
            .trim();
        Ok(ServerProc {
            url: format!("ws://{addr}"),
            child,
        })
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run one child to completion (bounded by `timeout`) and parse the last JSON line it printed.
fn run_child(argv: &[String], timeout: Duration) -> Result<Value, String> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    let mut out = child.stdout.take().ok_or("stdout")?;
    let mut err = child.stderr.take().ok_or("stderr")?;
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join(" | ")
    };
    match status {
        None => Err(format!("timed out after {timeout:?}")),
        Some(st) if !st.success() => Err(format!("failed ({st}): {}", tail(&stderr))),
        Some(_) => stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or(format!("printed no result: {}", tail(&stderr)))
            .and_then(|l| serde_json::from_str(l).map_err(|e| format!("bad JSON: {e}"))),
    }
}

fn measure_argv(layout: &str, runner: &Runner, rest: &[String]) -> Option<Vec<String>> {
    let mut argv = pin_prefix(layout);
    match runner {
        Runner::Rust(name) => {
            argv.push(std::env::current_exe().ok()?.display().to_string());
            argv.push("measure".into());
            argv.push((*name).into());
        }
        Runner::External(cmd) => argv.extend(cmd.iter().cloned()),
        Runner::Skipped(_) => return None,
    }
    argv.extend(rest.iter().cloned());
    Some(argv)
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn orchestrate(o: Options) -> Result<(), String> {
    let started = Instant::now();
    let mut meta = report::machine_meta(&o);
    let mut samples: Vec<Sample> = Vec::new();
    let taskset_ok = Command::new("taskset")
        .args(["-c", "0", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let comparison = [
        Group::Latency,
        Group::Throughput,
        Group::Bulk,
        Group::Neighbour,
    ];
    let mut specs: BTreeMap<Group, Vec<ClientSpec>> = BTreeMap::new();
    for g in comparison {
        if o.wants(g.name()) {
            specs.insert(g, clients(&o, g, &mut meta));
        }
    }
    for layout in &o.layouts {
        if specs.is_empty() {
            break;
        }
        if layout != "unpinned" && !taskset_ok {
            eprintln!("[{layout}] skipped: taskset is not available");
            continue;
        }
        if layout == "split" && std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            eprintln!("[split] skipped: needs two CPUs");
            continue;
        }
        let server = ServerProc::start(layout)?;
        eprintln!("[{layout}] server at {}", server.url);
        for rep in 0..o.repeat {
            for (group, list) in &specs {
                let (mode, n, size, warmup) = match group {
                    Group::Latency | Group::Neighbour => ("latency", o.lat_n, 64, o.lat_warmup),
                    Group::Throughput => ("throughput", o.thr_n, 64, 0),
                    _ => ("throughput", o.bulk_n, 1 << 20, 0),
                };
                let rest = vec![
                    s("--url"),
                    server.url.clone(),
                    s("--mode"),
                    s(mode),
                    s("--n"),
                    s(n),
                    s("--size"),
                    s(size),
                    s("--warmup"),
                    s(warmup),
                ];
                for spec in list {
                    let Some(argv) = measure_argv(layout, &spec.runner, &rest) else {
                        if rep == 0 {
                            let Runner::Skipped(why) = &spec.runner else {
                                unreachable!()
                            };
                            samples.push(Sample::skipped(*group, layout, spec, why));
                        }
                        continue;
                    };
                    let result = run_child(&argv, Duration::from_secs(600));
                    let sample = Sample::new(*group, layout, spec, result);
                    eprintln!(
                        "[{layout}] {} #{}: {}",
                        group.name(),
                        rep + 1,
                        sample.brief()
                    );
                    samples.push(sample);
                }
            }
        }
    }
    // The 1,000-connection measure in one mode: its extra arguments, then n and the window.
    let scale = |extra: &[&str]| {
        let mut argv: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        argv.extend([s("--n"), s(o.scale_n), s("--window"), s(o.scale_window)]);
        (Group::Scale, "scale", argv, o.scale_window as u64 + 300)
    };
    // Idle, fault and scale measures: unpinned (what users get), one server for all.
    let single: Vec<(Group, &str, Vec<String>, u64)> = vec![
        (
            Group::Idle,
            "idle",
            vec![s("--window"), s(o.window), s("--mode"), s("callback")],
            o.window as u64 + 60,
        ),
        (
            Group::Idle,
            "idle",
            vec![s("--window"), s(o.window), s("--mode"), s("channel")],
            o.window as u64 + 60,
        ),
        (
            Group::Idle,
            "idle",
            vec![s("--window"), s(o.window), s("--mode"), s("channel-pong")],
            o.window as u64 + 60,
        ),
        (
            Group::Detect,
            "detect",
            vec![s("--trials"), s(o.detect_trials)],
            600,
        ),
        (
            Group::Reconnect,
            "reconnect",
            vec![s("--trials"), s(o.reconnect_trials)],
            600,
        ),
        (
            Group::Memory,
            "memory",
            vec![s("--mode"), s("callback")],
            60,
        ),
        (Group::Memory, "memory", vec![s("--mode"), s("channel")], 60),
        scale(&["--mode", "callback"]),
        scale(&["--mode", "channel"]),
        scale(&["--mode", "channel", "--event-capacity", "128"]),
    ];
    let wanted: Vec<_> = single
        .into_iter()
        .filter(|(g, ..)| o.wants(g.name()))
        .collect();
    if !wanted.is_empty() {
        let server = ServerProc::start("unpinned")?;
        for (group, name, mut rest, timeout) in wanted {
            rest.extend([s("--url"), server.url.clone()]);
            let argv = measure_argv("unpinned", &Runner::Rust(name), &rest).ok_or("exe")?;
            let label = rest
                .iter()
                .position(|a| a == "--mode")
                .map(|i| rest[i + 1].clone())
                .unwrap_or_default();
            let small_queue = rest.iter().any(|a| a == "--event-capacity");
            let spec = ClientSpec {
                id: match (label.as_str(), small_queue) {
                    ("channel-pong", _) => "channel-pong",
                    ("channel", true) => "channel-cap128",
                    ("channel", false) => "channel",
                    _ => "callback",
                },
                label: "wsbeat",
                runner: Runner::Rust(name),
            };
            let result = run_child(&argv, Duration::from_secs(timeout));
            let sample = Sample::new(group, "unpinned", &spec, result);
            eprintln!("[unpinned] {} {label}: {}", group.name(), sample.brief());
            samples.push(sample);
        }
    }
    meta.insert("duration_s".into(), json!(started.elapsed().as_secs()));
    meta.insert("loadavg_end".into(), json!(report::loadavg()));
    let rep = report::Report::build(&o, meta, samples);
    print!("{}", rep.table());
    let written = rep.write(&o.out)?;
    println!("\nJSON: {}", written.display());
    Ok(())
}
