//! Routing the library's `log` records to a host callback.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_void};
use std::sync::{Mutex, RwLock};

use super::error::{fail, ws_result};

/// A log level (`ws_set_logger`'s `max_level`, the level passed to the logger callback).
/// The values match the Rust `log` crate's.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_log_level {
    /// Nothing (only as `max_level`).
    WS_LOG_OFF = 0,
    /// Errors.
    WS_LOG_ERROR = 1,
    /// Warnings.
    WS_LOG_WARN = 2,
    /// Connection life: connects, closes, reconnects.
    WS_LOG_INFO = 3,
    /// Details: heartbeats, backoff decisions.
    WS_LOG_DEBUG = 4,
    /// Everything.
    WS_LOG_TRACE = 5,
}

/// A logger callback: `level` is a `ws_log_level`; `target` (the Rust module, e.g.
/// `"wsbeat::io_loop"`) and `message` are NUL-terminated UTF-8, valid only until the callback
/// returns. It may run on any thread (mostly the clients' I/O threads), concurrently, and must
/// not block for long. It must return normally (no C++ exception or `longjmp`).
pub type ws_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: ws_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, ws_log_level, *const c_char, *const c_char),
    userdata: *mut c_void,
}

// SAFETY: the userdata pointer is never dereferenced by the library, only handed back to the
// host's callback, which the host declared callable from any thread (see `ws_set_logger`).
unsafe impl Send for Sink {}
// SAFETY: as above; the sink is only read (copied) while shared.
unsafe impl Sync for Sink {}

/// The current sink. Readers hold the read lock while calling the host so that
/// `ws_set_logger`/`ws_clear_logger` (writers) return only when no old callback is running.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);
/// Whether `log::set_logger` succeeded (it can be called only once per process).
static INSTALLED: Mutex<Option<bool>> = Mutex::new(None);

thread_local! {
    /// Set while this thread runs the host's logger callback: records logged meanwhile (the
    /// callback calling into the library) are dropped instead of re-entering.
    static IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

struct FfiLogger;

static LOGGER: FfiLogger = FfiLogger;

struct Reentry;

impl Drop for Reentry {
    fn drop(&mut self) {
        let _ = IN_LOGGER.try_with(|f| f.set(false));
    }
}

fn level_of(l: log::Level) -> ws_log_level {
    match l {
        log::Level::Error => ws_log_level::WS_LOG_ERROR,
        log::Level::Warn => ws_log_level::WS_LOG_WARN,
        log::Level::Info => ws_log_level::WS_LOG_INFO,
        log::Level::Debug => ws_log_level::WS_LOG_DEBUG,
        log::Level::Trace => ws_log_level::WS_LOG_TRACE,
    }
}

fn c_text(s: String) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl log::Log for FfiLogger {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true // the global max level does the filtering
    }

    fn log(&self, record: &log::Record<'_>) {
        if wsbeat::may_carry_secrets(record.target(), record.level()) {
            return; // raw handshake dumps: header values never reach the host's log
        }
        if IN_LOGGER.try_with(|f| f.replace(true)).unwrap_or(true) {
            return;
        }
        let _reentry = Reentry;
        let guard = SINK.read().unwrap_or_else(|p| p.into_inner());
        let Some(sink) = *guard else { return };
        let target = c_text(record.target().to_owned());
        let message = c_text(record.args().to_string());
        // SAFETY: the host registered this callback with this signature; both strings live
        // until after the call returns.
        unsafe {
            (sink.callback)(
                sink.userdata,
                level_of(record.level()),
                target.as_ptr(),
                message.as_ptr(),
            )
        };
    }

    fn flush(&self) {}
}

fn filter(level: u32) -> Option<log::LevelFilter> {
    Some(match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        5 => log::LevelFilter::Trace,
        _ => return None,
    })
}

/// Route the library's log records up to `max_level` (a `ws_log_level`) to
/// `callback(userdata, level, target, message)`, replacing any previous logger callback.
///
/// The callback runs on whichever thread logs (mostly the clients' I/O threads), possibly
/// several at once; it must be thread-safe and must not block for long. Records logged while
/// it runs on the same thread (e.g. by a `ws_` call it makes) are dropped. When this function
/// returns, the previous callback is not running and will not be called again. It must not be
/// called from inside a logger callback (`WS_ERR_IN_CALLBACK`). The logger is process-wide.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`callback` NULL; use `ws_clear_logger` to stop logging),
/// `WS_ERR_INVALID_ARGUMENT` (`max_level` > `WS_LOG_TRACE`), `WS_ERR_IN_CALLBACK`,
/// `WS_ERR_LOGGER_TAKEN` (the process already has another Rust `log` logger).
#[unsafe(no_mangle)]
pub extern "C" fn ws_set_logger(
    callback: ws_log_callback,
    userdata: *mut c_void,
    max_level: u32,
) -> ws_result {
    ffi_guard!({
        let Some(callback) = callback else {
            return fail(ws_result::WS_ERR_NULL_ARGUMENT, "callback is NULL".into());
        };
        let Some(level) = filter(max_level) else {
            return fail(
                ws_result::WS_ERR_INVALID_ARGUMENT,
                format!("unknown log level {max_level} (0..=5)"),
            );
        };
        if IN_LOGGER.try_with(Cell::get).unwrap_or(false) {
            return fail(
                ws_result::WS_ERR_IN_CALLBACK,
                "ws_set_logger called from inside a logger callback".into(),
            );
        }
        {
            let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
            let ok = *installed.get_or_insert_with(|| log::set_logger(&LOGGER).is_ok());
            if !ok {
                return fail(
                    ws_result::WS_ERR_LOGGER_TAKEN,
                    "another logger is already installed in this process".into(),
                );
            }
        }
        *SINK.write().unwrap_or_else(|p| p.into_inner()) = Some(Sink { callback, userdata });
        log::set_max_level(level);
        ws_result::WS_OK
    })
}

/// Stop routing log records to the host. When it returns, the logger callback is not running
/// and will not be called again. Calling it without a logger set does nothing.
///
/// Errors: `WS_ERR_IN_CALLBACK` (called from inside a logger callback).
#[unsafe(no_mangle)]
pub extern "C" fn ws_clear_logger() -> ws_result {
    ffi_guard!({
        if IN_LOGGER.try_with(Cell::get).unwrap_or(false) {
            return fail(
                ws_result::WS_ERR_IN_CALLBACK,
                "ws_clear_logger called from inside a logger callback".into(),
            );
        }
        let ours = INSTALLED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(false);
        if ours {
            log::set_max_level(log::LevelFilter::Off);
        }
        *SINK.write().unwrap_or_else(|p| p.into_inner()) = None;
        ws_result::WS_OK
    })
}
