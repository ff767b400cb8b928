//! The user-facing handle: [`ClientBuilder`] validates and starts, [`Client`] owns the I/O
//! thread, [`Handle`] sends and controls from any thread (including callbacks).

use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::config::{Config, ConnectRequest, Heartbeat, Limits, Reconnect, parse_url};
use crate::deflate::Compression;
use crate::error::Error;
use crate::event::Event;
use crate::events::{Events, Overflow};
use crate::handle::Handle;
use crate::io_loop::{DirectReader, IoLoop, Reactor, Sink};
use crate::runtime::{Runtime, WorkerShared};
use crate::shared::{IoWaker, Shared, State, WAKE};
use crate::tls::TlsOptions;

struct Owner {
    handle: Handle,
    thread: Mutex<Option<JoinHandle<()>>>,
    events: Option<Events>,
    /// Keeps the runtime's threads while this client may still run on them (dropped after
    /// the I/O loop has stopped).
    _runtime: Option<Runtime>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        if shared.state() != State::Stopped {
            self.handle.request_close(1000, "");
        }
        if shared.would_deadlock() {
            // Dropped by a callback's captures on the I/O thread (it is exiting anyway), or
            // inside a callback of another client on the same runtime thread.
            return;
        }
        // Our receiver must not keep a full event channel alive: if no one else holds a clone,
        // nobody can read it any more, and the I/O thread must not wait for a reader.
        drop(self.events.take());
        let joined = shared.wait_done(shared.close_wait);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (joined, thread) {
            (true, Some(t)) => {
                let _ = t.join();
            }
            (false, Some(_)) => log::warn!("I/O thread did not stop in time; detached"),
            _ => {}
        }
    }
}

/// A WebSocket client whose connection lives on its own I/O thread.
///
/// Cloning is cheap and shares the connection; dropping the last clone closes it (close code
/// 1000) and joins the thread within the close timeout plus 500 ms. All sending and control
/// methods come from [`Handle`] (through `Deref`).
///
/// ```no_run
/// use std::time::Duration;
/// use wsbeat::{Client, Event, Heartbeat};
///
/// let client = Client::builder("ws://127.0.0.1:8002")
///     .heartbeat(Heartbeat::ping(Duration::from_secs(4), Duration::from_secs(2)))
///     .connect()?;
/// client.send_text("hello")?;
/// for event in client.events().unwrap() {
///     match event {
///         Event::Text(t) => println!("got {t}"),
///         Event::Stopped { .. } => break,
///         _ => {}
///     }
/// }
/// # Ok::<(), wsbeat::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .finish()
    }
}

impl std::ops::Deref for Client {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.owner.handle
    }
}

impl Client {
    /// Start configuring a client for `url` (`ws://` or `wss://`). The URL is checked by
    /// [`ClientBuilder::connect`].
    pub fn builder(url: impl AsRef<str>) -> ClientBuilder {
        ClientBuilder::new(url.as_ref())
    }

    /// The event receiver (channel mode, the default); `None` when an event callback was set.
    /// Every clone of the receiver takes events from the same queue.
    pub fn events(&self) -> Option<Events> {
        self.owner.events.clone()
    }

    /// A handle that does not keep the connection open (for callbacks and other owners).
    pub fn handle(&self) -> Handle {
        self.owner.handle.clone()
    }
}

/// The type of the event callback: runs on the I/O thread, in event order.
pub type EventCallback = Box<dyn FnMut(&Handle, Event) + Send + 'static>;

