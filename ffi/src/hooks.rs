//! The configuration hooks that call the host on the I/O thread: `before_connect` (with its
//! borrowed `ws_request` handle), the `reconnect_on_close` predicate and the custom
//! heartbeat's reply matcher, and the per-client [`Gate`] that guarantees none of them runs
//! after `ws_free` returns.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wsbeat::{ConnectRequest, Heartbeat, Message, check_header};

use super::error::{from_error, ws_result};
use super::event::ws_message_kind;
use super::ptr::{borrow, borrow_mut, str_arg, try_arg, try_res};

/// `ws_config_set_before_connect`'s callback: called on the I/O thread before every
/// connection attempt with `attempt` (0 for the first connect, then the reconnect attempt
/// number) and `request`, this attempt's URL and headers, which it may read and change with
/// the `ws_request_*` functions (e.g. put a fresh token in a header or the query string).
///
/// `request` is borrowed: valid only until the callback returns; never keep it. Return
/// `WS_OK` (0) to go on with the attempt; any other value (`WS_ERR_CALLBACK` is there for
/// this, or the error of a `ws_request_*` call) stops this attempt: it is reported
/// as a `WS_EVENT_ERROR` of kind `WS_ERROR_CALLBACK` (the same report as a panicking Rust
/// `before_connect` hook) and retried per the reconnect policy, like a failed connect. Like
/// every callback it must not block for long and must return normally (no C++ exception or
/// `longjmp` may leave it).
pub type ws_before_connect_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, attempt: u32, request: *mut ws_request) -> c_int,
>;

/// `ws_config_set_reconnect_on_close`'s predicate: called on the I/O thread when the server
/// closed the connection with `code`; returns true to reconnect, false to stop
/// (`WS_STOP_POLICY_DECLINED`). Must not block and must return normally.
pub type ws_close_code_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, code: u16) -> bool>;

/// `ws_config_set_custom_heartbeat`'s reply matcher: called on the I/O thread for every
/// message received while the custom heartbeat is on, with its `len` bytes at `data`
/// (borrowed: valid until the callback returns; NUL-terminated for convenience, the NUL not
/// counted in `len`) and its `kind` (a `ws_message_kind`). Returns true when the message is
/// the heartbeat's reply: it then proves the peer alive and is not reported as a message.
/// Must not block and must return normally.
pub type ws_heartbeat_matcher_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize, kind: u32) -> bool,
>;

/// A host pointer handed back to the host's callbacks, never dereferenced here.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);

