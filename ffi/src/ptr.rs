//! Pointer checks: every pointer from C goes through these before it is used.

use std::ffi::{CStr, c_char};

use super::error::{fail, ws_result};

/// Borrow the object behind `p`, or `None` for NULL.
///
/// The C API contract (stated in the header) is that a non-NULL pointer passed to a `ws_`
/// function points to a live object of the right type that no other thread is freeing.
pub(crate) fn borrow<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: NULL is handled by `as_ref`; a non-NULL `p` is valid and live per the API
    // contract above, and the borrow does not outlive the exported call that received it.
    unsafe { p.as_ref() }
}

/// Mutably borrow the object behind `p`, or `None` for NULL (same contract as [`borrow`]).
pub(crate) fn borrow_mut<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: as in `borrow`; the API contract also forbids concurrent use of the object that
    // `p` points to (a `ws_config` is not shared across threads while being changed).
    unsafe { p.as_mut() }
}

/// Store `value` through an out-pointer. Returns false (storing nothing) for NULL.
pub(crate) fn write_out<T>(p: *mut T, value: T) -> bool {
    if p.is_null() {
        return false;
    }
    // SAFETY: `p` is non-NULL and, per the API contract, points to writable, suitably aligned
    // storage for a `T` (the C caller's variable or struct).
    unsafe { p.write(value) };
    true
}

/// Take back ownership of an object handed out with `Box::into_raw`, or `None` for NULL.
pub(crate) fn take_box<T>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-NULL `p` was created by `Box::into_raw` in this library (ws_config_new,
    // ws_connect) and, per the API contract, is freed once and not used afterwards.
    Some(unsafe { Box::from_raw(p) })
}

/// Borrow `len` bytes at `data`. NULL is accepted only with `len == 0` (an empty slice).
pub(crate) fn bytes<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    if data.is_null() {
        return (len == 0).then_some(&[][..]);
    }
    if len > isize::MAX as usize {
        return None;
    }
    // SAFETY: `data` is non-NULL and, per the API contract, points to `len` readable bytes
    // that stay unchanged for the duration of the call; `len` fits in `isize`.
    Some(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A NUL-terminated UTF-8 string argument, or the error to return: `WS_ERR_NULL_ARGUMENT`
/// for NULL, `WS_ERR_INVALID_UTF8` for bad UTF-8. `what` names the argument in the message.
pub(crate) fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, ws_result> {
    if p.is_null() {
        return Err(fail(
            ws_result::WS_ERR_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: `p` is non-NULL and, per the API contract, points to a NUL-terminated string
    // that stays unchanged for the duration of the call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        fail(
            ws_result::WS_ERR_INVALID_UTF8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// Unwrap an `Option` from [`borrow`]/[`borrow_mut`], or return `WS_ERR_NULL_ARGUMENT` from
/// the enclosing guarded block.
macro_rules! try_arg {
    ($opt:expr, $what:expr) => {
        match $opt {
            Some(v) => v,
            None => {
                return $crate::error::fail(
                    $crate::error::ws_result::WS_ERR_NULL_ARGUMENT,
                    format!("{} is NULL", $what),
                );
            }
        }
    };
}

/// Unwrap a `Result<T, ws_result>` or return the error code from the enclosing guarded block.
macro_rules! try_res {
    ($res:expr) => {
        match $res {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}

pub(crate) use {try_arg, try_res};
