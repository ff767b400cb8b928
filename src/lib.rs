//! # wsbeat
//!
//! A synchronous WebSocket client that keeps connections alive: heartbeats, dead-peer
//! detection, automatic reconnection with backoff, and an outbox that never drops a message
//! silently. The connection lives on its own I/O thread (blocking tungstenite + a mio poller,
//! no async runtime); you send from any thread and receive events on a channel or in a
//! callback. The same library is a C library (`libwsbeat`, see
//! `docs/C_API.md` in the source repository) and a Python
//! package.
//!
//! ```toml
//! [dependencies]
//! wsbeat = "0.1"
//! ```
//!
//! ## A first client
//!
//! [`Client::builder`] takes the URL, the builder's setters the configuration;
//! [`connect`](ClientBuilder::connect) checks it all and returns at once, the I/O thread
//! connects. Messages sent before the connection opens wait in the outbox.
//!
//! ```
//! use std::time::Duration;
//! use wsbeat::{Client, Event, Heartbeat, Reconnect, StopReason};
//!
//! # let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
//! # let url = server.url();
//! // url: "ws://127.0.0.1:8002", for example
//! let client = Client::builder(&url)
//!     .heartbeat(Heartbeat::ping(Duration::from_secs(20), Duration::from_secs(10)))
//!     .reconnect(Reconnect::exponential().max_attempts(Some(5)))
//!     .connect()?;
//! client.send_text("hello")?; // queued until the connection opens
//!
//! let mut echoed = false;
//! for event in client.events().expect("channel mode: no on_event callback was set") {
//!     match event {
//!         Event::Text(text) => {
//!             echoed = text == "hello";
//!             client.close(1000, "done")?; // a local close never reconnects
//!         }
//!         Event::Error { kind, message } => eprintln!("{kind}: {message}"),
//!         Event::Stopped { reason, .. } => {
//!             assert_eq!(reason, StopReason::Closed);
//!             break; // always the last event
//!         }
//!         _ => {}
//!     }
//! }
//! assert!(echoed);
//! # Ok::<(), wsbeat::Error>(())
//! ```
//!
//! ## Configuration
//!
//! Every setter of [`ClientBuilder`] documents its default. The main ones:
//!
//! - [`heartbeat`](ClientBuilder::heartbeat) ([`Heartbeat`]): how a dead peer is detected.
//!   [`Heartbeat::ping`] (default: every 20 s of silence, 10 s to answer) uses WebSocket
//!   pings; [`Heartbeat::seed_json`] the seed protocol's JSON messages;
//!   [`Heartbeat::custom`] your own payload and reply matcher; [`Heartbeat::off`] none. Any
//!   frame from the server proves it alive, so a busy connection sends no heartbeats. When
//!   nothing arrives within the timeout the connection is dropped
//!   ([`Event::HeartbeatTimeout`]) and, by the reconnect policy, re-established.
//! - [`reconnect`](ClientBuilder::reconnect) ([`Reconnect`]): [`Reconnect::exponential`]
//!   (default: 500 ms doubling to 30 s, jitter 0.5, no attempt limit, the schedule reset
//!   after 5 s of uptime), [`Reconnect::fixed`], [`Reconnect::disabled`]; setters for each
//!   part, [`max_attempts`](Reconnect::max_attempts),
//!   [`reconnect_on_close`](Reconnect::reconnect_on_close) to decide by close code. Server
//!   close codes 1002, 1003, 1007, 1008 and 1010 and rejected certificates are not retried by
//!   default; `Retry-After` (HTTP 429/503) and close codes 1012/1013 are honoured.
//! - [`outbox_limit`](ClientBuilder::outbox_limit) (4096 messages, 64 MiB),
//!   [`max_message_size`](ClientBuilder::max_message_size) (16 MiB),
//!   [`connect_timeout`](ClientBuilder::connect_timeout) (10 s),
//!   [`close_timeout`](ClientBuilder::close_timeout) (2 s),
//!   [`event_capacity`](ClientBuilder::event_capacity) (256, channel mode),
//!   [`header`](ClientBuilder::header), [`subprotocol`](ClientBuilder::subprotocol),
//!   [`before_connect`](ClientBuilder::before_connect) (change the URL or headers before
//!   each attempt, e.g. a fresh token), [`tls`](ClientBuilder::tls) ([`TlsOptions`]).
//!
//! Invalid values make `connect()` fail with a typed [`Error`] (`InvalidUrl`,
//! `InvalidConfig`, `InvalidHeader`, `Tls`) and nothing starts:
//!
//! ```
//! use std::time::Duration;
//! use wsbeat::{Client, Error, Heartbeat};
//!
//! // The timeout must be shorter than the interval.
//! let hb = Heartbeat::ping(Duration::from_secs(1), Duration::from_secs(2));
//! let err = Client::builder("ws://127.0.0.1:8002").heartbeat(hb).connect().unwrap_err();
//! assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
//! assert!(matches!(Client::builder("http://x").connect(), Err(Error::InvalidUrl(_))));
//! ```
//!
//! ## Events and their order
//!
//! One [`Event`] stream per client, in order: [`Connecting`](Event::Connecting) →
//! [`Opened`](Event::Opened) → [`Text`](Event::Text) / [`Binary`](Event::Binary) /
//! [`Pong`](Event::Pong) … → ([`HeartbeatTimeout`](Event::HeartbeatTimeout) |
//! [`Error`](Event::Error))? → [`Closed`](Event::Closed) →
//! [`Reconnecting`](Event::Reconnecting) → [`Connecting`](Event::Connecting) … and finally
//! exactly one [`Stopped`](Event::Stopped), after which nothing follows. A failed attempt gives
//! `Error` then `Reconnecting` (no `Closed`: nothing was open); a connection lost without a
//! close frame reports code 1006. [`Stopped`](Event::Stopped)'s [`StopReason`] says why the
//! client ended: a local close, reconnection disabled, the attempt limit, or a failure the
//! policy does not retry.
//!
//! **Channel or callback.** By default events go to a bounded channel
//! ([`Client::events`], [`event_capacity`](ClientBuilder::event_capacity)); when it is full
//! the I/O thread stops reading the socket until you catch up, so memory stays bounded and
//! nothing is dropped. With [`on_event`](ClientBuilder::on_event) a callback runs on the I/O
//! thread instead, given a [`Handle`] to send or close from inside it:
//!
//! ```
//! use std::time::Duration;
//! use wsbeat::{Client, Event};
//!
//! # let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
//! # let url = server.url();
//! let (done_tx, done_rx) = std::sync::mpsc::channel();
//! let client = Client::builder(&url)
//!     .on_event(move |handle, event| match event {
//!         // Runs before anything queued goes out: authenticate, resubscribe, ...
//!         Event::Opened { .. } => handle.send_text("subscribe").unwrap(),
//!         Event::Text(text) => done_tx.send(text).unwrap(),
//!         _ => {}
//!     })
//!     .connect()?;
//! let echo = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
//! assert_eq!(echo, "subscribe");
//! client.close(1000, "bye")?; // no callback runs after close() returns
//! # Ok::<(), wsbeat::Error>(())
//! ```
//!
//! ## Delivery guarantees
//!
//! A message accepted by `send_*` is written in order and then either confirmed or handed
//! back; nothing disappears silently:
//!
//! - **confirmed**: the server answered a heartbeat sent after it (the server reads in order),
//!   or the close handshake completed;
//! - [`Event::Closed`]`.unconfirmed`: written, but the connection died before confirmation; it
//!   may or may not have arrived, and wsbeat does not resend it (no duplicates: you decide);
//! - [`Event::Stopped`]`.unsent`: accepted but never written;
//! - **refused**: `send_*` returned an error ([`Error::OutboxFull`],
//!   [`Error::MessageTooLarge`], [`Error::Closed`]).
//!
//! `send_text`/`send_binary`/`send` never block; beyond the outbox bound they return
//! `OutboxFull` and queue nothing. [`send_text_wait`](Handle::send_text_wait) and its siblings
//! sleep instead (no polling) until there is room or the timeout ends. Messages from one
//! thread reach the wire in the order sent, across reconnects.
//!
//! ## Threading
//!
//! [`Client`] and [`Handle`] are `Send + Sync` and cheap to clone; send and close from any
//! thread. Each client has one I/O thread: events are produced there, in order, and callbacks
//! run there, one at a time (keep them short: the connection is not serviced meanwhile). No
//! callback ever runs on the stack of a `send_*`/`close` caller, and none runs after `close()`
//! or the last [`Client`] drop has returned. Dropping the last `Client` closes the connection
//! (code 1000) and joins the thread within the close timeout + 500 ms; a `Handle` never keeps a
//! connection open.
//!
//! ## TLS
//!
//! `wss://` works with the default feature: rustls, the server certificate checked against the
//! bundled Mozilla roots, SNI and the host-name check from the URL. [`TlsOptions`] adds a
//! private CA, a client certificate (mutual TLS), the platform's roots or TLS library;
//! verification stays on unless you call the option named `dangerous_...`. Certificate
//! failures are reported as [`ErrorKind::Certificate`] and not retried by default.
//!
//! ```no_run
//! use wsbeat::{Client, TlsOptions};
//!
//! let tls = TlsOptions::default()
//!     .add_ca_file("/etc/myapp/ca.pem")? // trust a private CA as well
//!     .client_cert_pem(std::fs::read("client.pem").unwrap(), // mutual TLS
//!                      std::fs::read("client.key").unwrap());
//! let client = Client::builder("wss://example.com/socket").tls(tls).connect()?;
//! # Ok::<(), wsbeat::Error>(())
//! ```
//!
//! ## Features
//!
//! - `rustls` (default): `wss://` through rustls (pure Rust, ring) with the bundled Mozilla
//!   roots.
//! - `native-roots`: also trust the platform's root store ([`TlsOptions::native_roots`]).
//! - `native-tls`: `wss://` through the platform's TLS library (OpenSSL on Linux)
//!   ([`TlsOptions::use_native_tls`]); the only backend in builds without `rustls`.
//!
//! [`TlsOptions::backends`] lists the backends a build has.
//!
//! ## Logging
//!
//! Through the `log` crate: connects, closes and backoff decisions at info, heartbeat timeouts
//! and failures at warn, frames at trace. URLs are logged without credentials, header values
//! never ([`may_carry_secrets`] is the filter for tungstenite's own trace records).
//!
//! ## Minimum supported Rust version
//!
//! Rust 1.88 (edition 2024), as declared by `rust-version` in `Cargo.toml`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backoff;
mod client;
mod config;
mod confirm;
mod conn;
mod deflate;
mod dial;
mod error;
mod event;
mod events;
mod handle;
mod heartbeat;
mod inbox;
mod io_loop;
mod limits;
mod message;
mod outbox;
mod proxy;
mod redact;
mod resolve;
mod runtime;
mod shared;
mod stats;
mod tcp;
mod tls;

