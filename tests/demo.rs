//! The README's first command: `cargo run --example demo`. Runs the built demo and checks
//! that its timeline tells the whole story.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_shows_detection_backoff_reconnect_and_delivery() {
    // The test binary lives in target/<profile>/deps; examples in target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let demo = dir.join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    if !demo.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "demo"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let started = Instant::now();
    let out = Command::new(&demo).output().expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let order = [
        "OPEN (reconnect: false",
        r#"message: {"ModeCode":"message","msg":"hello world"}"#,
        "heartbeat answered",
        "HEARTBEAT TIMEOUT",
        "closed (code 1006",
        "backoff: attempt 1",
        "backoff: attempt 2",
        "OPEN (reconnect: true",
        "queued during outage #1",
        "queued during outage #2",
        "queued during outage #3",
        "all queued messages delivered, in order",
        "closed (code 1000, Local",
        "stopped (closed), 0 unsent",
    ];
    let mut at = 0;
    for want in order {
        match text[at..].find(want) {
            Some(i) => at += i + want.len(),
            None => panic!("demo output lacks `{want}` (in order):\n{text}"),
        }
    }
}
