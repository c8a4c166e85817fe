//! `switchboard keys`: make a master key, rotate the master key, shred a channel's data key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use switchboard_crypto::MasterKey;
use switchboard_domain::Sid;
use switchboard_store::{rotate_master_key, ChannelLog};

use crate::cli::{channel_sid, require_data, DataArgs, ErasureReasonArg};
use crate::timefmt;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new random master key (base64) to a new file, readable by its owner only.
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wrap every data key under a new master key; no event is rewritten.
    Rotate(RotateArgs),
    /// Destroy channels' data keys: their content can never be read again (erasure on request).
    Shred(ShredArgs),
    /// API keys (`SK…`): REST credentials whose secrets also sign access tokens.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a new API key, kept sealed in the data folder; its secret is printed once.
    Create(DataArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The new master key (make one with `switchboard keys generate`).
    #[arg(long)]
    new_key_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ShredArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The channel to shred (repeatable).
    #[arg(long = "channel", value_parser = channel_sid, required = true)]
    channels: Vec<Sid>,
    #[arg(long, value_enum, default_value = "subject-request")]
    reason: ErasureReasonArg,
    /// Confirms that the content is to be destroyed for good.
    #[arg(long)]
    yes: bool,
}

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Generate { out } => {
            MasterKey::generate().save_new(&out)?;
            println!("wrote a new master key to {}", out.display());
        }
        KeysCommand::Rotate(args) => rotate(args)?,
        KeysCommand::Shred(args) => shred(args)?,
        KeysCommand::ApiKey(ApiKeyCommand::Create(data)) => {
            let log = data.open_existing()?;
            let (sid, secret) = crate::credentials::create_api_key(&log)?;
            log.close()?;
            println!("API key SID:    {sid}");
            println!("API key secret: {}", secret.expose());
            println!("(the secret is shown this once; the daemon loads the key on its next start)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    require_data(&args.data.dir())?;
    let (old, _) = args.data.master_key(false)?;
    let new = MasterKey::load(&args.new_key_file).context("the new master key")?;
    if old.fingerprint() == new.fingerprint() {
        bail!("the new master key is the current one");
    }
    let progress = crate::progress::working("re-wrapping the data keys");
    let report = rotate_master_key(&args.data.dir(), &old, &new)?;
    progress.finish_and_clear();
    println!(
        "re-wrapped {} keys under master key {} ({} already were); from now on start with the new key",
        report.rewrapped,
        new.fingerprint(),
        report.already_rotated
    );
    Ok(())
}

fn shred(args: ShredArgs) -> anyhow::Result<()> {
    if !args.yes {
        bail!("shredding destroys the channels' content for good; add --yes to confirm");
    }
    let log = args.data.open_existing()?;
    for sid in &args.channels {
        if log.next_seq(*sid)? == 0 {
            bail!("channel {sid} does not exist in this data folder");
        }
        let channel = ChannelLog::load(&log, *sid)?;
        let outcome = channel.shred(&log, args.reason.into(), timefmt::now())?;
        log.wait_durable_blocking(outcome.ticket)?;
        println!(
            "shredded {sid}: {} records can never be read again; the chain still verifies",
            outcome.records_made_unreadable
        );
    }
    log.close()?;
    Ok(())
}
