//! Happy Eyeballs (RFC 8305) end to end, in a private network namespace: the system resolver
//! (`getaddrinfo`, through a private `/etc/hosts`) gives a name an IPv6 address whose connects
//! hang and a working `127.0.0.1`; the connection must open within the 250 ms stagger, not
//! after the connect timeout. A name that resolves only to the black hole must fail with
//! `ConnectTimeout` after `connect_timeout`.
//!
//! Each test re-executes this test binary (itself, filtered to that one test) under
//! `unshare --net --mount` (`unshare -rnm` when not root), with `WSBEAT_IN_NETNS=1`. Inside:
//! `lo` up; a veth pair `he0`/`he1`, `2001:db8::1/64` on `he0` and a permanent neighbour entry
//! for `2001:db8::2` with a MAC nobody has, so SYNs to it leave and are never answered (a real
//! hang, checked before the client runs: a plain `connect_timeout` must time out); a private
//! hosts file bind-mounted over `/etc/hosts`; the test kit's echo server on 127.0.0.1.
//!
//! `unshare` (util-linux) and `ip` (iproute2) are needed; `scripts/tests.d/65-proxies.sh`
//! installs them. In CI (`CI=true`) or with `WSBEAT_NETNS_REQUIRED=1`, missing tools or a
//! namespace that cannot be made fail the test; elsewhere it prints SKIPPED.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use wsbeat::{Client, ErrorKind, Event, Proxy, Reconnect};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{Events, MARGIN, ms};

/// The black-holed address (IPv6 documentation prefix, on the veth inside the namespace).
const HOLE: &str = "2001:db8::2";
/// A name with the black hole first and 127.0.0.1 second, and one with the black hole only.
const DUAL: &str = "dual.wsbeat.test";
const HOLE_ONLY: &str = "hole.wsbeat.test";
/// The stagger wsbeat uses (RFC 8305's recommended Connection Attempt Delay).
const STAGGER: Duration = Duration::from_millis(250);

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(prog))
            .find(|p| p.is_file())
    })
}

