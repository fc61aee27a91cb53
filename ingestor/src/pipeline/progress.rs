//! Backfill progress for people: a bar on a terminal, a log line every 10 s otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Shows backfill progress: a bar on a terminal, a log line every 10 s otherwise.
pub enum Progress {
    /// On a terminal.
    Bar(ProgressBar),
    /// Elsewhere: when the last line was logged.
    Log(Instant),
}

impl Progress {
    /// A bar on a terminal, log lines otherwise.
    pub fn new() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} block {pos}/{len} {wide_bar} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Progress::Bar(bar)
        } else {
            Progress::Log(Instant::now())
        }
    }

    /// Block `block` of `head` is done.
    pub fn update(&mut self, block: u64, head: u64, events_per_second: f64) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(head);
                bar.set_position(block);
                bar.set_message(format!("{events_per_second:.0} events/s"));
            }
            Progress::Log(last) if last.elapsed() >= Duration::from_secs(10) => {
                tracing::info!(
                    block,
                    head,
                    lag = head.saturating_sub(block),
                    events_per_second,
                    "ingesting"
                );
                *last = Instant::now();
            }
            Progress::Log(_) => {}
        }
    }
}
