//! `ws_config`: every option of a client, set one by one, then used by `ws_connect`.

use std::ffi::c_char;
use std::time::Duration;

use std::ffi::c_void;
use std::sync::Arc;

use super::error::{fail, ws_result};
use super::event::ws_message_kind;
use super::hooks::{
    BeforeConnect, CustomHeartbeat, Gate, OnClose, UserData, ws_before_connect_callback,
    ws_close_code_callback, ws_heartbeat_matcher_callback,
};
use super::ptr::{borrow, borrow_mut, bytes, str_arg, take_box, try_arg, try_res};
use super::runtime::ws_runtime;
use wsbeat::ClientBuilder;
use wsbeat::Message;
use wsbeat::Proxy;
use wsbeat::Runtime;
use wsbeat::TlsOptions;
use wsbeat::{Compression, Heartbeat, Reconnect, check_header};

/// The largest duration any `ws_config_set_*` function accepts, in milliseconds (7 days).
pub const WS_MAX_DURATION_MS: u64 = 7 * 24 * 3600 * 1000;
/// The largest `ws_config_set_max_message_size` (1 GiB).
pub const WS_MAX_MESSAGE_SIZE: usize = 1 << 30;
/// The largest message bound of `ws_config_set_outbox_limits` (2^24 messages).
pub const WS_MAX_OUTBOX_MESSAGES: usize = 1 << 24;
/// The largest `ws_config_set_event_capacity` (65536 events; the queue is allocated up front).
pub const WS_MAX_EVENT_CAPACITY: usize = 1 << 16;

// The C names of the library's bounds must not drift from the Rust ones.
const _: () = assert!(WS_MAX_MESSAGE_SIZE == wsbeat::MAX_MESSAGE_SIZE);
const _: () = assert!(WS_MAX_OUTBOX_MESSAGES == wsbeat::MAX_OUTBOX_MESSAGES);
const _: () = assert!(WS_MAX_EVENT_CAPACITY == wsbeat::MAX_EVENT_CAPACITY);
const _: () = assert!(WS_MAX_DURATION_MS as u128 == wsbeat::MAX_DURATION.as_millis());

/// `value` within `1..=max`, else `WS_ERR_INVALID_ARGUMENT` naming `what` and the range.
fn count(value: usize, max: usize, what: &str) -> Result<usize, ws_result> {
    if value == 0 || value > max {
        return Err(invalid(format!(
            "{what} = {value} is out of range (1..={max})"
        )));
    }
    Ok(value)
}

/// How the client proves the peer is alive (`ws_config_set_heartbeat`'s `mode`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_heartbeat_mode {
    /// No heartbeat: only TCP errors reveal a dead peer.
    WS_HEARTBEAT_OFF = 0,
    /// WebSocket ping frames; the matching pong gives the round trip.
    WS_HEARTBEAT_PING = 1,
    /// The seed protocol's JSON heartbeat: sends `{"ModeCode":"heart_beat","msg":<unix ms>}`;
    /// the server's echo is the answer (and is not reported as a message).
    WS_HEARTBEAT_SEED_JSON = 2,
}

/// The configuration of a client: heartbeat, reconnect policy, limits, headers, TLS.
///
/// Create with `ws_config_new`, change with the `ws_config_*` setters, pass to `ws_connect`
/// (which copies what it needs: the config can be freed or reused right after), free with
/// `ws_config_free`. A config must not be changed by two threads at once.
#[derive(Default)]
pub struct ws_config {
    heartbeat: Heartbeat,
    reconnect: Reconnect,
    max_message_size: Option<usize>,
    outbox: Option<(usize, usize)>,
    connect_timeout: Option<Duration>,
    close_timeout: Option<Duration>,
    event_capacity: Option<usize>,
    pong_events: Option<bool>,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    compression: Option<Compression>,
    tls: TlsOptions,
    /// Set by `ws_config_set_custom_heartbeat`; replaces `heartbeat` until
    /// `ws_config_set_heartbeat` is called again.
    custom_heartbeat: Option<CustomHeartbeat>,
    before_connect: Option<BeforeConnect>,
    on_close: Option<OnClose>,
    proxy: Proxy,
    /// `ws_config_add_endpoint`, in order (checked when added).
    endpoints: Vec<String>,
    /// `ws_config_set_runtime`: the shared I/O threads, or none (a thread per client).
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for ws_config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ws_config").finish_non_exhaustive()
    }
}

