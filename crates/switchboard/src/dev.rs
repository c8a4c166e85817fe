//! `switchboard dev`: trying the daemon out on one machine, with nothing but the daemon.
//!
//! `dev sms`, `dev whatsapp` and `dev messenger` post an inbound message to the running daemon
//! exactly as its provider would, signed with the credentials the daemon checks them with, found
//! where `serve` finds them (`daemon_config`); `dev sandbox` shows the replies the daemon's
//! sandbox delivered in place of a provider; `dev env` prints the daemon's address and REST
//! credentials for a shell. Every command waits for a daemon that is still starting.

pub(crate) mod daemon;
mod inbound;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::daemon_config::DaemonArgs;
use daemon::Connection;
use inbound::Kind;

#[derive(Subcommand)]
pub enum DevCommand {
    /// Post an inbound SMS, as Twilio does; prints the channel it went to.
    Sms(MessageArgs),
    /// Post an inbound WhatsApp message, as Twilio (a `whatsapp:+…` flow) or Meta's Cloud API (a
    /// `phone_number_id` flow) does; prints the channel it went to.
    Whatsapp(MessageArgs),
    /// Post an inbound Messenger message, as Meta does; prints the channel it went to.
    Messenger(MessageArgs),
    /// Print the replies the sandbox delivered, waiting for the first ones.
    Sandbox(SandboxArgs),
    /// Print the daemon's address and REST credentials as shell assignments (`URL`, `AC`,
    /// `TOKEN`), for `eval "$(switchboard dev env)"`.
    Env(ConnectArgs),
}

/// How to reach the daemon.
#[derive(Args)]
pub struct ConnectArgs {
    /// Where the daemon listens [default: where the daemon of the data folder said it listens,
    /// else the listen setting].
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for a daemon that is starting (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// The account SID of the daemon's REST API [default: as the daemon has it].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    pub account_sid: Option<String>,
    /// Its auth token [default: as the daemon has it].
    #[arg(long, env = "SWITCHBOARD_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// One inbound message.
#[derive(Args)]
pub struct MessageArgs {
    /// The customer: a number (+15551234567) for SMS and WhatsApp, a PSID (digits) for Messenger.
    #[arg(long)]
    pub from: String,
    /// The text.
    #[arg(long)]
    pub body: String,
    /// Our side: the number, `phone_number_id` or Page id of an enabled Flex Flow [default: the
    /// one enabled flow of the channel type].
    #[arg(long)]
    pub to: Option<String>,
    /// The URL webhook signatures are computed over [default: the daemon's public URL].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The upstream Twilio account that posts SMS and WhatsApp webhooks [default: as the daemon
    /// has it].
    #[arg(long, env = "SWITCHBOARD_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Its auth token, which signs them [default: as the daemon has it].
    #[arg(long, env = "SWITCHBOARD_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The Meta app secret that signs WhatsApp Cloud and Messenger webhooks [default: as the
    /// daemon has it].
    #[arg(long, env = "SWITCHBOARD_META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Args)]
pub struct SandboxArgs {
    /// Wait until the sandbox holds at least this many replies.
    #[arg(long, default_value_t = 1)]
    pub at_least: usize,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(command: DevCommand) -> anyhow::Result<ExitCode> {
    match command {
        DevCommand::Sms(args) => inbound::run(Kind::Sms, &args),
        DevCommand::Whatsapp(args) => inbound::run(Kind::Whatsapp, &args),
        DevCommand::Messenger(args) => inbound::run(Kind::Messenger, &args),
        DevCommand::Sandbox(args) => sandbox(&args),
        DevCommand::Env(args) => env(&args),
    }
}

/// `URL=… AC=… TOKEN=…`, each quoted for a POSIX shell.
fn env(args: &ConnectArgs) -> anyhow::Result<ExitCode> {
    let daemon = Connection::open(args)?;
    eprintln!("switchboard dev env: the daemon at {}; {}", daemon.url, daemon.credentials);
    println!("URL={}", shell_quoted(&daemon.url));
    println!("AC={}", shell_quoted(&daemon.account_sid));
    println!("TOKEN={}", shell_quoted(daemon.auth_token()));
    Ok(ExitCode::SUCCESS)
}

/// The replies the sandbox delivered, one a line, once there are at least as many as asked.
fn sandbox(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let daemon = Connection::open(&args.connect)?;
    let deadline = Instant::now() + args.connect.wait;
    let replies = loop {
        let replies = daemon.sandbox_messages()?;
        if replies.len() >= args.at_least {
            break replies;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "switchboard dev sandbox: {} replies after {}; waited for {}",
                replies.len(),
                humantime::format_duration(args.connect.wait),
                args.at_least
            );
            print_replies(&replies);
            return Ok(ExitCode::from(1));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    print_replies(&replies);
    Ok(ExitCode::SUCCESS)
}

fn print_replies(replies: &[serde_json::Value]) {
    for reply in replies {
        let text = |name: &str| reply[name].as_str().unwrap_or_default().to_owned();
        println!(
            "{}  {} -> {}  {:?}  ({}, message {}: delivered by the sandbox in place of {})",
            text("date_delivered"),
            text("from"),
            text("to"),
            text("body"),
            text("channel_sid"),
            reply["message_index"],
            text("provider"),
        );
    }
}

/// `'…'`, with any `'` closed, escaped and reopened.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quoted("plain"), "'plain'");
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
    }
}
