//! `switchboard export`: the transcript of channels, for a customer's request for their data:
//! every message the log holds, in order, with its author and time, its latest text and the
//! earlier ones, its media, and whether it was removed (the log keeps what the API removed, so
//! the transcript shows it). From a stopped daemon's folder (or a restored backup), or a running
//! daemon's audit endpoint (`--url`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;
use switchboard_domain::Sid;
use switchboard_http::audit::event_line;
use switchboard_store::ReplayFilter;

use crate::cli::{channel_sid, DataArgs};
use crate::daemon_config::DaemonConfig;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The channel to export (repeatable).
    #[arg(long = "channel", value_parser = channel_sid, required = true)]
    channels: Vec<Sid>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Read from a running daemon's admin API instead of a data folder.
    #[arg(long)]
    url: Option<String>,
    /// The daemon's account SID, for --url [default: as the daemon has it].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    account_sid: Option<String>,
    /// The daemon's auth token, for --url [default: as for --account-sid].
    #[arg(long, env = "SWITCHBOARD_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// The daemon's configuration file, read as `serve` reads it.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON document (`switchboard-transcript/1`).
    Json,
    /// A transcript a person reads: one message a line.
    Text,
}

/// What `export --format json` writes.
#[derive(Debug, Serialize)]
struct Export {
    format: &'static str,
    exported_at: String,
    channels: Vec<Transcript>,
}

/// One channel's messages, as the log holds them.
#[derive(Debug, Default, Serialize, PartialEq)]
struct Transcript {
    channel_sid: String,
    /// The channel's content was destroyed (`keys shred`, or erased): nothing more can be read.
    content_destroyed: bool,
    messages: Vec<Message>,
}

#[derive(Debug, Default, Serialize, PartialEq)]
struct Message {
    index: u64,
    message_sid: String,
    author: String,
    date_created: String,
    body: String,
    /// Earlier texts of an edited message, oldest first.
    earlier_bodies: Vec<String>,
    media: Option<Value>,
    /// Removed through the API; the log still holds it.
    removed: bool,
}

impl Transcript {
    /// Folds a channel's event lines (as `event_line` writes them) into its messages.
    fn of(channel: Sid, lines: &[Value]) -> Transcript {
        let mut messages: BTreeMap<u64, Message> = BTreeMap::new();
        let mut transcript =
            Transcript { channel_sid: channel.to_string(), ..Transcript::default() };
        for line in lines {
            let fields = &line["fields"];
            let index = fields["index"].as_u64();
            match (line["type"].as_str().unwrap_or_default(), index) {
                ("message_added", Some(index)) => {
                    messages.insert(index, added(index, line));
                }
                ("message_edited", Some(index)) => {
                    let (Some(message), Some(body)) =
                        (messages.get_mut(&index), fields["body"].as_str())
                    else {
                        continue;
                    };
                    let earlier = std::mem::replace(&mut message.body, body.to_owned());
                    message.earlier_bodies.push(earlier);
                }
                ("message_removed", Some(index)) => {
                    if let Some(message) = messages.get_mut(&index) {
                        message.removed = true;
                    }
                }
                ("shredded" | "data_erased", _) => transcript.content_destroyed = true,
                _ => {}
            }
        }
        transcript.messages = messages.into_values().collect();
        transcript
    }

    fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "Channel {}", self.channel_sid)?;
        if self.content_destroyed {
            writeln!(out, "  (its content was destroyed; what is left cannot be read)")?;
        }
        for message in &self.messages {
            let mut notes = Vec::new();
            if !message.earlier_bodies.is_empty() {
                notes.push(format!("edited; before: {}", message.earlier_bodies.join(" | ")));
            }
            if message.removed {
                notes.push("removed".to_owned());
            }
            if let Some(media) = &message.media {
                let kind = media["content_type"].as_str().unwrap_or("media");
                let name = media["filename"].as_str().unwrap_or_default();
                notes.push(format!("media: {kind} {name}").trim_end().to_owned());
            }
            let notes =
                if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join("; ")) };
            let (at, author, body) = (&message.date_created, &message.author, &message.body);
            writeln!(out, "{at}  {author}: {body}{notes}")?;
        }
        Ok(())
    }
}