/// Configures and starts a [`Client`]. Every setter's doc gives its default.
///
/// [`connect`](ClientBuilder::connect) checks the whole configuration, then returns at once;
/// the I/O thread connects (and reconnects) in the background.
///
/// ```
/// use std::time::Duration;
/// use wsbeat::{Client, Event, Heartbeat, Reconnect};
///
/// # let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
/// # let url = server.url();
/// let client = Client::builder(&url) // e.g. "wss://example.com/socket"
///     .heartbeat(Heartbeat::ping(Duration::from_secs(15), Duration::from_secs(5)))
///     .reconnect(Reconnect::exponential().max(Duration::from_secs(10)))
///     .header("Authorization", "Bearer initial-token") // never logged
///     .before_connect(|request| {
///         // On the I/O thread before every attempt: a fresh token for each reconnect.
///         if request.attempt > 0 {
///             request.headers.retain(|(name, _)| name != "Authorization");
///             request.headers.push(("Authorization".into(), "Bearer refreshed".into()));
///         }
///     })
///     .outbox_limit(1000, 8 << 20) // 1000 messages or 8 MiB waiting at most
///     .connect_timeout(Duration::from_secs(5))
///     .connect()?;
/// let events = client.events().unwrap();
/// client.send_text("hello")?;
/// let echo = events
///     .iter()
///     .take(10) // Connecting, Opened, the echo
///     .find(|event| matches!(event, Event::Text(_)))
///     .unwrap();
/// assert_eq!(echo, Event::Text("hello".into()));
/// # Ok::<(), wsbeat::Error>(())
/// ```
pub struct ClientBuilder {
    url: Result<url::Url, Error>,
    /// Further endpoints (`endpoint`), checked by `connect`.
    endpoints: Vec<Result<url::Url, Error>>,
    heartbeat: Heartbeat,
    reconnect: Reconnect,
    limits: Limits,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    compression: Compression,
    tls: TlsOptions,
    proxy: crate::Proxy,
    resolver: crate::resolve::Resolver,
    before_connect: Option<crate::config::BeforeConnectFn>,
    callback: Option<EventCallback>,
    pong_events: bool,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder").finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn new(url: &str) -> Self {
        ClientBuilder {
            url: parse_url(url),
            endpoints: Vec::new(),
            heartbeat: Heartbeat::default(),
            reconnect: Reconnect::default(),
            limits: Limits::default(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            compression: Compression::off(),
            tls: TlsOptions::default(),
            proxy: crate::Proxy::default(),
            resolver: crate::resolve::Resolver::default(),
            before_connect: None,
            callback: None,
            pong_events: false,
            runtime: None,
        }
    }

    /// Add a further endpoint (`ws://` or `wss://`, checked by [`connect`](Self::connect)
    /// like the main URL); call once per endpoint. Defaults to none: only the URL given to
    /// [`Client::builder`] is used.
    ///
    /// The endpoints form a ring: endpoint 0 is the builder's URL, then each `endpoint` in the
    /// order added. The first attempt goes to endpoint 0; every attempt after it (a failed
    /// connect, a lost or closed connection, [`Handle::reconnect_now`]) goes to the next one,
    /// wrapping round. The reconnect schedule is the client's, not the endpoint's: one failure,
    /// one decision, one delay, growing across endpoints and reset only by a connection that
    /// stayed up for `min_uptime` ([`Reconnect`]). [`Event::Opened`]'s `endpoint` says which
    /// one opened, and [`ConnectRequest::endpoint`] which one an attempt is for
    /// ([`before_connect`](Self::before_connect) may still change its URL).
    ///
    /// The README's "Several endpoints" section has an example; `tests/endpoints.rs` the cases.
    pub fn endpoint(mut self, url: impl AsRef<str>) -> Self {
        self.endpoints.push(parse_url(url.as_ref()));
        self
    }

    /// Heartbeat mode, interval and timeout. Defaults to ping every 20 s, timeout 10 s.
    pub fn heartbeat(mut self, hb: Heartbeat) -> Self {
        self.heartbeat = hb;
        self
    }

    /// Reconnect policy. Defaults to [`Reconnect::exponential`].
    pub fn reconnect(mut self, r: Reconnect) -> Self {
        self.reconnect = r;
        self
    }

    /// Add a request header (sent on every connect). Values never appear in logs.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offer a subprotocol (`Sec-WebSocket-Protocol`). Defaults to none.
    pub fn subprotocol(mut self, p: impl Into<String>) -> Self {
        self.subprotocols.push(p.into());
        self
    }

