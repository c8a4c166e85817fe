//! The folder's protection against loss and tampering, as commands: `heads` (signed heads to
//! ship off the machine), `backup` (a consistent copy of a live daemon's log, checked) and
//! `restore` (a checked backup put in place, recorded in the folder's audit stream).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use switchboard_store::{
    anchor_folder, import_backup, restore_folder, verify_folder, AnchoredHeads, Position,
    VerifyOptions,
};

use crate::cli::DataArgs;

/// The name of a backup's manifest, in the backup folder beside the data.
pub const MANIFEST: &str = "backup.json";

/// Credentials and address of a running daemon's admin API.
#[derive(Debug, Args)]
pub struct Remote {
    /// The daemon's URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: Option<String>,
    /// The daemon's account SID (HTTP Basic user).
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    account_sid: Option<String>,
    /// The daemon's auth token (HTTP Basic password).
    #[arg(long, env = "SWITCHBOARD_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
}

impl Remote {
    /// GET `path` of the daemon with the account's credentials.
    fn get(&self, path: &str) -> anyhow::Result<ureq::Response> {
        let Some(url) = &self.url else { bail!("--url is needed") };
        let (Some(account), Some(token)) = (&self.account_sid, &self.auth_token) else {
            bail!(
                "the daemon's account credentials are needed: --account-sid and --auth-token \
                 (or SWITCHBOARD_ACCOUNT_SID and SWITCHBOARD_AUTH_TOKEN)"
            );
        };
        let endpoint = format!("{}{path}", url.trim_end_matches('/'));
        let basic = base64_of(&format!("{account}:{token}"));
        match ureq::get(&endpoint).set("Authorization", &format!("Basic {basic}")).call() {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(code, response)) => {
                let body = response.into_string().unwrap_or_default();
                bail!("{endpoint}: HTTP {code}: {body}")
            }
            Err(error) => bail!("{endpoint}: {error}"),
        }
    }
}

#[derive(Debug, Args)]
pub struct HeadsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Take them from a running daemon (`GET /admin/v1/Heads`) instead of a stopped folder.
    #[command(flatten)]
    remote: Remote,
    /// Write them to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Where the private copy of a stopped folder goes [default: the system's temporary folder].
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
}

