//! The process's log: tracing-subscriber's formatter on stderr, plain text (coloured on a
//! terminal) or one JSON object a line, behind a filter the admin API can replace while the
//! daemon runs (`switchboard_http::logging`).
//!
//! The tools log plain text with `SWITCHBOARD_LOG`'s filter; `serve` first resolves its settings
//! (flag, variable or file: `log`, `log_format`, `access_log`), then starts its log with them.

use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// The filter when none is given.
pub const DEFAULT_FILTER: &str = "info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`, and the request's
    /// span (`span.id` is its request id).
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The daemon's log settings, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `EnvFilter` directives: a default level and levels by module.
    pub filter: String,
    pub format: LogFormat,
    /// One line per request on `switchboard::access`.
    pub access_log: bool,
}

/// The filter, replaceable while the process runs.
struct Reloadable(reload::Handle<EnvFilter, Registry>);

impl switchboard_http::logging::LogFilter for Reloadable {
    fn current(&self) -> String {
        self.0.with_current(ToString::to_string).unwrap_or_default()
    }

    fn replace(&self, directives: &str) -> Result<(), String> {
        let filter = parse(directives).map_err(|e| e.to_string())?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// A filter from directives, refusing any it cannot parse (rather than ignoring it).
fn parse(directives: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::builder().parse(directives)
}

/// The tools' log: plain text, `SWITCHBOARD_LOG`'s filter (or info, if it is missing or wrong).
pub fn init_for_tools() {
    let filter = std::env::var("SWITCHBOARD_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| parse(&directives).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let _ = start(filter, LogFormat::Text);
}

/// The daemon's log, with the control the admin API uses to change its filter.
pub fn init_for_daemon(
    settings: &LogSettings,
) -> anyhow::Result<switchboard_http::logging::LogControl> {
    let filter = parse(&settings.filter).with_context(|| {
        format!("log filter {:?} (use e.g. info,switchboard_actors=debug)", settings.filter)
    })?;
    let handle = start(filter, settings.format)?;
    Ok(switchboard_http::logging::LogControl::new(
        Arc::new(Reloadable(handle)),
        settings.format.name(),
        settings.access_log,
    ))
}

fn start(
    filter: EnvFilter,
    format: LogFormat,
) -> anyhow::Result<reload::Handle<EnvFilter, Registry>> {
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let started = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr).with_ansi(colours_wanted()))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true).with_writer(std::io::stderr))
            .try_init(),
    };
    started.context("starting the log")?;
    Ok(handle)
}

/// Colour codes only where a person reads them as colours: on a terminal, and unless `NO_COLOR`
/// is set (no-color.org). In a file or a journal they are noise.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_filter_is_refused_not_ignored() {
        assert!(parse("info,switchboard_http=debug").is_ok());
        assert!(parse("info,switchboard_http=loud").is_err());
        assert_eq!(
            parse("warn,switchboard::access=info").unwrap().to_string(),
            "switchboard::access=info,warn"
        );
    }
}