    /// permessage-deflate (RFC 7692): [`Compression::deflate`] offers it in the handshake;
    /// used only if the server accepts ([`Stats::compression`](crate::Stats::compression) says whether it did).
    /// Defaults to [`Compression::off`]: at a 15-bit window the zlib state costs about
    /// 330 KiB per connection, several times an idle connection's other state, and CPU on
    /// incompressible payloads (see BENCHMARKS.md).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// TLS options for `wss://`. Defaults to verified TLS with the bundled Mozilla roots.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// The proxy to connect through ([`crate::Proxy`]). Defaults to [`crate::Proxy::from_env`]
    /// (the proxy environment variables, read at each attempt; none set: direct).
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// Tests only: resolve host names with `f` instead of the system resolver (a resolver
    /// that never answers, a name with several addresses). Not part of the API.
    #[doc(hidden)]
    pub fn resolver(
        mut self,
        f: impl Fn(&str, u16) -> std::io::Result<Vec<std::net::SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = crate::resolve::Resolver(std::sync::Arc::new(f));
        self
    }

    /// Largest message accepted in either direction, in bytes: 1..=[`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE)
    /// (checked by [`connect`](Self::connect)). Defaults to 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// Outbox bound: messages and bytes queued but not yet written:
    /// 1..=[`MAX_OUTBOX_MESSAGES`](crate::MAX_OUTBOX_MESSAGES) and 1..=[`MAX_OUTBOX_BYTES`](crate::MAX_OUTBOX_BYTES).
    /// Defaults to 4096 and 64 MiB.
    pub fn outbox_limit(mut self, messages: usize, bytes: usize) -> Self {
        self.limits.outbox_max_messages = messages;
        self.limits.outbox_max_bytes = bytes;
        self
    }