impl ws_config {
    /// Apply everything to a builder; the host's hooks are called through `gate` (the
    /// client's: `ws_free` disables it).
    pub(crate) fn apply(&self, mut b: ClientBuilder, gate: &Arc<Gate>) -> ClientBuilder {
        let heartbeat = match &self.custom_heartbeat {
            Some(c) => c.heartbeat(gate.clone()),
            None => self.heartbeat.clone(),
        };
        let mut reconnect = self.reconnect.clone();
        if let Some(on_close) = self.on_close {
            reconnect = reconnect.reconnect_on_close(on_close.predicate(gate.clone()));
        }
        b = b
            .heartbeat(heartbeat)
            .reconnect(reconnect)
            .tls(self.tls.clone())
            .proxy(self.proxy.clone());
        if let Some(hook) = self.before_connect {
            b = b.before_connect(hook.hook(gate.clone()));
        }
        if let Some(n) = self.max_message_size {
            b = b.max_message_size(n);
        }
        if let Some((m, by)) = self.outbox {
            b = b.outbox_limit(m, by);
        }
        if let Some(d) = self.connect_timeout {
            b = b.connect_timeout(d);
        }
        if let Some(d) = self.close_timeout {
            b = b.close_timeout(d);
        }
        if let Some(n) = self.event_capacity {
            b = b.event_capacity(n);
        }
        if let Some(on) = self.pong_events {
            b = b.pong_events(on);
        }
        for (k, v) in &self.headers {
            b = b.header(k.clone(), v.clone());
        }
        for p in &self.subprotocols {
            b = b.subprotocol(p.clone());
        }
        if let Some(c) = &self.compression {
            b = b.compression(c.clone());
        }
        for url in &self.endpoints {
            b = b.endpoint(url);
        }
        if let Some(rt) = &self.runtime {
            b = b.runtime(rt);
        }
        b
    }
}

fn duration(ms: u64, what: &str, allow_zero: bool) -> Result<Duration, ws_result> {
    if ms > WS_MAX_DURATION_MS || (ms == 0 && !allow_zero) {
        let lower = if allow_zero { 0 } else { 1 };
        return Err(fail(
            ws_result::WS_ERR_INVALID_ARGUMENT,
            format!("{what} = {ms} ms is out of range ({lower}..={WS_MAX_DURATION_MS} ms)"),
        ));
    }
    Ok(Duration::from_millis(ms))
}

fn invalid(msg: String) -> ws_result {
    fail(ws_result::WS_ERR_INVALID_ARGUMENT, msg)
}

/// A new configuration with the defaults: ping heartbeat every 20 s with a 10 s timeout;
/// reconnect with exponential backoff (500 ms initial, 30 s max, factor 2, jitter 0.5, no
/// attempt limit, 5 s min uptime); 16 MiB max message size; outbox of 4096 messages / 64 MiB;
/// 10 s connect timeout; 2 s close timeout; pull-mode queue of 256 events; no extra headers
/// or subprotocols; no compression; TLS verified against the bundled Mozilla roots; the proxy
/// from the environment (`ws_config_set_proxy`).
///
/// Free it with `ws_config_free`. Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_new() -> *mut ws_config {
    ffi_guard!(std::ptr::null_mut(), {
        Box::into_raw(Box::new(ws_config::default()))
    })
}

/// Free a configuration from `ws_config_new`. NULL is a no-op. Clients already connected
/// with it are not affected.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_free(config: *mut ws_config) {
    ffi_guard!((), {
        drop(take_box(config));
    })
}

