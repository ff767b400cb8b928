use std::process::ExitCode;
use std::time::Duration;
use wsbeat::{Client, Event, Heartbeat, Reconnect, StopReason};

fn main() -> Result<ExitCode, wsbeat::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or("ws://127.0.0.1:8002".into());
    let client = Client::builder(&url)
        .heartbeat(Heartbeat::seed_json(
            Duration::from_secs(4),
            Duration::from_secs(2),
        ))
        // Backoff between attempts; give up after 3 failed attempts in a row, so that with no
        // server running this reports the errors and ends instead of retrying forever.
        .reconnect(
            Reconnect::exponential()
                .max(Duration::from_secs(10))
                .max_attempts(Some(3)),
        )
        .connect()?; // validates everything and returns at once: the I/O thread connects
    client.send_text(r#"{"ModeCode":"message","msg":"hello world"}"#)?; // queued until open
    let events = client
        .events()
        .expect("no on_event callback: events come on a channel");
    for event in events {
        match event {
            Event::Opened { reconnect, .. } => println!("open (reconnect: {reconnect})"),
            Event::Text(text) => {
                println!("received {text}");
                client.close(1000, "bye")?; // a close never reconnects
            }
            Event::Error { kind, message } => eprintln!("error ({kind}): {message}"),
            Event::Stopped { reason, unsent } => {
                println!("stopped: {} ({} unsent)", reason.as_str(), unsent.len());
                return Ok(if reason == StopReason::Closed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            _ => {}
        }
    }
    Ok(ExitCode::FAILURE) // not reached: Stopped is always the last event
}
