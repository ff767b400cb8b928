//! The C library's build script (`ffi/Cargo.toml` points here; the Rust library has none).
//!
//! It gives `libwsbeat.so` its SONAME, so that a program linked against it records
//! `libwsbeat.so.<sover>` (not the build tree's path) and finds whatever compatible version
//! is installed: `<sover>` is `0.MINOR` while the version is 0.x and `MAJOR` from 1.0 on
//! (cargo-c's rule; the ABI policy is in docs/C_API.md).
//!
//! The header is *not* generated here: `include/wsbeat.h` is committed, and the test script
//! regenerates it with the pinned cbindgen (`cargo run -p wsbeat-tools --bin gen-header --
//! --check`) and fails on drift, so a build never rewrites the source tree.

fn main() {
    // Relative to the package being built, ffi/ (this file is ../build.rs from there): naming
    // a missing file would make cargo rerun the script and relink the library on every build.
    println!("cargo:rerun-if-changed=../build.rs");
    let major: u64 = env_number("CARGO_PKG_VERSION_MAJOR");
    let minor: u64 = env_number("CARGO_PKG_VERSION_MINOR");
    let sover = if major == 0 {
        format!("0.{minor}")
    } else {
        major.to_string()
    };
    // The soname is an ELF notion (Linux, the BSDs); macOS uses install names and Windows
    // neither.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwsbeat.so.{sover}");
    }
    println!("cargo:rustc-env=WSBEAT_SOVERSION={sover}");
}

fn env_number(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cargo sets {name} to a number"))
}
