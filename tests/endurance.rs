//! Endurance: thousands of connect / drop / reconnect cycles in one process. Threads, open
//! descriptors and resident memory (read from /proc) must stay flat.
//!
//! The long version is `cargo run --release -p wsbeat-tools --bin soak -- --minutes N`.

use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat, Reconnect};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{Events, fd_count, ms, rss_kib, serial, thread_count, threads_named};

#[derive(Debug, Clone, Copy)]
struct Usage {
    threads: usize,
    fds: usize,
    rss_kib: u64,
}

fn usage() -> Usage {
    Usage {
        threads: thread_count(),
        fds: fd_count(),
        rss_kib: rss_kib(),
    }
}

/// The `wsbeat-io` threads still listed after the last client was dropped. Dropping joins the
/// I/O thread, but the kernel wakes the joiner just before it removes the exited thread from
/// `/proc/self/task` (measured: up to about 3 ms later), so a leftover gets up to 1 s.
fn io_threads_after_drop() -> usize {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let n = threads_named("wsbeat-io");
        if n == 0 || Instant::now() > until {
            return n;
        }
        std::thread::sleep(ms(1));
    }
}

/// Wait (bounded) until server-side connection threads of finished cycles have exited.
fn settle(base: Usage) -> Usage {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let u = usage();
        if (u.threads <= base.threads + 2 && u.fds <= base.fds + 4) || Instant::now() > until {
            return u;
        }
        std::thread::sleep(ms(20));
    }
}

fn assert_flat(what: &str, base: Usage, end: Usage) {
    eprintln!("{what}: start {base:?}, end {end:?}");
    assert!(
        end.threads <= base.threads + 2,
        "{what}: threads {} -> {}",
        base.threads,
        end.threads
    );
    assert!(
        end.fds <= base.fds + 4,
        "{what}: fds {} -> {}",
        base.fds,
        end.fds
    );
    assert!(
        end.rss_kib <= base.rss_kib + 16 * 1024,
        "{what}: RSS {} KiB -> {} KiB",
        base.rss_kib,
        end.rss_kib
    );
}

/// One client, 3000 drops: 3 of 4 are our own `reconnect_now`, 1 of 4 the server cutting the
/// connection (close 1001). Measured after a warm-up of 300 cycles.
#[test]
fn three_thousand_reconnect_cycles_stay_flat() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(1000), ms(500)))
        .reconnect(
            Reconnect::exponential()
                .initial(ms(1))
                .max(ms(2))
                .jitter(0.0),
        )
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    const WARMUP: usize = 300;
    const CYCLES: usize = 3000;
    let mut base = None;
    let started = Instant::now();
    for i in 0..CYCLES {
        if i == WARMUP {
            base = Some(settle(usage()));
        }
        if i % 4 == 3 {
            server.close_all(1001, "cycle");
        } else {
            client.reconnect_now().unwrap();
        }
        // Collect only what this cycle produces so `ev.seen` stays small.
        ev.seen.clear();
        ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
        if i % 100 == 0 {
            let t = format!("c{i}");
            client.send_text(t.clone()).unwrap();
            ev.wait(ms(5000), |e| matches!(e, Event::Text(x) if *x == t));
        }
        assert!(started.elapsed() < Duration::from_secs(120), "too slow");
    }
    let end = settle(base.unwrap());
    let stats = client.stats();
    assert_eq!(stats.connects, CYCLES as u64 + 1);
    assert_eq!(server.accepted(), CYCLES + 1, "one TCP connection per open");
    assert_flat("reconnect cycles", base.unwrap(), end);
    drop(client);
    assert_eq!(io_threads_after_drop(), 0);
}

/// 300 clients started and dropped one after another (each opens, echoes, is dropped):
/// every I/O thread, poller and socket is released.
#[test]
fn three_hundred_clients_come_and_go() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let mut base = None;
    for i in 0..300 {
        if i == 30 {
            base = Some(settle(usage()));
        }
        let client = Client::builder(server.url())
            .heartbeat(Heartbeat::ping(ms(1000), ms(500)))
            .connect()
            .unwrap();
        let mut ev = Events::new(client.events().unwrap());
        ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
        client.send_text("x").unwrap();
        ev.wait(ms(5000), |e| matches!(e, Event::Text(_)));
        if i % 2 == 0 {
            client.close(1000, "bye").unwrap();
        }
        drop(client);
        assert_eq!(io_threads_after_drop(), 0, "client {i} left its thread");
    }
    let end = settle(base.unwrap());
    assert_flat("clients", base.unwrap(), end);
}