impl UserData {
    /// The pointer (a method, so that closures capture the whole `Send + Sync` wrapper and
    /// not its raw-pointer field).
    pub(crate) fn ptr(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the pointer is never dereferenced by the library, only handed back to the host's
// callbacks; the host promises (header: threading rules) that it may be used on the I/O
// thread, and the callbacks that receive it never run concurrently for one client.
unsafe impl Send for UserData {}
// SAFETY: as for `Send`: shared references only copy the pointer out, to pass it to the host.
unsafe impl Sync for UserData {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One per client: every hook call goes through [`Gate::call`]; after [`Gate::disable`]
/// returns, no hook of the client is running or will run (even on an I/O thread that
/// `ws_free` had to detach).
#[derive(Default)]
pub(crate) struct Gate {
    disabled: AtomicBool,
    /// Held while a hook runs, so that `disable` can wait for it to return.
    running: Mutex<()>,
}

impl Gate {
    /// Run `f` (which calls the host) unless the gate is disabled; then `otherwise`.
    fn call<R>(&self, otherwise: R, f: impl FnOnce() -> R) -> R {
        let _running = lock(&self.running);
        if self.disabled.load(Ordering::Acquire) {
            return otherwise;
        }
        f()
    }

    /// Stop calling the host; waits for a hook that is running (call it off the I/O thread).
    pub(crate) fn disable(&self) {
        self.disabled.store(true, Ordering::Release);
        drop(lock(&self.running));
    }
}

/// A C `before_connect` callback with its userdata.
#[derive(Clone, Copy)]
pub(crate) struct BeforeConnect {
    pub(crate) callback: unsafe extern "C" fn(*mut c_void, u32, *mut ws_request) -> c_int,
    pub(crate) userdata: UserData,
}

impl BeforeConnect {
    /// The Rust hook calling it through `gate`.
    pub(crate) fn hook(self, gate: Arc<Gate>) -> impl Fn(&mut ConnectRequest) + Send + Sync {
        move |req: &mut ConnectRequest| {
            let rc = gate.call(0, || {
                let mut handle = ws_request {
                    req: req.clone(),
                    strings: Vec::new(),
                };
                // SAFETY: `callback` is a function pointer the host registered with this
                // signature; `handle` lives until after the call returns, which is as long as
                // the header says the pointer is valid.
                let rc = unsafe { (self.callback)(self.userdata.ptr(), req.attempt, &mut handle) };
                if rc == 0 {
                    *req = handle.req;
                }
                rc
            });
            if rc != 0 {
                let msg = format!(
                    "before_connect callback returned {rc} ({}): this attempt fails",
                    result_name(rc)
                );
                log::warn!("{msg}");
                // The Rust hook's one way to fail an attempt is to panic: the I/O loop catches
                // it and reports `Error { kind: Callback }`, then retries per the policy.
                // `resume_unwind` does not run the panic hook (nothing printed to stderr).
                std::panic::resume_unwind(Box::new(msg));
            }
        }
    }
}

fn result_name(rc: c_int) -> String {
    u32::try_from(rc)
        .ok()
        .and_then(ws_result::from_u32)
        .map_or_else(
            || "not a ws_result".into(),
            |r| r.name().to_string_lossy().into_owned(),
        )
}

/// A C close-code predicate with its userdata.
#[derive(Clone, Copy)]
pub(crate) struct OnClose {
    pub(crate) callback: unsafe extern "C" fn(*mut c_void, u16) -> bool,
    pub(crate) userdata: UserData,
}

impl OnClose {
    /// The Rust predicate calling it through `gate` (false once the gate is disabled).
    pub(crate) fn predicate(self, gate: Arc<Gate>) -> impl Fn(u16) -> bool + Send + Sync {
        move |code| {
            gate.call(false, || {
                // SAFETY: a function pointer the host registered with this signature.
                unsafe { (self.callback)(self.userdata.ptr(), code) }
            })
        }
    }
}

/// The custom heartbeat of a `ws_config`: its timing, payload (copied) and matcher.
#[derive(Clone)]
pub(crate) struct CustomHeartbeat {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) payload: Message,
    pub(crate) matcher: Option<unsafe extern "C" fn(*mut c_void, *const u8, usize, u32) -> bool>,
    pub(crate) userdata: UserData,
}

impl CustomHeartbeat {
    /// The Rust heartbeat: sends a copy of the payload; a NULL matcher means "a message equal
    /// to the payload (same kind, same bytes) is the reply".
    pub(crate) fn heartbeat(&self, gate: Arc<Gate>) -> Heartbeat {
        let payload = self.payload.clone();
        let make = move || payload.clone();
        let Some(matcher) = self.matcher else {
            let expected = self.payload.clone();
            return Heartbeat::custom(self.interval, self.timeout, make, move |m| *m == expected);
        };
        let userdata = self.userdata;
        let is_reply = move |m: &Message| {
            gate.call(false, || {
                let (kind, bytes) = match m {
                    Message::Text(t) => (ws_message_kind::WS_MESSAGE_TEXT, t.as_bytes()),
                    Message::Binary(b) => (ws_message_kind::WS_MESSAGE_BINARY, b.as_slice()),
                };
                // NUL-terminated for C string habits (as event payloads are).
                let mut data = Vec::with_capacity(bytes.len() + 1);
                data.extend_from_slice(bytes);
                data.push(0);
                // SAFETY: a function pointer the host registered with this signature; `data`
                // holds `bytes.len()` readable bytes (plus the NUL) until the call returns.
                unsafe { matcher(userdata.ptr(), data.as_ptr(), bytes.len(), kind as u32) }
            })
        };
        Heartbeat::custom(self.interval, self.timeout, make, is_reply)
    }
}

/// One connection attempt's URL and headers, lent to a `ws_before_connect_callback`.
///
/// Valid only during that callback: never keep the pointer. Read it with `ws_request_url`,
/// `ws_request_header_count`, `ws_request_header_name` and `ws_request_header_value`; change
/// it with `ws_request_set_url`, `ws_request_set_header`, `ws_request_add_header` and
/// `ws_request_remove_header`. Every attempt starts again from its endpoint's URL (the one
/// given to `ws_connect`, or an added one: `ws_request_endpoint`) and the config's headers:
/// changes made for one attempt do not carry over to the next.
/// Only the callback's thread (the I/O thread) may use it. If the callback returns an error,
/// its changes are discarded.
pub struct ws_request {
    req: ConnectRequest,
    /// Every string handed out, kept until the callback returns (so each pointer stays valid
    /// that long, even after the request is changed).
    strings: Vec<CString>,
}

impl std::fmt::Debug for ws_request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.req.fmt(f)
    }
}

impl ws_request {
    /// Keep `s` until the callback returns and return a pointer to it (NULL if `s` holds a
    /// NUL byte, which checked URLs and headers never do).
    fn lend(&mut self, s: &str) -> *const c_char {
        match CString::new(s) {
            Ok(c) => {
                let p = c.as_ptr();
                self.strings.push(c);
                p
            }
            Err(_) => std::ptr::null(),
        }
    }
}

/// The URL of this attempt (NUL-terminated, credentials included), borrowed: valid until the
/// callback that received `request` returns. NULL if `request` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_url(request: *mut ws_request) -> *const c_char {
    ffi_guard!(std::ptr::null(), {
        let Some(r) = borrow_mut(request) else {
            return std::ptr::null();
        };
        let url = r.req.url().to_owned();
        r.lend(&url)
    })
}