fn added(index: u64, line: &Value) -> Message {
    let fields = &line["fields"];
    let text = |name: &str| fields[name].as_str().unwrap_or_default().to_owned();
    Message {
        index,
        message_sid: text("message_sid"),
        author: text("author"),
        date_created: line["timestamp"].as_str().unwrap_or_default().to_owned(),
        body: text("body"),
        earlier_bodies: Vec::new(),
        media: Some(fields["media"].clone()).filter(|m| !m.is_null()),
        removed: false,
    }
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = DaemonConfig::load(args.config.clone(), args.data.clone())?;
    let mut lines: Vec<Vec<Value>> = vec![Vec::new(); args.channels.len()];
    match &args.url {
        Some(url) => {
            let authorization = crate::replay::remote_authorization(
                &config,
                &args.account_sid,
                &args.auth_token,
                "export",
            )?;
            for (channel, found) in args.channels.iter().zip(&mut lines) {
                crate::replay::remote_event_lines(url, &authorization, *channel, &mut |line| {
                    found.push(serde_json::from_str(&line)?);
                    Ok(())
                })?;
            }
        }
        None => {
            let log = config.data().open_existing()?;
            for (channel, found) in args.channels.iter().zip(&mut lines) {
                let filter = ReplayFilter { streams: vec![*channel], since: None, until: None };
                for item in log.replay(&filter) {
                    found.push(event_line(&item?));
                }
            }
            log.close()?;
        }
    }
    if let Some((channel, _)) = args.channels.iter().zip(&lines).find(|(_, l)| l.is_empty()) {
        anyhow::bail!("channel {channel} has no events here: nothing was exported");
    }
    let channels: Vec<Transcript> =
        args.channels.iter().zip(&lines).map(|(c, l)| Transcript::of(*c, l)).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            let export = Export {
                format: "switchboard-transcript/1",
                exported_at: crate::timefmt::iso(crate::timefmt::now()),
                channels,
            };
            serde_json::to_writer_pretty(&mut out, &export)?;
            writeln!(out)?;
        }
        Format::Text => {
            for transcript in &channels {
                transcript.write_text(&mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(seq: u64, kind: &str, fields: Value) -> Value {
        let at = format!("2026-12-06T12:00:{seq:02}Z");
        json!({"channel_sid": "CH", "seq": seq, "timestamp": at, "type": kind, "fields": fields})
    }

    #[test]
    fn edits_and_removals_fold_into_the_messages_and_nothing_else_counts() {
        let sid = "CH00000000000000000000000000000001".parse::<Sid>().unwrap();
        let added = |index: u64, author: &str, body: &str| {
            json!({"index": index, "message_sid": format!("IM{index}"), "author": author,
                   "body": body, "media": null})
        };
        let lines = [
            line(0, "channel_created", json!({})),
            line(1, "message_added", added(0, "+14155550100", "hi")),
            line(2, "message_added", added(1, "agent", "helo")),
            line(3, "message_edited", json!({"index": 1, "body": "hello"})),
            line(4, "message_edited", json!({"index": 1, "body": null, "attributes": "{}"})),
            line(5, "message_removed", json!({"index": 0})),
            line(6, "member_added", json!({"index": 9})),
        ];
        let transcript = Transcript::of(sid, &lines);
        assert!(!transcript.content_destroyed);
        let shown: Vec<_> = transcript
            .messages
            .iter()
            .map(|m| (m.index, m.body.as_str(), m.earlier_bodies.clone(), m.removed))
            .collect();
        assert_eq!(
            shown,
            [(0, "hi", vec![], true), (1, "hello", vec!["helo".to_owned()], false)],
            "{transcript:?}"
        );
        assert_eq!(transcript.messages[1].date_created, "2026-12-06T12:00:02Z");
        let mut text = Vec::new();
        transcript.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("2026-12-06T12:00:01Z  +14155550100: hi  [removed]"), "{text}");
        assert!(text.contains("agent: hello  [edited; before: helo]"), "{text}");
        let shredded = Transcript::of(sid, &[line(0, "shredded", json!(null))]);
        assert!(shredded.content_destroyed && shredded.messages.is_empty());
    }
}
