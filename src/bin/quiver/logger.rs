//! The engine's `log` records on stderr, so that warnings reach the user (a NetCDF file read
//! in lossy metadata mode, a server client that failed). By default quiver's own warnings
//! and errors; `QUIVER_LOG=info|debug|trace|off` sets the level for every crate.

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    /// Only records from quiver's crates (the default); all when QUIVER_LOG is set.
    quiver_only: bool,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
            && (!self.quiver_only || metadata.target().starts_with("quiver"))
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Warn => "warning".to_string(),
                other => other.as_str().to_ascii_lowercase(),
            };
            eprintln!("{level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger once, at start-up.
pub fn install() {
    let chosen = std::env::var("QUIVER_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok());
    let logger = StderrLogger {
        quiver_only: chosen.is_none(),
    };
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(chosen.unwrap_or(LevelFilter::Warn));
    }
}
