//! Aggregation (median of the repeats), the table, the targets and the JSON file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{ClientSpec, Options};

/// A family of measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Group {
    Latency,
    Throughput,
    Bulk,
    Neighbour,
    Idle,
    Detect,
    Reconnect,
    Memory,
    Scale,
}

impl Group {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Group::Latency => "latency",
            Group::Throughput => "throughput",
            Group::Bulk => "bulk",
            Group::Neighbour => "neighbour",
            Group::Idle => "idle",
            Group::Detect => "detect",
            Group::Reconnect => "reconnect",
            Group::Memory => "memory",
            Group::Scale => "scale",
        }
    }

    /// The figure the median of the repeats is taken on.
    fn primary(self) -> &'static str {
        match self {
            Group::Latency | Group::Neighbour => "p50_us",
            Group::Throughput | Group::Bulk => "msgs_per_s",
            _ => "",
        }
    }
}

/// The runtime rows and the dedicated-thread row each is compared with (issue 18: within
/// 10% of a dedicated thread): (group, runtime client, dedicated client, what).
const RUNTIME_ROWS: [(Group, &str, &str, &str); 10] = [
    (
        Group::Latency,
        "wsbeat-callback-rt",
        "wsbeat-callback",
        "round trip, reply in callback",
    ),
    (
        Group::Latency,
        "wsbeat-channel-rt",
        "wsbeat-channel",
        "round trip, channel",
    ),
    (
        Group::Latency,
        "wsbeat-forward-rt",
        "wsbeat-forward",
        "round trip, callback forwards",
    ),
    (
        Group::Throughput,
        "wsbeat-rt",
        "wsbeat",
        "flood 64 B send_text_wait",
    ),
    (
        Group::Bulk,
        "wsbeat-rt",
        "wsbeat",
        "flood 1 MiB send_binary_wait",
    ),
    (
        Group::Latency,
        "wsbeat-callback-rt1k",
        "wsbeat-callback",
        "round trip, reply in callback",
    ),
    (
        Group::Latency,
        "wsbeat-channel-rt1k",
        "wsbeat-channel",
        "round trip, channel",
    ),
    (
        Group::Latency,
        "wsbeat-forward-rt1k",
        "wsbeat-forward",
        "round trip, callback forwards",
    ),
    (
        Group::Throughput,
        "wsbeat-rt1k",
        "wsbeat",
        "flood 64 B send_text_wait",
    ),
    (
        Group::Bulk,
        "wsbeat-rt1k",
        "wsbeat",
        "flood 1 MiB send_binary_wait",
    ),
];

/// The runtime's bound against a dedicated thread: 1.10x the time per message, so at most
/// 1.10x the round-trip p50 and at least 1/1.10 of the flood rate.
const RUNTIME_BOUND: f64 = 1.10;

fn runtime_name(rt: &str, what: &str) -> String {
    let on = if rt.ends_with("rt1k") {
        "Runtime(1) + 1,000 idle"
    } else {
        "Runtime(1)"
    };
    format!("{what}, {on} vs own thread")
}

/// One child's result.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub group: Group,
    pub layout: String,
    pub client: String,
    pub label: String,
    /// Ok: the child's JSON. Err: why there is no figure (failed, or skipped).
    pub result: Result<Value, String>,
}

impl Sample {
    pub(crate) fn new(
        group: Group,
        layout: &str,
        spec: &ClientSpec,
        r: Result<Value, String>,
    ) -> Self {
        Sample {
            group,
            layout: layout.into(),
            client: spec.id.into(),
            label: spec.label.into(),
            result: r,
        }
    }

    pub(crate) fn skipped(group: Group, layout: &str, spec: &ClientSpec, why: &str) -> Self {
        Sample::new(group, layout, spec, Err(why.into()))
    }

    pub(crate) fn brief(&self) -> String {
        match &self.result {
            Err(e) => format!("{} {e}", self.client),
            Ok(v) => format!("{} {v}", self.client),
        }
    }
}

