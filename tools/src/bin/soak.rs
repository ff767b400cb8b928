//! Soak: hours of a flapping path with steady traffic, printing counters. Not run in CI.
//!
//! ```text
//! cargo run --release -p wsbeat-tools --bin soak -- --minutes 60 [--seed 1] [--rate-ms 10]
//! ```
//! One client talks through the test fault proxy to an in-process echo server. Every few
//! seconds a random fault hits the path (black hole, RST cut, FIN cut, refusal for a while,
//! added delay); a numbered message goes out every `--rate-ms`. Every 10 s a line of counters
//! is printed: opens, faults, sent, echoed, reported back, lost without report, duplicates,
//! reorders, outbox, threads, fds, RSS. Exits 1 if a duplicate or reorder was seen, or if
//! threads/fds/RSS grew past their bounds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat, Message, Reconnect};
use wsbeat_testkit::proxy::FaultProxy;
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{fd_count, ms, rss_kib, thread_count};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} needs a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let minutes = arg("--minutes", 1);
    let seed = arg("--seed", 1);
    let rate = ms(arg("--rate-ms", 10).max(1));
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let mut proxy = FaultProxy::start(server.local_addr()).unwrap();
    let client = Client::builder(proxy.url())
        .heartbeat(Heartbeat::ping(ms(500), ms(300)))
        .reconnect(
            Reconnect::exponential()
                .initial(ms(50))
                .max(ms(1000))
                .min_uptime(ms(2000)),
        )
        .connect_timeout(ms(1000))
        .close_timeout(ms(500))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = Instant::now();
    let end = start + Duration::from_secs(minutes * 60);
    let (mut sent, mut echoed, mut reported, mut lost, mut dups, mut reorders) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut opens, mut faults, mut refused_sends) = (0u64, 0u64, 0u64);
    let mut outstanding = BTreeSet::new();
    let mut last_echo: Option<u64> = None;
    let mut next_send = Instant::now();
    let mut next_fault = Instant::now() + ms(3000);
    let mut heal_at: Option<Instant> = None;
    let mut next_print = Instant::now() + ms(10_000);
    let mut baseline = None;
    let mut failed = false;
    println!("soak: {minutes} min, seed {seed}, one message every {rate:?}");
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_send {
            match client.send_text(sent.to_string()) {
                Ok(()) => {
                    outstanding.insert(sent);
                    sent += 1;
                }
                Err(_) => refused_sends += 1,
            }
            next_send += rate;
        }
        if let Some(at) = heal_at
            && now >= at
        {
            proxy.blackhole(false);
            proxy.delay(Duration::ZERO);
            proxy.accept().unwrap();
            heal_at = None;
        }
        if now >= next_fault && heal_at.is_none() {
            faults += 1;
            match rng.u8(..5) {
                0 => proxy.blackhole(true),
                1 => proxy.cut_rst(),
                2 => proxy.cut_fin(),
                3 => {
                    proxy.refuse();
                    proxy.cut_fin();
                }
                _ => proxy.delay(ms(rng.u64(5..50))),
            }
            heal_at = Some(now + ms(rng.u64(200..2000)));
            next_fault = now + ms(rng.u64(2000..6000));
        }
        if now >= next_print {
            next_print += ms(10_000);
            let (t, f, r) = (thread_count(), fd_count(), rss_kib());
            println!(
                "{:>6.0}s opens {opens} faults {faults} sent {sent} echoed {echoed} reported {reported} \
                 lost {lost} dup {dups} reorder {reorders} refused {refused_sends} outbox {} \
                 threads {t} fds {f} rss {r} KiB",
                start.elapsed().as_secs_f64(),
                client.stats().outbox_len,
            );
            let base = *baseline.get_or_insert((t, f, r));
            if t > base.0 + 4 || f > base.1 + 16 || r > base.2 + 64 * 1024 {
                println!("RESOURCE GROWTH: baseline {base:?}, now {:?}", (t, f, r));
                failed = true;
            }
        }
        let wait = next_send.saturating_duration_since(Instant::now());
        let Ok(ev) = rx.recv_timeout(wait) else {
            continue;
        };
        match ev {
            Event::Opened { .. } => opens += 1,
            Event::Text(t) => {
                let id: u64 = t.parse().unwrap();
                echoed += 1;
                if !outstanding.remove(&id) {
                    dups += 1;
                }
                if last_echo.is_some_and(|l| id < l) {
                    reorders += 1;
                }
                last_echo = Some(id);
                // Everything older still outstanding was lost on the way (not reported).
                let older: Vec<u64> = outstanding.range(..id).copied().collect();
                for o in older {
                    outstanding.remove(&o);
                    lost += 1;
                }
            }
            Event::Closed { unconfirmed, .. } => {
                for m in unconfirmed {
                    if let Message::Text(t) = m
                        && outstanding.remove(&t.parse().unwrap())
                    {
                        reported += 1;
                    }
                }
            }
            _ => {}
        }
    }
    client.close(1000, "soak done").unwrap();
    drop(proxy);
    println!(
        "done: opens {opens} faults {faults} sent {sent} echoed {echoed} reported {reported} \
         lost {lost} dup {dups} reorder {reorders} still-outstanding {}",
        outstanding.len()
    );
    if dups > 0 || reorders > 0 || failed {
        std::process::exit(1);
    }
}
