//! `switchboard replay`: a data folder's events, decrypted, one JSON object per line (or text),
//! or a channel's state as it was at a given time.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use switchboard_domain::{ChannelState, Recorded, Sid, SidPrefix};
use switchboard_http::audit::event_line;
use switchboard_store::{AnyEvent, EventLog, ReplayFilter, ReplayRecord};

use crate::cli::{channel_sid, DataArgs};
use crate::daemon_config::{report, DaemonConfig};
use crate::timefmt;

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Only these channels (repeatable).
    #[arg(long = "channel", value_parser = channel_sid)]
    channels: Vec<Sid>,
    /// Only events at or after this time (RFC 3339 or Unix seconds).
    #[arg(long, value_parser = timefmt::parse)]
    since: Option<switchboard_domain::Timestamp>,
    /// Only events at or before this time (RFC 3339 or Unix seconds).
    #[arg(long, value_parser = timefmt::parse)]
    until: Option<switchboard_domain::Timestamp>,
    /// Instead of events, print each channel's state as it was at this time.
    #[arg(long, value_parser = timefmt::parse, conflicts_with_all = ["since", "until"])]
    state_at: Option<switchboard_domain::Timestamp>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Read from a running daemon's admin API instead of a data folder (needs --channel).
    #[arg(long, requires = "channels", conflicts_with_all = ["since", "until", "state_at"])]
    url: Option<String>,
    /// The daemon's account SID, for --url [default: as the daemon has it: its configuration,
    /// else its data folder].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    account_sid: Option<String>,
    /// The daemon's auth token, for --url [default: as for --account-sid].
    #[arg(long, env = "SWITCHBOARD_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// The daemon's configuration file, read as `serve` reads it (its data folder, credentials).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Json,
    /// One human-readable line per event.
    Text,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let config = DaemonConfig::load(args.config.clone(), args.data.clone())?;
    if let Some(url) = &args.url {
        return replay_remote(&args, &config, url);
    }
    let log = config.data().open_existing()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = ExitCode::SUCCESS;
    if let Some(at) = args.state_at {
        let filter = ReplayFilter { streams: args.channels.clone(), since: None, until: Some(at) };
        let shown = write_states(&log, &filter, at, &mut out)?;
        let absent = absent_at(&log, &args.channels, &shown, at)?;
        for reason in &absent {
            eprintln!("{reason}");
        }
        if !absent.is_empty() {
            code = ExitCode::from(1);
        }
    } else {
        let filter = ReplayFilter { streams: args.channels, since: args.since, until: args.until };
        // Counted on a terminal only while the events go elsewhere (a file, a pipe): to the
        // streams' heads when every event is wanted, counting when a time window picks some.
        let progress = if filter.since.is_none() && filter.until.is_none() {
            crate::progress::bar("replaying", "events", events_in(&log, &filter.streams)?)
        } else {
            crate::progress::counting("replaying", "events")
        };
        if std::io::stdout().is_terminal() {
            progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        for item in log.replay(&filter) {
            progress.inc(1);
            let line = event_line(&item?);
            match args.format {
                Format::Json => writeln!(out, "{line}")?,
                Format::Text => writeln!(out, "{}", text_line(&line))?,
            }
        }
        crate::progress::finish(&progress);
    }
    out.flush()?;
    drop(out);
    log.close()?;
    Ok(code)
}

/// How many events the streams named hold (every stream's when none is named), by their heads.
fn events_in(log: &EventLog, streams: &[Sid]) -> anyhow::Result<u64> {
    let mut events = 0;
    if streams.is_empty() {
        for stream in log.streams() {
            events += log.next_seq(stream?)?;
        }
    } else {
        for stream in streams {
            events += log.next_seq(*stream)?;
        }
    }
    Ok(events)
}

/// Why no state was shown at `at`, for each asked channel that has none (or for the folder,
/// when none was asked and no channel existed yet): an empty answer must not pass for one.
fn absent_at(
    log: &switchboard_store::EventLog,
    asked: &[Sid],
    shown: &[Sid],
    at: switchboard_domain::Timestamp,
) -> anyhow::Result<Vec<String>> {
    let at_text = timefmt::iso(at);
    if asked.is_empty() {
        return Ok(if shown.is_empty() {
            vec![format!("no channel existed at {at_text}: nothing to show")]
        } else {
            Vec::new()
        });
    }
    let mut reasons = Vec::new();
    for &channel in asked.iter().filter(|c| !shown.contains(c)) {
        let everything = ReplayFilter { streams: vec![channel], since: None, until: None };
        let reason = match log.replay(&everything).next().transpose()? {
            None => format!("channel {channel} has no events in this folder"),
            Some(ReplayRecord::Event { event, .. }) => format!(
                "channel {channel} did not exist yet at {at_text}: its first event is at {}",
                timefmt::iso(event.at)
            ),
            Some(ReplayRecord::Shredded { .. }) => {
                format!("channel {channel} was shredded: its state at {at_text} is gone")
            }
        };
        reasons.push(reason);
    }
    Ok(reasons)
}