/// A (group, layout, client) with the median of its repeats.
#[derive(Debug, Clone)]
struct Row {
    group: Group,
    layout: String,
    client: String,
    label: String,
    value: Result<Value, String>,
    repeats: usize,
}

pub(crate) struct Report {
    meta: BTreeMap<String, Value>,
    rows: Vec<Row>,
    samples: Vec<Sample>,
    targets: Vec<Value>,
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

impl Report {
    pub(crate) fn build(
        o: &Options,
        meta: BTreeMap<String, Value>,
        samples: Vec<Sample>,
    ) -> Report {
        let mut rows: Vec<Row> = Vec::new();
        for s in &samples {
            if rows
                .iter()
                .any(|r| r.group == s.group && r.layout == s.layout && r.client == s.client)
            {
                continue;
            }
            let same: Vec<&Sample> = samples
                .iter()
                .filter(|x| x.group == s.group && x.layout == s.layout && x.client == s.client)
                .collect();
            let mut ok: Vec<&Value> = same.iter().filter_map(|x| x.result.as_ref().ok()).collect();
            let key = s.group.primary();
            ok.sort_by(|a, b| f(a, key).total_cmp(&f(b, key)));
            let value = match ok.get(ok.len() / 2) {
                Some(v) => Ok((*v).clone()),
                None => Err(same
                    .iter()
                    .find_map(|x| x.result.as_ref().err().cloned())
                    .unwrap_or_default()),
            };
            rows.push(Row {
                group: s.group,
                layout: s.layout.clone(),
                client: s.client.clone(),
                label: s.label.clone(),
                value,
                repeats: ok.len(),
            });
        }
        let mut r = Report {
            meta,
            rows,
            samples,
            targets: Vec::new(),
        };
        r.targets = r.evaluate(o);
        r
    }

    fn get(&self, group: Group, layout: &str, client: &str) -> Option<&Value> {
        self.rows
            .iter()
            .find(|r| r.group == group && r.layout == layout && r.client == client)
            .and_then(|r| r.value.as_ref().ok())
    }

    fn why(&self, group: Group, layout: &str, client: &str) -> String {
        self.rows
            .iter()
            .find(|r| r.group == group && r.layout == layout && r.client == client)
            .and_then(|r| r.value.as_ref().err().cloned())
            .unwrap_or_else(|| "not measured in this run".into())
    }

    /// Ratio of a row's primary figure to raw tungstenite's in the same layout (neighbour
    /// rows: to B alone on its runtime).
    fn ratio(&self, group: Group, layout: &str, client: &str) -> Option<f64> {
        let key = group.primary();
        let base = if group == Group::Neighbour {
            "nb-none"
        } else {
            "raw"
        };
        let raw = f(self.get(group, layout, base)?, key);
        let me = f(self.get(group, layout, client)?, key);
        let r = me / raw;
        r.is_finite().then_some(r)
    }

    /// The median over repeats of `client`'s primary figure divided by `base`'s in the same
    /// repeat. Repeats run interleaved, so each pair ran a few seconds apart: a change in the
    /// shared machine's speed between repeats (they come in modes here) hits both alike, where
    /// the ratio of the two medians can pair a fast-mode figure with a slow-mode one.
    fn paired_ratio(&self, group: Group, layout: &str, client: &str, base: &str) -> Option<f64> {
        self.paired_ratios(group, layout, client, base)
            .map(|r| r[r.len() / 2])
    }

    /// Every repeat's ratio (see [`Self::paired_ratio`]), sorted; `None` when there is none.
    fn paired_ratios(
        &self,
        group: Group,
        layout: &str,
        client: &str,
        base: &str,
    ) -> Option<Vec<f64>> {
        let key = group.primary();
        let series = |c: &str| -> Vec<Option<f64>> {
            self.samples
                .iter()
                .filter(|x| x.group == group && x.layout == layout && x.client == c)
                .map(|x| x.result.as_ref().ok().map(|v| f(v, key)))
                .collect()
        };
        let mut r: Vec<f64> = series(client)
            .into_iter()
            .zip(series(base))
            .filter_map(|(m, b)| Some(m? / b?))
            .filter(|r| r.is_finite())
            .collect();
        r.sort_by(f64::total_cmp);
        (!r.is_empty()).then_some(r)
    }