/// Set the heartbeat: `mode` is a `ws_heartbeat_mode`. When nothing was heard from the peer
/// for `interval_ms`, a heartbeat is sent; when nothing is heard within `timeout_ms` after it,
/// the peer is declared dead and the connection dropped (then reconnected per the policy).
/// With `WS_HEARTBEAT_OFF` the durations are ignored. Otherwise both must be > 0,
/// `timeout_ms < interval_ms`, at most `WS_MAX_DURATION_MS`. The seed demo uses
/// `WS_HEARTBEAT_SEED_JSON`, 4000, 2000. Defaults to ping, 20000, 10000.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT` (unknown mode, bad durations).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_heartbeat(
    config: *mut ws_config,
    mode: u32,
    interval_ms: u64,
    timeout_ms: u64,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        if mode == ws_heartbeat_mode::WS_HEARTBEAT_OFF as u32 {
            config.custom_heartbeat = None;
            config.heartbeat = Heartbeat::off();
            return ws_result::WS_OK;
        }
        let interval = try_res!(duration(interval_ms, "heartbeat interval", false));
        let timeout = try_res!(duration(timeout_ms, "heartbeat timeout", false));
        if timeout >= interval {
            return invalid(format!(
                "heartbeat timeout ({timeout_ms} ms) must be shorter than the interval \
                 ({interval_ms} ms)"
            ));
        }
        config.heartbeat = match mode {
            m if m == ws_heartbeat_mode::WS_HEARTBEAT_PING as u32 => {
                Heartbeat::ping(interval, timeout)
            }
            m if m == ws_heartbeat_mode::WS_HEARTBEAT_SEED_JSON as u32 => {
                Heartbeat::seed_json(interval, timeout)
            }
            other => return invalid(format!("unknown heartbeat mode {other}")),
        };
        config.custom_heartbeat = None;
        ws_result::WS_OK
    })
}

/// Set a custom application heartbeat (replacing `ws_config_set_heartbeat`'s until that is
/// called again): when nothing was heard from the peer for `interval_ms`, the client sends
/// the `len` bytes at `payload` (copied now) as a message of `kind` (a `ws_message_kind`; text
/// must be UTF-8); when nothing is heard within `timeout_ms` after it, the peer is declared
/// dead, as with the other modes. Same duration rules as `ws_config_set_heartbeat`.
///
/// `matcher(userdata, data, len, kind)` recognises the reply among received messages (see
/// `ws_heartbeat_matcher_callback`): a matched message is not reported as a message. NULL
/// means "a message equal to the payload (same kind and bytes) is the reply", for servers that
/// echo. Any frame from the peer proves it alive, matched or not; the matcher decides what
/// is hidden from the host and timed as the round trip. `userdata` is passed back untouched
/// and must stay valid until `ws_free` returns for every client connected with this config;
/// the matcher runs on the I/O thread and never after `ws_free` returns.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`config`, or `payload` NULL with `len` > 0),
/// `WS_ERR_INVALID_ARGUMENT` (unknown kind, bad durations), `WS_ERR_INVALID_UTF8` (a text
/// payload that is not UTF-8).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // one call, as the header shows it; a struct would be heavier in C
pub extern "C" fn ws_config_set_custom_heartbeat(
    config: *mut ws_config,
    interval_ms: u64,
    timeout_ms: u64,
    payload: *const u8,
    len: usize,
    kind: u32,
    matcher: ws_heartbeat_matcher_callback,
    userdata: *mut c_void,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let data = try_arg!(bytes(payload, len), "payload");
        let interval = try_res!(duration(interval_ms, "heartbeat interval", false));
        let timeout = try_res!(duration(timeout_ms, "heartbeat timeout", false));
        if timeout >= interval {
            return invalid(format!(
                "heartbeat timeout ({timeout_ms} ms) must be shorter than the interval \
                 ({interval_ms} ms)"
            ));
        }
        let payload = if kind == ws_message_kind::WS_MESSAGE_TEXT as u32 {
            match std::str::from_utf8(data) {
                Ok(t) => Message::Text(t.to_owned()),
                Err(e) => {
                    return fail(
                        ws_result::WS_ERR_INVALID_UTF8,
                        format!("text heartbeat payload is not valid UTF-8: {e}"),
                    );
                }
            }
        } else if kind == ws_message_kind::WS_MESSAGE_BINARY as u32 {
            Message::Binary(data.to_vec())
        } else {
            return invalid(format!("unknown message kind {kind}"));
        };
        config.custom_heartbeat = Some(CustomHeartbeat {
            interval,
            timeout,
            payload,
            matcher,
            userdata: UserData(userdata),
        });
        ws_result::WS_OK
    })
}

/// Call `callback(userdata, attempt, request)` on the I/O thread before every connection
/// attempt; it may change this attempt's URL and headers through `request` (see
/// `ws_before_connect_callback` and `ws_request`), e.g. to put a fresh token in. A non-`WS_OK`
/// return fails that attempt with a `WS_EVENT_ERROR` of kind `WS_ERROR_CALLBACK`, retried per
/// the reconnect policy. NULL removes the callback. `userdata` is passed back untouched and
/// must stay valid until `ws_free` returns for every client connected with this config; the
/// callback never runs after `ws_free` returns. Defaults to none.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`config`).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_before_connect(
    config: *mut ws_config,
    callback: ws_before_connect_callback,
    userdata: *mut c_void,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.before_connect = callback.map(|callback| BeforeConnect {
            callback,
            userdata: UserData(userdata),
        });
        ws_result::WS_OK
    })
}

