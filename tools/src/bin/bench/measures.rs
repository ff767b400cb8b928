//! The measures that run inside a `bench measure <name>` child process. Each prints one JSON
//! object on stdout. Latency and throughput measures talk to the run's shared benchmark
//! server (`--url`); the fault measures start the crate's own [`EchoServer`] in-process,
//! since they need its silent and restart switches.

use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use serde_json::{Value, json};
use tungstenite::{Bytes, Message};
use wsbeat::{Client, ClientBuilder, Event, Heartbeat, Reconnect, Runtime};
use wsbeat_testkit::server::EchoServer;

use crate::procfs;

/// Parameters of a measure, from the child's command line.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub url: String,
    pub n: usize,
    pub size: usize,
    pub warmup: usize,
    pub window: Duration,
    pub trials: usize,
    /// Outbox byte bound for the wsbeat throughput measure (None: the default).
    pub outbox_bytes: Option<usize>,
    /// Event channel capacity for the scale measure in channel mode (None: the default).
    pub event_capacity: Option<usize>,
    /// Where the measured wsbeat client's I/O loop runs (from the measure name's suffix).
    pub placement: Placement,
    /// Idle heartbeating clients sharing the runtime in [`Placement::LoadedRuntime`].
    pub rt_idle: usize,
}

/// Where the measured wsbeat client's I/O loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A thread of its own (the default; no suffix).
    Thread,
    /// `Runtime::new(1)`, alone on it (suffix `-rt`).
    Runtime,
    /// `Runtime::new(1)` that also carries `rt_idle` idle clients with a 2 s ping heartbeat
    /// (suffix `-rt1k`): the realistic case of a runtime.
    LoadedRuntime,
}

impl Placement {
    /// Split a measure name into its base name and placement (`wsbeat-channel-rt1k`).
    pub(crate) fn parse(name: &str) -> (&str, Placement) {
        if let Some(base) = name.strip_suffix("-rt1k") {
            (base, Placement::LoadedRuntime)
        } else if let Some(base) = name.strip_suffix("-rt") {
            (base, Placement::Runtime)
        } else {
            (name, Placement::Thread)
        }
    }
}

/// The runtime (if any) a measure's client goes on, with the idle clients loading it. The
/// idle clients are leaked on drop: tearing them down measures nothing and the child exits.
pub(crate) struct Place {
    rt: Option<Runtime>,
    idle: Vec<Client>,
}

impl Place {
    pub(crate) fn new(p: &Params) -> Result<Place, String> {
        Place::with(p.placement, &p.url, p.rt_idle)
    }

    fn with(placement: Placement, url: &str, idle_n: usize) -> Result<Place, String> {
        let rt = match placement {
            Placement::Thread => None,
            _ => Some(Runtime::new(1).map_err(err("runtime"))?),
        };
        let mut place = Place {
            rt,
            idle: Vec::new(),
        };
        if placement == Placement::LoadedRuntime {
            place.load(url, idle_n)?;
        }
        Ok(place)
    }

    /// Apply the placement to a builder.
    pub(crate) fn on(&self, b: ClientBuilder) -> ClientBuilder {
        match &self.rt {
            Some(rt) => b.runtime(rt),
            None => b,
        }
    }

