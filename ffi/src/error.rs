//! Result codes, their text, and the thread-local last-error message.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use wsbeat::Error;

/// The result of a `ws_` call. `WS_OK` (0) is success; every other value is a failure whose
/// details `ws_last_error()` gives on the same thread.
///
/// The numeric values are part of the ABI: they never change and are never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_result {
    /// Success.
    WS_OK = 0,
    /// A required pointer argument was NULL.
    WS_ERR_NULL_ARGUMENT = 1,
    /// An argument is out of range (close code, enum value, duration, factor, ...).
    WS_ERR_INVALID_ARGUMENT = 2,
    /// A string or a text message is not valid UTF-8.
    WS_ERR_INVALID_UTF8 = 3,
    /// The URL could not be parsed, has no host, or its scheme is not `ws`/`wss`.
    WS_ERR_INVALID_URL = 4,
    /// The configuration as a whole is inconsistent (checked by `ws_connect`).
    WS_ERR_INVALID_CONFIG = 5,
    /// A header name or value, or a subprotocol, is not valid in an HTTP request.
    WS_ERR_INVALID_HEADER = 6,
    /// The TLS options are invalid (unreadable CA file, bad PEM, key not matching), or TLS is
    /// not compiled in.
    WS_ERR_TLS = 7,
    /// The outbox is full: the message was not queued. Retry later or drop it
    /// (`ws_send_wait`: it was still full at the end of the timeout).
    WS_ERR_OUTBOX_FULL = 8,
    /// The message is larger than the configured maximum message size.
    WS_ERR_MESSAGE_TOO_LARGE = 9,
    /// The client was closed or has stopped: nothing more can be sent; `ws_next_event` has
    /// delivered the last event.
    WS_ERR_CLOSED = 10,
    /// The I/O thread could not be started.
    WS_ERR_SPAWN = 11,
    /// `ws_next_event`: no event arrived within the timeout.
    WS_ERR_TIMEOUT = 12,
    /// The call does not fit the client's mode (`ws_next_event` on a callback client,
    /// `ws_on_event` on a pull-mode client).
    WS_ERR_WRONG_MODE = 13,
    /// The call is not allowed from inside a callback of this object (`ws_free` from the
    /// client's own event or logger callback, `ws_set_logger` from a logger callback).
    WS_ERR_IN_CALLBACK = 14,
    /// `ws_set_logger`: another `log` logger is already installed in this process.
    WS_ERR_LOGGER_TAKEN = 15,
    /// A bug: the library panicked. The panic was caught; the message says where.
    WS_ERR_PANIC = 16,
}

impl ws_result {
    fn text(self) -> &'static std::ffi::CStr {
        match self {
            ws_result::WS_OK => c"success",
            ws_result::WS_ERR_NULL_ARGUMENT => c"a required pointer argument is NULL",
            ws_result::WS_ERR_INVALID_ARGUMENT => c"an argument is out of range",
            ws_result::WS_ERR_INVALID_UTF8 => c"not valid UTF-8",
            ws_result::WS_ERR_INVALID_URL => c"invalid URL",
            ws_result::WS_ERR_INVALID_CONFIG => c"invalid configuration",
            ws_result::WS_ERR_INVALID_HEADER => c"invalid header or subprotocol",
            ws_result::WS_ERR_TLS => c"TLS configuration error",
            ws_result::WS_ERR_OUTBOX_FULL => c"outbox full: message not queued",
            ws_result::WS_ERR_MESSAGE_TOO_LARGE => c"message too large",
            ws_result::WS_ERR_CLOSED => c"client is closed",
            ws_result::WS_ERR_SPAWN => c"could not start the I/O thread",
            ws_result::WS_ERR_TIMEOUT => c"timed out",
            ws_result::WS_ERR_WRONG_MODE => c"call does not fit the client's mode",
            ws_result::WS_ERR_IN_CALLBACK => c"not allowed from inside this callback",
            ws_result::WS_ERR_LOGGER_TAKEN => c"another logger is already installed",
            ws_result::WS_ERR_PANIC => c"internal error (panic caught)",
        }
    }

    fn from_u32(v: u32) -> Option<ws_result> {
        use ws_result::*;
        const ALL: [ws_result; 17] = [
            WS_OK,
            WS_ERR_NULL_ARGUMENT,
            WS_ERR_INVALID_ARGUMENT,
            WS_ERR_INVALID_UTF8,
            WS_ERR_INVALID_URL,
            WS_ERR_INVALID_CONFIG,
            WS_ERR_INVALID_HEADER,
            WS_ERR_TLS,
            WS_ERR_OUTBOX_FULL,
            WS_ERR_MESSAGE_TOO_LARGE,
            WS_ERR_CLOSED,
            WS_ERR_SPAWN,
            WS_ERR_TIMEOUT,
            WS_ERR_WRONG_MODE,
            WS_ERR_IN_CALLBACK,
            WS_ERR_LOGGER_TAKEN,
            WS_ERR_PANIC,
        ];
        ALL.into_iter().find(|r| *r as u32 == v)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `msg` as this thread's last error (interior NULs become spaces).
pub(crate) fn set_last_error(msg: String) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // A thread being torn down has no slot any more: the message is dropped then.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
}