fn required() -> bool {
    std::env::var_os("WSBEAT_NETNS_REQUIRED").is_some()
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip_or_fail(why: &str) {
    if required() {
        panic!("{why} (scripts/tests.d/65-proxies.sh installs iproute2 and util-linux)");
    }
    println!("SKIPPED: {why}");
}

fn is_root() -> bool {
    // The effective uid, from /proc (no libc call in this crate's tests).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Outside the namespace: run `test` (this file's test of that name) inside a new one and
/// check that it ran and passed. Inside: run `body`.
fn in_netns(test: &str, body: impl FnOnce()) {
    if std::env::var_os("WSBEAT_IN_NETNS").is_some() {
        setup_namespace();
        body();
        return;
    }
    for prog in ["unshare", "ip", "mount"] {
        if which(prog).is_none() {
            return skip_or_fail(&format!("{prog} is not installed"));
        }
    }
    let flags = if is_root() { "-nm" } else { "-rnm" };
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .arg(flags)
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("WSBEAT_IN_NETNS", "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("unshare failed") {
        // No permission for namespaces (an unprivileged container, user namespaces off).
        return skip_or_fail(&format!(
            "cannot create a network namespace: {}",
            stderr.trim()
        ));
    }
    assert!(
        out.status.success(),
        "inside the namespace the test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // It must really have run that one test, not filtered everything away.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the test did not run inside the namespace:\n{stdout}\n{stderr}"
    );
    print!("{stdout}");
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Inside the new namespaces: loopback, the black hole, the private hosts file.
fn setup_namespace() {
    run(&["ip", "link", "set", "lo", "up"]);
    run(&[
        "ip", "link", "add", "he0", "type", "veth", "peer", "name", "he1",
    ]);
    run(&["ip", "link", "set", "he1", "up"]);
    run(&["ip", "link", "set", "he0", "up"]);
    run(&[
        "ip",
        "-6",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        "he0",
        "nodad",
    ]);
    // A neighbour that never needs resolving (no NDP failure after 3 s): SYNs go out to a
    // MAC nobody has and are never answered.
    run(&[
        "ip",
        "-6",
        "neigh",
        "replace",
        HOLE,
        "lladdr",
        "02:00:00:00:00:02",
        "dev",
        "he0",
        "nud",
        "permanent",
    ]);
    let dir = std::env::temp_dir().join(format!("wsbeat-netns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        format!(
            "127.0.0.1 localhost\n::1 localhost\n\
             {HOLE} {DUAL}\n127.0.0.1 {DUAL}\n{HOLE} {HOLE_ONLY}\n"
        ),
    )
    .unwrap();
    // `unshare --mount` makes the new mount namespace private: this is seen here only.
    run(&["mount", "--bind", hosts.to_str().unwrap(), "/etc/hosts"]);
    assert_black_hole();
}

/// The address really hangs (a refusal or an unreachable network would make the tests
/// below pass for the wrong reason, or fail them at once).
fn assert_black_hole() {
    let hole = SocketAddr::new(HOLE.parse().unwrap(), 9);
    // The link may take a moment to come up: an immediate "unreachable" is retried, briefly.
    let until = Instant::now() + ms(3000);
    loop {
        let t0 = Instant::now();
        match TcpStream::connect_timeout(&hole, ms(500)) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                assert!(
                    t0.elapsed() >= ms(450),
                    "timed out early: {:?}",
                    t0.elapsed()
                );
                return;
            }
            Ok(_) => panic!("{hole} accepted a connection: not a black hole"),
            Err(e) => {
                assert!(Instant::now() < until, "{hole} is not a black hole: {e}");
                std::thread::sleep(ms(50));
            }
        }
    }
}

/// What `getaddrinfo` says for `name` (the resolver wsbeat uses by default).
fn resolved(name: &str) -> Vec<SocketAddr> {
    (name, 80).to_socket_addrs().unwrap().collect()
}

#[test]
fn a_name_with_a_black_holed_ipv6_address_opens_over_ipv4_within_the_stagger() {
    in_netns(
        "a_name_with_a_black_holed_ipv6_address_opens_over_ipv4_within_the_stagger",
        || {
            // Preconditions: the system resolver reads our hosts file and ranks the black
            // hole first (so Happy Eyeballs, not the order, is what saves the connection).
            let addrs = resolved(DUAL);
            assert_eq!(
                addrs.first().map(|a| a.ip().to_string()).as_deref(),
                Some(HOLE),
                "{addrs:?}"
            );
            assert!(
                addrs.iter().any(|a| a.ip().to_string() == "127.0.0.1"),
                "{addrs:?}"
            );
            let server = EchoServer::start("127.0.0.1:0").unwrap();
            let port = server.local_addr().port();
            let t0 = Instant::now();
            let client = Client::builder(format!("ws://{DUAL}:{port}/"))
                .proxy(Proxy::none())
                .connect_timeout(ms(10_000))
                .reconnect(Reconnect::disabled())
                .connect()
                .unwrap();
            let mut ev = Events::new(client.events().unwrap());
            let (t, _) = ev.wait(ms(5000), |e| {
                matches!(e, Event::Opened { .. } | Event::Error { .. })
            });
            let took = t - t0;
            assert!(
                matches!(ev.seen.last(), Some((_, Event::Opened { .. }))),
                "{:?}",
                ev.seen
            );
            // The IPv6 attempt went first and held it for the stagger; IPv4 then won at once.
            assert!(
                took >= STAGGER - ms(50),
                "opened before the stagger: {took:?}"
            );
            assert!(took < STAGGER + ms(1500), "opened after {took:?}");
            // The server listens on 127.0.0.1 only: the connection that opened is IPv4's.
            assert_eq!(server.accepted(), 1);
            println!("opened over 127.0.0.1 after {took:?} (the stagger is {STAGGER:?})");
            client.close(1000, "done").unwrap();
            ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
        },
    );
}

#[test]
fn a_name_with_only_the_black_hole_times_out_after_connect_timeout() {
    in_netns(
        "a_name_with_only_the_black_hole_times_out_after_connect_timeout",
        || {
            let addrs = resolved(HOLE_ONLY);
            assert!(
                !addrs.is_empty() && addrs.iter().all(|a| a.ip().to_string() == HOLE),
                "{addrs:?}"
            );
            let timeout = ms(1200);
            let t0 = Instant::now();
            let client = Client::builder(format!("ws://{HOLE_ONLY}:9/"))
                .proxy(Proxy::none())
                .connect_timeout(timeout)
                .reconnect(Reconnect::disabled())
                .connect()
                .unwrap();
            let mut ev = Events::new(client.events().unwrap());
            let (t, e) = ev.wait(ms(5000), |e| {
                matches!(e, Event::Opened { .. } | Event::Error { .. })
            });
            let took = t - t0;
            let Event::Error { kind, message } = e else {
                panic!("opened a black hole: {e:?}")
            };
            assert_eq!(kind, ErrorKind::ConnectTimeout, "{message}");
            assert!(message.contains("TCP connect"), "{message}");
            assert!(took >= timeout - ms(50), "gave up early: {took:?}");
            assert!(took < timeout + MARGIN, "gave up late: {took:?}");
            ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
            drop(client);
        },
    );
}
