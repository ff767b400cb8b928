//! The C ABI: `libwsbeat.so` / `libwsbeat.a` with the header `include/wsbeat.h`, generated from
//! this module by cbindgen in `build.rs`.
//!
//! Layout (after rustls-ffi): one module per C type family ([`client`], [`config`], [`event`],
//! [`error`], [`log`]) plus private machinery (`panic`: the panic boundary, `ptr`: pointer
//! checks). Every exported function runs its body inside `ffi_guard!`, so no panic unwinds into
//! C; it becomes `WS_ERR_PANIC` (or a neutral value for functions that return no result).
//!
//! Conventions, stated once here and in `docs/C_API.md`:
//! - Every symbol is `ws_...`; handles (`ws_client`, `ws_config`) are opaque and come in
//!   `_new`/`_free` (or `ws_connect`/`ws_free`) pairs; `_free(NULL)` is a no-op.
//! - Functions return a `ws_result` (`WS_OK` is 0); outputs go through out-pointers. On failure
//!   `ws_last_error()` describes it (per thread).
//! - Strings passed in are NUL-terminated UTF-8 and are copied: the caller keeps ownership.
//! - Pointers handed out (event data, text) are borrowed and valid only as long as each
//!   function's documentation says.
#![allow(non_camel_case_types)]
// The C ABI is where wsbeat's `unsafe` lives (the library itself forbids it); every block says
// why it is sound in a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod panic;
mod ptr;

pub mod client;
pub mod config;
pub mod error;
pub mod event;
pub mod hooks;
pub mod log;

use std::ffi::c_char;

pub use client::*;
pub use config::*;
pub use error::*;
pub use event::*;
pub use hooks::*;
pub use log::*;

/// The library version as a NUL-terminated string, e.g. `"0.1.0"`.
///
/// The string is static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn ws_version() -> *const c_char {
    ffi_guard!(std::ptr::null(), {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}
