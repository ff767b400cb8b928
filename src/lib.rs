//! # wsbeat
//!
//! A synchronous WebSocket client that keeps connections alive: heartbeats, dead-peer
//! detection, automatic reconnection with backoff, and an outbox that never drops a message
//! silently. The connection lives on its own I/O thread (blocking tungstenite + a mio poller,
//! no async runtime); you send from any thread and receive events by callback or channel.
//!
//! ## Usage
//! ```no_run
//! use std::time::Duration;
//! use wsbeat::{Client, Event, Heartbeat, Reconnect};
//!
//! let client = Client::builder("ws://127.0.0.1:8002")
//!     .heartbeat(Heartbeat::seed_json(Duration::from_secs(4), Duration::from_secs(2)))
//!     .reconnect(Reconnect::exponential().max(Duration::from_secs(10)))
//!     .connect()?; // returns at once; connecting happens on the I/O thread
//! client.send_text(r#"{"ModeCode":"message","msg":"hello world"}"#)?; // queued until open
//! for event in client.events().unwrap() {
//!     println!("{event:?}");
//!     if matches!(event, Event::Text(_)) {
//!         client.close(1000, "bye")?;
//!     }
//!     if matches!(event, Event::Stopped { .. }) {
//!         break;
//!     }
//! }
//! # Ok::<(), wsbeat::Error>(())
//! ```
//!
//! ## Threading
//! Events are produced on the client's I/O thread, in order. With
//! [`ClientBuilder::on_event`] the callback runs there (keep it short; it may call any
//! [`Handle`] method); otherwise they go to a bounded channel ([`Client::events`]). No callback
//! ever runs on the stack of a `send_*`/`close` caller, and none runs after `close()` or the
//! last [`Client`] drop has returned.
//!
//! ## Features
//! - `rustls` (default): `wss://` through rustls with the bundled Mozilla roots.
//! - `native-roots`: also trust the platform's root store.
//! - `native-tls`: `wss://` through the platform's TLS library instead
//!   ([`TlsOptions::use_native_tls`]); the only backend in builds without `rustls`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backoff;
mod client;
mod config;
mod conn;
mod error;
mod event;
mod events;
mod heartbeat;
mod io_loop;
mod message;
mod outbox;
mod redact;
mod shared;
mod stats;
mod tls;

pub use client::{Client, ClientBuilder, EventCallback, Handle};
pub use config::{
    BeforeConnectFn, CloseCodePredicate, ConnectRequest, Heartbeat, HeartbeatMode, MatcherFn,
    PayloadFn, Reconnect, check_header, check_url, default_reconnect_on_close,
};
pub use error::{Error, ErrorKind};
pub use event::{CloseInitiator, Event, StopReason};
pub use events::{Events, RecvError, RecvTimeoutError, TryRecvError};
pub use heartbeat::{is_seed_heartbeat_reply, seed_heartbeat_message};
pub use message::Message;
pub use redact::{may_carry_secrets, redact_url};
pub use shared::State;
pub use stats::Stats;
pub use tls::TlsOptions;

/// The README's Rust examples, compiled as doctests so the README cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
