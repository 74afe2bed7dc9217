//! Progress: a bar on a terminal, periodic log lines otherwise.

use crate::clock::format_trace_time;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    Bar,
    Log,
    Quiet,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Log,
            m => m,
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let b = ProgressBar::new(1000);
            b.set_style(
                ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} ETA {eta}")
                    .expect("static template"),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let now = Instant::now();
        Progress {
            bar,
            log: mode == ProgressMode::Log,
            started: now,
            last_log: now,
        }
    }

    /// `fraction`: share of the input read (by compressed bytes of finished parts).
    pub fn update(&mut self, events: u64, time: u64, fraction: f64) {
        let rate = events as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let msg = format!(
            "{events} events, {rate:.0} ev/s, trace clock {}",
            format_trace_time(time)
        );
        if let Some(bar) = &self.bar {
            bar.set_position((fraction * 1000.0) as u64);
            bar.set_message(msg);
        } else if self.log && self.last_log.elapsed() >= Duration::from_secs(5) {
            self.last_log = Instant::now();
            eprintln!("replay: {msg}, {:.0}% of input read", fraction * 100.0);
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
