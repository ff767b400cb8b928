//! `ws_client`: connect, send, close, free, state, stats, and the two ways to receive events
//! (a callback on the I/O thread, or pulling with `ws_next_event`).

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wsbeat::{Events, RecvTimeoutError, TryRecvError};

use super::config::ws_config;
use super::error::{fail, from_error, ws_result};
use super::event::{OwnedEvent, ws_event, ws_message_kind};
use super::hooks::{Gate, UserData};
use super::ptr::{borrow, bytes, str_arg, take_box, try_arg, try_res, write_out};
use wsbeat::Event;
use wsbeat::{Client, Handle, State};

/// An event callback: `userdata` is the pointer given with it; `event` is valid only until the
/// callback returns (copy what you keep). Runs on the client's I/O thread, one event at a
/// time, in order; it must not block for long (the connection is not serviced meanwhile; on a
/// `ws_runtime`, neither are the other clients of its thread). It
/// must return normally: no C++ exception or `longjmp` may leave it.
pub type ws_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const ws_event)>;

/// Where the client is in its life (`ws_state`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_client_state {
    /// Resolving, connecting, TLS or WebSocket handshake.
    WS_STATE_CONNECTING = 0,
    /// The WebSocket is open.
    WS_STATE_OPEN = 1,
    /// Waiting out a backoff delay before the next attempt.
    WS_STATE_RECONNECTING = 2,
    /// Close handshake under way after `ws_close`.
    WS_STATE_CLOSING = 3,
    /// Stopped for good (the `WS_EVENT_STOPPED` event was or is being delivered).
    WS_STATE_STOPPED = 4,
}

/// Size of `ws_client_stats.last_close_reason` (a close reason has at most 123 bytes).
pub const WS_CLOSE_REASON_MAX: usize = 124;

/// Counters and measurements of a client (`ws_stats`). A plain struct the caller owns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ws_client_stats {
    /// Successful opens (first connect and reconnects).
    pub connects: u64,
    /// Successful opens after the first.
    pub reconnects: u64,
    /// Heartbeats that went unanswered (each dropped a connection).
    pub missed_heartbeats: u64,
    /// Data messages received (heartbeat replies excluded).
    pub messages_in: u64,
    /// Data messages written to a socket (heartbeats excluded).
    pub messages_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes written.
    pub bytes_out: u64,
    /// The last heartbeat round trip in microseconds, or -1 if none was measured yet.
    pub last_rtt_us: i64,
    /// The smoothed heartbeat round trip in microseconds, or -1 if none was measured yet.
    pub smoothed_rtt_us: i64,
    /// Messages accepted by `ws_send` but not yet written to a socket.
    pub outbox_len: u64,
    /// How long the current connection has been open in milliseconds, or -1 when not open.
    pub uptime_ms: i64,
    /// The close code of the last connection that ended, or 0 if none ended yet.
    pub last_close_code: u16,
    /// The close reason of the last connection that ended, NUL-terminated UTF-8 (truncated
    /// at a character boundary if needed); `""` if none.
    pub last_close_reason: [c_char; WS_CLOSE_REASON_MAX],
    /// Whether the current (when not open: the last) connection negotiated permessage-deflate
    /// (`ws_config_set_compression`). (Added at the end of the struct.)
    pub compression: bool,
}

#[derive(Clone, Copy)]
struct Slot {
    callback: ws_event_callback,
    userdata: UserData,
}

/// The callback mode's dispatcher, shared with the closure on the I/O thread.
struct Dispatch {
    /// The current callback; copied out before each call (no lock held while calling).
    slot: Mutex<Slot>,
    /// Held by the I/O thread while a callback runs, so that `ws_on_event` and `ws_free` on
    /// other threads can wait for a running callback to return.
    running: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dispatch {
    fn deliver(&self, ev: Event) {
        let _running = lock(&self.running);
        let slot = *lock(&self.slot);
        let Some(cb) = slot.callback else { return };
        let owned = OwnedEvent::new(ev);
        // SAFETY: `cb` is a function pointer the host registered with this signature; the
        // event and everything it points to live in `owned` until after the call returns.
        unsafe { cb(slot.userdata.0, &owned.raw) };
    }

    /// After this returns no callback runs any more (unless called from the I/O thread).
    fn disable(&self) {
        lock(&self.slot).callback = None;
        drop(lock(&self.running));
    }
}

struct Pull {
    rx: Events,
    current: Mutex<Option<OwnedEvent>>,
}

enum Mode {
    Push(Arc<Dispatch>),
    Pull(Box<Pull>),
}

/// A WebSocket client whose connection lives on its own I/O thread (or on a thread of a
/// `ws_runtime`, see `ws_config_set_runtime`: "the I/O thread" below). Created by `ws_connect`,
/// freed by `ws_free`. Every function taking a `ws_client` may be called from any thread
/// (except `ws_free`, which must not race with other calls on the same client).
pub struct ws_client {
    client: Client,
    mode: Mode,
    /// The config's hooks (before_connect, reconnect_on_close, heartbeat matcher) call the
    /// host through this; `ws_free` disables it.
    hooks: Arc<Gate>,
}

impl std::fmt::Debug for ws_client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ws_client").finish_non_exhaustive()
    }
}

