//! The C ABI: `libwsbeat.so` / `libwsbeat.a` with the header `include/wsbeat.h`, generated from
//! this module by cbindgen in `build.rs`.
//!
//! Layout (after rustls-ffi): one module per C type family ([`client`], [`config`], [`event`],
//! [`error`], [`log`], [`runtime`]) plus private machinery (`panic`: the panic boundary, `ptr`: pointer
//! checks). Every exported function runs its body inside `ffi_guard!`, so no panic unwinds into
//! C; it becomes `WS_ERR_PANIC` (or a neutral value for functions that return no result).
//!
//! Conventions, stated once here and in `docs/C_API.md`:
//! - Every symbol is `ws_...`; handles (`ws_client`, `ws_config`, `ws_runtime`) are opaque and come in
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
pub mod runtime;

use std::ffi::c_char;

pub use client::*;
pub use config::*;
pub use error::*;
pub use event::*;
pub use hooks::*;
pub use log::*;
pub use runtime::*;

/// The major version of the header (`WSBEAT_VERSION_MAJOR`): compare it with `ws_version()` to
/// see which library a program runs against. 0 while the API is not stable; see the ABI policy
/// in docs/C_API.md.
pub const WSBEAT_VERSION_MAJOR: u32 = 0;
/// The minor version of the header. While the major version is 0 a new minor version may
/// break the ABI (and changes the SONAME, `libwsbeat.so.0.MINOR`).
pub const WSBEAT_VERSION_MINOR: u32 = 1;
/// The patch version of the header: fixes only, ABI-compatible with the same minor version.
pub const WSBEAT_VERSION_PATCH: u32 = 0;

// The three constants are literals because cbindgen writes them into the header as
// `#define`s; the build fails if they do not match the package version (Cargo.toml), so a
// version bump cannot forget them. (`WSBEAT_VERSION`, the string, is built from them in the
// header (cbindgen.toml's `after_includes`).)
const _: () = {
    assert!(
        WSBEAT_VERSION_MAJOR == parse_version_part(env!("CARGO_PKG_VERSION_MAJOR")),
        "WSBEAT_VERSION_MAJOR differs from the package version: update ffi/src/lib.rs"
    );
    assert!(
        WSBEAT_VERSION_MINOR == parse_version_part(env!("CARGO_PKG_VERSION_MINOR")),
        "WSBEAT_VERSION_MINOR differs from the package version: update ffi/src/lib.rs"
    );
    assert!(
        WSBEAT_VERSION_PATCH == parse_version_part(env!("CARGO_PKG_VERSION_PATCH")),
        "WSBEAT_VERSION_PATCH differs from the package version: update ffi/src/lib.rs"
    );
    assert!(
        env!("CARGO_PKG_VERSION_PRE").is_empty(),
        "the header's WSBEAT_VERSION has no pre-release part: extend cbindgen.toml's after_includes"
    );
};

/// Parses one decimal part of the package version at compile time.
const fn parse_version_part(s: &str) -> u32 {
    match u32::from_str_radix(s, 10) {
        Ok(v) => v,
        Err(_) => panic!("cargo sets the version parts to decimal numbers"),
    }
}

/// The library version as a NUL-terminated string, e.g. `"0.1.0"`: the version of the library
/// the program runs against, which may be newer than the header it was compiled with
/// (`WSBEAT_VERSION`).
///
/// The string is static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn ws_version() -> *const c_char {
    ffi_guard!(std::ptr::null(), {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_constants_are_the_package_version() {
        let parts = format!("{WSBEAT_VERSION_MAJOR}.{WSBEAT_VERSION_MINOR}.{WSBEAT_VERSION_PATCH}");
        assert_eq!(parts, env!("CARGO_PKG_VERSION"));
        // SAFETY: ws_version returns a pointer to a static NUL-terminated string.
        let runtime = unsafe { CStr::from_ptr(ws_version()) };
        assert_eq!(runtime.to_str(), Ok(env!("CARGO_PKG_VERSION")));
    }
}