/// Decide from a server's close code whether to reconnect: `callback(userdata, code)` runs on
/// the I/O thread when the server closes the connection (not after `ws_close`) and returns
/// true to reconnect, false to stop (`WS_STOP_POLICY_DECLINED`). It replaces the default
/// policy (reconnect unless the code is 1002, 1003, 1007, 1008 or 1010); NULL restores it.
/// A close frame without a code is asked about as 1005; a connection lost without any close
/// frame (1006) is not asked about (it is always retried). `userdata` must stay
/// valid until `ws_free` returns for every client connected with this config; the callback
/// never runs after `ws_free` returns.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`config`).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_reconnect_on_close(
    config: *mut ws_config,
    callback: ws_close_code_callback,
    userdata: *mut c_void,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.on_close = callback.map(|callback| OnClose {
            callback,
            userdata: UserData(userdata),
        });
        ws_result::WS_OK
    })
}

/// Turn automatic reconnection on or off. Off: the client stops when the connection ends or
/// the first connect fails (`WS_STOP_RECONNECT_DISABLED`). Defaults to on.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_reconnect(config: *mut ws_config, enabled: bool) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.reconnect = config.reconnect.clone().enable(enabled);
        ws_result::WS_OK
    })
}

/// Set the reconnect backoff: the delay before attempt n is
/// `min(max_ms, initial_ms * factor^(n-1))`, reduced by a random fraction of up to `jitter`.
/// Requires `0 < initial_ms <= max_ms <= WS_MAX_DURATION_MS`, `factor >= 1` (finite),
/// `0 <= jitter <= 1`. For the seed's fixed delay use `(3000, 3000, 1.0, 0.0)`. Defaults to
/// 500, 30000, 2.0, 0.5.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_backoff(
    config: *mut ws_config,
    initial_ms: u64,
    max_ms: u64,
    factor: f64,
    jitter: f64,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let initial = try_res!(duration(initial_ms, "backoff initial delay", false));
        let max = try_res!(duration(max_ms, "backoff max delay", false));
        if max < initial {
            return invalid(format!(
                "backoff max delay ({max_ms} ms) is below the initial delay ({initial_ms} ms)"
            ));
        }
        if !(factor.is_finite() && factor >= 1.0) {
            return invalid(format!("backoff factor {factor} must be a number >= 1"));
        }
        if !(0.0..=1.0).contains(&jitter) {
            return invalid(format!("backoff jitter {jitter} must be within 0..=1"));
        }
        config.reconnect = config
            .reconnect
            .clone()
            .initial(initial)
            .max(max)
            .factor(factor)
            .jitter(jitter);
        ws_result::WS_OK
    })
}

/// Stop after this many consecutive failed reconnect attempts (`WS_STOP_MAX_ATTEMPTS`);
/// 0 means no limit. Defaults to 0.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_max_attempts(
    config: *mut ws_config,
    max_attempts: u32,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.reconnect = config
            .reconnect
            .clone()
            .max_attempts((max_attempts != 0).then_some(max_attempts));
        ws_result::WS_OK
    })
}

/// A connection that stayed open at least `min_uptime_ms` resets the backoff schedule
/// (0..=`WS_MAX_DURATION_MS`). Defaults to 5000.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_min_uptime(
    config: *mut ws_config,
    min_uptime_ms: u64,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let d = try_res!(duration(min_uptime_ms, "min uptime", true));
        config.reconnect = config.reconnect.clone().min_uptime(d);
        ws_result::WS_OK
    })
}

/// The longest server `Retry-After` (HTTP 429/503) that is honoured, in milliseconds
/// (0..=`WS_MAX_DURATION_MS`). Defaults to 300000.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_retry_after_cap(config: *mut ws_config, cap_ms: u64) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let d = try_res!(duration(cap_ms, "retry-after cap", true));
        config.reconnect = config.reconnect.clone().retry_after_cap(d);
        ws_result::WS_OK
    })
}

/// Whether a rejected server certificate is retried like other failures. Defaults to false
/// (the client stops with `WS_STOP_POLICY_DECLINED`).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_retry_certificate_errors(
    config: *mut ws_config,
    retry: bool,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.reconnect = config.reconnect.clone().retry_certificate_errors(retry);
        ws_result::WS_OK
    })
}

