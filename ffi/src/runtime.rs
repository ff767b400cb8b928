//! `ws_runtime`: a few I/O threads shared by many clients (`ws_config_set_runtime`).

use wsbeat::Runtime;

use super::error::{fail, from_error, ws_result};
use super::ptr::{borrow, take_box, write_out};

/// The largest thread count `ws_runtime_new` accepts (256).
pub const WS_MAX_RUNTIME_THREADS: u32 = 256;

// The C name of the library's bound must not drift from the Rust one.
const _: () = assert!(WS_MAX_RUNTIME_THREADS as usize == wsbeat::MAX_RUNTIME_THREADS);

/// A pool of I/O threads that many clients share, instead of one I/O thread per client.
///
/// Create with `ws_runtime_new`, put clients on it with `ws_config_set_runtime` before
/// `ws_connect`, free with `ws_runtime_free`. Its threads are named `wsbeat-rt-0`,
/// `wsbeat-rt-1`, ...; each client is placed on the thread with the fewest clients.
///
/// Every guarantee of a client holds on a runtime, per client (heartbeat deadlines,
/// reconnection with its own backoff, ordering, backpressure: a client whose pull queue is
/// full stops only itself). What is shared is the thread: the callbacks and hooks of a
/// client run on its runtime thread, so one that runs long delays the other clients of that
/// thread. Every function taking a `ws_runtime` may be called from any thread.
///
/// Its threads end once it was freed and the last client using it was freed (and no config
/// refers to it any more): `ws_runtime_free` may come before the clients' `ws_free`.
pub struct ws_runtime {
    rt: Runtime,
}

impl std::fmt::Debug for ws_runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rt.fmt(f)
    }
}

impl ws_runtime {
    /// The runtime, for `ws_config_set_runtime`.
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.rt
    }
}

/// Start a runtime of `threads` I/O threads (1..=`WS_MAX_RUNTIME_THREADS`; 1 or 2 serve
/// thousands of mostly idle connections) and store it in `*out_runtime`, to be freed with
/// `ws_runtime_free`. On failure `*out_runtime` is set to NULL (if `out_runtime` is not
/// NULL) and no thread was started.
///
/// Errors: `WS_ERR_NULL_ARGUMENT` (`out_runtime`), `WS_ERR_INVALID_ARGUMENT` (`threads` out
/// of range), `WS_ERR_SPAWN` (a thread or its poller could not be created).
#[unsafe(no_mangle)]
pub extern "C" fn ws_runtime_new(threads: u32, out_runtime: *mut *mut ws_runtime) -> ws_result {
    ffi_guard!({
        if !write_out(out_runtime, std::ptr::null_mut()) {
            return fail(
                ws_result::WS_ERR_NULL_ARGUMENT,
                "out_runtime is NULL".into(),
            );
        }
        if threads == 0 || threads > WS_MAX_RUNTIME_THREADS {
            return fail(
                ws_result::WS_ERR_INVALID_ARGUMENT,
                format!(
                    "runtime threads = {threads} is out of range (1..={WS_MAX_RUNTIME_THREADS})"
                ),
            );
        }
        let rt = match Runtime::new(threads as usize) {
            Ok(rt) => rt,
            Err(e) => return from_error(&e),
        };
        write_out(out_runtime, Box::into_raw(Box::new(ws_runtime { rt })));
        ws_result::WS_OK
    })
}

/// Free a runtime from `ws_runtime_new`. NULL is a no-op.
///
/// Clients connected on it keep running on its threads: the threads end when the last of
/// them is freed with `ws_free` (and every config set to it with `ws_config_set_runtime` was
/// freed or set to another runtime). Freeing the runtime first is fine; so is freeing it
/// from a callback of one of its clients. The pointer is invalid afterwards, also for
/// `ws_config_set_runtime`. When nothing uses the runtime any more, this call stops its
/// threads and waits for them (they are idle then: it returns at once).
#[unsafe(no_mangle)]
pub extern "C" fn ws_runtime_free(runtime: *mut ws_runtime) {
    ffi_guard!((), {
        drop(take_box(runtime));
    })
}

/// The number of I/O threads of `runtime` (as given to `ws_runtime_new`), or 0 if it is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_runtime_threads(runtime: *const ws_runtime) -> u32 {
    ffi_guard!(0, {
        borrow(runtime).map_or(0, |r| {
            u32::try_from(r.rt.threads()).unwrap_or(WS_MAX_RUNTIME_THREADS)
        })
    })
}

/// The number of clients whose connection runs on `runtime` now, or 0 if it is NULL. A
/// client counts from `ws_connect` until it has stopped (after `ws_close`, `ws_free`, or
/// the end of its reconnection policy).
#[unsafe(no_mangle)]
pub extern "C" fn ws_runtime_clients(runtime: *const ws_runtime) -> u32 {
    ffi_guard!(0, {
        borrow(runtime).map_or(0, |r| u32::try_from(r.rt.clients()).unwrap_or(u32::MAX))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ws_last_error;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: ws_last_error returns a NUL-terminated string valid until the next failure
        // on this thread.
        unsafe { CStr::from_ptr(ws_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn thread_counts_out_of_range_are_refused_with_null() {
        for n in [0, WS_MAX_RUNTIME_THREADS + 1, u32::MAX] {
            let mut rt = std::ptr::dangling_mut::<ws_runtime>();
            assert_eq!(
                ws_runtime_new(n, &mut rt),
                ws_result::WS_ERR_INVALID_ARGUMENT
            );
            assert!(rt.is_null(), "{n}");
            let msg = last_error();
            assert!(
                msg.contains("runtime threads") && msg.contains("1..=256"),
                "{msg}"
            );
        }
        assert_eq!(
            ws_runtime_new(1, std::ptr::null_mut()),
            ws_result::WS_ERR_NULL_ARGUMENT
        );
    }

    #[test]
    fn new_counts_free() {
        let mut rt = std::ptr::null_mut();
        assert_eq!(ws_runtime_new(3, &mut rt), ws_result::WS_OK);
        assert_eq!((ws_runtime_threads(rt), ws_runtime_clients(rt)), (3, 0));
        ws_runtime_free(rt);
        ws_runtime_free(std::ptr::null_mut());
        assert_eq!(ws_runtime_threads(std::ptr::null()), 0);
        assert_eq!(ws_runtime_clients(std::ptr::null()), 0);
    }
}
