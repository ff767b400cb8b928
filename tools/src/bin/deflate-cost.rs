//! What permessage-deflate costs per connection and per message, to choose wsbeat's default.
//!
//! Uses the zlib states exactly as `wsbeat`'s codec builds them (flate2 over zlib-rs, raw
//! deflate, sync flush per message, the `00 00 ff ff` tail dropped):
//!
//! - memory: the resident size of N compressor + inflater pairs after one message each (zlib
//!   allocates lazily), divided by N, for several window sizes and levels;
//! - CPU and bytes: compress and inflate a stream of messages with context takeover, on
//!   JSON-like text (the seed's messages) and on random (incompressible) binary.
//!
//! `cargo run --release -p wsbeat-tools --bin deflate-cost` (prints a Markdown table).

use std::time::Instant;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn compress(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(data.len() + data.len() / 64 + 64); // one call: the bound on deflate output
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let before = z.total_in();
        z.compress_vec(input, out, FlushCompress::Sync).unwrap();
        input = &input[(z.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - 4);
}

fn inflate(d: &mut Decompress, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for part in [data, &[0, 0, 0xff, 0xff][..]] {
        let mut input = part;
        loop {
            out.reserve(32 << 10);
            let before = d.total_in();
            d.decompress_vec(input, out, FlushDecompress::None).unwrap();
            input = &input[(d.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
    }
}

fn seed_text(n: usize, i: usize) -> Vec<u8> {
    let mut s = String::new();
    let mut k = 0;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"ModeCode\":\"message\",\"msg\":\"hello world {}\",\"seq\":{},\"ts\":{}}}",
            i + k,
            i * 7 + k,
            1_764_590_000_000u64 + (i * 13 + k) as u64
        ));
        k += 1;
    }
    s.truncate(n);
    s.into_bytes()
}

fn random(n: usize) -> Vec<u8> {
    let mut r = fastrand::Rng::with_seed(n as u64);
    (0..n).map(|_| r.u8(..)).collect()
}

fn memory(bits: u8, level: u32) -> (u64, u64) {
    const N: usize = 300;
    let msg = seed_text(4096, 0);
    let mut tmp = Vec::new();
    let mut back = Vec::new();
    let base = rss_kib();
    let mut compressors = Vec::with_capacity(N);
    for _ in 0..N {
        let mut z = Compress::new_with_window_bits(Compression::new(level), false, bits);
        compress(&mut z, &msg, &mut tmp);
        compressors.push(z);
    }
    let mid = rss_kib();
    let mut inflaters = Vec::with_capacity(N);
    for _ in 0..N {
        let mut d = Decompress::new_with_window_bits(false, bits);
        inflate(&mut d, &tmp, &mut back);
        assert_eq!(back, msg);
        inflaters.push(d);
    }
    let end = rss_kib();
    drop((compressors, inflaters));
    ((mid - base) / N as u64, (end - mid) / N as u64)
}

fn throughput(name: &str, make: &dyn Fn(usize) -> Vec<u8>, level: u32) {
    let msgs: Vec<Vec<u8>> = (0..400).map(make).collect();
    let raw: usize = msgs.iter().map(Vec::len).sum();
    let mut z = Compress::new_with_window_bits(Compression::new(level), false, 15);
    let mut d = Decompress::new_with_window_bits(false, 15);
    let (mut packed, mut back) = (Vec::new(), Vec::new());
    let mut wire = 0;
    let (mut tc, mut td) = (0f64, 0f64);
    for m in &msgs {
        let t = Instant::now();
        compress(&mut z, m, &mut packed);
        tc += t.elapsed().as_secs_f64();
        wire += packed.len();
        let t = Instant::now();
        inflate(&mut d, &packed, &mut back);
        td += t.elapsed().as_secs_f64();
        assert_eq!(&back, m);
    }
    let n = msgs.len() as f64;
    println!(
        "| {name} | {level} | {:.0} | {:.3} | {:.1} | {:.1} | {:.0} |",
        raw as f64 / n,
        wire as f64 / raw as f64,
        tc / n * 1e6,
        td / n * 1e6,
        raw as f64 / tc / 1e6,
    );
}

fn main() {
    println!("## Memory per connection (zlib state, resident KiB, after one 4 KiB message)\n");
    println!("| window bits | level | compressor KiB | inflater KiB |");
    println!("|---|---|---|---|");
    for (bits, level) in [(15, 6), (15, 1), (12, 6), (10, 6), (9, 6)] {
        let (c, d) = memory(bits, level);
        println!("| {bits} | {level} | {c} | {d} |");
    }
    println!("\n## Per message, 15-bit window, context takeover\n");
    println!(
        "| messages | level | bytes/msg | wire/raw | compress µs/msg | inflate µs/msg | compress MB/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for level in [1, 6] {
        throughput("seed JSON, 100 B", &|i| seed_text(100, i), level);
        throughput("seed JSON, 1 KiB", &|i| seed_text(1024, i), level);
        throughput("seed JSON, 64 KiB", &|i| seed_text(64 << 10, i), level);
        throughput("random binary, 1 KiB", &|i| random(1024 + i), level);
        throughput("random binary, 64 KiB", &|i| random((64 << 10) + i), level);
    }
}