impl ws_client {
    fn handle(&self) -> &Handle {
        &self.client
    }

    /// Whether the calling thread is this client's I/O thread (inside one of its callbacks,
    /// or a logger callback running on that thread).
    fn on_io_thread(&self) -> bool {
        self.handle().on_io_thread()
    }
}

/// Connect to `url` (`ws://` or `wss://`, NUL-terminated) with `config` (NULL: the defaults).
///
/// Returns at once: connecting happens on the client's I/O thread and is reported by events
/// (`WS_EVENT_CONNECTING`, `WS_EVENT_OPENED` or `WS_EVENT_ERROR`...). Messages sent before
/// the connection opens wait in the outbox.
///
/// - Callback mode (`callback` non-NULL): every event, from the very first, goes to
///   `callback(userdata, event)` on the I/O thread; none is lost between connect and
///   registration. `userdata` is passed back untouched and must stay valid until `ws_free`
///   returns (or until the callback is replaced with `ws_on_event`).
/// - Pull mode (`callback` NULL): events queue up for `ws_next_event`; `userdata` is ignored.
///
/// On success `*out_client` receives the client, to be freed with `ws_free`. On failure
/// `*out_client` is set to NULL (if `out_client` is not NULL) and nothing was started. The
/// config is copied: it may be freed or changed right after.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`url` or `out_client`), `WS_ERR_INVALID_UTF8`,
/// `WS_ERR_INVALID_URL`, `WS_ERR_INVALID_CONFIG`, `WS_ERR_INVALID_HEADER`, `WS_ERR_TLS`,
/// `WS_ERR_SPAWN`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_connect(
    url: *const c_char,
    config: *const ws_config,
    callback: ws_event_callback,
    userdata: *mut c_void,
    out_client: *mut *mut ws_client,
) -> ws_result {
    ffi_guard!({
        if !write_out(out_client, std::ptr::null_mut()) {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "out_client is NULL".into());
        }
        let url = try_res!(str_arg(url, "url"));
        // Pull mode reports heartbeat answers (WS_EVENT_PONG), as documented.
        let mut builder = Client::builder(url).pong_events(true);
        let hooks = Arc::new(Gate::default());
        if let Some(config) = borrow(config) {
            builder = config.apply(builder, &hooks);
        }
        let dispatch = callback.map(|cb| {
            Arc::new(Dispatch {
                slot: Mutex::new(Slot {
                    callback: Some(cb),
                    userdata: UserData(userdata),
                }),
                running: Mutex::new(()),
            })
        });
        if let Some(d) = &dispatch {
            let d = d.clone();
            builder = builder.on_event(move |_handle, ev| d.deliver(ev));
        }
        let client = match builder.connect() {
            Ok(c) => c,
            Err(e) => return from_error(&e),
        };
        let mode = match dispatch {
            Some(d) => Mode::Push(d),
            None => Mode::Pull(Box::new(Pull {
                rx: client
                    .events()
                    .expect("a client without callback has a channel"),
                current: Mutex::new(None),
            })),
        };
        write_out(
            out_client,
            Box::into_raw(Box::new(ws_client {
                client,
                mode,
                hooks,
            })),
        );
        ws_result::WS_OK
    })
}

