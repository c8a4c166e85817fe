//! The daemon's own configuration, as the tools read it. `token`, `replay --url` and `dev` take
//! each setting where `serve` did: a flag, else its environment variable, else the configuration
//! file (`--config`, `SWITCHBOARD_CONFIG`), else what the running daemon keeps in its data folder
//! (`access`); and they say which they used, so a refused credential can be traced to its place.

use std::cell::OnceCell;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::access::{DaemonAccess, FolderCredentials};
use crate::cli::DataArgs;
use crate::config::FileConfig;

/// Where the tools find the daemon's settings.
#[derive(Debug, Args, Clone)]
pub struct DaemonArgs {
    /// The daemon's configuration file, read as `serve` reads it.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// The daemon's data folder [default: the file's data_dir, else ./data].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A file holding the master key (SWITCHBOARD_MASTER_KEY, the key itself, takes precedence)
    /// [default: the development key in the data folder].
    #[arg(long, env = "SWITCHBOARD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl DaemonArgs {
    pub fn load(self) -> anyhow::Result<DaemonConfig> {
        let data = DataArgs {
            data_dir: self.data_dir,
            master_key_file: self.master_key_file,
            ..DataArgs::default()
        };
        DaemonConfig::load(self.config, data)
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Environment(&'static str),
    File(PathBuf),
    Folder(PathBuf),
}

impl Source {
    /// Whether two settings come from the same place: given (flag or variable), the file, the
    /// folder. A pair such as an API key and its secret must.
    pub fn same_place(&self, other: &Source) -> bool {
        let given = |s: &Source| matches!(s, Source::Flag(_) | Source::Environment(_));
        (given(self) && given(other)) || self == other
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "{flag}"),
            Source::Environment(name) => write!(f, "{name}"),
            Source::File(path) => write!(f, "the configuration file {}", path.display()),
            Source::Folder(path) => write!(f, "the data folder {}", path.display()),
        }
    }
}

/// A setting's value and where it came from. No `Debug` derive: it may be a secret.
#[derive(Clone)]
pub struct Found {
    pub value: String,
    pub source: Source,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found").field("source", &self.source).finish_non_exhaustive()
    }
}

/// A setting as clap gave it (flag and variable merged), with the names of both, so that the
/// report can say which one it was.
#[derive(Debug, Clone, Copy)]
pub struct Given<'a> {
    pub value: Option<&'a str>,
    pub flag: &'static str,
    pub env: &'static str,
}

impl Given<'_> {
    fn found(&self) -> Option<Found> {
        let value = self.value?;
        let from_env = std::env::var(self.env).is_ok_and(|v| v == value);
        let source = if from_env { Source::Environment(self.env) } else { Source::Flag(self.flag) };
        Some(Found { value: value.to_owned(), source })
    }
}

/// The daemon's configuration file and data folder, the folder's access file read on first need
/// (it takes the master key, which a tool given everything else does not need).
#[derive(Debug)]
pub struct DaemonConfig {
    file: FileConfig,
    file_path: Option<PathBuf>,
    data: DataArgs,
    access: OnceCell<Option<DaemonAccess>>,
}

impl DaemonConfig {
    /// Reads the configuration file, if one is named; its `data_dir` applies unless one is given.
    pub fn load(config: Option<PathBuf>, mut data: DataArgs) -> anyhow::Result<DaemonConfig> {
        let file = match &config {
            Some(path) => crate::config::read_file(path)?,
            None => FileConfig::default(),
        };
        if data.data_dir.is_none() {
            data.data_dir.clone_from(&file.data_dir);
        }
        Ok(DaemonConfig { file, file_path: config, data, access: OnceCell::new() })
    }

    pub fn data(&self) -> &DataArgs {
        &self.data
    }

    pub fn file(&self) -> &FileConfig {
        &self.file
    }

    /// The configuration file named, if any.
    pub fn file_path(&self) -> Option<&std::path::Path> {
        self.file_path.as_deref()
    }

    /// What the daemon running on the folder wrote for its tools; `None` when it never ran there.
    pub fn access(&self) -> anyhow::Result<Option<&DaemonAccess>> {
        if let Some(access) = self.access.get() {
            return Ok(access.as_ref());
        }
        let dir = self.data.dir();
        let access = if crate::access::path(&dir).exists() {
            let (key, _) = self.data.master_key(false).with_context(|| {
                format!("reading the credentials the daemon keeps in {}", dir.display())
            })?;
            crate::access::read(&dir, &key)?
        } else {
            None
        };
        Ok(self.access.get_or_init(|| access).as_ref())
    }

    /// Forgets the access file read, so the next question reads it again (a daemon starting).
    pub fn reread(&mut self) {
        self.access = OnceCell::new();
    }

    /// A setting: given (flag or variable), else in the file, else kept in the data folder.
    pub fn setting(
        &self,
        given: Given<'_>,
        in_file: impl FnOnce(&FileConfig) -> Option<&String>,
        in_folder: impl FnOnce(&FolderCredentials) -> Option<&String>,
    ) -> anyhow::Result<Option<Found>> {
        if let Some(found) = given.found() {
            return Ok(Some(found));
        }
        if let (Some(value), Some(path)) = (in_file(&self.file), &self.file_path) {
            return Ok(Some(Found { value: value.clone(), source: Source::File(path.clone()) }));
        }
        let Some(access) = self.access()? else { return Ok(None) };
        Ok(in_folder(&access.credentials)
            .map(|value| Found { value: value.clone(), source: Source::Folder(self.data.dir()) }))
    }

