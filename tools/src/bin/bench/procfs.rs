//! Linux /proc readings of this process and its threads.

use std::fs;

fn status_field(path: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Resident set size of this process, KiB.
pub(crate) fn rss_kib() -> u64 {
    status_field("/proc/self/status", "VmRSS:").unwrap_or(0)
}

/// Threads of this process.
pub(crate) fn threads() -> u64 {
    status_field("/proc/self/status", "Threads:").unwrap_or(0)
}

/// Soft limit on open files.
pub(crate) fn max_open_files() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Thread ids of this process.
pub(crate) fn all_tids() -> Vec<u64> {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Thread ids of this process whose name is `name`.
pub(crate) fn tids_named(name: &str) -> Vec<u64> {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid: u64 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim_end() == name).then_some(tid)
        })
        .collect()
}

/// Voluntary and involuntary context switches of a thread so far.
pub(crate) fn ctx_switches(tid: u64) -> (u64, u64) {
    let path = format!("/proc/self/task/{tid}/status");
    (
        status_field(&path, "voluntary_ctxt_switches:").unwrap_or(0),
        status_field(&path, "nonvoluntary_ctxt_switches:").unwrap_or(0),
    )
}

/// Time a thread has spent on a CPU, nanoseconds (from schedstat).
pub(crate) fn task_cpu_ns(tid: u64) -> u64 {
    fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time of the whole process so far (user + system), nanoseconds. From /proc/self/stat,
/// whose unit is the clock tick (100 Hz on Linux).
pub(crate) fn process_cpu_ns() -> u64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name (which may contain spaces) start at field 3.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0;
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks * 10_000_000
}

/// CPU time of all live threads of this process, nanoseconds (schedstat: precise, unlike
/// the tick-based /proc/self/stat). Threads that exited are not counted.
pub(crate) fn threads_cpu_ns() -> u64 {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .map(task_cpu_ns)
        .sum()
}