/// Replace the event callback of a callback-mode client. From the next event on,
/// `callback(userdata, ...)` is called instead of the previous one.
///
/// Called from another thread, it waits for a running callback to return: once it returns,
/// the previous callback is not running and will never be called again (so its userdata may
/// be freed). Called from inside a callback of this client, it takes effect at the next event.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`client` or `callback` NULL), `WS_ERR_WRONG_MODE` (a
/// pull-mode client).
#[unsafe(no_mangle)]
pub extern "C" fn ws_on_event(
    client: *const ws_client,
    callback: ws_event_callback,
    userdata: *mut c_void,
) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        if callback.is_none() {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "callback is NULL".into());
        }
        let Mode::Push(d) = &client.mode else {
            return fail(
                ws_result::WS_ERR_WRONG_MODE,
                "ws_on_event on a pull-mode client (connected without callback)".into(),
            );
        };
        *lock(&d.slot) = Slot {
            callback,
            userdata: UserData(userdata),
        };
        if !client.on_io_thread() {
            drop(lock(&d.running));
        }
        ws_result::WS_OK
    })
}

/// Queue a message: `len` bytes at `data` (copied; NULL allowed when `len` is 0), `kind` a
/// `ws_message_kind`. Text must be valid UTF-8. It goes out at once when open; while
/// connecting or reconnecting it waits in the outbox and is sent, in order, after the next
/// open. Safe to call from any thread, including from inside a callback. Never blocks: when
/// the outbox is full it fails (see `ws_send_wait` for a send that waits for room).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT` (unknown kind),
/// `WS_ERR_INVALID_UTF8`, `WS_ERR_MESSAGE_TOO_LARGE`, `WS_ERR_OUTBOX_FULL` (nothing queued),
/// `WS_ERR_CLOSED` (closed or stopped).
#[unsafe(no_mangle)]
pub extern "C" fn ws_send(
    client: *const ws_client,
    data: *const u8,
    len: usize,
    kind: u32,
) -> ws_result {
    ffi_guard!({ send_message(client, data, len, kind, None) })
}

/// Queue a message like `ws_send` (same arguments and checks), but when the outbox is full,
/// wait for room, at most `timeout_ms` milliseconds (0: do not wait, exactly `ws_send`;
/// negative: without limit), instead of failing at once. Returns `WS_OK` once the message is
/// queued (not once it is written).
///
/// The calling thread sleeps (no polling) until the I/O thread has written the outbox down to
/// its low-water mark, at most half of each bound of `ws_config_set_outbox_limits`, then
/// tries again; if other senders took the room first it sleeps again, all within
/// `timeout_ms`. While the client is connecting or waiting to reconnect nothing is written,
/// so it waits for the next open (or the timeout). A message larger than the byte bound fits
/// only an empty outbox, as with `ws_send`.
///
/// - From inside a callback of this client it never waits (the I/O thread, which runs the
///   callback, is what empties the outbox): it behaves like `ws_send` there.
/// - `ws_close` from another thread wakes it at once with `WS_ERR_CLOSED`. Like every call,
///   it must not run concurrently with `ws_free` on the same client: close the client, let
///   the waiting thread return, then free.
///
/// Errors: those of `ws_send`: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT` (unknown
/// kind), `WS_ERR_INVALID_UTF8`, `WS_ERR_MESSAGE_TOO_LARGE`, `WS_ERR_OUTBOX_FULL` (still no
/// room after `timeout_ms`; nothing queued), `WS_ERR_CLOSED` (closed or stopped, also while
/// waiting).
#[unsafe(no_mangle)]
pub extern "C" fn ws_send_wait(
    client: *const ws_client,
    data: *const u8,
    len: usize,
    kind: u32,
    timeout_ms: i64,
) -> ws_result {
    ffi_guard!({
        let timeout = u64::try_from(timeout_ms).map_or(Duration::MAX, Duration::from_millis);
        send_message(client, data, len, kind, Some(timeout))
    })
}

/// The body of `ws_send` and `ws_send_wait` (`wait`: the timeout of the latter).
fn send_message(
    client: *const ws_client,
    data: *const u8,
    len: usize,
    kind: u32,
    wait: Option<Duration>,
) -> ws_result {
    let client = try_arg!(borrow(client), "client");
    let data = try_arg!(bytes(data, len), "data");
    let handle = client.handle();
    let result = if kind == ws_message_kind::WS_MESSAGE_TEXT as u32 {
        let text = match std::str::from_utf8(data) {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    ws_result::WS_ERR_INVALID_UTF8,
                    format!("text message is not valid UTF-8: {e}"),
                );
            }
        };
        match wait {
            None => handle.send_text(text),
            Some(timeout) => handle.send_text_wait(text, timeout),
        }
    } else if kind == ws_message_kind::WS_MESSAGE_BINARY as u32 {
        match wait {
            None => handle.send_binary(data),
            Some(timeout) => handle.send_binary_wait(data, timeout),
        }
    } else {
        return fail(
            ws_result::WS_ERR_INVALID_ARGUMENT,
            format!("unknown message kind {kind}"),
        );
    };
    match result {
        Ok(()) => ws_result::WS_OK,
        Err(e) => from_error(&e),
    }
}