/// Whether pull mode (`ws_next_event`) reports heartbeat answers as `WS_EVENT_PONG`.
/// Defaults to true. With false an answered heartbeat no longer wakes the thread waiting in
/// `ws_next_event` (an idle connection then costs 2 wake-ups per heartbeat interval instead of
/// about 3); `ws_client_stats` still has the round-trip time. Callback mode always gets
/// `WS_EVENT_PONG`.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_pong_events(config: *mut ws_config, on: bool) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.pong_events = Some(on);
        ws_result::WS_OK
    })
}

/// Bound the outbox (messages accepted by `ws_send` but not yet written): at most
/// `max_messages` messages (1..=`WS_MAX_OUTBOX_MESSAGES`) and `max_bytes` payload bytes
/// (1..=16 GiB on 64-bit systems, 1 GiB on 32-bit ones). A send beyond either bound
/// fails with `WS_ERR_OUTBOX_FULL` (`ws_send_wait` waits for room first). An empty outbox
/// takes one message of any size up to the maximum message size. Defaults to 4096 and
/// 67108864 (64 MiB).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_outbox_limits(
    config: *mut ws_config,
    max_messages: usize,
    max_bytes: usize,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let m = try_res!(count(
            max_messages,
            WS_MAX_OUTBOX_MESSAGES,
            "outbox message limit"
        ));
        let b = try_res!(count(
            max_bytes,
            wsbeat::MAX_OUTBOX_BYTES,
            "outbox byte limit"
        ));
        config.outbox = Some((m, b));
        ws_result::WS_OK
    })
}

/// The largest message accepted in either direction, in bytes (1..=`WS_MAX_MESSAGE_SIZE`). Larger sends fail with
/// `WS_ERR_MESSAGE_TOO_LARGE`; larger incoming messages drop the connection. Defaults to
/// 16777216 (16 MiB).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_max_message_size(
    config: *mut ws_config,
    bytes: usize,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let n = try_res!(count(bytes, WS_MAX_MESSAGE_SIZE, "max message size"));
        config.max_message_size = Some(n);
        ws_result::WS_OK
    })
}

/// permessage-deflate (RFC 7692). With `enabled` false it is not offered (the default).
/// Otherwise it is offered in the handshake and used if the server accepts: `window_bits`
/// (9..=15; 15 is zlib's usual) is the LZ77 window of our compressor and, below 15, the one
/// asked of the server; `no_context_takeover` asks both sides to compress each message on its
/// own; messages shorter than `min_size` bytes are sent uncompressed (64 is a good value).
/// Each connection then holds about 330 KiB of zlib state at 15 bits (BENCHMARKS.md).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT` (`window_bits` out of range).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_compression(
    config: *mut ws_config,
    enabled: bool,
    window_bits: u32,
    no_context_takeover: bool,
    min_size: usize,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        if !enabled {
            config.compression = None;
            return ws_result::WS_OK;
        }
        if !(9..=15).contains(&window_bits) {
            return invalid(format!(
                "compression window_bits must be 9..=15, got {window_bits}"
            ));
        }
        config.compression = Some(
            Compression::deflate()
                .window_bits(window_bits as u8)
                .no_context_takeover(no_context_takeover)
                .min_size(min_size),
        );
        ws_result::WS_OK
    })
}

/// Bound on one connection attempt (DNS, TCP, TLS and WebSocket handshake), in milliseconds
/// (1..=`WS_MAX_DURATION_MS`). Defaults to 10000.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_connect_timeout(
    config: *mut ws_config,
    timeout_ms: u64,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.connect_timeout = Some(try_res!(duration(timeout_ms, "connect timeout", false)));
        ws_result::WS_OK
    })
}

/// Bound on the close handshake, in milliseconds (1..=`WS_MAX_DURATION_MS`). `ws_close` and
/// `ws_free` block at most this long plus 500 ms. Defaults to 2000.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_close_timeout(
    config: *mut ws_config,
    timeout_ms: u64,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.close_timeout = Some(try_res!(duration(timeout_ms, "close timeout", false)));
        ws_result::WS_OK
    })
}