    /// `n` idle clients (callback mode, 2 s ping, 1 s timeout) on the runtime, connected
    /// 100 at a time (the server's accept backlog), all open before the measure starts.
    fn load(&mut self, url: &str, n: usize) -> Result<(), String> {
        let opened = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        while self.idle.len() < n {
            let k = (n - self.idle.len()).min(100);
            for _ in 0..k {
                let (o, f) = (opened.clone(), failures.clone());
                let b = Client::builder(format!("{url}/echo"))
                    .heartbeat(Heartbeat::ping(
                        Duration::from_secs(2),
                        Duration::from_secs(1),
                    ))
                    .on_event(move |_, ev| match ev {
                        Event::Opened { .. } => {
                            o.fetch_add(1, Ordering::Relaxed);
                        }
                        Event::Error { message, .. } => {
                            f.lock().unwrap_or_else(|e| e.into_inner()).push(message)
                        }
                        _ => {}
                    });
                self.idle
                    .push(self.on(b).connect().map_err(err("idle connect"))?);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while opened.load(Ordering::Relaxed) < self.idle.len() as u64 {
                if Instant::now() > deadline {
                    let f = failures.lock().unwrap_or_else(|e| e.into_inner());
                    return Err(format!(
                        "{} of {} idle clients opened; errors: {:?}",
                        opened.load(Ordering::Relaxed),
                        self.idle.len(),
                        f.iter().take(3).collect::<Vec<_>>()
                    ));
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
        // A couple of heartbeats each before the measure: the timers are in steady state.
        thread::sleep(Duration::from_secs(2));
        Ok(())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        std::mem::forget(std::mem::take(&mut self.idle));
    }
}

type Res = Result<Value, String>;

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

/// Nearest-rank percentile of sorted samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Client CPU time (all threads of this process) per message, over a measured span.
struct Cpu(u64);

impl Cpu {
    fn start() -> Cpu {
        Cpu(procfs::threads_cpu_ns())
    }
    fn us_per(&self, n: usize) -> f64 {
        let ns = procfs::threads_cpu_ns().saturating_sub(self.0);
        (ns as f64 / n.max(1) as f64 / 1e3 * 100.0).round() / 100.0
    }
}

fn latency_json(mut ns: Vec<u64>, cpu_us: f64) -> Value {
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64;
    json!({
        "n": ns.len(),
        "cpu_us_per_msg": cpu_us,
        "p50_us": percentile(&ns, 0.50) as f64 / 1e3,
        "p99_us": percentile(&ns, 0.99) as f64 / 1e3,
        "mean_us": (mean / 1e3 * 10.0).round() / 10.0,
    })
}

fn throughput_json(n: usize, size: usize, secs: f64, extra: Value) -> Value {
    let mut v = json!({
        "n": n,
        "size": size,
        "secs": secs,
        "msgs_per_s": n as f64 / secs,
        "mb_per_s": (n * size) as f64 / secs / 1e6,
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

/// Check the sink's `{"count":N,"bytes":B}` reply.
fn check_ack(reply: &str, n: usize, size: usize) -> Result<(), String> {
    let v: Value = serde_json::from_str(reply).map_err(err("sink reply"))?;
    let count = v["count"].as_u64().unwrap_or(0);
    let bytes = v["bytes"].as_u64().unwrap_or(0);
    if count != n as u64 || bytes != (n * size) as u64 {
        return Err(format!(
            "sink counted {count} messages / {bytes} bytes, expected {n} / {}",
            n * size
        ));
    }
    Ok(())
}

fn payload_text(size: usize) -> String {
    "x".repeat(size)
}

// ---- raw tungstenite: the baseline -----------------------------------------------------

type RawWs = tungstenite::WebSocket<TcpStream>;

fn raw_connect(url: &str) -> Result<RawWs, String> {
    let addr = url.trim_start_matches("ws://");
    let addr = addr.split('/').next().unwrap_or(addr);
    let stream = TcpStream::connect(addr).map_err(err("connect"))?;
    stream.set_nodelay(true).map_err(err("nodelay"))?;
    let (ws, _) = tungstenite::client(url, stream).map_err(err("handshake"))?;
    Ok(ws)
}

/// Plain blocking loop: send (write + flush), read the echo.
pub(crate) fn raw_latency(p: &Params) -> Res {
    let mut ws = raw_connect(&format!("{}/echo", p.url))?;
    let payload = payload_text(p.size);
    let mut ns = Vec::with_capacity(p.n);
    let cpu = Cpu::start();
    for i in 0..p.warmup + p.n {
        let t0 = Instant::now();
        ws.send(Message::text(payload.clone()))
            .map_err(err("send"))?;
        loop {
            match ws.read().map_err(err("read"))? {
                Message::Text(_) => break,
                _ => continue,
            }
        }
        if i >= p.warmup {
            ns.push(t0.elapsed().as_nanos() as u64);
        }
    }
    let cpu_us = cpu.us_per(p.warmup + p.n);
    let _ = ws.close(None);
    Ok(latency_json(ns, cpu_us))
}

fn make_msg(size: usize, payload: &[u8]) -> Message {
    if size <= 1024 {
        // Small messages are text, as in the latency test; the payload is ASCII.
        Message::text(String::from_utf8(payload.to_vec()).unwrap_or_default())
    } else {
        Message::Binary(Bytes::from(payload.to_vec()))
    }
}

/// Flood the sink. `batched`: write every message, flush once at the end (tungstenite still
/// writes to the socket whenever its 128 KiB write buffer fills); otherwise send() each.
/// Every message is a fresh copy of the payload, as for the other clients.
pub(crate) fn raw_throughput(p: &Params, batched: bool) -> Res {
    let mut ws = raw_connect(&format!("{}/sink", p.url))?;
    let payload = vec![b'x'; p.size];
    let cpu = Cpu::start();
    let t0 = Instant::now();
    for _ in 0..p.n {
        let m = make_msg(p.size, &payload);
        if batched {
            ws.write(m).map_err(err("write"))?;
        } else {
            ws.send(m).map_err(err("send"))?;
        }
    }
    ws.send(Message::text("?ack")).map_err(err("send"))?;
    let reply = loop {
        if let Message::Text(t) = ws.read().map_err(err("read"))? {
            break t.to_string();
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu_us = cpu.us_per(p.n);
    check_ack(&reply, p.n, p.size)?;
    let _ = ws.close(None);
    Ok(throughput_json(
        p.n,
        p.size,
        secs,
        json!({ "cpu_us_per_msg": cpu_us }),
    ))
}

// ---- wsbeat ------------------------------------------------------------------------------

fn wait_opened(rx: &wsbeat::Events) -> Result<(), String> {
    wait_opened_with(|d| rx.recv_timeout(d).ok())
}

/// [`wait_opened`] on any event source (`next` waits at most the given time).
fn wait_opened_with(next: impl Fn(Duration) -> Option<Event>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(left) {
            Some(Event::Opened { .. }) => return Ok(()),
            Some(Event::Error { message, .. }) => return Err(message),
            Some(_) => {}
            None => return Err("not opened within 10 s".into()),
        }
    }
}

/// The echo is answered from the event callback, on the I/O thread: the next message is sent
/// from inside the callback that received the previous echo.
pub(crate) fn wsbeat_callback_latency(p: &Params) -> Res {
    struct St {
        i: usize,
        t0: Instant,
        ns: Vec<u64>,
    }
    let total = p.warmup + p.n;
    let warmup = p.warmup;
    let payload = payload_text(p.size);
    let (done_tx, done_rx) = bounded::<Result<Vec<u64>, String>>(1);
    let mut st = St {
        i: 0,
        t0: Instant::now(),
        ns: Vec::with_capacity(p.n),
    };
    let place = Place::new(p)?;
    let cpu = Cpu::start();
    let client = place
        .on(Client::builder(format!("{}/echo", p.url)))
        .on_event(move |h, ev| match ev {
            Event::Opened { .. } => {
                st.t0 = Instant::now();
                if let Err(e) = h.send_text(payload.clone()) {
                    let _ = done_tx.try_send(Err(e.to_string()));
                }
            }
            Event::Text(_) => {
                let now = Instant::now();
                if st.i >= warmup {
                    st.ns.push(now.duration_since(st.t0).as_nanos() as u64);
                }
                st.i += 1;
                if st.i == total {
                    let _ = done_tx.try_send(Ok(std::mem::take(&mut st.ns)));
                    return;
                }
                st.t0 = Instant::now();
                if let Err(e) = h.send_text(payload.clone()) {
                    let _ = done_tx.try_send(Err(e.to_string()));
                }
            }
            Event::Error { message, .. } => {
                let _ = done_tx.try_send(Err(message));
            }
            _ => {}
        })
        .connect()
        .map_err(err("connect"))?;
    let ns = done_rx
        .recv_timeout(Duration::from_secs(600))
        .map_err(err("waiting for the callback"))??;
    let cpu_us = cpu.us_per(total);
    drop(client);
    Ok(latency_json(ns, cpu_us))
}

/// The echo goes through the event channel: the main thread receives, then sends the next.
pub(crate) fn wsbeat_channel_latency(p: &Params) -> Res {
    let place = Place::new(p)?;
    let client = place
        .on(Client::builder(format!("{}/echo", p.url)))
        .connect()
        .map_err(err("connect"))?;
    let rx = client.events().ok_or("no event channel")?;
    wait_opened(&rx)?;
    let cpu = Cpu::start();
    let ns = channel_round_trips(&client, &rx, p)?;
    Ok(latency_json(ns, cpu.us_per(p.warmup + p.n)))
}

/// `p.warmup + p.n` sequential round trips through the event channel; the timed ones.
fn channel_round_trips(
    client: &Client,
    rx: &wsbeat::Events,
    p: &Params,
) -> Result<Vec<u64>, String> {
    let payload = payload_text(p.size);
    let mut ns = Vec::with_capacity(p.n);
    for i in 0..p.warmup + p.n {
        let t0 = Instant::now();
        client
            .send_text(payload.clone())
            .map_err(err("send_text"))?;
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Event::Text(_)) => break,
                Ok(Event::Error { message, .. }) => return Err(message),
                Ok(_) => {}
                Err(e) => return Err(format!("no echo: {e}")),
            }
        }
        if i >= p.warmup {
            ns.push(t0.elapsed().as_nanos() as u64);
        }
    }
    Ok(ns)
}

/// The shape most applications have: the event callback (on the I/O thread) forwards each
/// event to the application's thread over its own channel; that thread sends the next
/// message and waits for the forwarded echo.
pub(crate) fn wsbeat_forward_latency(p: &Params) -> Res {
    let (tx, rx) = bounded::<Event>(1024);
    let place = Place::new(p)?;
    let client = place
        .on(Client::builder(format!("{}/echo", p.url)))
        .on_event(move |_, ev| {
            let _ = tx.send(ev);
        })
        .connect()
        .map_err(err("connect"))?;
    wait_opened_with(|d| rx.recv_timeout(d).ok())?;
    let payload = payload_text(p.size);
    let mut ns = Vec::with_capacity(p.n);
    let cpu = Cpu::start();
    for i in 0..p.warmup + p.n {
        let t0 = Instant::now();
        client
            .send_text(payload.clone())
            .map_err(err("send_text"))?;
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Event::Text(_)) => break,
                Ok(Event::Error { message, .. }) => return Err(message),
                Ok(_) => {}
                Err(e) => return Err(format!("no echo: {e}")),
            }
        }
        if i >= p.warmup {
            ns.push(t0.elapsed().as_nanos() as u64);
        }
    }
    Ok(latency_json(ns, cpu.us_per(p.warmup + p.n)))
}

/// How long client B of [`neighbour_latency`] makes round trips (after its warm-up).
const NEIGHBOUR_WINDOW: Duration = Duration::from_secs(2);

/// Where the slow neighbour A of [`neighbour_latency`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Neighbour {
    /// No A: B's round trips on the runtime alone (the reference).
    None,
    /// A on the same 1-thread runtime as B.
    SameRuntime,
    /// A on a thread of its own (the default placement), B on the runtime.
    OwnThread,
}

/// The documented caveat of a shared runtime, measured: client B does sequential round trips
/// in channel mode (as [`wsbeat_channel_latency`]) on a `Runtime::new(1)` while client A,
/// echoing continuously, sleeps `delay` in its callback for every message it receives
/// (`thread::sleep`: it holds the thread without taking a CPU from this 2-core machine).
/// `neighbour`: whether A is on B's runtime, on its own thread, or absent. `b_on_thread`:
/// B on a thread of its own instead (the dedicated reference, with no A).
/// B makes up to 200 round trips as warm-up, then as many as it can in [`NEIGHBOUR_WINDOW`].
pub(crate) fn neighbour_latency(
    p: &Params,
    neighbour: Neighbour,
    delay: Duration,
    b_on_thread: bool,
) -> Res {
    let rt = Runtime::new(1).map_err(err("runtime"))?;
    let a_msgs = Arc::new(AtomicU64::new(0));
    // How long A's callback really held the thread each time (a sleep overshoots on a
    // loaded machine): B's tail is read against this.
    let a_held = Arc::new(Mutex::new(Vec::<u64>::new()));
    let a_held2 = a_held.clone();
    let (a_tx, a_rx) = bounded::<Result<(), String>>(1);
    let a = match neighbour {
        Neighbour::None => None,
        n => {
            let count = a_msgs.clone();
            let payload = payload_text(p.size);
            let mut b = Client::builder(format!("{}/echo", p.url)).on_event(move |h, ev| {
                match ev {
                    Event::Opened { .. } => {}
                    Event::Text(_) => {
                        if count.fetch_add(1, Ordering::Relaxed) == 0 {
                            let _ = a_tx.try_send(Ok(()));
                        }
                        let t = Instant::now();
                        thread::sleep(delay);
                        let held = t.elapsed().as_nanos() as u64;
                        a_held2.lock().unwrap_or_else(|e| e.into_inner()).push(held);
                    }
                    Event::Error { message, .. } => {
                        let _ = a_tx.try_send(Err(message));
                        return;
                    }
                    _ => return,
                }
                let _ = h.send_text(payload.clone());
            });
            if n == Neighbour::SameRuntime {
                b = b.runtime(&rt);
            }
            let a = b.connect().map_err(err("connect A"))?;
            a_rx.recv_timeout(Duration::from_secs(10))
                .map_err(err("A's first echo"))??;
            Some(a)
        }
    };
    let mut b = Client::builder(format!("{}/echo", p.url));
    if !b_on_thread {
        b = b.runtime(&rt);
    }
    let client = b.connect().map_err(err("connect B"))?;
    let rx = client.events().ok_or("no event channel")?;
    wait_opened(&rx)?;
    // Warm-up, then round trips for a fixed time, so that B's samples span many of A's
    // cycles whatever D is (a count would end within one cycle of a fast B).
    let warm = Params {
        n: 0,
        warmup: p.warmup.min(200),
        ..p.clone()
    };
    channel_round_trips(&client, &rx, &warm)?;
    let a0 = a_msgs.load(Ordering::Relaxed);
    a_held.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let t0 = Instant::now();
    let cpu = Cpu::start();
    let mut ns = Vec::new();
    let one = Params {
        n: 1,
        warmup: 0,
        ..p.clone()
    };
    while t0.elapsed() < NEIGHBOUR_WINDOW {
        ns.extend(channel_round_trips(&client, &rx, &one)?);
    }
    let cpu_us = cpu.us_per(ns.len());
    let secs = t0.elapsed().as_secs_f64();
    let a_rate = (a_msgs.load(Ordering::Relaxed) - a0) as f64 / secs;
    let over_2d = ns
        .iter()
        .filter(|&&t| t > 2 * delay.as_nanos() as u64)
        .count();
    let max_us = ns.iter().max().copied().unwrap_or(0) as f64 / 1e3;
    let mut held = std::mem::take(&mut *a_held.lock().unwrap_or_else(|e| e.into_inner()));
    held.sort_unstable();
    let mut v = latency_json(ns, cpu_us);
    v["max_us"] = json!(max_us);
    v["over_2d"] = json!(if delay.is_zero() { 0 } else { over_2d });
    v["a_held_p50_us"] = json!(percentile(&held, 0.50) as f64 / 1e3);
    v["a_held_p99_us"] = json!(percentile(&held, 0.99) as f64 / 1e3);
    v["delay_ms"] = json!(delay.as_secs_f64() * 1e3);
    v["neighbour"] = json!(match neighbour {
        Neighbour::None => "none",
        Neighbour::SameRuntime => "same runtime",
        Neighbour::OwnThread => "own thread",
    });
    v["b_on"] = json!(if b_on_thread { "thread" } else { "runtime" });
    v["a_msgs_per_s"] = json!(a_rate.round());
    // A keeps echoing while B is torn down: leave both (and the runtime) to the exit.
    std::mem::forget(client);
    std::mem::forget(a);
    std::mem::forget(rt);
    Ok(v)
}

/// Flood the sink through `send_text_wait`/`send_binary_wait` from the main thread: the
/// sender sleeps while the outbox is full (any error, a timeout included, fails the measure).
/// With a heartbeat (the default) written messages are kept until a heartbeat answer confirms
/// them (`Closed.unconfirmed`); `Heartbeat::off()` shows what that tracking costs.
pub(crate) fn wsbeat_throughput(p: &Params, heartbeat: Heartbeat) -> Res {
    let place = Place::new(p)?;
    let mut builder = place.on(Client::builder(format!("{}/sink", p.url)).heartbeat(heartbeat));
    if let Some(bytes) = p.outbox_bytes {
        builder = builder.outbox_limit(4096, bytes);
    }
    let client = builder.connect().map_err(err("connect"))?;
    let rx = client.events().ok_or("no event channel")?;
    wait_opened(&rx)?;
    let text = payload_text(p.size);
    let bin = vec![b'x'; p.size];
    let wait = Duration::from_secs(60);
    let cpu = Cpu::start();
    let t0 = Instant::now();
    for _ in 0..p.n {
        if p.size <= 1024 {
            client.send_text_wait(text.clone(), wait)
        } else {
            client.send_binary_wait(bin.clone(), wait)
        }
        .map_err(|e| format!("send: {e}"))?;
    }
    client
        .send_text_wait("?ack", wait)
        .map_err(|e| format!("send: {e}"))?;
    let reply = loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Event::Text(t)) => break t,
            Ok(Event::Error { message, .. }) => return Err(message),
            Ok(_) => {}
            Err(e) => return Err(format!("no ack: {e}")),
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu_us = cpu.us_per(p.n);
    check_ack(&reply, p.n, p.size)?;
    Ok(throughput_json(
        p.n,
        p.size,
        secs,
        json!({ "cpu_us_per_msg": cpu_us }),
    ))
}

