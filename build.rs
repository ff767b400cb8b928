//! Regenerates `include/wsbeat.h` from `src/ffi/` with cbindgen (configured by
//! `cbindgen.toml`). The header is committed; CI regenerates it and fails on any difference
//! (`scripts/tests.d/30-c.sh`).
//! Only the C ABI's own files are parsed: cbindgen starts at `src/ffi/mod.rs` and follows its
//! `mod` declarations (no `cargo metadata` run, no dependency parsing).

use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ffi = root.join("src").join("ffi");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-env-changed=WSBEAT_STRICT_HEADER");
    let files: Vec<PathBuf> = match std::fs::read_dir(&ffi) {
        Ok(dir) => dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect(),
        Err(e) => {
            println!("cargo:warning=cannot list {}: {e}", ffi.display());
            return;
        }
    };
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    if let Err(e) = generate(&root, &ffi.join("mod.rs")) {
        // Normally a broken header must not hide rustc's own (better) errors: warn only. The
        // test step sets WSBEAT_STRICT_HEADER=1 so that CI fails instead.
        if std::env::var_os("WSBEAT_STRICT_HEADER").is_some_and(|v| v == "1") {
            panic!("wsbeat.h not regenerated: {e}");
        }
        println!("cargo:warning=wsbeat.h not regenerated: {e}");
    }
}

fn generate(root: &Path, entry: &Path) -> Result<(), String> {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(entry)
        .generate()
        .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    bindings.write(&mut text);
    // Always available to dependents' build scripts, whatever the source directory allows.
    if let Some(out) = std::env::var_os("OUT_DIR") {
        let _ = std::fs::write(Path::new(&out).join("wsbeat.h"), &text);
    }
    // The committed copy is refreshed only in a git checkout (never inside a packaged crate,
    // whose sources a build script must not modify), and only when it changed.
    if !root.join(".git").exists() {
        return Ok(());
    }
    let header = root.join("include").join("wsbeat.h");
    if std::fs::read(&header).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(root.join("include")).map_err(|e| e.to_string())?;
        std::fs::write(&header, &text).map_err(|e| format!("{}: {e}", header.display()))?;
    }
    Ok(())
}