    /// Bound on DNS + TCP + TLS + WebSocket handshake of one attempt: 1 ms..=[`MAX_DURATION`](crate::MAX_DURATION).
    /// Defaults to 10 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.limits.connect_timeout = d;
        self
    }

    /// Bound on the close handshake: 1 ms..=[`MAX_DURATION`](crate::MAX_DURATION). Defaults to 2 s.
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.limits.close_timeout = d;
        self
    }

    /// Capacity of the event channel (channel mode). When it is full the I/O thread stops
    /// reading from the socket until the consumer catches up (TCP flow control pushes back on
    /// the server): memory stays bounded, nothing is dropped. 1..=[`MAX_EVENT_CAPACITY`](crate::MAX_EVENT_CAPACITY);
    /// defaults to 256 (the slots are allocated up front, after the range is checked).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.limits.event_capacity = n;
        self
    }

    /// Whether heartbeat answers are reported as [`Event::Pong`] in channel mode. Defaults to
    /// false: an answered heartbeat does not wake the thread blocked in
    /// [`Events::recv`](crate::Events::recv), so an idle connection costs 2 wake-ups per
    /// heartbeat interval in all (the I/O thread's: send the ping, read the answer) instead of
    /// 3; [`Stats::last_rtt`](crate::Stats::last_rtt) carries the round-trip time. `true`
    /// delivers a `Pong { rtt }` for every answer. Dead-peer detection, confirmations and
    /// every other event are unchanged. Callback mode always gets `Pong` (no thread is woken
    /// for it). The C and Python layers turn it on (their pull modes report pongs).
    pub fn pong_events(mut self, on: bool) -> Self {
        self.pong_events = on;
        self
    }

    /// Called on the I/O thread before every connection attempt; it may change the URL and
    /// headers (e.g. refresh a token). The request's URL is the chosen endpoint's
    /// ([`ConnectRequest::endpoint`], see [`endpoint`](Self::endpoint)).
    pub fn before_connect(
        mut self,
        f: impl Fn(&mut ConnectRequest) + Send + Sync + 'static,
    ) -> Self {
        self.before_connect = Some(Arc::new(f));
        self
    }

    /// Run this client's I/O loop on a shared [`Runtime`] instead of a thread of its own.
    /// Defaults to none: every client has its own I/O thread (named `wsbeat-io`).
    ///
    /// Behaviour and guarantees are the same; callbacks then run on the runtime's thread,
    /// so a slow one delays the other clients on that thread (see [`Runtime`]).
    pub fn runtime(mut self, runtime: &Runtime) -> Self {
        self.runtime = Some(runtime.clone());
        self
    }

    /// Deliver events to `f` on the I/O thread instead of the channel. `f` must not block for
    /// long: while it runs, the connection is not serviced. It may call any [`Handle`] method;
    /// messages it sends from the `Opened` event go out before the queued outbox.
    pub fn on_event(mut self, f: impl FnMut(&Handle, Event) + Send + 'static) -> Self {
        self.callback = Some(Box::new(f));
        self
    }

    /// Validate the whole configuration and start the I/O thread. Returns at once; connecting
    /// happens on the I/O thread and is reported by events.
    pub fn connect(self) -> Result<Client, Error> {
        let mut endpoints = vec![self.url?];
        for (i, url) in self.endpoints.into_iter().enumerate() {
            endpoints.push(url.map_err(|e| match e {
                Error::InvalidUrl(why) => Error::InvalidUrl(format!("endpoint {}: {why}", i + 1)),
                other => other,
            })?);
        }
        let config = Config {
            endpoints,
            heartbeat: self.heartbeat,
            reconnect: self.reconnect,
            limits: self.limits,
            headers: self.headers,
            subprotocols: self.subprotocols,
            compression: self.compression,
            tls: self.tls,
            proxy: self.proxy,
            resolver: self.resolver,
            before_connect: self.before_connect,
            pong_events: self.pong_events,
        };
        config.validate()?;
        // Where the I/O loop runs: a thread of its own with its own poller, or a task on the
        // runtime's least loaded thread.
        let mut task = None;
        let spawn_err = |e: std::io::Error| Error::Spawn(e.to_string());
        // On a thread of its own in channel mode, a consumer waiting for events reads the
        // socket itself while the loop sleeps (`io_loop::direct_read`): it needs the loop's
        // registry (and, made on its first direct read, a poller of its own).
        let mut direct = None;
        let (reactor, waker) = match &self.runtime {
            None => {
                let poll = mio::Poll::new().map_err(spawn_err)?;
                let waker = mio::Waker::new(poll.registry(), WAKE).map_err(spawn_err)?;
                if self.callback.is_none() {
                    direct = Some(poll.registry().try_clone().map_err(spawn_err)?);
                }
                (Reactor::own(poll), IoWaker::Own(waker))
            }
            Some(rt) => {
                let worker = rt.pick();
                let key = WorkerShared::new_key();
                let reactor = Reactor::Task(worker.clone(), mio::Token(key));
                task = Some((worker.clone(), key));
                (reactor, IoWaker::Task(worker, key))
            }
        };
        let shared = Arc::new(Shared::new(&config.limits, waker));
        let handle = Handle {
            shared: shared.clone(),
        };
        let (sink, events) = match self.callback {
            Some(mut cb) => {
                let h = handle.clone();
                (Sink::Callback(Box::new(move |ev| cb(&h, ev))), None)
            }
            None => {
                let (etx, erx) = crossbeam_channel::bounded(config.limits.event_capacity);
                // On a runtime the loop cannot block on a full channel: the consumer wakes
                // it when it takes an event.
                let room = self.runtime.is_some().then(|| shared.clone());
                let overflow = Arc::new(Overflow::new(room));
                let direct = direct.map(|registry| {
                    let token = reactor.token();
                    let pongs = config.pong_events;
                    Arc::new(DirectReader::new(shared.clone(), registry, token, pongs))
                });
                (
                    Sink::Channel(etx, overflow.clone()),
                    Some(Events::new(erx, overflow, direct)),
                )
            }
        };
        let io = IoLoop::new(config, shared.clone(), sink, reactor)?;
        let thread = match task {
            None => Some(
                thread::Builder::new()
                    .name("wsbeat-io".into())
                    .stack_size(256 * 1024)
                    .spawn(move || io.run())
                    .map_err(|e| Error::Spawn(e.to_string()))?,
            ),
            Some((worker, key)) => {
                worker.spawn(key, shared, Box::new(move || Box::pin(io.run_async())));
                None
            }
        };
        Ok(Client {
            owner: Arc::new(Owner {
                handle,
                thread: Mutex::new(thread),
                events,
                _runtime: self.runtime,
            }),
        })
    }
}

#[cfg(test)]
mod tests;
