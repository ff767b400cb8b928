//! Regenerates `include/wsbeat.h` from `src/ffi/` with cbindgen (configured by
//! `cbindgen.toml`). The header is committed; CI regenerates it and fails on any difference.
//! Only the C ABI's own files are parsed: cbindgen starts at `src/ffi/mod.rs` and follows its
//! `mod` declarations (no `cargo metadata` run, no dependency parsing).

use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ffi = root.join("src").join("ffi");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
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
        // A broken header must not hide rustc's own (better) errors: warn, do not fail. The
        // test step's `git diff --exit-code include/wsbeat.h` catches a stale header.
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
    let out = root.join("include").join("wsbeat.h");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    bindings.write_to_file(&out); // writes only when the content changed
    Ok(())
}
