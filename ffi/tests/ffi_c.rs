//! The C ABI from C and C++: compiles `ffi/tests/c/*.c` and the examples with gcc/g++ against
//! `include/wsbeat.h` and the cdylib, and runs them against the in-process `EchoServer`.
//!
//! `WSBEAT_VALGRIND=1` runs the C test under `valgrind --error-exitcode=1 --leak-check=full`
//! (what `scripts/tests.d/30-c.sh` does).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use wsbeat_testkit::server::EchoServer;

/// The repository root (the header is in `include/`, the examples in `examples/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ffi/ is inside the repository")
        .to_path_buf()
}

/// This crate's directory (its C tests are in `ffi/tests/c/`).
fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding `libwsbeat.so` (target/<profile>), next to this test's `deps/`.
///
/// `cargo test` builds the library only as an rlib for the tests, so the first call runs
/// `cargo build --lib` (same target directory and profile) to bring the cdylib up to date.
fn lib_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>/deps/<test>")
                .to_path_buf();
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .current_dir(crate_dir())
                .args(["build", "--lib", "--quiet"]);
            if let Some(target) = dir.parent() {
                cargo.env("CARGO_TARGET_DIR", target);
            }
            if dir.file_name().is_some_and(|n| n == "release") {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("run cargo build --lib");
            assert!(status.success(), "cargo build --lib failed");
            assert!(
                dir.join("libwsbeat.so").exists(),
                "{} has no libwsbeat.so",
                dir.display()
            );
            // The library's SONAME is libwsbeat.so.<sover> (build.rs): programs linked against
            // it look for that name, which an install provides as a symlink; so does this.
            let soname = format!("libwsbeat.so.{}", env!("WSBEAT_SOVERSION"));
            let link = dir.join(&soname);
            if std::fs::read_link(&link).ok().as_deref() != Some(Path::new("libwsbeat.so")) {
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink("libwsbeat.so", &link)
                    .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
            }
            dir
        })
        .clone()
}

fn out_dir() -> PathBuf {
    let d = lib_dir().join("c-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compile `sources` into `out_dir()/name` with `compiler` and `flags`, linked to the cdylib.
fn compile(compiler: &str, flags: &[&str], sources: &[&str], name: &str) -> PathBuf {
    let lib = lib_dir();
    let out = out_dir().join(name);
    let mut cmd = Command::new(compiler);
    cmd.args(flags).arg("-I").arg(root().join("include"));
    for s in sources {
        cmd.arg(root().join(s));
    }
    cmd.arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lwsbeat")
        .arg("-pthread");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    assert!(status.success(), "compiling {sources:?} failed: {cmd:?}");
    out
}

const C_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];
const CXX_FLAGS: &[&str] = &[
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-g",
];

/// A child process killed on drop (also when the test panics).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `cmd`, handing each stdout line to `on_line`; fail after `limit`. Returns the lines.
fn run(mut cmd: Command, limit: Duration, mut on_line: impl FnMut(&str)) -> Vec<String> {
    cmd.stdout(Stdio::piped()).stdin(Stdio::null());
    let mut child = Killed(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + limit;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("  | {line}");
                on_line(&line);
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{cmd:?} did not finish within {limit:?}; output: {lines:#?}")
            }
        }
    }
    let _ = reader.join();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{cmd:?} did not exit in time");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{cmd:?} failed ({status}); output: {lines:#?}"
    );
    lines
}

fn valgrind() -> bool {
    std::env::var("WSBEAT_VALGRIND").is_ok_and(|v| v == "1")
}