// ---- idle cost, detection, reconnect -----------------------------------------------------

/// One idle connection with a 1 s ping heartbeat (timeout 500 ms): wake-ups (voluntary
/// context switches) and CPU time over the window. Callback mode: the `wsbeat-io` thread's.
/// Channel mode (`channel`): every thread of the process, the application's included (a
/// consumer thread blocked in `events().recv()`, as an application would be).
/// `pongs_wanted`: `ClientBuilder::pong_events` (the default, false; the C and Python layers
/// turn it on). Without `Pong` events
/// the heartbeats are not counted; `missed_heartbeats` (0) and `rtt_seen` show they ran.
pub(crate) fn idle(p: &Params, channel: bool, pongs_wanted: bool) -> Res {
    let interval = Duration::from_secs(1);
    let pongs = Arc::new(AtomicU64::new(0));
    let pongs2 = pongs.clone();
    let (open_tx, open_rx) = bounded(1);
    let builder = Client::builder(format!("{}/echo", p.url))
        .heartbeat(Heartbeat::ping(interval, Duration::from_millis(500)))
        .pong_events(pongs_wanted);
    let mut consumer = None;
    let client = if channel {
        let client = builder.connect().map_err(err("connect"))?;
        let rx = client.events().ok_or("no event channel")?;
        consumer = Some(thread::spawn(move || {
            for ev in rx {
                match ev {
                    Event::Opened { .. } => {
                        let _ = open_tx.try_send(());
                    }
                    Event::Pong { .. } => {
                        pongs2.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }));
        client
    } else {
        builder
            .on_event(move |_, ev| match ev {
                Event::Opened { .. } => {
                    let _ = open_tx.try_send(());
                }
                Event::Pong { .. } => {
                    pongs2.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            })
            .connect()
            .map_err(err("connect"))?
    };
    open_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(err("open"))?;
    thread::sleep(Duration::from_millis(200));
    let io = procfs::tids_named("wsbeat-io");
    let [io_tid] = io[..] else {
        return Err(format!("expected one wsbeat-io thread, found {io:?}"));
    };
    // Channel mode: every thread (this one sleeps through the window: one wake-up).
    let tids: Vec<u64> = if channel {
        procfs::all_tids()
    } else {
        vec![io_tid]
    };
    let sum = |f: &dyn Fn(u64) -> u64| tids.iter().map(|&t| f(t)).sum::<u64>();
    let v0 = sum(&|t| procfs::ctx_switches(t).0);
    let n0 = sum(&|t| procfs::ctx_switches(t).1);
    let cpu0 = sum(&procfs::task_cpu_ns);
    let pcpu0 = procfs::process_cpu_ns();
    let p0 = pongs.load(Ordering::Relaxed);
    let missed0 = client.stats().missed_heartbeats;
    let t0 = Instant::now();
    thread::sleep(p.window);
    let secs = t0.elapsed().as_secs_f64();
    let v1 = sum(&|t| procfs::ctx_switches(t).0);
    let n1 = sum(&|t| procfs::ctx_switches(t).1);
    let cpu1 = sum(&procfs::task_cpu_ns);
    let pcpu1 = procfs::process_cpu_ns();
    let heartbeats = pongs.load(Ordering::Relaxed) - p0;
    let missed = client.stats().missed_heartbeats - missed0;
    let client_rtt_seen = client.stats().last_rtt.is_some();
    let intervals = secs / interval.as_secs_f64();
    drop(client);
    if let Some(c) = consumer {
        let _ = c.join();
    }
    Ok(json!({
        "mode": if channel { "channel" } else { "callback" },
        "pong_events": pongs_wanted,
        "rtt_seen": client_rtt_seen,
        "threads_counted": tids.len(),
        "window_s": secs,
        "interval_s": interval.as_secs_f64(),
        "heartbeats": heartbeats,
        "missed_heartbeats": missed,
        "wakeups": v1 - v0,
        "involuntary": n1 - n0,
        "wakeups_per_interval": (v1 - v0) as f64 / intervals,
        "io_cpu_ms": (cpu1 - cpu0) as f64 / 1e6,
        "io_cpu_us_per_interval": (cpu1 - cpu0) as f64 / 1e3 / intervals,
        "process_cpu_ms": (pcpu1 - pcpu0) as f64 / 1e6,
    }))
}

fn ms_of(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// The server goes silent (EchoServer::set_silent) at a random phase of the heartbeat
/// cycle; time until the client reports `HeartbeatTimeout`, against interval + timeout.
pub(crate) fn detect(p: &Params) -> Res {
    let interval = Duration::from_millis(1000);
    let timeout = Duration::from_millis(500);
    let mut samples = Vec::new();
    for _ in 0..p.trials {
        let server = EchoServer::start("127.0.0.1:0").map_err(err("server"))?;
        let client = Client::builder(server.url())
            .heartbeat(Heartbeat::ping(interval, timeout))
            .reconnect(Reconnect::disabled())
            .connect()
            .map_err(err("connect"))?;
        let rx = client.events().ok_or("no event channel")?;
        wait_opened(&rx)?;
        // A random phase: anywhere within the first two heartbeat cycles.
        thread::sleep(Duration::from_millis(fastrand_ms(2 * interval)));
        server.set_silent(true);
        let t0 = Instant::now();
        loop {
            match rx.recv_timeout(interval + timeout + Duration::from_secs(5)) {
                Ok(Event::HeartbeatTimeout { .. }) => break,
                Ok(Event::Closed { .. }) => return Err("closed before a heartbeat timeout".into()),
                Ok(_) => {}
                Err(_) => return Err("no heartbeat timeout".into()),
            }
        }
        samples.push(ms_of(t0.elapsed()));
        server.set_silent(false);
    }
    let max = samples.iter().cloned().fold(0.0, f64::max);
    let raw = samples.clone();
    Ok(json!({
        "interval_ms": ms_of(interval),
        "timeout_ms": ms_of(timeout),
        "bound_ms": ms_of(interval + timeout),
        "trials": samples.len(),
        "median_ms": median(&mut samples),
        "max_ms": max,
        "samples_ms": raw,
    }))
}

/// A pseudo-random number of milliseconds below `d` (from the clock; no RNG dependency).
fn fastrand_ms(d: Duration) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos() as u64)
        .unwrap_or(0);
    (nanos / 1000) % (d.as_millis() as u64).max(1)
}

/// The server restarts (abrupt stop, listen again on the same port); time from the stop
/// until the client is open again, against the backoff delay (fixed 250 ms, no jitter).
pub(crate) fn reconnect(p: &Params) -> Res {
    let delay = Duration::from_millis(250);
    let mut server = EchoServer::start("127.0.0.1:0").map_err(err("server"))?;
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(
            Duration::from_secs(1),
            Duration::from_millis(500),
        ))
        .reconnect(Reconnect::fixed(delay))
        .connect()
        .map_err(err("connect"))?;
    let rx = client.events().ok_or("no event channel")?;
    wait_opened(&rx)?;
    let (mut total, mut lost, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..p.trials {
        thread::sleep(Duration::from_millis(100));
        let t0 = Instant::now();
        server.restart().map_err(err("restart"))?;
        let mut announced = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Event::Closed { .. }) => lost.push(ms_of(t0.elapsed())),
                Ok(Event::Reconnecting { delay, .. }) => announced = Some(delay),
                Ok(Event::Opened { .. }) => break,
                Ok(_) => {}
                Err(_) => return Err("not reopened within 10 s".into()),
            }
        }
        let took = t0.elapsed();
        total.push(ms_of(took));
        overhead.push(ms_of(took.saturating_sub(announced.unwrap_or(delay))));
    }
    let max = total.iter().cloned().fold(0.0, f64::max);
    let raw = total.clone();
    Ok(json!({
        "delay_ms": ms_of(delay),
        "trials": total.len(),
        "median_ms": median(&mut total),
        "max_ms": max,
        "loss_noticed_median_ms": median(&mut lost),
        "overhead_median_ms": median(&mut overhead),
        "samples_ms": raw,
    }))
}