/// `switchboard heads`: every stream's head and the log's position, signed, as JSON.
pub fn heads(args: HeadsArgs) -> anyhow::Result<ExitCode> {
    let anchored: AnchoredHeads = if args.remote.url.is_some() {
        let answer = args.remote.get("/admin/v1/Heads")?;
        serde_json::from_reader(answer.into_reader()).context("the daemon's answer")?
    } else {
        let (master, _) = args.data.master_key(false)?;
        let taken_at = crate::timefmt::iso(crate::timefmt::now());
        anchor_folder(&args.data.dir(), &master, args.scratch.as_deref(), &taken_at)?
    };
    let text = serde_json::to_string_pretty(&anchored)? + "\n";
    match &args.out {
        Some(path) => {
            write_new_file(path, text.as_bytes())?;
            eprintln!(
                "{} streams, {} signed at {} by key {}",
                anchored.heads.len(),
                anchored.position,
                anchored.taken_at,
                anchored.public_key
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `backup` writes beside the data: where and when it was taken and what it holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub source: String,
    pub taken_at: String,
    pub position: Position,
    pub entries: u64,
    pub bytes: u64,
    /// Hex SHA-256 of the backup stream as received.
    pub sha256: String,
    /// The heads the backup holds, signed by the daemon.
    pub heads: AnchoredHeads,
}

const MANIFEST_FORMAT: &str = "switchboard-backup-manifest/1";

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    remote: Remote,
    /// The new folder to write the backup into (it must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `switchboard backup`: a consistent copy of a running daemon's log, written into a data
/// folder and checked before it is called done.
pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let response = args.remote.get("/admin/v1/Backup")?;
    let receiving = crate::progress::bytes("receiving the backup");
    let mut stream = receiving.wrap_read(response.into_reader());
    let summary = import_backup(&mut stream, &args.out, true)
        .with_context(|| format!("writing the backup into {}", args.out.display()))?;
    receiving.finish_and_clear();
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        source: args.remote.url.clone().unwrap_or_default(),
        taken_at: summary.anchored.taken_at.clone(),
        position: summary.anchored.position,
        entries: summary.entries,
        bytes: summary.bytes,
        sha256: summary.sha256.clone(),
        heads: summary.anchored,
    };
    write_new_file(&args.out.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    // Checked without keys (a backup host need not hold them): chains, heads, positions, and
    // that the copy holds every head the daemon signed for it.
    let options =
        VerifyOptions { against: Some(manifest.heads.clone()), ..VerifyOptions::default() };
    let checked = verified(&args.out, &options, "verifying the backup")?;
    if !checked.report.is_clean() {
        bail!(
            "the backup in {} does not verify: {:?} {:?}",
            args.out.display(),
            checked.report.folder,
            checked.report.findings.first()
        );
    }
    println!(
        "backup of {} taken at {} into {}: {} entries, {} bytes, {} streams, {}; verified",
        manifest.source,
        manifest.taken_at,
        args.out.display(),
        manifest.entries,
        manifest.bytes,
        manifest.heads.heads.len(),
        manifest.position
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Where the restored folder goes, and the master key it is sealed under.
    #[command(flatten)]
    data: DataArgs,
    /// The backup folder (`switchboard backup --out`).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Move a folder already at the target aside (to `<data dir>.replaced-<time>`) instead of
    /// refusing. Nothing is deleted.
    #[arg(long)]
    replace: bool,
}

/// `switchboard restore`: checks a backup with `verify` (with the key, against the heads the
/// daemon signed for it), then puts it in place and records the restore.
pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(args.from.join(MANIFEST))
            .with_context(|| format!("{} has no {MANIFEST}: not a backup", args.from.display()))?,
    )
    .with_context(|| format!("reading {}", args.from.join(MANIFEST).display()))?;
    if manifest.format != MANIFEST_FORMAT {
        bail!("{} is of format {:?}, not {MANIFEST_FORMAT:?}", MANIFEST, manifest.format);
    }
    let (master, _) = args.data.master_key(false)?;
    let options = VerifyOptions {
        master: Some(master.clone()),
        against: Some(manifest.heads.clone()),
        ..VerifyOptions::default()
    };
    let checked = verified(&args.from, &options, "verifying the backup")?;
    if !checked.report.is_clean() {
        for problem in &checked.report.folder {
            eprintln!("  - {problem}");
        }
        for finding in &checked.report.findings {
            eprintln!("  - {finding}");
        }
        bail!("the backup in {} does not verify; nothing was restored", args.from.display());
    }
    let target = args.data.dir();
    if is_in_use(&target) {
        bail!("{} is in use by a running daemon; stop it first", target.display());
    }
    if target.exists() && std::fs::read_dir(&target)?.next().is_some() {
        if !args.replace {
            bail!(
                "{} holds a data folder; pass --replace to move it aside (nothing is deleted)",
                target.display()
            );
        }
        let aside = aside_name(&target);
        std::fs::rename(&target, &aside)
            .with_context(|| format!("moving {} aside", target.display()))?;
        eprintln!("moved the folder that was there to {}", aside.display());
    }
    let restoring = crate::progress::working("restoring");
    let summary = restore_folder(
        &args.from,
        &target,
        args.data.store_config(),
        master,
        crate::timefmt::now(),
        &manifest.heads,
        &manifest.taken_at,
    )?;
    restoring.finish_and_clear();
    println!(
        "restored the backup taken at {} into {}: {} records; recorded in the folder's audit \
         stream. Check it against your latest anchored heads: switchboard verify --against FILE",
        manifest.taken_at,
        target.display(),
        summary.records
    );
    Ok(ExitCode::SUCCESS)
}

/// `verify_folder` with its progress shown on a terminal.
fn verified(
    dir: &Path,
    options: &VerifyOptions,
    what: &str,
) -> anyhow::Result<switchboard_store::FolderReport> {
    let progress = crate::progress::walking(what, "records");
    let checked = verify_folder(dir, options, &mut |walked| progress.tell(walked))?;
    progress.finish();
    Ok(checked)
}

/// Whether sled holds its lock on the folder at `dir` (a daemon or a tool has it open).
fn is_in_use(dir: &Path) -> bool {
    std::fs::File::open(dir.join("db")).is_ok_and(|file| file.try_lock().is_err())
}

fn aside_name(target: &Path) -> PathBuf {
    let stamp = crate::timefmt::iso(crate::timefmt::now()).replace(':', "");
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".replaced-{stamp}"));
    target.with_file_name(name)
}

/// Writes a new file whole (refusing to overwrite one), synced.
fn write_new_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