/// Pull mode only: how many events may wait for `ws_next_event` (1..=`WS_MAX_EVENT_CAPACITY`;
/// the queue is allocated up front). When the queue is
/// full the client stops reading from the socket until the host catches up (nothing is
/// dropped). Defaults to 256.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_event_capacity(
    config: *mut ws_config,
    capacity: usize,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let n = try_res!(count(capacity, WS_MAX_EVENT_CAPACITY, "event capacity"));
        config.event_capacity = Some(n);
        ws_result::WS_OK
    })
}

/// The proxy to connect through, a NUL-terminated UTF-8 URL (copied):
/// `http://[user:password@]host[:port]` (HTTP CONNECT, Basic auth from the user info),
/// `https://...` (the same inside TLS to the proxy, verified with the config's TLS options;
/// port 443 by default), `socks5://...` (SOCKS5, the server's name resolved locally) or `socks5h://...` (the proxy
/// resolves it). `""` connects directly whatever the environment says; NULL (the default)
/// reads the proxy environment variables at each attempt (`no_proxy`, then `wss_proxy` or
/// `ws_proxy`, `https_proxy`, `http_proxy` for ws:// only, `all_proxy`; lower case first).
/// Credentials never appear in logs or events.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (config), `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_URL` (not
/// one of the schemes above, a path, SOCKS credentials over 255 bytes).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_proxy(config: *mut ws_config, url: *const c_char) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        if url.is_null() {
            config.proxy = Proxy::from_env();
            return ws_result::WS_OK;
        }
        let url = try_res!(str_arg(url, "proxy URL"));
        config.proxy = if url.is_empty() {
            Proxy::none()
        } else {
            match Proxy::url(url) {
                Ok(p) => p,
                Err(e) => return super::error::from_error(&e),
            }
        };
        ws_result::WS_OK
    })
}

/// Add a further endpoint, a NUL-terminated UTF-8 `ws://` or `wss://` URL (copied, checked
/// now). The URL given to `ws_connect` is endpoint 0; each call adds the next one. The first
/// attempt goes to endpoint 0, every attempt after it (a failed connect, a lost or closed
/// connection, `ws_reconnect_now`) to the next endpoint, wrapping round; the backoff
/// schedule is the client's across endpoints (one failure, one delay, one attempt; reset only
/// by a connection that stayed up for the min uptime). `WS_EVENT_OPENED`'s `endpoint` says
/// which one opened; a before-connect hook sees the chosen endpoint's URL
/// (`ws_request_url`) and its index (`ws_request_endpoint`), and may change the URL. Default:
/// no further endpoint.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_URL` (not `ws://`
/// or `wss://`, no host).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_add_endpoint(config: *mut ws_config, url: *const c_char) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let url = try_res!(str_arg(url, "endpoint URL"));
        if let Err(e) = wsbeat::check_url(url) {
            return super::error::from_error(&e);
        }
        config.endpoints.push(url.to_owned());
        ws_result::WS_OK
    })
}

/// Run the connections of clients connected with this config on `runtime`'s shared threads
/// (see `ws_runtime`) instead of an I/O thread of their own; NULL (the default) gives each
/// client its own thread again.
///
/// The config keeps the runtime's threads alive until it is freed or set to another runtime
/// (`ws_runtime_free` may come first; the `ws_runtime` pointer must not be used after it).
/// Each client's event callback, hooks and logger calls then run on its runtime thread.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`config`).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_set_runtime(
    config: *mut ws_config,
    runtime: *const ws_runtime,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.runtime = borrow(runtime).map(|r| r.runtime().clone());
        ws_result::WS_OK
    })
}

/// Add a request header sent with every connection attempt (e.g. `Authorization`). Both
/// strings are NUL-terminated UTF-8 and copied. Header values never appear in logs.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_HEADER` (a name or
/// value not allowed in HTTP).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_add_header(
    config: *mut ws_config,
    name: *const c_char,
    value: *const c_char,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let name = try_res!(str_arg(name, "header name"));
        let value = try_res!(str_arg(value, "header value"));
        if let Err(e) = check_header(name, value) {
            return super::error::from_error(&e);
        }
        config.headers.push((name.to_owned(), value.to_owned()));
        ws_result::WS_OK
    })
}