// ---- memory and scale --------------------------------------------------------------------

/// Resident size of one connected client: RSS before, and after it opened and echoed 100
/// messages. `channel`: the default event-channel mode; otherwise callback mode.
pub(crate) fn memory(p: &Params, channel: bool) -> Res {
    // Warm the allocator and the std machinery the client will use.
    let _ = raw_connect(&format!("{}/echo", p.url)).map(|mut ws| ws.close(None));
    thread::sleep(Duration::from_millis(200));
    let before = procfs::rss_kib();
    let (tx, rx) = bounded::<Event>(1024);
    let builder = Client::builder(format!("{}/echo", p.url));
    let client = if channel {
        builder.connect().map_err(err("connect"))?
    } else {
        let tx = tx.clone();
        builder
            .on_event(move |_, ev| {
                let _ = tx.try_send(ev);
            })
            .connect()
            .map_err(err("connect"))?
    };
    let events = client.events();
    // Channel mode: the client's events; callback mode: what the callback forwarded.
    let next = |d: Duration| match &events {
        Some(events) => events.recv_timeout(d).ok(),
        None => rx.recv_timeout(d).ok(),
    };
    wait_opened_with(next)?;
    for _ in 0..100 {
        client.send_text(payload_text(64)).map_err(err("send"))?;
        while !matches!(next(Duration::from_secs(10)), Some(Event::Text(_))) {}
    }
    thread::sleep(Duration::from_millis(200));
    let after = procfs::rss_kib();
    drop(client);
    Ok(json!({
        "mode": if channel { "channel" } else { "callback" },
        "rss_before_kib": before,
        "rss_after_kib": after,
        "delta_kib": after as i64 - before as i64,
    }))
}