    fn evaluate(&self, _o: &Options) -> Vec<Value> {
        let mut t = Vec::new();
        let mut add =
            |name: &str, target: &str, value: Option<f64>, pass: Option<bool>, why: String| {
                let status = match pass {
                    Some(true) => "PASS",
                    Some(false) => "MISS",
                    None => "SKIP",
                };
                t.push(json!({
                    "target": name, "bound": target, "value": value, "status": status,
                    "note": if pass.is_none() { why } else { String::new() },
                }));
            };
        let pinned = "pinned";
        // Every ratio target also records each repeat's ratio (min, median, max in the table).
        let mut spreads: Vec<Option<Vec<f64>>> = Vec::new();
        for (client, bound, name) in [
            (
                "wsbeat-callback",
                1.05,
                "round-trip p50, reply in callback vs raw",
            ),
            ("wsbeat-channel", 1.15, "round-trip p50, channel vs raw"),
            (
                "wsbeat-forward",
                1.20,
                "round-trip p50, callback forwarding to a thread vs raw",
            ),
        ] {
            let all = self.paired_ratios(Group::Latency, pinned, client, "raw");
            let r = all.as_ref().map(|r| r[r.len() / 2]);
            spreads.push(all);
            add(
                name,
                &format!("<= {bound:.2}x"),
                r,
                r.map(|r| r <= bound),
                self.why(Group::Latency, pinned, client),
            );
        }
        for (g, bound, name) in [
            (
                Group::Throughput,
                0.8,
                "flood 64 B send_text_wait vs raw batched",
            ),
            (Group::Bulk, 0.9, "flood 1 MiB vs raw batched"),
        ] {
            let all = self.paired_ratios(g, pinned, "wsbeat", "raw");
            let r = all.as_ref().map(|r| r[r.len() / 2]);
            spreads.push(all);
            add(
                name,
                &format!(">= {bound:.2}x"),
                r,
                r.map(|r| r >= bound),
                self.why(g, pinned, "wsbeat"),
            );
        }
        for (g, rt, ded, what) in RUNTIME_ROWS {
            let all = self.paired_ratios(g, pinned, rt, ded);
            let r = all.as_ref().map(|r| r[r.len() / 2]);
            spreads.push(all);
            let (bound, pass) = if g == Group::Latency {
                (
                    format!("<= {RUNTIME_BOUND:.2}x"),
                    r.map(|r| r <= RUNTIME_BOUND),
                )
            } else {
                (
                    format!(">= {:.2}x (1/{RUNTIME_BOUND:.2})", 1.0 / RUNTIME_BOUND),
                    r.map(|r| r >= 1.0 / RUNTIME_BOUND),
                )
            };
            let why = if self.get(g, pinned, ded).is_none() {
                self.why(g, pinned, ded)
            } else {
                self.why(g, pinned, rt)
            };
            add(&runtime_name(rt, what), &bound, r, pass, why);
        }
        let speedup = self
            .paired_ratio(Group::Latency, pinned, "websocket-client", "py-ctypes")
            .filter(|_| self.get(Group::Latency, pinned, "py-ctypes").is_some());
        add(
            "RT p50 speed-up, Python ctypes pull vs websocket-client",
            ">= 2.00x",
            speedup,
            speedup.map(|s| s >= 2.0),
            self.why(Group::Latency, pinned, "py-ctypes"),
        );
        let speedup_cb = self
            .paired_ratio(
                Group::Latency,
                pinned,
                "websocket-client",
                "py-ctypes-callback",
            )
            .filter(|_| {
                self.get(Group::Latency, pinned, "py-ctypes-callback")
                    .is_some()
            });
        add(
            "RT p50 speed-up, Python ctypes callback vs websocket-client",
            ">= 2.00x",
            speedup_cb,
            speedup_cb.map(|s| s >= 2.0),
            self.why(Group::Latency, pinned, "py-ctypes-callback"),
        );
        for (mode, name) in [
            (
                "callback",
                "idle wake-ups per interval, callback, I/O thread",
            ),
            (
                "channel",
                "idle wake-ups per interval, channel, all threads",
            ),
            (
                "channel-pong",
                "idle wake-ups per interval, channel, pong_events(true)",
            ),
        ] {
            let idle = self.get(Group::Idle, "unpinned", mode);
            let w = idle.map(|v| f(v, "wakeups_per_interval"));
            add(
                name,
                "<= 2",
                w,
                w.map(|w| w <= 2.0),
                self.why(Group::Idle, "unpinned", mode),
            );
        }
        let det = self.get(Group::Detect, "unpinned", "callback");
        let d = det.map(|v| f(v, "max_ms"));
        let bound = det.map(|v| f(v, "bound_ms") + 50.0).unwrap_or(f64::NAN);
        add(
            "dead-peer detection, worst trial (ms)",
            &format!("<= {bound:.0} (interval + timeout + 50)"),
            d,
            d.map(|d| d <= bound),
            self.why(Group::Detect, "unpinned", "callback"),
        );
        for (mode, name) in [
            (
                "callback",
                "1,000 idle connections, callback mode: RSS (MiB)",
            ),
            (
                "channel",
                "1,000 idle connections, channel mode (default): RSS (MiB)",
            ),
        ] {
            let sc = self.get(Group::Scale, "unpinned", mode);
            let rss = sc.map(|v| f(v, "rss_kib") / 1024.0);
            add(
                name,
                "< 100",
                rss,
                rss.map(|r| r < 100.0),
                self.why(Group::Scale, "unpinned", mode),
            );
        }
        for (t, all) in t.iter_mut().zip(spreads) {
            if let Some(all) = all {
                t["min"] = json!(all[0]);
                t["max"] = json!(all[all.len() - 1]);
                t["repeats"] = json!(all);
            }
        }
        t
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.meta;
        let _ = writeln!(
            out,
            "\nwsbeat benchmarks, {} | {} CPUs, {} | load {} -> {} | {} run, median of {} repeat(s), {} s",
            m["date"].as_str().unwrap_or("?"),
            m["nproc"],
            m["cpu_model"].as_str().unwrap_or("?"),
            m["loadavg_start"].as_str().unwrap_or("?"),
            m["loadavg_end"].as_str().unwrap_or("?"),
            if m["quick"].as_bool() == Some(true) {
                "quick"
            } else {
                "full"
            },
            m["repeat"],
            m["duration_s"],
        );
        let layouts: Vec<String> = {
            let mut l: Vec<String> = Vec::new();
            for r in &self.rows {
                if !l.contains(&r.layout) && r.group <= Group::Neighbour {
                    l.push(r.layout.clone());
                }
            }
            l
        };
        for g in [
            Group::Latency,
            Group::Throughput,
            Group::Bulk,
            Group::Neighbour,
        ] {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.group == g).collect();
            let Some(first) = rows.iter().find_map(|r| r.value.as_ref().ok()) else {
                continue;
            };
            let n = first["n"].as_u64().unwrap_or(0);
            let (title, h1, h2, h3) = match g {
                Group::Latency => (
                    format!("Round trip: 64 B text, sequential echo, n={n}"),
                    "p50 us",
                    "p99 us",
                    "p50 / raw",
                ),
                Group::Neighbour => (
                    "Neighbour delay: B's round trips (channel) while A's callback sleeps D"
                        .to_string(),
                    "p50 us",
                    "p99 us",
                    "p50 / no A",
                ),
                Group::Throughput => (
                    format!("Throughput: {n} x 64 B text to a counting sink"),
                    "msgs/s",
                    "MB/s",
                    "vs raw",
                ),
                _ => (
                    format!("Throughput: {n} x 1 MiB binary to a counting sink"),
                    "msgs/s",
                    "MB/s",
                    "vs raw",
                ),
            };
            let _ = writeln!(out, "\n{title:<58} {h1:>10} {h2:>10} {h3:>10}");
            for layout in &layouts {
                for r in rows.iter().filter(|r| &r.layout == layout) {
                    let name = format!("  {:<9} {}", r.layout, r.label);
                    match &r.value {
                        Ok(v) => {
                            let (a, b) = match g {
                                Group::Latency | Group::Neighbour => {
                                    (f(v, "p50_us"), f(v, "p99_us"))
                                }
                                _ => (f(v, "msgs_per_s"), f(v, "mb_per_s")),
                            };
                            let ratio = self
                                .ratio(g, layout, &r.client)
                                .map(|x| format!("{x:.2}x"))
                                .unwrap_or_else(|| "-".into());
                            let fmt = |x: f64| {
                                if x >= 1000.0 {
                                    format!("{x:.0}")
                                } else {
                                    format!("{x:.1}")
                                }
                            };
                            let _ = writeln!(
                                out,
                                "{name:<58} {:>10} {:>10} {ratio:>10}",
                                fmt(a),
                                fmt(b)
                            );
                        }
                        Err(e) => {
                            let _ = writeln!(out, "{name:<58} {e}");
                        }
                    }
                }
            }
        }
        self.runtime_lines(&mut out, &layouts);
        self.single_lines(&mut out);
        let _ = writeln!(
            out,
            "\nTargets (pinned layout; ratios: the median of each repeat's pair (min-max over repeats))"
        );
        for t in &self.targets {
            let mut value = t["value"]
                .as_f64()
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into());
            if let (Some(lo), Some(hi)) = (t["min"].as_f64(), t["max"].as_f64()) {
                value = format!("{value} ({lo:.2}-{hi:.2})");
            }
            let note = t["note"].as_str().unwrap_or("");
            let _ = writeln!(
                out,
                "  {:<5} {:<58} {:>18}  target {}{}",
                t["status"].as_str().unwrap_or("?"),
                t["target"].as_str().unwrap_or("?"),
                value,
                t["bound"].as_str().unwrap_or("?"),
                if note.is_empty() {
                    String::new()
                } else {
                    format!("  [{note}]")
                },
            );
        }
        out
    }

    /// Runtime rows against the same client on its own thread, and the neighbour rows
    /// against B alone, in every layout: each repeat's ratio (sorted), min / median / max.
    fn runtime_lines(&self, out: &mut String, layouts: &[String]) {
        let fmt = |r: &[f64]| {
            let every: Vec<String> = r.iter().map(|x| format!("{x:.2}")).collect();
            format!(
                "{:.2} / {:.2} / {:.2}  [{}]",
                r[0],
                r[r.len() / 2],
                r[r.len() - 1],
                every.join(" ")
            )
        };
        let mut header = false;
        for layout in layouts {
            for (g, rt, ded, what) in RUNTIME_ROWS {
                let Some(r) = self.paired_ratios(g, layout, rt, ded) else {
                    continue;
                };
                if !header {
                    let _ = writeln!(
                        out,
                        "\nRuntime vs own thread, every repeat (round trip: p50 ratio, lower is \
                         better; flood: rate ratio, higher is better); min / median / max [all], \
                         then the runtime row's median ratio to raw"
                    );
                    header = true;
                }
                let raw = self
                    .paired_ratio(g, layout, rt, "raw")
                    .map(|x| format!("{x:.2}x raw"))
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "  {layout:<9} {:<62} {}  {raw}",
                    runtime_name(rt, what),
                    fmt(&r)
                );
            }
        }
        let mut header = false;
        for layout in layouts {
            for spec in crate::neighbour_clients() {
                let series = |k: &str| -> Vec<f64> {
                    self.samples
                        .iter()
                        .filter(|x| {
                            x.group == Group::Neighbour
                                && &x.layout == layout
                                && x.client == spec.id
                        })
                        .filter_map(|x| x.result.as_ref().ok().map(|v| f(v, k)))
                        .collect()
                };
                let (p50, p99) = (series("p50_us"), series("p99_us"));
                if p50.is_empty() {
                    continue;
                }
                if !header {
                    let _ = writeln!(
                        out,
                        "\nNeighbour delay, every repeat: B's p50 / p99 us (round trips in 2 s; \
                         share of B's round trips over 2 D; A's callback held the thread p50/p99 us)"
                    );
                    header = true;
                }
                let extra: Vec<String> = self
                    .samples
                    .iter()
                    .filter(|x| {
                        x.group == Group::Neighbour && &x.layout == layout && x.client == spec.id
                    })
                    .filter_map(|x| x.result.as_ref().ok())
                    .map(|v| {
                        let n = f(v, "n");
                        format!(
                            "n={n:.0} >2D={:.1}% A={:.0}/{:.0}",
                            f(v, "over_2d") / n * 100.0,
                            f(v, "a_held_p50_us"),
                            f(v, "a_held_p99_us")
                        )
                    })
                    .collect();
                let pairs: Vec<String> = p50
                    .iter()
                    .zip(&p99)
                    .map(|(a, b)| format!("{a:.0}/{b:.0}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "  {layout:<9} {:<46} {}  ({})",
                    spec.label,
                    pairs.join(" "),
                    extra.join("; ")
                );
            }
        }
    }

    fn single_lines(&self, out: &mut String) {
        let _ = writeln!(out, "\nIdle, faults, memory, scale (unpinned)");
        let line = |out: &mut String, name: &str, r: Result<String, String>| {
            let _ = writeln!(out, "  {name:<28} {}", r.unwrap_or_else(|e| e));
        };
        let one = |g: Group, client: &str| -> Result<&Value, String> {
            self.get(g, "unpinned", client)
                .ok_or_else(|| self.why(g, "unpinned", client))
        };
        for mode in ["callback", "channel", "channel-pong"] {
            if !self.rows.iter().any(|r| r.group == Group::Idle) {
                break;
            }
            line(
                out,
                &format!("idle, 1 s heartbeat, {mode}"),
                one(Group::Idle, mode).map(|v| {
                    format!(
                        "{:.2} wake-ups per interval (minimum 1) over {:.0} s, {} heartbeats; \
                         CPU of the threads counted {:.2} ms ({:.0} us per interval), process {:.0} ms",
                        f(v, "wakeups_per_interval"),
                        f(v, "window_s"),
                        v["heartbeats"],
                        f(v, "io_cpu_ms"),
                        f(v, "io_cpu_us_per_interval"),
                        f(v, "process_cpu_ms"),
                    )
                }),
            );
        }
        if self.rows.iter().any(|r| r.group == Group::Detect) {
            line(
                out,
                "dead-peer detection",
                one(Group::Detect, "callback").map(|v| {
                    format!(
                        "median {:.0} ms, max {:.0} ms over {} trials; bound interval {:.0} + \
                         timeout {:.0} = {:.0} ms",
                        f(v, "median_ms"),
                        f(v, "max_ms"),
                        v["trials"],
                        f(v, "interval_ms"),
                        f(v, "timeout_ms"),
                        f(v, "bound_ms"),
                    )
                }),
            );
        }
        if self.rows.iter().any(|r| r.group == Group::Reconnect) {
            line(
                out,
                "reconnect after restart",
                one(Group::Reconnect, "callback").map(|v| {
                    format!(
                        "median {:.1} ms, max {:.1} ms from server stop to open (backoff {:.0} ms: \
                         overhead {:.1} ms; loss noticed after {:.1} ms)",
                        f(v, "median_ms"),
                        f(v, "max_ms"),
                        f(v, "delay_ms"),
                        f(v, "overhead_median_ms"),
                        f(v, "loss_noticed_median_ms"),
                    )
                }),
            );
        }
        for mode in ["callback", "channel"] {
            if self.rows.iter().any(|r| r.group == Group::Memory) {
                line(
                    out,
                    &format!("memory, 1 client ({mode})"),
                    one(Group::Memory, mode).map(|v| {
                        format!(
                            "+{} KiB RSS ({} -> {} KiB)",
                            v["delta_kib"], v["rss_before_kib"], v["rss_after_kib"]
                        )
                    }),
                );
            }
        }
        for mode in ["callback", "channel", "channel-cap128"] {
            if self.rows.iter().any(|r| r.group == Group::Scale) {
                let name = match mode {
                    "channel-cap128" => "scale (channel, 128 events)".to_string(),
                    m => format!("scale ({m})"),
                };
                line(
                    out,
                    &name,
                    one(Group::Scale, mode).map(|v| {
                        format!(
                            "{} idle conns: RSS {:.1} MiB (+{:.1} MiB, {:.0} KiB/conn), \
                             {} threads, CPU {:.1}% of one core, {:.0} heartbeats/s, \
                             {} open, {} missed",
                            v["n"],
                            f(v, "rss_kib") / 1024.0,
                            f(v, "rss_delta_mib"),
                            f(v, "per_conn_kib"),
                            v["threads"],
                            f(v, "cpu_pct"),
                            f(v, "heartbeats_per_s"),
                            v["still_open"],
                            v["missed_heartbeats"],
                        )
                    }),
                );
            }
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "group": r.group.name(), "layout": r.layout, "client": r.client,
                    "label": r.label, "repeats": r.repeats,
                    "ratio_to_raw": self.ratio(r.group, &r.layout, &r.client),
                    "result": r.value.as_ref().ok(),
                    "skipped_or_failed": r.value.as_ref().err(),
                })
            })
            .collect();
        let samples: Vec<Value> = self
            .samples
            .iter()
            .map(|s| {
                json!({
                    "group": s.group.name(), "layout": s.layout, "client": s.client,
                    "result": s.result.as_ref().ok(), "error": s.result.as_ref().err(),
                })
            })
            .collect();
        let doc = json!({
            "meta": self.meta, "rows": rows, "targets": self.targets, "samples": samples,
            "table": self.table(),
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        let stamp = self.meta["stamp"].as_str().unwrap_or("run");
        let path = dir.join(format!("bench-{stamp}.json"));
        std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(dir.join("latest.json"), &text).map_err(|e| e.to_string())?;
        Ok(path)
    }
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// UTC date and time from the system clock (no date crate): "2026-11-26T02:35:00Z".
fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
    )
}

pub(crate) fn machine_meta(o: &Options) -> BTreeMap<String, Value> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let (date, stamp) = utc_now();
    let mut m = BTreeMap::new();
    m.insert("date".into(), json!(date));
    m.insert("stamp".into(), json!(stamp));
    m.insert("nproc".into(), json!(nproc));
    m.insert("cpu_model".into(), json!(cpu));
    m.insert("loadavg_start".into(), json!(loadavg()));
    m.insert("quick".into(), json!(o.quick));
    m.insert("repeat".into(), json!(o.repeat));
    m.insert("layouts".into(), json!(o.layouts));
    m.insert("wsbeat_version".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert(
        "params".into(),
        json!({
            "latency_n": o.lat_n, "latency_warmup": o.lat_warmup, "throughput_n": o.thr_n,
            "bulk_n": o.bulk_n, "idle_window_s": o.window, "detect_trials": o.detect_trials,
            "reconnect_trials": o.reconnect_trials, "scale_n": o.scale_n,
            "scale_window_s": o.scale_window,
        }),
    );
    m
}
