//! `switchboard keys`: make a master key, rotate the master key, shred a channel's data key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use switchboard_crypto::MasterKey;
use switchboard_domain::{ChannelEvent, Recorded, Sid};
use switchboard_routing::task::{TaskEvent, TaskState};
use switchboard_store::{rotate_master_key, ChannelLog, ReplayRecord, StoreError, StreamLog};

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
    let progress = crate::progress::walking("re-wrapping the data keys", "keys");
    let report =
        rotate_master_key(&args.data.dir(), &old, &new, &mut |walked| progress.tell(walked))?;
    progress.finish();
    println!(
        "re-wrapped {} keys under master key {} ({} already were); from now on start with the new key",
        report.rewrapped,
        new.fingerprint(),
        report.already_rotated
    );
    Ok(())
}

/// The TaskRouter tasks channel `sid` linked (its own, and transfers'), each once.
fn linked_tasks(log: &switchboard_store::EventLog, sid: Sid) -> anyhow::Result<Vec<Sid>> {
    let mut tasks = Vec::new();
    for item in log.read::<Recorded>(sid, 0) {
        if let ReplayRecord::Event { event, .. } = item? {
            if let ChannelEvent::TaskLinked { task_sid, .. } = event.event {
                if !tasks.contains(&task_sid) {
                    tasks.push(task_sid);
                }
            }
        }
    }
    Ok(tasks)
}

/// Shreds a task's stream with its channel (see `switchboard_store::shred_task`): the task
/// keeps its state without the customer's data. A task never made, or shredded before, is
/// passed over.
fn shred_task(log: &switchboard_store::EventLog, task: Sid) -> anyhow::Result<()> {
    if log.next_seq(task)? == 0 {
        return Ok(());
    }
    let state = StreamLog::<TaskState>::load(log, task)?;
    let kept = Box::new(state.state().without_customer_data());
    let marker = Recorded::new(timefmt::now(), TaskEvent::TaskShredded { kept });
    match switchboard_store::shred_task(log, task, &marker) {
        Ok(outcome) => {
            log.wait_durable_blocking(outcome.ticket)?;
            println!(
                "shredded its task {task}: {} records can never be read again",
                outcome.records_made_unreadable
            );
            Ok(())
        }
        Err(StoreError::Shredded(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
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
        // Read before the channel's key goes: the tasks it linked hold the customer's data too.
        let tasks = linked_tasks(&log, *sid)?;
        let outcome = channel.shred(&log, args.reason.into(), timefmt::now())?;
        log.wait_durable_blocking(outcome.ticket)?;
        println!(
            "shredded {sid}: {} records can never be read again; the chain still verifies",
            outcome.records_made_unreadable
        );
        for task in tasks {
            shred_task(&log, task)?;
        }
    }
    log.close()?;
    Ok(())
}