/// Streams each channel's events from a live daemon's `/admin/v1/Channels/{sid}/Events`.
fn replay_remote(args: &ReplayArgs, config: &DaemonConfig, url: &str) -> anyhow::Result<ExitCode> {
    let authorization =
        remote_authorization(config, &args.account_sid, &args.auth_token, "replay")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for channel in &args.channels {
        remote_event_lines(url, &authorization, *channel, &mut |line| {
            match args.format {
                Format::Json => writeln!(out, "{line}")?,
                Format::Text => writeln!(out, "{}", text_line(&serde_json::from_str(&line)?))?,
            }
            Ok(())
        })?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The `Authorization` header of the daemon's REST credentials, saying on stderr where each came
/// from (`tool` names the command).
pub(crate) fn remote_authorization(
    config: &DaemonConfig,
    account_sid: &Option<String>,
    auth_token: &Option<String>,
    tool: &str,
) -> anyhow::Result<String> {
    let (account, token) = config.rest_credentials(account_sid, auth_token)?;
    eprintln!(
        "switchboard {tool}: {}",
        report(&[("account SID", &account), ("auth token", &token)])
    );
    Ok(format!("Basic {}", base64_of(&format!("{}:{}", account.value, token.value))))
}

/// Hands each of a channel's event lines (JSON, as `event_line` writes them) from a live
/// daemon's audit endpoint to `each`, one range at a time.
pub(crate) fn remote_event_lines(
    url: &str,
    authorization: &str,
    channel: Sid,
    each: &mut dyn FnMut(String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let endpoint = format!("{}/admin/v1/Channels/{channel}/Events", url.trim_end_matches('/'));
    // One range at a time, each where the previous one said the next begins.
    let mut from = Some(0u64);
    while let Some(start) = from {
        let request = ureq::get(&endpoint).query("From", &start.to_string());
        let response = match request.set("Authorization", authorization).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(code, response)) => {
                let body = response.into_string().unwrap_or_default();
                anyhow::bail!("{endpoint}: HTTP {code}: {body}");
            }
            Err(error) => anyhow::bail!("{endpoint}: {error}"),
        };
        from = response.header("Switchboard-Next-From").and_then(|n| n.parse().ok());
        for line in std::io::BufRead::lines(std::io::BufReader::new(response.into_reader())) {
            each(line?)?;
        }
    }
    Ok(())
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn text_line(line: &Value) -> String {
    let field = |name: &str| {
        line.get(name).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    let mut text = format!(
        "{} {} #{} {}",
        field("timestamp").unwrap_or_else(|| "-".into()),
        field("channel_sid").unwrap_or_default(),
        field("seq").unwrap_or_default(),
        field("type").unwrap_or_default(),
    );
    if let Some(fields) = line.get("fields") {
        text.push(' ');
        text.push_str(&fields.to_string());
    }
    text
}

/// Prints each channel's state at `at`; returns the channels printed.
fn write_states(
    log: &switchboard_store::EventLog,
    filter: &ReplayFilter,
    at: switchboard_domain::Timestamp,
    out: &mut impl Write,
) -> anyhow::Result<Vec<Sid>> {
    let mut current: Option<(Sid, ChannelState)> = None;
    let mut shown = Vec::new();
    let mut flush = |done: Option<(Sid, ChannelState)>,
                     out: &mut dyn Write|
     -> anyhow::Result<()> {
        if let Some((sid, state)) = done {
            let line =
                json!({ "channel_sid": sid.to_string(), "at": timefmt::iso(at), "state": state });
            writeln!(out, "{line}")?;
            shown.push(sid);
        }
        Ok(())
    };
    for item in log.replay(filter) {
        let item = item?;
        // Only channels have a state to show; flows, services and users are skipped.
        if item.stream().prefix() != SidPrefix::CHANNEL {
            continue;
        }
        if current.as_ref().is_none_or(|(sid, _)| *sid != item.stream()) {
            flush(current.take(), out)?;
            current = Some((item.stream(), ChannelState::default()));
        }
        if let (Some((_, state)), ReplayRecord::Event { event, .. }) = (current.as_mut(), &item) {
            if let AnyEvent::Channel(channel_event) = &event.event {
                state.apply(&Recorded {
                    schema: event.schema,
                    at: event.at,
                    event: channel_event.clone(),
                    cause: event.cause.clone(),
                });
            }
        }
    }
    flush(current.take(), out)?;
    Ok(shown)
}
