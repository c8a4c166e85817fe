//! `switchboard token`: mints a development access token in Twilio's format, signed with an API
//! key secret, for WebSocket clients and tests.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use switchboard_domain::{Sid, SidPrefix};

#[derive(Args)]
pub struct TokenArgs {
    /// The chat identity the token is for.
    #[arg(long)]
    identity: String,
    /// How long it is valid (e.g. 15m, 1h; at most 24h).
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// The Chat Service the token is for (its `IS…` SID).
    #[arg(long)]
    service: Option<String>,
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    account_sid: String,
    #[arg(long, env = "SWITCHBOARD_API_KEY_SID")]
    api_key_sid: String,
    #[arg(long, env = "SWITCHBOARD_API_KEY_SECRET", hide_env_values = true)]
    api_key_secret: String,
}

pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let ttl =
        humantime::parse_duration(&args.ttl).with_context(|| format!("--ttl {:?}", args.ttl))?;
    if ttl.as_secs() == 0 || ttl.as_secs() > 24 * 3600 {
        bail!("--ttl must be between 1 s and 24 h");
    }
    Sid::parse_with(&args.account_sid, SidPrefix::ACCOUNT).context("--account-sid")?;
    Sid::parse_with(&args.api_key_sid, SidPrefix::API_KEY).context("--api-key-sid")?;
    if let Some(service) = &args.service {
        Sid::parse_with(service, SidPrefix::SERVICE).context("--service")?;
    }
    let now_secs = crate::timefmt::now().as_millis() / 1000;
    let token = switchboard_http::twilio::token::mint(
        &args.account_sid,
        &args.api_key_sid,
        &args.api_key_secret,
        &args.identity,
        args.service.as_deref(),
        ttl.as_secs(),
        now_secs,
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
