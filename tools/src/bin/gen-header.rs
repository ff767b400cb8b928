//! Generates `include/wsbeat.h` from the C ABI's sources (`ffi/src/`) with the pinned
//! cbindgen (configured by `cbindgen.toml`).
//!
//! ```sh
//! cargo run -p wsbeat-tools --bin gen-header            # rewrite include/wsbeat.h
//! cargo run -p wsbeat-tools --bin gen-header -- --check # exit 1 if it is stale (CI)
//! ```
//! Only the C ABI's own files are parsed: cbindgen starts at `ffi/src/lib.rs` and follows its
//! `mod` declarations (no `cargo metadata` run, no dependency parsing).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("gen-header: unknown argument `{other}` (usage: gen-header [--check])");
            return ExitCode::from(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ is inside the workspace")
        .to_path_buf();
    let text = match generate(&root) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let header: PathBuf = root.join("include").join("wsbeat.h");
    let current = std::fs::read(&header).unwrap_or_default();
    if current == text {
        return ExitCode::SUCCESS;
    }
    if check {
        eprintln!(
            "gen-header: {} is stale: run `cargo run -p wsbeat-tools --bin gen-header` and commit it",
            header.display()
        );
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&header, &text) {
        eprintln!("gen-header: {}: {e}", header.display());
        return ExitCode::FAILURE;
    }
    println!("gen-header: wrote {}", header.display());
    ExitCode::SUCCESS
}

fn generate(root: &Path) -> Result<Vec<u8>, String> {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("ffi").join("src").join("lib.rs"))
        .generate()
        .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    bindings.write(&mut text);
    Ok(text)
}