/// Record `msg` and return `code` (for `return fail(...)`).
pub(crate) fn fail(code: ws_result, msg: String) -> ws_result {
    set_last_error(msg);
    code
}

/// Map a Rust API error to its result code, recording its text.
pub(crate) fn from_error(e: &Error) -> ws_result {
    let code = match e {
        Error::InvalidUrl(_) => ws_result::WS_ERR_INVALID_URL,
        Error::InvalidConfig(_) => ws_result::WS_ERR_INVALID_CONFIG,
        Error::InvalidHeader(_) => ws_result::WS_ERR_INVALID_HEADER,
        Error::Tls(_) => ws_result::WS_ERR_TLS,
        Error::OutboxFull { .. } => ws_result::WS_ERR_OUTBOX_FULL,
        Error::MessageTooLarge { .. } => ws_result::WS_ERR_MESSAGE_TOO_LARGE,
        Error::InvalidArgument(_) => ws_result::WS_ERR_INVALID_ARGUMENT,
        Error::Closed => ws_result::WS_ERR_CLOSED,
        Error::Spawn(_) => ws_result::WS_ERR_SPAWN,
        // `Error` is non-exhaustive; this crate is built with the same version of wsbeat
        // (a workspace path dependency), whose every variant is listed above.
        _ => ws_result::WS_ERR_PANIC,
    };
    fail(code, e.to_string())
}

/// A short English description of a result code, e.g. `"client is closed"`; unknown values
/// give `"unknown result code"`.
///
/// The string is static: never free it. Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_result_str(result: u32) -> *const c_char {
    ffi_guard!(c"internal error".as_ptr(), {
        match ws_result::from_u32(result) {
            Some(r) => r.text().as_ptr(),
            None => c"unknown result code".as_ptr(),
        }
    })
}

/// The message describing the most recent failed `ws_` call on the calling thread, as a
/// NUL-terminated UTF-8 string; `""` if no call has failed on this thread yet.
///
/// Successful calls do not clear it. The string belongs to the library: it stays valid until
/// the next failing `ws_` call on the same thread (or the thread's exit). Copy it to keep it.
/// Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_error() -> *const c_char {
    ffi_guard!(c"".as_ptr(), {
        LAST_ERROR
            .try_with(|slot| slot.borrow().as_ptr())
            .unwrap_or(c"".as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_text_and_round_trips() {
        for v in 0..17 {
            let r = ws_result::from_u32(v).unwrap();
            assert_eq!(r as u32, v);
            assert!(!r.text().to_bytes().is_empty());
        }
        assert!(ws_result::from_u32(17).is_none());
    }
}