/// The index of the endpoint this attempt was chosen for: 0 for the URL given to
/// `ws_connect`, 1.. for each `ws_config_add_endpoint` in the order added (unchanged by
/// `ws_request_set_url`). `UINT32_MAX` if `request` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_endpoint(request: *const ws_request) -> u32 {
    ffi_guard!(u32::MAX, {
        match borrow(request) {
            Some(r) => u32::try_from(r.req.endpoint()).unwrap_or(u32::MAX),
            None => u32::MAX,
        }
    })
}

/// Connect this attempt to `url` instead (NUL-terminated UTF-8, copied; `ws://` or `wss://`
/// with a host). On failure the request is unchanged.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_URL`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_set_url(request: *mut ws_request, url: *const c_char) -> ws_result {
    ffi_guard!({
        let r = try_arg!(borrow_mut(request), "request");
        let url = try_res!(str_arg(url, "url"));
        match r.req.set_url(url) {
            Ok(()) => ws_result::WS_OK,
            Err(e) => from_error(&e),
        }
    })
}

/// Check a header of a `ws_request_*` call: the name and value as `&str`, or the error.
fn header_args<'a>(
    name: *const c_char,
    value: *const c_char,
) -> Result<(&'a str, &'a str), ws_result> {
    let name = str_arg(name, "header name")?;
    let value = str_arg(value, "header value")?;
    check_header(name, value).map_err(|e| from_error(&e))?;
    Ok((name, value))
}

/// Set the header `name` (case-insensitive) to `value` for this attempt: replaces every
/// header of that name, or adds it. Both NUL-terminated UTF-8, copied.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_HEADER` (a name or
/// value not allowed in HTTP; the request is unchanged).
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_set_header(
    request: *mut ws_request,
    name: *const c_char,
    value: *const c_char,
) -> ws_result {
    ffi_guard!({
        let r = try_arg!(borrow_mut(request), "request");
        let (name, value) = try_res!(header_args(name, value));
        let headers = &mut r.req.headers;
        match headers
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(first) => {
                headers[first] = (name.to_owned(), value.to_owned());
                let mut i = 0;
                headers.retain(|(k, _)| {
                    i += 1;
                    i - 1 == first || !k.eq_ignore_ascii_case(name)
                });
            }
            None => headers.push((name.to_owned(), value.to_owned())),
        }
        ws_result::WS_OK
    })
}

/// Add a header for this attempt, after those already there, even if one of that name
/// exists (for headers that may repeat). Both NUL-terminated UTF-8, copied.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`, `WS_ERR_INVALID_HEADER`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_add_header(
    request: *mut ws_request,
    name: *const c_char,
    value: *const c_char,
) -> ws_result {
    ffi_guard!({
        let r = try_arg!(borrow_mut(request), "request");
        let (name, value) = try_res!(header_args(name, value));
        r.req.headers.push((name.to_owned(), value.to_owned()));
        ws_result::WS_OK
    })
}

/// Remove every header named `name` (case-insensitive) from this attempt. Removing a header
/// that is not there is not an error.
///
/// Errors: `WS_ERR_NULL_ARGUMENT`, `WS_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_remove_header(
    request: *mut ws_request,
    name: *const c_char,
) -> ws_result {
    ffi_guard!({
        let r = try_arg!(borrow_mut(request), "request");
        let name = try_res!(str_arg(name, "header name"));
        r.req.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        ws_result::WS_OK
    })
}

/// How many headers this attempt sends (the config's, as changed so far by the callback;
/// the WebSocket handshake's own headers are not listed). 0 if `request` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_header_count(request: *const ws_request) -> usize {
    ffi_guard!(0, { borrow(request).map_or(0, |r| r.req.headers.len()) })
}

/// The name of header `index` (0-based, below `ws_request_header_count`), borrowed: valid
/// until the callback returns. NULL if `request` is NULL or `index` is out of range.
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_header_name(request: *mut ws_request, index: usize) -> *const c_char {
    ffi_guard!(std::ptr::null(), { header_part(request, index, false) })
}

/// The value of header `index` (0-based), borrowed: valid until the callback returns. NULL if
/// `request` is NULL or `index` is out of range.
///
/// Values are readable because every one of them is the host's own (set with
/// `ws_config_add_header` or by this callback): reading one back discloses nothing the host
/// did not have. The library itself never logs values (they may be secrets, e.g. tokens).
#[unsafe(no_mangle)]
pub extern "C" fn ws_request_header_value(request: *mut ws_request, index: usize) -> *const c_char {
    ffi_guard!(std::ptr::null(), { header_part(request, index, true) })
}

fn header_part(request: *mut ws_request, index: usize, value: bool) -> *const c_char {
    let Some(r) = borrow_mut(request) else {
        return std::ptr::null();
    };
    let Some((k, v)) = r.req.headers.get(index) else {
        return std::ptr::null();
    };
    let s = if value { v.clone() } else { k.clone() };
    r.lend(&s)
}
