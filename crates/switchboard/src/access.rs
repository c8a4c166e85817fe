//! How the tools reach a running daemon without being told again: its address, its public URL,
//! whether it is sandboxed, and the credentials it keeps in its data folder.
//!
//! sled locks the folder while the daemon runs, so the tools (`token`, `replay --url`, `dev`)
//! cannot read the sealed credentials there. `serve` writes them once it listens, beside the
//! database, in `daemon-access.json`: the address and URL in the clear, the credentials sealed
//! (XChaCha20-Poly1305) under a fresh key wrapped by the master key, so the file is worth no more
//! than the folder without its key. Credentials the configuration gives are never written: the
//! tools read them where the daemon did.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use switchboard_crypto::{DataKey, MasterKey, WrappedKey};

/// The file's name in the data folder.
pub const FILE_NAME: &str = "daemon-access.json";
/// Bound into both the key wrapping and the sealing: these bytes are for this file only.
const CONTEXT: &[u8] = b"switchboard/daemon-access/v1";
const VERSION: u32 = 1;

/// The credentials a daemon takes from its folder. No `Debug` derive: they are secrets.
#[derive(Default, Serialize, Deserialize)]
pub struct FolderCredentials {
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<String>,
    /// The development Meta app secret of a sandboxed daemon.
    pub meta_app_secret: Option<String>,
}

impl std::fmt::Debug for FolderCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderCredentials")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .finish_non_exhaustive()
    }
}

/// What a running daemon tells its tools.
#[derive(Debug)]
pub struct DaemonAccess {
    /// The process that wrote it.
    pub pid: u32,
    /// Where it listens (`http://127.0.0.1:8080`), the port it was given or the one it got.
    pub url: String,
    /// What webhook signatures are checked against.
    pub public_url: String,
    /// Whether replies go to the local sandbox.
    pub sandbox: bool,
    pub credentials: FolderCredentials,
}

/// The file as stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    pid: u32,
    url: String,
    public_url: String,
    sandbox: bool,
    /// The key the credentials are sealed with, wrapped by the master key (base64).
    wrapped_key: String,
    /// The credentials as JSON, sealed (base64).
    sealed: String,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes the file for the tools, readable by the daemon's user only, in one rename.
pub fn write(dir: &Path, master: &MasterKey, access: &DaemonAccess) -> anyhow::Result<()> {
    let key = DataKey::generate();
    let mut sealed = Vec::new();
    key.sealer().seal_into(CONTEXT, &serde_json::to_vec(&access.credentials)?, &mut sealed);
    let stored = Stored {
        version: VERSION,
        pid: access.pid,
        url: access.url.clone(),
        public_url: access.public_url.clone(),
        sandbox: access.sandbox,
        wrapped_key: BASE64.encode(WrappedKey::wrap(master, &key, CONTEXT).to_bytes()),
        sealed: BASE64.encode(sealed),
    };
    let fresh = dir.join(format!("{FILE_NAME}.new"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&fresh)
        .with_context(|| format!("writing {}", fresh.display()))?;
    file.write_all(&serde_json::to_vec_pretty(&stored)?)?;
    drop(file);
    std::fs::rename(&fresh, path(dir)).with_context(|| format!("writing {}", path(dir).display()))
}

/// Reads the file a daemon wrote in `dir`: `None` when there is none.
pub fn read(dir: &Path, master: &MasterKey) -> anyhow::Result<Option<DaemonAccess>> {
    let file = path(dir);
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", file.display())),
    };
    let stored: Stored = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a daemon access file", file.display()))?;
    if stored.version != VERSION {
        bail!(
            "{} has version {}; this switchboard reads {VERSION}",
            file.display(),
            stored.version
        );
    }
    let unsealed = open(&stored, master).with_context(|| {
        format!(
            "{} does not open with this master key: give the daemon's own (SWITCHBOARD_MASTER_KEY \
             or --master-key-file)",
            file.display()
        )
    })?;
    Ok(Some(DaemonAccess {
        pid: stored.pid,
        url: stored.url,
        public_url: stored.public_url,
        sandbox: stored.sandbox,
        credentials: serde_json::from_slice(&unsealed)
            .with_context(|| format!("the credentials in {}", file.display()))?,
    }))
}

fn open(stored: &Stored, master: &MasterKey) -> anyhow::Result<Vec<u8>> {
    let wrapped = WrappedKey::from_bytes(&BASE64.decode(&stored.wrapped_key)?)?;
    let key = wrapped.unwrap(master, CONTEXT)?;
    Ok(key.sealer().open(CONTEXT, &BASE64.decode(&stored.sealed)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> DaemonAccess {
        DaemonAccess {
            pid: 42,
            url: "http://127.0.0.1:8080".into(),
            public_url: "https://chat.example.com".into(),
            sandbox: true,
            credentials: FolderCredentials {
                account_sid: Some("AC00000000000000000000000000000001".into()),
                auth_token: Some("the-auth-token".into()),
                ..FolderCredentials::default()
            },
        }
    }

    #[test]
    fn the_credentials_are_sealed_under_the_master_key_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        write(dir.path(), &key, &access()).unwrap();
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(!text.contains("the-auth-token") && !text.contains("AC0000"), "{text}");
        assert!(text.contains("http://127.0.0.1:8080"), "the address is in the clear");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = read(dir.path(), &key).unwrap().unwrap();
        assert_eq!(read.credentials.auth_token.as_deref(), Some("the-auth-token"));
        assert_eq!((read.pid, read.sandbox), (42, true));
        assert!(read.credentials.api_key_sid.is_none());
        let wrong = super::read(dir.path(), &MasterKey::generate()).unwrap_err();
        assert!(format!("{wrong:#}").contains("does not open with this master key"), "{wrong:#}");
        assert!(super::read(&dir.path().join("nowhere"), &key).unwrap().is_none());
    }
}