/// Offer a subprotocol (`Sec-WebSocket-Protocol`); call once per protocol, in order of
/// preference. The string is NUL-terminated, copied. The server's choice is reported in the
/// `WS_EVENT_OPENED` event's `text`.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_HEADER` (empty, or
/// not a visible ASCII token without commas).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_add_subprotocol(
    config: *mut ws_config,
    protocol: *const c_char,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let p = try_res!(str_arg(protocol, "subprotocol"));
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return fail(
                ws_result::WS_ERR_INVALID_HEADER,
                format!("bad subprotocol `{p}`"),
            );
        }
        config.subprotocols.push(p.to_owned());
        ws_result::WS_OK
    })
}

/// `wss://`: also trust the CA certificates in this PEM text (`len` bytes at `pem`, copied).
/// The PEM is parsed by `ws_connect`, which fails with `WS_ERR_TLS` if it is bad.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`config`, or `pem` NULL), `WS_ERR_INVALID_ARGUMENT`
/// (`len` 0).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_add_ca_pem(
    config: *mut ws_config,
    pem: *const u8,
    len: usize,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        if pem.is_null() {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "pem is NULL".into());
        }
        let pem = try_arg!(bytes(pem, len), "pem");
        if pem.is_empty() {
            return invalid("empty CA PEM".into());
        }
        config.tls = std::mem::take(&mut config.tls).add_ca_pem(pem.to_vec());
        ws_result::WS_OK
    })
}

/// `wss://`: also trust the CA certificates in the PEM file at `path` (NUL-terminated UTF-8).
/// The file is read now.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_TLS` (cannot read the file).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_add_ca_file(
    config: *mut ws_config,
    path: *const c_char,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        let path = try_res!(str_arg(path, "path"));
        let pem = match std::fs::read(path) {
            Ok(p) => p,
            Err(e) => {
                return fail(
                    ws_result::WS_ERR_TLS,
                    format!("cannot read CA file {path}: {e}"),
                );
            }
        };
        config.tls = std::mem::take(&mut config.tls).add_ca_pem(pem);
        ws_result::WS_OK
    })
}

/// `wss://`: present this client certificate chain and private key (both PEM, copied) for
/// mutual TLS. Parsed by `ws_connect` (`WS_ERR_TLS` if bad or not matching).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_ARGUMENT` (a length of 0).
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_set_client_cert_pem(
    config: *mut ws_config,
    cert_chain: *const u8,
    cert_chain_len: usize,
    key: *const u8,
    key_len: usize,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        if cert_chain.is_null() || key.is_null() {
            return fail(
                ws_result::WS_ERR_NULL_ARGUMENT,
                "cert_chain or key is NULL".into(),
            );
        }
        let chain = try_arg!(bytes(cert_chain, cert_chain_len), "cert_chain");
        let key = try_arg!(bytes(key, key_len), "key");
        if chain.is_empty() || key.is_empty() {
            return invalid("empty client certificate or key".into());
        }
        config.tls = std::mem::take(&mut config.tls).client_cert_pem(chain.to_vec(), key.to_vec());
        ws_result::WS_OK
    })
}

/// `wss://`: whether to trust the bundled Mozilla root certificates. Turn off to trust only
/// the CAs added with `ws_config_tls_add_ca_*`. Defaults to true.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_set_bundled_roots(
    config: *mut ws_config,
    use_them: bool,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.tls = config.tls.clone().bundled_roots(use_them);
        ws_result::WS_OK
    })
}

/// `wss://`: also trust the platform's root store. Needs a library built with the
/// `native-roots` feature, else `ws_connect` fails with `WS_ERR_TLS`. Defaults to false.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_set_native_roots(
    config: *mut ws_config,
    enabled: bool,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.tls = config.tls.clone().native_roots(enabled);
        ws_result::WS_OK
    })
}

/// `wss://`: use the platform's TLS library (OpenSSL on Linux) through native-tls instead of
/// rustls. Needs a library built with the `native-tls` feature, else `ws_connect` fails with
/// `WS_ERR_TLS`. Defaults to false (a build without rustls always uses native-tls).
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_use_native_tls(config: *mut ws_config, enabled: bool) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.tls = config.tls.clone().use_native_tls(enabled);
        ws_result::WS_OK
    })
}

/// DANGEROUS: accept any server certificate (self-signed test servers only). A warning is
/// logged at every connect. Defaults to false.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_config_tls_dangerous_disable_verification(
    config: *mut ws_config,
    disable: bool,
) -> ws_result {
    ffi_guard!({
        let config = try_arg!(borrow_mut(config), "config");
        config.tls = config.tls.clone().dangerous_disable_verification(disable);
        ws_result::WS_OK
    })
}