/// `n` idle connections with a 1 s ping heartbeat in this process (callback mode): RSS per
/// connection, threads, CPU over the window.
pub(crate) fn scale(p: &Params, channel: bool) -> Res {
    let need = 3 * p.n as u64 + 64;
    if let Some(limit) = procfs::max_open_files()
        && limit < need
    {
        return Err(format!(
            "open-file limit {limit} < {need}: raise it (ulimit -n), scripts/bench.sh does"
        ));
    }
    let _ = raw_connect(&format!("{}/echo", p.url)).map(|mut ws| ws.close(None));
    thread::sleep(Duration::from_millis(200));
    let rss0 = procfs::rss_kib();
    let threads0 = procfs::threads();
    let opened = Arc::new(AtomicU64::new(0));
    let pongs = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::with_capacity(p.n);
    let mut receivers = Vec::new();
    let started = Instant::now();
    for chunk in 0..p.n.div_ceil(50) {
        let k = (p.n - chunk * 50).min(50);
        for _ in 0..k {
            // Heartbeats are counted from `Pong` events (channel mode reports them only when
            // asked, since 04c6763; asked for here, as these figures always were).
            let mut b = Client::builder(format!("{}/echo", p.url))
                .heartbeat(Heartbeat::ping(
                    Duration::from_secs(1),
                    Duration::from_millis(500),
                ))
                .pong_events(true);
            if let Some(cap) = p.event_capacity {
                b = b.event_capacity(cap);
            }
            let client = if channel {
                b.connect().map_err(err("connect"))?
            } else {
                let (o, q, f) = (opened.clone(), pongs.clone(), failures.clone());
                b.on_event(move |_, ev| match ev {
                    Event::Opened { .. } => {
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Pong { .. } => {
                        q.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Error { message, .. } => {
                        f.lock().unwrap_or_else(|e| e.into_inner()).push(message)
                    }
                    _ => {}
                })
                .connect()
                .map_err(err("connect"))?
            };
            if let Some(rx) = client.events() {
                receivers.push(rx);
            }
            clients.push(client);
        }
        if channel {
            for rx in &receivers[receivers.len() - k..] {
                wait_opened(rx)?;
                opened.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            let deadline = Instant::now() + Duration::from_secs(30);
            while opened.load(Ordering::Relaxed) < clients.len() as u64 {
                if Instant::now() > deadline {
                    let f = failures.lock().unwrap_or_else(|e| e.into_inner());
                    return Err(format!(
                        "{} of {} opened; errors: {:?}",
                        opened.load(Ordering::Relaxed),
                        clients.len(),
                        f.iter().take(3).collect::<Vec<_>>()
                    ));
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    thread::sleep(Duration::from_secs(2)); // a couple of heartbeats each
    for rx in &receivers {
        while rx.try_recv().is_ok() {} // what piled up before the window is not counted
    }
    let cpu0 = procfs::process_cpu_ns();
    let p0 = pongs.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut rss_peak = 0;
    let end = t0 + p.window;
    while Instant::now() < end {
        // In channel mode the events must be drained, as an application would.
        for rx in &receivers {
            while let Ok(ev) = rx.try_recv() {
                if let Event::Pong { .. } = ev {
                    pongs.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        rss_peak = rss_peak.max(procfs::rss_kib());
        thread::sleep(Duration::from_millis(100));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procfs::process_cpu_ns() - cpu0;
    let rss = procfs::rss_kib();
    let threads = procfs::threads();
    let still_open = clients
        .iter()
        .filter(|c| c.state() == wsbeat::State::Open)
        .count();
    let missed: u64 = clients.iter().map(|c| c.stats().missed_heartbeats).sum();
    let heartbeats = pongs.load(Ordering::Relaxed) - p0;
    let out = json!({
        "mode": if channel { "channel" } else { "callback" },
        "event_capacity": p.event_capacity,
        "n": p.n,
        "connect_s": connect_secs,
        "still_open": still_open,
        "missed_heartbeats": missed,
        "heartbeats_per_s": heartbeats as f64 / secs,
        "rss_base_kib": rss0,
        "rss_kib": rss,
        "rss_peak_kib": rss_peak.max(rss),
        "rss_delta_mib": (rss as f64 - rss0 as f64) / 1024.0,
        "per_conn_kib": (rss as f64 - rss0 as f64) / p.n as f64,
        "threads": threads,
        "threads_added": threads as i64 - threads0 as i64,
        "cpu_pct": cpu as f64 / 1e9 / secs * 100.0,
        "window_s": secs,
    });
    // Tearing 1,000 clients down one by one takes a while and measures nothing: exit.
    println!("{out}");
    std::process::exit(0);
}