#[test]
fn c_api_test_suite() {
    let exe = compile("gcc", C_FLAGS, &["ffi/tests/c/ffi_test.c"], "ffi_test");
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url();
    // Accepts only `Authorization: Bearer <newest token>` (401 otherwise).
    let mut auth = EchoServer::start("127.0.0.1:0").unwrap();
    auth.require_header(Some(("authorization", "Bearer t1")));
    let auth_url = auth.url();
    let (cycles, check_rss, limit) = if valgrind() {
        ("200", "0", Duration::from_secs(900))
    } else {
        ("2000", "1", Duration::from_secs(300))
    };
    let mut cmd = if valgrind() {
        let mut c = Command::new("valgrind");
        c.args(["--error-exitcode=1", "--leak-check=full", "--quiet"])
            .arg(format!(
                "--suppressions={}",
                crate_dir().join("tests/c/valgrind.supp").display()
            ))
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args([url.as_str(), cycles, check_rss, auth_url.as_str()]);
    let lines = run(cmd, limit, |line| {
        if line == "RESTART" {
            server
                .restart()
                .expect("restart the echo server on the same port");
        } else if let Some(token) = line.strip_prefix("ROTATE ") {
            auth.require_header(Some(("authorization", &format!("Bearer {token}"))));
            auth.restart()
                .expect("restart the auth server on the same port");
        } else if let Some(code) = line.strip_prefix("CLOSE_ALL ") {
            server.close_all(code.parse().expect("a close code"), "policy test");
        }
    });
    assert_eq!(lines.last().map(String::as_str), Some("all ok"));
    assert!(auth.rejected() >= 1, "the stale token was never refused");
    for name in [
        "misuse",
        "client_misuse",
        "push_echo",
        "callback_reentrancy",
        "reconnect",
        "on_event_replace",
        "close_clean",
        "close_from_callback",
        "pull",
        "pull_free_full_queue",
        "send_wait",
        "unsent",
        "logger",
        "hook_misuse",
        "tls_feature_options",
        "before_connect",
        "before_connect_token_refresh",
        "before_connect_error",
        "reconnect_on_close",
        "custom_heartbeat",
        "cycles",
    ] {
        assert!(
            lines.contains(&format!("ok {name}")),
            "test {name} did not pass"
        );
    }
}

const HELLO: &str = r#"{"ModeCode":"message","msg":"hello world"}"#;

/// Run an example against a fresh echo server; it must exit 0.
fn run_example(exe: &Path) -> Vec<String> {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg(server.url());
    run(cmd, Duration::from_secs(60), |_| {})
}

#[test]
fn c_examples_run() {
    let demo = compile("gcc", C_FLAGS, &["examples/c/demo.c"], "demo_c");
    let lines = run_example(&demo);
    assert!(lines.contains(&format!("message: {HELLO}")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("closed: code 1000")));
    assert_eq!(lines.last().map(String::as_str), Some("demo done"));

    let pull = compile("gcc", C_FLAGS, &["examples/c/pull.c"], "pull_c");
    let lines = run_example(&pull);
    assert!(lines.contains(&format!("text: {HELLO}")), "{lines:#?}");
    assert!(
        lines.contains(&"closed: 1000 \"done\"".to_string()),
        "{lines:#?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("stopped"));
}

#[test]
fn cpp_examples_run() {
    let demo = compile("g++", CXX_FLAGS, &["examples/cpp/demo.cpp"], "demo_cpp");
    let lines = run_example(&demo);
    assert!(lines.contains(&format!("message: {HELLO}")), "{lines:#?}");
    assert_eq!(lines.last().map(String::as_str), Some("demo done"));

    let pull = compile("g++", CXX_FLAGS, &["examples/cpp/pull.cpp"], "pull_cpp");
    let lines = run_example(&pull);
    assert!(
        lines.contains(&"text: hello from C++".to_string()),
        "{lines:#?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("stopped"));
}

/// The header alone compiles as C99 and C++17 (and the wrapper with it), warnings as errors.
#[test]
fn headers_compile_standalone() {
    let dir = out_dir();
    let c = dir.join("header_only.c");
    std::fs::write(
        &c,
        "#include \"wsbeat.h\"\nint main(void) { return ws_version() == 0; }\n",
    )
    .unwrap();
    let cpp = dir.join("header_only.cpp");
    std::fs::write(
        &cpp,
        "#include \"wsbeat.h\"\n#include \"wsbeat.hpp\"\nint main() { return ws_version() == nullptr; }\n",
    )
    .unwrap();
    for (compiler, flags, src) in [("gcc", C_FLAGS, &c), ("g++", CXX_FLAGS, &cpp)] {
        let status = Command::new(compiler)
            .args(flags)
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(root().join("include"))
            .arg(src)
            .status()
            .unwrap();
        assert!(status.success(), "{compiler} rejects the header");
    }
}

/// The pull example linked statically against libwsbeat.a (plus the system libraries Rust's
/// standard library needs) runs too.
#[test]
fn static_library_links_and_runs() {
    let lib = lib_dir();
    let out = out_dir().join("pull_static");
    let status = Command::new("gcc")
        .args(C_FLAGS)
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("examples/c/pull.c"))
        .arg(lib.join("libwsbeat.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "static link failed");
    let lines = run_example(&out);
    assert_eq!(lines.last().map(String::as_str), Some("stopped"));
}

use wsbeat_testkit::tls_server;

/// The TLS options through the C API: a test CA by file and by PEM, unknown CA rejected,
/// dangerous mode, refused configurations, mutual TLS.
#[test]
fn c_tls_options() {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let exe = compile("gcc", C_FLAGS, &["ffi/tests/c/tls_test.c"], "tls_test");

    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "wsbeat C test CA");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = p.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(p, ca_key);
    let leaf = |client: bool| {
        let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        p.distinguished_name
            .push(DnType::CommonName, "wsbeat C test");
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_chain, server_key) = leaf(false);
    let (client_chain, client_key) = leaf(true);
    let server = tls_server::TlsEchoServer::start(tls_server::server_config(
        &server_chain,
        &server_key,
        None,
    ));
    let mtls = tls_server::TlsEchoServer::start(tls_server::server_config(
        &server_chain,
        &server_key,
        Some(&ca_pem),
    ));

    let dir = out_dir();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca_path = write("test-ca.pem", &ca_pem);
    let cert_path = write("client-cert.pem", &client_chain);
    let key_path = write("client-key.pem", &client_key);
    let mut cmd = Command::new(exe);
    cmd.arg(server.url("127.0.0.1"))
        .arg(&ca_path)
        .arg(mtls.url("127.0.0.1"))
        .arg(&cert_path)
        .arg(&key_path);
    let lines = run(cmd, Duration::from_secs(120), |_| {});
    assert_eq!(lines.last().map(String::as_str), Some("all ok"));
}

/// A stopped EchoServer's URL: connecting there is refused.
fn dead_url() -> String {
    let mut s = EchoServer::start("127.0.0.1:0").unwrap();
    let url = s.url();
    s.stop();
    url
}

/// Several endpoints through the C API (`ffi/tests/c/endpoints_test.c`): the argument checks,
/// the first endpoint down, the first dying mid-connection, the backoff across endpoints,
/// the before-connect hook seeing each endpoint.
#[test]
fn c_endpoints() {
    let exe = compile(
        "gcc",
        C_FLAGS,
        &["ffi/tests/c/endpoints_test.c"],
        "endpoints_test",
    );
    let dead = [dead_url(), dead_url(), dead_url()];
    let mut first = EchoServer::start("127.0.0.1:0").unwrap();
    let second = EchoServer::start("127.0.0.1:0").unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args(&dead).arg(first.url()).arg(second.url());
    let lines = run(cmd, Duration::from_secs(60), |line| {
        if line == "STOP_FIRST" {
            first.stop();
        }
    });
    assert_eq!(
        lines.last().map(String::as_str),
        Some("all ok"),
        "{lines:#?}"
    );
    for name in [
        "arguments",
        "first_down_opens_on_second",
        "backoff_per_client",
        "before_connect_sees_each_endpoint",
        "first_dies_reconnects_to_second",
    ] {
        assert!(lines.contains(&format!("ok {name}")), "{name}: {lines:#?}");
    }
    assert_eq!(
        second.accepted(),
        3,
        "first_down, before_connect, first_dies"
    );
}

/// permessage-deflate from C: `ws_event.compression` and `ws_client_stats.compression` against
/// the testkit's compressing echo server (true, and the messages went compressed) and a
/// server that does not compress (false), and false when not offered.
#[test]
fn c_compression() {
    use wsbeat_testkit::deflate_server::DeflateEchoServer;
    let exe = compile(
        "gcc",
        C_FLAGS,
        &["ffi/tests/c/compression_test.c"],
        "compression_test",
    );
    let deflate = DeflateEchoServer::start();
    let plain = EchoServer::start("127.0.0.1:0").unwrap();
    let mut cmd = if valgrind() {
        let mut c = Command::new("valgrind");
        c.args(["--error-exitcode=1", "--leak-check=full", "--quiet"])
            .arg(format!(
                "--suppressions={}",
                crate_dir().join("tests/c/valgrind.supp").display()
            ))
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.arg(deflate.url()).arg(plain.url());
    let lines = run(cmd, Duration::from_secs(120), |_| {});
    assert_eq!(
        lines.last().map(String::as_str),
        Some("all ok"),
        "{lines:#?}"
    );
    for name in ["negotiated", "offered_not_accepted", "not_offered"] {
        assert!(lines.contains(&format!("ok {name}")), "{name}: {lines:#?}");
    }
    let offers = deflate.offers();
    assert_eq!(offers.len(), 2, "{offers:?}");
    assert!(offers[0].starts_with("permessage-deflate"), "{offers:?}");
    assert_eq!(offers[1], "", "not offered: {offers:?}");
    assert_eq!(
        deflate.compressed_in(),
        2,
        "text and binary went compressed"
    );

    let cpp = compile(
        "g++",
        CXX_FLAGS,
        &["ffi/tests/c/compression_test.cpp"],
        "compression_test_cpp",
    );
    let mut cmd = Command::new(&cpp);
    cmd.arg(deflate.url()).arg(plain.url());
    let lines = run(cmd, Duration::from_secs(60), |_| {});
    assert_eq!(
        lines.last().map(String::as_str),
        Some("cpp ok"),
        "{lines:#?}"
    );
    assert_eq!(
        deflate.offers().len(),
        4,
        "the C++ client offered, then did not"
    );
}

/// `ws_runtime` through the C API (`ffi/tests/c/runtime_test.c`): argument checks, 50
/// clients on 2 threads (counted in /proc), the runtime freed before its clients, pull and
/// callback mode on one thread, `ws_free` of a client from another's callback on the same
/// thread. `WSBEAT_VALGRIND=1` runs it under valgrind (30-c.sh).
#[test]
fn c_runtime() {
    let exe = compile(
        "gcc",
        C_FLAGS,
        &["ffi/tests/c/runtime_test.c"],
        "runtime_test",
    );
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let (mut cmd, limit) = if valgrind() {
        let mut c = Command::new("valgrind");
        c.args(["--error-exitcode=1", "--leak-check=full", "--quiet"])
            .arg(format!(
                "--suppressions={}",
                crate_dir().join("tests/c/valgrind.supp").display()
            ))
            .arg(&exe);
        (c, Duration::from_secs(600))
    } else {
        (Command::new(&exe), Duration::from_secs(120))
    };
    cmd.arg(server.url());
    let lines = run(cmd, limit, |_| {});
    assert_eq!(
        lines.last().map(String::as_str),
        Some("all ok"),
        "{lines:#?}"
    );
    for name in [
        "arguments",
        "many_clients_echo",
        "runtime_free_before_clients",
        "free_in_own_callback_refused",
        "threads_end_with_last_client",
        "pull_mode",
        "free_other_from_callback_same_thread",
    ] {
        assert!(lines.contains(&format!("ok {name}")), "{name}: {lines:#?}");
    }
}

/// `wsbeat::Runtime` of the C++ wrapper (`ffi/tests/c/runtime_test.cpp`).
#[test]
fn cpp_runtime() {
    let exe = compile(
        "g++",
        CXX_FLAGS,
        &["ffi/tests/c/runtime_test.cpp"],
        "runtime_test_cpp",
    );
    let lines = run_example(&exe);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("all ok"),
        "{lines:#?}"
    );
}
