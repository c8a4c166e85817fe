//! `switchboard token`: mints a development access token in Twilio's format, signed with an API
//! key secret, for WebSocket clients and tests. The account and the API key are the daemon's own,
//! found where `serve` finds them (`daemon_config`) unless given.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use switchboard_domain::{Sid, SidPrefix};

use crate::daemon_config::{report, DaemonArgs, Given};

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
    /// The account SID [default: as the daemon has it: its configuration, else its data folder].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    account_sid: Option<String>,
    /// The API key SID whose secret signs the token [default: as for --account-sid].
    #[arg(long, env = "SWITCHBOARD_API_KEY_SID")]
    api_key_sid: Option<String>,
    #[arg(long, env = "SWITCHBOARD_API_KEY_SECRET", hide_env_values = true)]
    api_key_secret: Option<String>,
    #[command(flatten)]
    daemon: DaemonArgs,
}

pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let ttl =
        humantime::parse_duration(&args.ttl).with_context(|| format!("--ttl {:?}", args.ttl))?;
    if ttl.as_secs() == 0 || ttl.as_secs() > 24 * 3600 {
        bail!("--ttl must be between 1 s and 24 h");
    }
    let config = args.daemon.clone().load()?;
    let account = Given {
        value: args.account_sid.as_deref(),
        flag: "--account-sid",
        env: "SWITCHBOARD_ACCOUNT_SID",
    };
    let key_sid = Given {
        value: args.api_key_sid.as_deref(),
        flag: "--api-key-sid",
        env: "SWITCHBOARD_API_KEY_SID",
    };
    let key_secret = Given {
        value: args.api_key_secret.as_deref(),
        flag: "--api-key-secret",
        env: "SWITCHBOARD_API_KEY_SECRET",
    };
    let account_sid = config.required(
        account,
        "account SID",
        "account_sid",
        |f| f.account_sid.as_ref(),
        |c| c.account_sid.as_ref(),
    )?;
    let api_key_sid = config.required(
        key_sid,
        "API key",
        "api_key_sid",
        |f| f.api_key_sid.as_ref(),
        |c| c.api_key_sid.as_ref(),
    )?;
    let api_key_secret = config.required(
        key_secret,
        "API key secret",
        "api_key_secret",
        |f| f.api_key_secret.as_ref(),
        |c| c.api_key_secret.as_ref(),
    )?;
    if !api_key_sid.source.same_place(&api_key_secret.source) {
        bail!(
            "the API key SID comes from {} but its secret from {}: give both in one place",
            api_key_sid.source,
            api_key_secret.source
        );
    }
    Sid::parse_with(&account_sid.value, SidPrefix::ACCOUNT).context("the account SID")?;
    Sid::parse_with(&api_key_sid.value, SidPrefix::API_KEY).context("the API key SID")?;
    if let Some(service) = &args.service {
        Sid::parse_with(service, SidPrefix::SERVICE).context("--service")?;
    }
    eprintln!(
        "switchboard token: {}",
        report(&[("account SID", &account_sid), ("API key", &api_key_sid)])
    );
    let now_secs = crate::timefmt::now().as_millis() / 1000;
    let token = switchboard_http::twilio::token::mint(
        &account_sid.value,
        &api_key_sid.value,
        &api_key_secret.value,
        &args.identity,
        args.service.as_deref(),
        ttl.as_secs(),
        now_secs,
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
