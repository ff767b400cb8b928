//! The panic boundary: `ffi_guard!` wraps the body of every exported function (inside the
//! function, so cbindgen still sees a plain signature) and turns a panic into a return value.

/// A panic's payload as text.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Run `$body` (a block; `return` leaves the block with a value), catching any panic.
///
/// `ffi_guard!({ ... })` is for functions returning `ws_result`: a panic gives `WS_ERR_PANIC`
/// and sets the thread's last error. `ffi_guard!(fallback, { ... })` returns `fallback`
/// instead (for functions that return something else).
macro_rules! ffi_guard {
    ($body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> $crate::error::ws_result { $body },
        )) {
            Ok(r) => r,
            Err(p) => {
                let what = $crate::panic::panic_message(&*p);
                $crate::error::fail(
                    $crate::error::ws_result::WS_ERR_PANIC,
                    format!("internal panic: {what}"),
                )
            }
        }
    };
    ($fallback:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(r) => r,
            Err(p) => {
                let what = $crate::panic::panic_message(&*p);
                $crate::error::set_last_error(format!("internal panic: {what}"));
                $fallback
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::error::{ws_last_error, ws_result};

    fn panics(yes: bool) -> ws_result {
        ffi_guard!({
            if yes {
                panic!("boom in the body");
            }
            ws_result::WS_OK
        })
    }

    #[test]
    fn a_panic_becomes_a_result_and_a_message() {
        assert_eq!(panics(false), ws_result::WS_OK);
        assert_eq!(panics(true), ws_result::WS_ERR_PANIC);
        // SAFETY: ws_last_error returns a NUL-terminated string valid until the next failure.
        let msg = unsafe { std::ffi::CStr::from_ptr(ws_last_error()) };
        assert!(msg.to_str().unwrap().contains("boom in the body"));
        let v: u32 = ffi_guard!(7, { panic!("other") });
        assert_eq!(v, 7);
    }
}
