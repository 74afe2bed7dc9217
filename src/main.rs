//! The `tracepipe` command: argument parsing and wiring; the work is in the library.

mod cli;

/// mimalloc, overriding C malloc too: librdkafka allocates every message in the replay
/// thread and frees it in its broker thread, and glibc malloc spent a fifth of the CPU on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
