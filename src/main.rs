//! The `tracepipe` command: argument parsing and wiring; the work is in the library.

mod cli;

/// mimalloc, overriding C malloc too: librdkafka allocates every message in the replay
/// thread and frees it in its broker thread, and glibc malloc spent a fifth of the CPU on it.
/// mimalloc 2 (Cargo feature `v2`): mimalloc 3 was slower and larger here (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(unsafe_code)]
unsafe extern "C" {
    /// mimalloc's option setter (linked in by the allocator above).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc 2.x's `mi_option_t`.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() {
    tune_process();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::exit(2);
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the previous one
/// already carries (rdkafka's errors repeat their error code's text as their source).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !last.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        last = text;
    }
    out
}

/// Allocator and memory settings measured to matter (BENCHMARKS.md).
#[allow(unsafe_code)]
fn tune_process() {
    // Keep freed pages for a second before returning them to the OS: the consumer frees and
    // reallocates fetch buffers continuously, and with the default 10 ms a third of its time
    // went to page faults (BENCHMARKS.md).
    // The environment variable MIMALLOC_PURGE_DELAY still wins when set.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option of the allocator; no memory is touched.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
    // No transparent huge pages: librdkafka's decompression buffers grow by realloc into
    // fresh memory, and each first touch of a huge page zeroes 2 MiB of which little is
    // used (BENCHMARKS.md).
    // SAFETY: prctl with integer arguments only changes this process's THP policy.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