/// Close gracefully: send a close frame with `code` (1000 or 3000..=4999) and `reason`
/// (NUL-terminated UTF-8 of at most 123 bytes; NULL means `""`), wait for the server's
/// (bounded by the close timeout), stop for good: never reconnects. `WS_EVENT_CLOSED` and
/// `WS_EVENT_STOPPED` follow. Closing a stopped client does nothing and returns `WS_OK`.
///
/// From another thread it blocks until the I/O thread has stopped (at most the close timeout
/// plus 500 ms); from inside a callback it returns at once. The client must still be freed
/// with `ws_free`.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_ARGUMENT` (code not
/// allowed, reason too long).
#[unsafe(no_mangle)]
pub extern "C" fn ws_close(
    client: *const ws_client,
    code: u16,
    reason: *const c_char,
) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        let reason = if reason.is_null() {
            ""
        } else {
            try_res!(str_arg(reason, "reason"))
        };
        match client.handle().close(code, reason) {
            Ok(()) => ws_result::WS_OK,
            Err(e) => from_error(&e),
        }
    })
}

/// Drop the current connection (or cut a backoff wait short) and connect again at once.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_CLOSED` (the client has stopped).
#[unsafe(no_mangle)]
pub extern "C" fn ws_reconnect_now(client: *const ws_client) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        match client.handle().reconnect_now() {
            Ok(()) => ws_result::WS_OK,
            Err(e) => from_error(&e),
        }
    })
}

/// Free a client: close it (code 1000) if it has not stopped, wait for its I/O thread (at
/// most the close timeout plus 500 ms), and free everything it allocated, including an
/// event held for pull mode (events not yet pulled are discarded). NULL is a no-op returning
/// `WS_OK`.
///
/// The remaining events (`WS_EVENT_CLOSED`, `WS_EVENT_STOPPED`) may be delivered to the
/// callback while `ws_free` runs; once it returns, no callback of this client runs or will
/// run, and its userdata may be freed. The client pointer is invalid afterwards. `ws_free`
/// must not run concurrently with any other call on the same client.
///
/// From inside one of this client's callbacks (event or logger callback on its I/O thread)
/// it is refused with `WS_ERR_IN_CALLBACK` and nothing is freed: call `ws_close` there, and
/// `ws_free` from another thread.
///
/// Errors: `WS_ERR_IN_CALLBACK`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_free(client: *mut ws_client) -> ws_result {
    ffi_guard!({
        let Some(c) = borrow(client) else {
            return ws_result::WS_OK;
        };
        if c.on_io_thread() {
            return fail(
                ws_result::WS_ERR_IN_CALLBACK,
                "ws_free called from the client's own I/O thread (inside a callback); \
                 use ws_close there and ws_free from another thread"
                    .into(),
            );
        }
        let Some(boxed) = take_box(client) else {
            return ws_result::WS_OK;
        };
        let ws_client {
            client,
            mode,
            hooks,
        } = *boxed;
        let dispatch = match mode {
            Mode::Push(d) => Some(d),
            Mode::Pull(pull) => {
                // Nobody will read the queued events: with our receiver gone, the client's
                // own goes in `drop(client)`, and an I/O loop finding the queue full then
                // delivers nowhere instead of waiting for a reader. (Draining instead would
                // wait for the loop, which on a runtime may be this very thread: `ws_free`
                // from a callback of another client of the same runtime thread.)
                drop(pull);
                None
            }
        };
        // Closes, and joins the I/O thread within the close timeout (on a runtime: waits for
        // the client's task to end, unless called on its runtime thread, see above).
        drop(client);
        hooks.disable();
        if let Some(d) = dispatch {
            // If the I/O thread had to be detached, make sure it calls the host no more.
            d.disable();
        }
        ws_result::WS_OK
    })
}

