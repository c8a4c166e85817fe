//! The command line: subcommands, their arguments, and where the master key comes from.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use switchboard_crypto::{KeySource, MasterKey};
use switchboard_domain::{ErasureReason, Sid, SidPrefix};
use switchboard_store::{Durability, EventLog, StoreConfig};

/// Switchboard: a self-hosted contact-center messaging server.
#[derive(Parser)]
#[command(name = "switchboard", version, long_version = crate::version::long(), about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve(Box<crate::config::ServeArgs>),
    /// Print a data folder's events, decrypted, in order (audit).
    Replay(crate::replay::ReplayArgs),
    /// The transcript of channels (every message, its edits and removals), for a customer's
    /// request for their data.
    Export(crate::export::ExportArgs),
    /// Check a data folder without changing it: chains, heads, tags, and that it holds
    /// everything acknowledged (audit).
    Verify(crate::verify::VerifyArgs),
    /// Print every stream's head and the log's position, signed: ship it off the machine and
    /// `verify --against` it later.
    Heads(crate::protect::HeadsArgs),
    /// Take a consistent backup of a running daemon into a new folder, and check it.
    Backup(crate::protect::BackupArgs),
    /// Check a backup and put it in place as the data folder.
    Restore(crate::protect::RestoreArgs),
    /// Master key and data key operations.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// Drop and rebuild every index from the log.
    Reindex(DataArgs),
    /// Mint a development access token for a chat identity.
    Token(crate::token::TokenArgs),
    /// Try the daemon out: provider webhooks signed as the provider would, the sandbox's replies.
    #[command(subcommand)]
    Dev(crate::dev::DevCommand),
    /// The console's people (agents, supervisors, admins), on the running daemon.
    #[command(subcommand)]
    People(crate::people::PeopleCommand),
}

/// Where the data folder is and how to unlock it.
#[derive(Debug, Args, Clone, Default)]
pub struct DataArgs {
    /// The data folder (sled database and, for development, master.key) [default: ./data].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A file holding the master key as base64 of 32 bytes. The environment variable
    /// SWITCHBOARD_MASTER_KEY (the key itself, base64) takes precedence.
    #[arg(long, env = "SWITCHBOARD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// How far a write goes before it is acknowledged [default: fsync].
    #[arg(long, env = "SWITCHBOARD_DURABILITY", value_enum)]
    pub durability: Option<DurabilityArg>,
    /// Memory for sled's page cache, in MiB [default: 256].
    #[arg(long, env = "SWITCHBOARD_CACHE_MIB")]
    pub cache_mib: Option<u64>,
    /// While busy, the shortest time from one flush's start to the next, so that more writes
    /// share each flush (e.g. 1ms; 0s: back to back) [default: 1ms].
    #[arg(long, env = "SWITCHBOARD_FLUSH_INTERVAL", value_parser = humantime::parse_duration)]
    pub flush_interval: Option<std::time::Duration>,
    /// How many writes in progress make the log busy, for the flush interval [default: 32].
    #[arg(long, env = "SWITCHBOARD_FLUSH_BUSY_WRITERS")]
    pub flush_busy_writers: Option<u64>,
    /// The longest a flush's entry in the durable record waits for its own sync (written before
    /// the flush is acknowledged; 0s: synced with every flush, which costs throughput)
    /// [default: 50ms].
    #[arg(long, env = "SWITCHBOARD_RECORD_SYNC_INTERVAL", value_parser = humantime::parse_duration)]
    pub record_sync_interval: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DurabilityArg {
    /// sled flush plus fdatasync: survives power loss.
    Fsync,
    /// sled flush only (sync_file_range): survives a process crash.
    Flush,
}

/// The file name of the development key created in a data folder on first start.
pub const DEV_KEY_FILE: &str = "master.key";

impl DataArgs {
    pub fn dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| PathBuf::from("./data"))
    }

    /// Finds the master key: the environment, a key file, or the folder's development key.
    /// With `create_dev_key`, a missing key is created in the data folder (first start).
    pub fn master_key(&self, create_dev_key: bool) -> anyhow::Result<(MasterKey, KeySource)> {
        if let Ok(text) = std::env::var("SWITCHBOARD_MASTER_KEY") {
            let key = MasterKey::from_base64(&text).context("SWITCHBOARD_MASTER_KEY")?;
            return Ok((key, KeySource::Environment));
        }
        if let Some(path) = &self.master_key_file {
            let key = MasterKey::load(path)?;
            return Ok((key, KeySource::File(path.display().to_string())));
        }
        let dev_path = self.dir().join(DEV_KEY_FILE);
        if dev_path.exists() {
            let key = MasterKey::load(&dev_path)?;
            return Ok((key, KeySource::File(dev_path.display().to_string())));
        }
        if !create_dev_key {
            bail!(
                "no master key: set SWITCHBOARD_MASTER_KEY, pass --master-key-file, or keep \
                 {DEV_KEY_FILE} in the data folder"
            );
        }
        std::fs::create_dir_all(self.dir())
            .with_context(|| format!("creating {}", self.dir().display()))?;
        let (key, _) = MasterKey::load_or_create(&dev_path)?;
        Ok((key, KeySource::GeneratedDevelopmentKey(dev_path.display().to_string())))
    }

    pub fn store_config(&self) -> StoreConfig {
        let mut config = StoreConfig::new(self.dir());
        if let Some(mib) = self.cache_mib {
            config.cache_bytes = mib.saturating_mul(1024 * 1024);
        }
        config.durability = match self.durability {
            Some(DurabilityArg::Fsync) | None => Durability::Fsync,
            Some(DurabilityArg::Flush) => Durability::Flush,
        };
        if let Some(interval) = self.flush_interval {
            config.pacing.interval = interval;
        }
        if let Some(writers) = self.flush_busy_writers {
            config.pacing.busy_writers = writers;
        }
        if let Some(interval) = self.record_sync_interval {
            config.record_sync = interval;
        }
        config
    }

    /// Opens the folder's log with its key, for the tools (never creates a key or a folder).
    pub fn open_existing(&self) -> anyhow::Result<EventLog> {
        require_data(&self.dir())?;
        let (key, _) = self.master_key(false)?;
        EventLog::open(self.store_config(), key).map_err(|e| explain_open_error(e, &self.dir()))
    }
}

