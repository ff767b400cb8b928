//! Through real proxy servers: tinyproxy (HTTP CONNECT with Basic auth), microsocks (SOCKS5
//! with and without username/password) and stunnel terminating TLS in front of tinyproxy (an
//! `https://` proxy, with a certificate the test makes), each started by the test on an
//! ephemeral loopback port with a generated configuration and stopped by PID. ws:// and
//! wss:// (TLS to the server inside the tunnel; through the `https://` proxy, TLS inside TLS),
//! the heartbeat through the tunnel, a server restart behind the proxy and a proxy restart.
//!
//! `scripts/tests.d/65-proxies.sh` installs the servers and runs this file with
//! `WSBEAT_PROXIES_REQUIRED=1`: a missing server then fails the test. Without it (a plain
//! `cargo test` on a machine without them) each test prints SKIPPED.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use wsbeat::{Client, ClientBuilder, ErrorKind, Event, Proxy, TlsOptions};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::tls_server::{TlsEchoServer, server_config};
use wsbeat_testkit::{Events, fast_reconnect, heartbeat, ms, serial};

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(prog))
            .find(|p| p.is_file())
    })
}

fn required() -> bool {
    std::env::var_os("WSBEAT_PROXIES_REQUIRED").is_some()
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The program's path, or `None` after printing SKIPPED (a panic when required).
fn program(prog: &str) -> Option<PathBuf> {
    match which(prog) {
        Some(p) => Some(p),
        None if required() => {
            panic!("{prog} is not installed (scripts/tests.d/65-proxies.sh installs it)")
        }
        None => {
            println!("SKIPPED: {prog} is not installed (run scripts/tests.d/65-proxies.sh)");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy server process, killed (by PID) on drop.
struct Daemon {
    child: Child,
    prog: PathBuf,
    args: Vec<String>,
    port: u16,
    _dir: Option<TempDir>,
}

impl Daemon {
    fn spawn(prog: PathBuf, args: Vec<String>, port: u16, dir: Option<TempDir>) -> Daemon {
        let child = Command::new(&prog)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", prog.display()));
        let d = Daemon {
            child,
            prog,
            args,
            port,
            _dir: dir,
        };
        d.wait_listening();
        d
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn wait_listening(&self) {
        let until = Instant::now() + ms(10_000);
        while TcpStream::connect_timeout(&self.addr(), ms(200)).is_err() {
            assert!(
                Instant::now() < until,
                "{} did not listen on {}",
                self.prog.display(),
                self.addr()
            );
            std::thread::sleep(ms(20));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.stop();
        self.child = Command::new(&self.prog)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.wait_listening();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "wsbeat-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// tinyproxy on 127.0.0.1 with Basic auth `user:pass` (or none).
fn tinyproxy(auth: Option<(&str, &str)>) -> Option<Daemon> {
    let prog = program("tinyproxy")?;
    let port = free_port();
    let dir = TempDir::new("tinyproxy");
    let conf = dir.0.join("tinyproxy.conf");
    let mut text = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nLogLevel Warning\n\
         DisableViaHeader Yes\n"
    );
    // As root tinyproxy drops privileges; it needs none here.
    if nix_root() {
        text.push_str("User nobody\nGroup nogroup\n");
    }
    if let Some((u, p)) = auth {
        text.push_str(&format!("BasicAuth {u} {p}\n"));
    }
    std::fs::write(&conf, text).unwrap();
    let args = vec!["-d".into(), "-c".into(), conf.display().to_string()];
    Some(Daemon::spawn(prog, args, port, Some(dir)))
}

fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// microsocks on 127.0.0.1, with username/password or none.
fn microsocks(auth: Option<(&str, &str)>) -> Option<Daemon> {
    let prog = program("microsocks")?;
    let port = free_port();
    let mut args = vec![
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
    ];
    if let Some((u, p)) = auth {
        args.extend(["-u".into(), u.into(), "-P".into(), p.into()]);
    }
    Some(Daemon::spawn(prog, args, port, None))
}

fn start(
    url: &str,
    proxy: &str,
    f: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (Client, Events) {
    let b = Client::builder(url)
        .pong_events(true)
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect_timeout(ms(3000))
        .close_timeout(ms(500))
        .proxy(Proxy::url(proxy).unwrap());
    let client = f(b).connect().unwrap();
    let ev = Events::new(client.events().unwrap());
    (client, ev)
}

fn is_open(e: &Event) -> bool {
    matches!(e, Event::Opened { .. })
}

/// Open, echo a message, see two heartbeats answered through the tunnel.
fn echo_and_heartbeat(client: &Client, ev: &mut Events, tag: &str) {
    ev.wait(ms(5000), is_open);
    client.send_text(tag).unwrap();
    let want = tag.to_owned();
    ev.wait(ms(5000), move |e| matches!(e, Event::Text(t) if *t == want));
    ev.wait(ms(3000), |e| matches!(e, Event::Pong { .. }));
    ev.wait(ms(3000), |e| matches!(e, Event::Pong { .. }));
}

fn finish(client: Client, ev: &mut Events) {
    client.close(1000, "done").unwrap();
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
}

/// A test CA's PEM and a `localhost`/127.0.0.1 certificate (PEM) and key (PEM) signed by it.
fn ca_and_leaf(cn: &str) -> (String, String, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = p.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(p, ca_key);
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

/// A CA and a `localhost`/127.0.0.1 server certificate signed by it.
fn tls_server() -> (TlsEchoServer, TlsOptions) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "wsbeat proxy test CA");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = p.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(p, ca_key);
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let server = TlsEchoServer::start(server_config(&cert.pem(), &key.serialize_pem(), None));
    let tls = TlsOptions::default()
        .add_ca_pem(ca_pem)
        .without_bundled_roots();
    (server, tls)
}

// ---- HTTP CONNECT: tinyproxy ---------------------------------------------------------------

#[test]
fn ws_through_tinyproxy_with_basic_auth_and_a_server_restart_behind_it() {
    let _s = serial();
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = format!("http://alice:s3cret@{}", proxy.addr());
    let (client, mut ev) = start(&server.url(), &url, |b| b);
    echo_and_heartbeat(&client, &mut ev, "via tinyproxy");
    server.restart().unwrap();
    ev.wait(ms(5000), |e| matches!(e, Event::Closed { .. }));
    ev.wait(ms(10_000), |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    client.send_text("after the restart").unwrap();
    ev.wait(
        ms(5000),
        |e| matches!(e, Event::Text(t) if t == "after the restart"),
    );
    finish(client, &mut ev);
    assert!(
        ev.seen
            .iter()
            .all(|(_, e)| !format!("{e:?}").contains("s3cret"))
    );
}

#[test]
fn wss_through_tinyproxy_runs_tls_inside_the_tunnel() {
    let _s = serial();
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let (server, tls) = tls_server();
    let url = format!("http://alice:s3cret@{}", proxy.addr());
    let (client, mut ev) = start(&server.url("localhost"), &url, |b| b.tls(tls));
    echo_and_heartbeat(&client, &mut ev, "wss via tinyproxy");
    assert_eq!(server.last_sni().as_deref(), Some("localhost"));
    finish(client, &mut ev);
}

#[test]
fn tinyproxy_refusing_the_credentials_is_a_proxy_auth_error_not_retried() {
    let _s = serial();
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    for url in [
        format!("http://alice:wrong@{}", proxy.addr()),
        format!("http://{}", proxy.addr()),
    ] {
        let (client, mut ev) = start(&server.url(), &url, |b| b);
        let (_, e) = ev.wait(ms(5000), |e| {
            matches!(
                e,
                Event::Error {
                    kind: ErrorKind::ProxyAuth,
                    ..
                }
            )
        });
        assert!(!format!("{e:?}").contains("wrong"), "{e:?}");
        ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
        assert_eq!(ev.count(|e| matches!(e, Event::Connecting { .. })), 1);
        drop(client);
    }
    assert_eq!(server.accepted(), 0);
}

// ---- SOCKS5: microsocks --------------------------------------------------------------------

#[test]
fn ws_through_microsocks_without_auth_by_address_and_by_name() {
    let _s = serial();
    let Some(proxy) = microsocks(None) else {
        return;
    };
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let port = server.local_addr().port();
    for (target, scheme) in [
        (format!("ws://127.0.0.1:{port}"), "socks5"),
        (format!("ws://localhost:{port}"), "socks5"),
        (format!("ws://localhost:{port}"), "socks5h"),
    ] {
        let (client, mut ev) = start(&target, &format!("{scheme}://{}", proxy.addr()), |b| b);
        echo_and_heartbeat(&client, &mut ev, &format!("{scheme} {target}"));
        finish(client, &mut ev);
    }
}

#[test]
fn ws_and_wss_through_microsocks_with_auth_and_a_proxy_restart() {
    let _s = serial();
    let Some(mut proxy) = microsocks(Some(("bob", "pa55"))) else {
        return;
    };
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = format!("socks5://bob:pa55@{}", proxy.addr());
    let (client, mut ev) = start(&server.url(), &url, |b| b);
    echo_and_heartbeat(&client, &mut ev, "via microsocks");
    // The proxy goes away: the connection is lost (heartbeat or reset), attempts fail while
    // it is down, and the client reconnects through it once it is back.
    proxy.stop();
    ev.wait(ms(5000), |e| matches!(e, Event::Closed { .. }));
    ev.wait(ms(5000), |e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::Proxy,
                ..
            }
        )
    });
    proxy.restart();
    ev.wait(ms(10_000), |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    client.send_text("after the proxy restart").unwrap();
    ev.wait(
        ms(5000),
        |e| matches!(e, Event::Text(t) if t == "after the proxy restart"),
    );
    finish(client, &mut ev);

    let (tls_server, tls) = tls_server();
    let url = format!("socks5h://bob:pa55@{}", proxy.addr());
    let (client, mut ev) = start(&tls_server.url("localhost"), &url, |b| b.tls(tls));
    echo_and_heartbeat(&client, &mut ev, "wss via microsocks");
    finish(client, &mut ev);
}

#[test]
fn microsocks_refusing_the_credentials_is_a_proxy_auth_error() {
    let _s = serial();
    let Some(proxy) = microsocks(Some(("bob", "pa55"))) else {
        return;
    };
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    for url in [
        format!("socks5://bob:nope@{}", proxy.addr()),
        format!("socks5://{}", proxy.addr()),
    ] {
        let (client, mut ev) = start(&server.url(), &url, |b| b);
        ev.wait(ms(5000), |e| {
            matches!(
                e,
                Event::Error {
                    kind: ErrorKind::ProxyAuth,
                    ..
                }
            )
        });
        ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
        drop(client);
    }
    assert_eq!(server.accepted(), 0);
}

// ---- HTTPS proxy: stunnel (TLS) in front of tinyproxy --------------------------------------

/// An `https://` proxy: stunnel on 127.0.0.1 terminating TLS (a certificate for 127.0.0.1
/// from a CA made here) and forwarding to `upstream` (tinyproxy). Also the CA's PEM.
fn stunnel(upstream: &Daemon) -> Option<(Daemon, String)> {
    let prog = match which("stunnel4").or_else(|| which("stunnel")) {
        Some(p) => p,
        None => program("stunnel4")?, // SKIPPED, or a panic when required
    };
    let (ca, cert, key) = ca_and_leaf("wsbeat https proxy test CA");
    let port = free_port();
    let dir = TempDir::new("stunnel");
    let (cert_file, key_file) = (dir.0.join("proxy.crt"), dir.0.join("proxy.key"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let conf = dir.0.join("stunnel.conf");
    let text = format!(
        "foreground = yes\npid =\ndebug = 2\n[https-proxy]\naccept = 127.0.0.1:{port}\n\
         connect = {}\ncert = {}\nkey = {}\n",
        upstream.addr(),
        cert_file.display(),
        key_file.display()
    );
    std::fs::write(&conf, text).unwrap();
    let args = vec![conf.display().to_string()];
    Some((Daemon::spawn(prog, args, port, Some(dir)), ca))
}

#[test]
fn ws_and_wss_through_an_https_proxy_stunnel_in_front_of_tinyproxy_with_basic_auth() {
    let _s = serial();
    let Some(tiny) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let Some((proxy, proxy_ca)) = stunnel(&tiny) else {
        return;
    };
    let url = format!("https://alice:s3cret@{}", proxy.addr());
    // Every TLS backend this build has (65-proxies.sh also runs this with native-tls).
    for &backend in TlsOptions::backends() {
        let native = backend == "native-tls";
        // ws://: TLS to the proxy only (its certificate trusted through the CA option).
        let server = EchoServer::start("127.0.0.1:0").unwrap();
        let trust_proxy = TlsOptions::default()
            .add_ca_pem(proxy_ca.clone())
            .without_bundled_roots()
            .use_native_tls(native);
        let (client, mut ev) = start(&server.url(), &url, |b| b.tls(trust_proxy));
        echo_and_heartbeat(
            &client,
            &mut ev,
            &format!("ws via an https proxy ({backend})"),
        );
        finish(client, &mut ev);
        assert_eq!(server.accepted(), 1);
        // wss://: TLS to the server inside the tunnel inside TLS to the proxy.
        let (tls_server, tls) = tls_server();
        let tls = tls.add_ca_pem(proxy_ca.clone()).use_native_tls(native);
        let (client, mut ev) = start(&tls_server.url("localhost"), &url, |b| b.tls(tls));
        echo_and_heartbeat(
            &client,
            &mut ev,
            &format!("wss via an https proxy ({backend})"),
        );
        // The server's name, not the proxy's, inside the tunnel.
        assert_eq!(tls_server.last_sni().as_deref(), Some("localhost"));
        finish(client, &mut ev);
        assert!(
            ev.seen
                .iter()
                .all(|(_, e)| !format!("{e:?}").contains("s3cret"))
        );
    }
}

#[test]
fn an_https_proxy_refusing_the_credentials_is_a_proxy_auth_error_not_retried() {
    let _s = serial();
    let Some(tiny) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    let Some((proxy, proxy_ca)) = stunnel(&tiny) else {
        return;
    };
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let tls = TlsOptions::default()
        .add_ca_pem(proxy_ca)
        .without_bundled_roots();
    let url = format!("https://alice:wrong@{}", proxy.addr());
    let (client, mut ev) = start(&server.url(), &url, |b| b.tls(tls));
    let (_, e) = ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
    assert!(
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::ProxyAuth,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{e:?}").contains("wrong"), "{e:?}");
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert_eq!(ev.count(|e| matches!(e, Event::Connecting { .. })), 1);
    drop(client);
    assert_eq!(server.accepted(), 0);
}

#[test]
fn an_https_proxy_with_an_untrusted_certificate_is_a_certificate_error_naming_the_proxy() {
    let _s = serial();
    let Some(tiny) = tinyproxy(None) else {
        return;
    };
    let Some((proxy, _proxy_ca)) = stunnel(&tiny) else {
        return;
    };
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    // Another CA: the proxy's certificate is not trusted.
    let (other_ca, _, _) = ca_and_leaf("some other CA");
    for &backend in TlsOptions::backends() {
        let tls = TlsOptions::default()
            .add_ca_pem(other_ca.clone())
            .without_bundled_roots()
            .use_native_tls(backend == "native-tls");
        let url = format!("https://{}", proxy.addr());
        let (client, mut ev) = start(&server.url(), &url, |b| b.tls(tls));
        let (_, e) = ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
        let Event::Error { kind, message } = e else {
            unreachable!()
        };
        assert_eq!(kind, ErrorKind::Certificate, "{backend}: {message}");
        assert!(
            message.contains(&format!("proxy https://{}", proxy.addr())),
            "{message}"
        );
        assert!(message.contains("unknown issuer"), "{backend}: {message}");
        // Certificate errors are not retried by default.
        ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
        assert_eq!(ev.count(|e| matches!(e, Event::Connecting { .. })), 1);
        drop(client);
    }
    assert_eq!(server.accepted(), 0);
}