    /// The account SID and auth token of the daemon's REST API (HTTP Basic).
    pub fn rest_credentials(
        &self,
        account_sid: &Option<String>,
        auth_token: &Option<String>,
    ) -> anyhow::Result<(Found, Found)> {
        let account = Given {
            value: account_sid.as_deref(),
            flag: "--account-sid",
            env: "SWITCHBOARD_ACCOUNT_SID",
        };
        let token = Given {
            value: auth_token.as_deref(),
            flag: "--auth-token",
            env: "SWITCHBOARD_AUTH_TOKEN",
        };
        let account_sid = self.required(
            account,
            "account SID",
            "account_sid",
            |f| f.account_sid.as_ref(),
            |c| c.account_sid.as_ref(),
        )?;
        let auth_token = self.required(
            token,
            "auth token",
            "auth_token",
            |f| f.auth_token.as_ref(),
            |c| c.auth_token.as_ref(),
        )?;
        Ok((account_sid, auth_token))
    }

    /// `setting`, or an error naming `what` and the places it could be given.
    pub fn required(
        &self,
        given: Given<'_>,
        what: &str,
        file_key: &str,
        in_file: impl FnOnce(&FileConfig) -> Option<&String>,
        in_folder: impl FnOnce(&FolderCredentials) -> Option<&String>,
    ) -> anyhow::Result<Found> {
        self.setting(given, in_file, in_folder)?
            .ok_or_else(|| anyhow::anyhow!("no {what}: {}", self.where_to_give(given, file_key)))
    }

    /// The places a missing setting could be given, for an error that says what to do.
    pub fn where_to_give(&self, given: Given<'_>, file_key: &str) -> String {
        format!(
            "give {} (or {}), `{file_key}` in the daemon's configuration file (--config), or run \
             `switchboard serve` on the data folder {} once, where it keeps what it made",
            given.flag,
            given.env,
            self.data.dir().display()
        )
    }
}

/// One line that says where each named setting came from: `account SID from …; …`.
pub fn report(used: &[(&str, &Found)]) -> String {
    let parts: Vec<String> =
        used.iter().map(|(what, found)| format!("{what} from {}", found.source)).collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(toml: Option<&str>, dir: &Path) -> DaemonConfig {
        let path = toml.map(|text| {
            let path = dir.join("switchboard.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let args =
            DaemonArgs { config: path, data_dir: Some(dir.join("data")), master_key_file: None };
        args.load().unwrap()
    }

    const NOT_SET: &str = "SWITCHBOARD_TEST_NEVER_SET";

    #[test]
    fn a_flag_wins_over_the_file_which_wins_over_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let key = switchboard_crypto::MasterKey::generate();
        key.save_new(&dir.path().join("data").join(crate::cli::DEV_KEY_FILE)).unwrap();
        let access = DaemonAccess {
            pid: 1,
            url: "http://127.0.0.1:1".into(),
            public_url: "http://127.0.0.1:1".into(),
            sandbox: true,
            credentials: FolderCredentials {
                auth_token: Some("from-folder".into()),
                ..FolderCredentials::default()
            },
        };
        crate::access::write(&dir.path().join("data"), &key, &access).unwrap();
        let token = |value| Given { value, flag: "--auth-token", env: NOT_SET };
        let file = config(Some("auth_token = \"from-file\"\n"), dir.path());
        let found = |config: &DaemonConfig, value| {
            config
                .setting(token(value), |f| f.auth_token.as_ref(), |c| c.auth_token.as_ref())
                .unwrap()
                .unwrap()
        };
        let flagged = found(&file, Some("from-flag"));
        assert_eq!(
            (flagged.value.as_str(), flagged.source),
            ("from-flag", Source::Flag("--auth-token"))
        );
        let filed = found(&file, None);
        assert_eq!(filed.value, "from-file");
        assert!(matches!(filed.source, Source::File(_)));
        let bare = config(None, dir.path());
        let kept = found(&bare, None);
        assert_eq!(kept.value, "from-folder");
        assert_eq!(kept.source, Source::Folder(dir.path().join("data")));
        assert!(report(&[("auth token", &kept)]).starts_with("auth token from the data folder"));
        let none =
            bare.setting(token(None), |f| f.api_key_sid.as_ref(), |c| c.api_key_sid.as_ref());
        assert!(none.unwrap().is_none());
    }

    #[test]
    fn a_folder_where_no_daemon_ran_gives_nothing_and_needs_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let bare = config(None, dir.path());
        let given = Given { value: None, flag: "--auth-token", env: NOT_SET };
        let found = bare.setting(given, |f| f.auth_token.as_ref(), |c| c.auth_token.as_ref());
        assert!(found.unwrap().is_none());
        assert!(bare.where_to_give(given, "auth_token").contains("--auth-token"));
    }
}