/// Fails clearly when `dir` holds no data folder, instead of letting sled create an empty one.
pub fn require_data(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("db").exists() {
        bail!("{} is not a switchboard data folder (no db file)", dir.display());
    }
    Ok(())
}

/// sled reports a folder locked by a running daemon as a plain I/O error; say what it means.
pub fn explain_open_error(error: switchboard_store::StoreError, dir: &Path) -> anyhow::Error {
    use switchboard_store::StoreError;
    let text = error.to_string();
    let from_sled = matches!(error, StoreError::Sled(_) | StoreError::Io(_));
    let locked = text.contains("lock")
        || text.contains("WouldBlock")
        || text.contains("temporarily unavailable");
    if from_sled && locked {
        anyhow::anyhow!(
            "{} is in use by a running daemon (sled locks its folder); stop it, or work on a \
             backup copy: {text}",
            dir.display()
        )
    } else {
        anyhow::Error::new(error)
    }
}

/// Parses a channel SID given on the command line.
pub fn channel_sid(text: &str) -> Result<Sid, String> {
    Sid::parse_with(text, SidPrefix::CHANNEL).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ErasureReasonArg {
    SubjectRequest,
    Retention,
    Operator,
}

impl From<ErasureReasonArg> for ErasureReason {
    fn from(arg: ErasureReasonArg) -> ErasureReason {
        match arg {
            ErasureReasonArg::SubjectRequest => ErasureReason::SubjectRequest,
            ErasureReasonArg::Retention => ErasureReason::Retention,
            ErasureReasonArg::Operator => ErasureReason::Operator,
        }
    }
}

impl Cli {
    /// Whether this run is the daemon's (which starts its log from its own settings).
    pub fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(*args),
        Command::Replay(args) => crate::replay::run(args),
        Command::Export(args) => crate::export::run(args),
        Command::Verify(args) => crate::verify::run(args),
        Command::Heads(args) => crate::protect::heads(args),
        Command::Backup(args) => crate::protect::backup(args),
        Command::Restore(args) => crate::protect::restore(args),
        Command::Keys(command) => crate::keys::run(command),
        Command::Token(args) => crate::token::run(args),
        Command::Dev(command) => crate::dev::run(command),
        Command::People(command) => crate::people::run(command),
        Command::Reindex(args) => {
            let log = args.open_existing()?;
            let progress = crate::progress::walking("reindexing", "streams");
            let report = switchboard_store::reindex(&log, &mut |walked| progress.tell(walked))?;
            progress.finish();
            log.close()?;
            println!(
                "reindexed {} channels: {} entries written, {} old entries removed",
                report.channels, report.entries, report.removed
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