/// Store the client's current state in `*out_state` (a `ws_client_state`).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_state(client: *const ws_client, out_state: *mut ws_client_state) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        let s = match client.handle().state() {
            State::Connecting => ws_client_state::WS_STATE_CONNECTING,
            State::Open => ws_client_state::WS_STATE_OPEN,
            State::Reconnecting => ws_client_state::WS_STATE_RECONNECTING,
            State::Closing => ws_client_state::WS_STATE_CLOSING,
            State::Stopped => ws_client_state::WS_STATE_STOPPED,
            // `State` is non-exhaustive: a state added later gets its own constant in the
            // same change; until then the closest the header has.
            _ => ws_client_state::WS_STATE_CONNECTING,
        };
        if !write_out(out_state, s) {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "out_state is NULL".into());
        }
        ws_result::WS_OK
    })
}

fn micros(d: Option<Duration>) -> i64 {
    d.map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Fill `*out_stats` with a snapshot of the client's counters (the struct is the caller's).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_stats(client: *const ws_client, out_stats: *mut ws_client_stats) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        let s = client.handle().stats();
        let mut reason = [0 as c_char; WS_CLOSE_REASON_MAX];
        if let Some(r) = &s.last_close_reason {
            let mut end = r.len().min(WS_CLOSE_REASON_MAX - 1);
            while !r.is_char_boundary(end) {
                end -= 1;
            }
            for (dst, src) in reason.iter_mut().zip(&r.as_bytes()[..end]) {
                *dst = *src as c_char;
            }
        }
        let out = ws_client_stats {
            connects: s.connects,
            reconnects: s.reconnects,
            missed_heartbeats: s.missed_heartbeats,
            messages_in: s.messages_in,
            messages_out: s.messages_out,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            last_rtt_us: micros(s.last_rtt),
            smoothed_rtt_us: micros(s.smoothed_rtt),
            outbox_len: s.outbox_len as u64,
            uptime_ms: s
                .uptime
                .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            last_close_code: s.last_close_code.unwrap_or(0),
            last_close_reason: reason,
            compression: s.compression,
        };
        if !write_out(out_stats, out) {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "out_stats is NULL".into());
        }
        ws_result::WS_OK
    })
}

/// Pull mode: wait up to `timeout_ms` for the next event (0: do not wait; negative: wait
/// without limit) and store it in `*out_event`.
///
/// The event's pointers stay valid until the next `ws_next_event` or `ws_event_release` on
/// this client, or `ws_free`. Each call first releases the previous event. Call it from one
/// thread at a time per client (a second concurrent caller would release the first one's
/// event).
///
/// Returns `WS_OK` with an event, `WS_ERR_TIMEOUT` when none arrived in time, and
/// `WS_ERR_CLOSED` once the client has stopped and `WS_EVENT_STOPPED` was already returned.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_WRONG_MODE` (a callback-mode client),
/// `WS_ERR_TIMEOUT`, `WS_ERR_CLOSED`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_next_event(
    client: *const ws_client,
    timeout_ms: i64,
    out_event: *mut ws_event,
) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        if out_event.is_null() {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "out_event is NULL".into());
        }
        let Mode::Pull(pull) = &client.mode else {
            return fail(
                ws_result::WS_ERR_WRONG_MODE,
                "ws_next_event on a client with an event callback".into(),
            );
        };
        drop(lock(&pull.current).take());
        let got = if timeout_ms < 0 {
            pull.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else if timeout_ms == 0 {
            pull.rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            pull.rx
                .recv_timeout(Duration::from_millis(timeout_ms.unsigned_abs()))
        };
        match got {
            Ok(ev) => {
                let owned = OwnedEvent::new(ev);
                write_out(out_event, owned.raw); // checked non-NULL above
                *lock(&pull.current) = Some(owned);
                ws_result::WS_OK
            }
            Err(RecvTimeoutError::Timeout) => fail(
                ws_result::WS_ERR_TIMEOUT,
                format!("no event within {timeout_ms} ms"),
            ),
            Err(RecvTimeoutError::Disconnected) => fail(
                ws_result::WS_ERR_CLOSED,
                "the client has stopped and every event was delivered".into(),
            ),
        }
    })
}

/// Pull mode: release the event returned by the last `ws_next_event` now (its pointers become
/// invalid). Optional: the next `ws_next_event` and `ws_free` release it too. Does nothing
/// when no event is held or on a callback-mode client.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_event_release(client: *const ws_client) -> ws_result {
    ffi_guard!({
        let client = try_arg!(borrow(client), "client");
        if let Mode::Pull(pull) = &client.mode {
            drop(lock(&pull.current).take());
        }
        ws_result::WS_OK
    })
}
