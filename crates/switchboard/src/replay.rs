//! `switchboard replay`: a data folder's events, decrypted, one JSON object per line (or text),
//! or a channel's state as it was at a given time.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use switchboard_domain::{ChannelState, DomainEvent, Recorded, Sid};
use switchboard_store::{AnyEvent, ReplayFilter, ReplayItem, ReplayRecord};

use crate::cli::{channel_sid, DataArgs};
use crate::timefmt;

#[derive(Debug, Args)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Json,
    /// One human-readable line per event.
    Text,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let log = args.data.open_existing()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Some(at) = args.state_at {
        let filter = ReplayFilter { streams: args.channels, since: None, until: Some(at) };
        write_states(&log, &filter, at, &mut out)?;
    } else {
        let filter = ReplayFilter { streams: args.channels, since: args.since, until: args.until };
        for item in log.replay(&filter) {
            let line = event_line(&item?);
            match args.format {
                Format::Json => writeln!(out, "{line}")?,
                Format::Text => writeln!(out, "{}", text_line(&line))?,
            }
        }
    }
    out.flush()?;
    drop(out);
    log.close()?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON form of one record: channel, sequence, time, type and the event's own fields.
pub fn event_line(item: &ReplayItem) -> Value {
    match item {
        ReplayRecord::Event { stream, seq, event } => {
            let fields = match serde_json::to_value(&event.event) {
                // Externally tagged: {"message_added": {...}} or a bare string for unit variants.
                Ok(Value::Object(mut map)) => {
                    map.remove(event.event.type_name()).unwrap_or(Value::Null)
                }
                _ => Value::Object(Default::default()),
            };
            json!({
                "channel_sid": stream.to_string(),
                "seq": seq,
                "timestamp": timefmt::iso(event.at),
                "type": event.event.type_name(),
                "schema": event.schema,
                "fields": fields,
            })
        }
        ReplayRecord::Shredded { stream, seq } => json!({
            "channel_sid": stream.to_string(),
            "seq": seq,
            "type": "shredded",
            "note": "the channel's data key was destroyed; this record can never be read",
        }),
    }
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

fn write_states(
    log: &switchboard_store::EventLog,
    filter: &ReplayFilter,
    at: switchboard_domain::Timestamp,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut current: Option<(Sid, ChannelState)> = None;
    let flush = |done: Option<(Sid, ChannelState)>, out: &mut dyn Write| -> anyhow::Result<()> {
        if let Some((sid, state)) = done {
            let line =
                json!({ "channel_sid": sid.to_string(), "at": timefmt::iso(at), "state": state });
            writeln!(out, "{line}")?;
        }
        Ok(())
    };
    for item in log.replay(filter) {
        let item = item?;
        if current.as_ref().is_none_or(|(sid, _)| *sid != item.stream()) {
            flush(current.take(), out)?;
            current = Some((item.stream(), ChannelState::default()));
        }
        if let (Some((_, state)), ReplayRecord::Event { event, .. }) = (current.as_mut(), &item) {
            // Only channels have a state to show; flows and services are skipped.
            if let AnyEvent::Channel(channel_event) = &event.event {
                state.apply(&Recorded {
                    schema: event.schema,
                    at: event.at,
                    event: channel_event.clone(),
                });
            }
        }
    }
    flush(current.take(), out)
}
