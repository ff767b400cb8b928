//! A reply queued before a protocol error still goes out before our close (issue 12 §4;
//! Autobahn cases 3.2-3.4, 4.1.3-4.1.5, 4.2.3, 4.2.4, 5.15): the server sends a valid message
//! and an invalid frame in one segment; the callback's reply to the valid message must be
//! written before the close 1002, as raw tungstenite does.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use wsbeat_testkit::builder;

use wsbeat::{Event, Heartbeat, Reconnect};
use wsbeat_testkit::hostile::{Hostile, frame_bytes};
use wsbeat_testkit::{ms, serial};

/// Frames the server read: (opcode, unmasked payload).
type Frames = Arc<Mutex<Vec<(u8, Vec<u8>)>>>;

#[test]
fn a_reply_queued_before_a_protocol_error_is_written_before_the_close() {
    let _g = serial();
    let seen: Frames = Arc::default();
    let record = seen.clone();
    let server = Hostile::start(move |mut p| {
        if p.index > 0 || p.accept_ws().is_err() {
            return;
        }
        let mut batch = frame_bytes(true, 0, 0x1, b"hello");
        batch.extend(frame_bytes(true, 0, 0x3, b"reserved opcode")); // invalid
        if p.raw(&batch).is_err() {
            return;
        }
        // Everything the client sends until its close frame, in order.
        for _ in 0..10 {
            let Ok((op, payload)) = p.read_frame(Duration::from_secs(5)) else {
                break;
            };
            record.lock().unwrap().push((op, payload));
            if op == 0x8 {
                break;
            }
        }
    });
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let client = builder(server.url())
        .heartbeat(Heartbeat::off())
        .reconnect(Reconnect::disabled())
        .on_event(move |h, ev| match ev {
            Event::Text(t) => {
                h.send_text(format!("echo: {t}")).unwrap();
            }
            Event::Stopped { .. } => {
                let _ = done_tx.send(());
            }
            _ => {}
        })
        .connect()
        .unwrap();
    done_rx
        .recv_timeout(ms(10_000))
        .expect("the client never stopped");
    drop(client);
    let until = std::time::Instant::now() + ms(5000);
    while !seen.lock().unwrap().iter().any(|(op, _)| *op == 0x8) {
        assert!(
            std::time::Instant::now() < until,
            "no close frame: {:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(ms(5));
    }
    let frames = seen.lock().unwrap().clone();
    let ops: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops, [0x1, 0x8], "the reply, then the close: {frames:?}");
    assert_eq!(frames[0].1, b"echo: hello");
    assert_eq!(
        &frames[1].1[..2],
        &1002u16.to_be_bytes(),
        "close 1002 (protocol error)"
    );
}