pub use client::{Client, ClientBuilder, EventCallback};
pub use config::{
    BeforeConnectFn, CloseCodePredicate, ConnectRequest, Heartbeat, HeartbeatMode, MatcherFn,
    PayloadFn, Reconnect, check_header, check_url, default_reconnect_on_close,
};
pub use deflate::Compression;
pub use error::{Error, ErrorKind};
pub use event::{CloseInitiator, Event, StopReason};
pub use events::{Events, RecvError, RecvTimeoutError, TryRecvError};
pub use handle::Handle;
pub use heartbeat::{is_seed_heartbeat_reply, seed_heartbeat_message};
pub use limits::{
    MAX_BACKOFF_FACTOR, MAX_DURATION, MAX_EVENT_CAPACITY, MAX_MESSAGE_SIZE, MAX_OUTBOX_BYTES,
    MAX_OUTBOX_MESSAGES, MAX_RUNTIME_THREADS,
};
pub use message::Message;
pub use proxy::Proxy;
pub use redact::{may_carry_secrets, redact_url};
pub use runtime::Runtime;
pub use shared::State;
pub use stats::Stats;
pub use tls::TlsOptions;

/// The README's Rust examples, compiled as doctests so the README cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The crates.io README's example, compiled as a doctest too.
#[doc = include_str!("../README-crates.md")]
#[cfg(doctest)]
pub struct ReadmeCratesDoctests;
