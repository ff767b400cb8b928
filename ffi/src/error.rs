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
    /// Never returned by the library: for a host callback to return when it fails (a
    /// `ws_before_connect_callback` returning it fails that connection attempt).
    WS_ERR_CALLBACK = 17,
}

/// Gives a C enum its one list of values and their strings: `ALL` (every value, in the
/// order listed), `name()` (the string; an exhaustive match, so a variant added to the enum
/// without its line here does not compile, and `ALL` cannot miss it) and `from_u32`.
///
/// The enums themselves stay written out above their use, for cbindgen (which reads the
/// source, not macro expansions) and their doc comments.
macro_rules! abi_enum_strings {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// Every value of the enum, in numeric order.
            pub(crate) const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The value's string (static, NUL-terminated).
            pub(crate) const fn name(self) -> &'static std::ffi::CStr {
                match self {
                    $($ty::$variant => $text),*
                }
            }

            /// The value with this number, if there is one.
            pub(crate) fn from_u32(v: u32) -> Option<$ty> {
                Self::ALL.iter().copied().find(|k| *k as u32 == v)
            }
        }
    };
}
pub(crate) use abi_enum_strings;

abi_enum_strings!(ws_result {
    WS_OK => c"success",
    WS_ERR_NULL_ARGUMENT => c"a required pointer argument is NULL",
    WS_ERR_INVALID_ARGUMENT => c"an argument is out of range",
    WS_ERR_INVALID_UTF8 => c"not valid UTF-8",
    WS_ERR_INVALID_URL => c"invalid URL",
    WS_ERR_INVALID_CONFIG => c"invalid configuration",
    WS_ERR_INVALID_HEADER => c"invalid header or subprotocol",
    WS_ERR_TLS => c"TLS configuration error",
    WS_ERR_OUTBOX_FULL => c"outbox full: message not queued",
    WS_ERR_MESSAGE_TOO_LARGE => c"message too large",
    WS_ERR_CLOSED => c"client is closed",
    WS_ERR_SPAWN => c"could not start the I/O thread",
    WS_ERR_TIMEOUT => c"timed out",
    WS_ERR_WRONG_MODE => c"call does not fit the client's mode",
    WS_ERR_IN_CALLBACK => c"not allowed from inside this callback",
    WS_ERR_LOGGER_TAKEN => c"another logger is already installed",
    WS_ERR_PANIC => c"internal error (panic caught)",
    WS_ERR_CALLBACK => c"a callback failed",
});

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
            Some(r) => r.name().as_ptr(),
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

/// Test helpers shared with `event.rs`: the header's enum values, and the checks every C enum
/// with a string function must pass.
#[cfg(test)]
pub(crate) mod abi_check {
    use std::collections::{BTreeMap, HashSet};
    use std::ffi::{CStr, c_char};

    /// `NAME = VALUE` pairs of `enum <name>` in the committed `include/wsbeat.h`.
    pub(crate) fn header_enum(name: &str) -> BTreeMap<String, u32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../include/wsbeat.h");
        let header = std::fs::read_to_string(path).unwrap();
        let start = header
            .find(&format!("\nenum {name}\n"))
            .unwrap_or_else(|| panic!("enum {name} not in {path}"));
        let body = &header[start..];
        let open = body.find('{').unwrap();
        let close = body.find("};").unwrap();
        let mut values = BTreeMap::new();
        for line in body[open + 1..close].lines() {
            let line = line.trim().trim_end_matches(',');
            if let Some((variant, value)) = line.split_once(" = ")
                && variant.starts_with("WS_")
            {
                let value: u32 = value.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
                assert!(
                    values.insert(variant.to_owned(), value).is_none(),
                    "{variant} twice in enum {name}"
                );
            }
        }
        assert!(!values.is_empty(), "no values in enum {name} of {path}");
        values
    }

    /// `all` holds exactly the header's values of `enum name`, with the same numbers; each has
    /// a distinct non-empty string that `c_fn` returns for its number; numbers outside the
    /// enum give `unknown`.
    pub(crate) fn check<T: Copy + std::fmt::Debug>(
        name: &str,
        all: &[T],
        number: fn(T) -> u32,
        text: fn(T) -> &'static CStr,
        c_fn: extern "C" fn(u32) -> *const c_char,
        unknown: &CStr,
    ) {
        let header = header_enum(name);
        let ours: BTreeMap<String, u32> =
            all.iter().map(|v| (format!("{v:?}"), number(*v))).collect();
        assert_eq!(ours.len(), all.len(), "{name}: a value listed twice");
        assert_eq!(
            ours, header,
            "{name}: the Rust enum and include/wsbeat.h differ"
        );
        let mut seen = HashSet::new();
        for v in all {
            let s = text(*v);
            assert!(
                !s.to_bytes().is_empty(),
                "{name}: {v:?} has an empty string"
            );
            assert!(
                seen.insert(s),
                "{name}: {v:?}'s string {s:?} is not distinct"
            );
            assert_ne!(s, unknown, "{name}: {v:?} is named like an unknown value");
            // SAFETY: the function returns a static NUL-terminated string, never NULL.
            let from_c = unsafe { CStr::from_ptr(c_fn(number(*v))) };
            assert_eq!(from_c, s, "{name}: {v:?} through the C function");
        }
        let max = header.values().copied().max().unwrap();
        for v in [max + 1, max + 100, u32::MAX] {
            // SAFETY: as above.
            let from_c = unsafe { CStr::from_ptr(c_fn(v)) };
            assert_eq!(from_c, unknown, "{name}: value {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_code_matches_the_header_and_has_its_own_text() {
        abi_check::check(
            "ws_result",
            ws_result::ALL,
            |r| r as u32,
            ws_result::name,
            ws_result_str,
            c"unknown result code",
        );
        for r in ws_result::ALL {
            assert_eq!(ws_result::from_u32(*r as u32), Some(*r));
        }
    }
}
