//! A private copy of a data folder, for the tools that must not change the folder they read
//! (`verify`, `heads`): sled writes to a folder as it opens it (it zeroes what it takes for the
//! torn tail of a crash, and writes a snapshot of its page table) and has no read-only mode, so
//! these tools open a copy. The copy is taken under the same lock sled holds while a folder is
//! open, so a running daemon's folder is refused rather than copied half-written.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// A copy of a data folder's sled files and durable record, removed when dropped.
#[derive(Debug)]
pub struct PrivateCopy {
    dir: tempfile::TempDir,
}

impl PrivateCopy {
    /// Copies the folder at `source` into a new folder under `scratch` (the system's temporary
    /// folder by default). Where the file system can, the copy shares the original's blocks
    /// (`copy_file_range` makes a reflink on Btrfs and XFS).
    pub fn make(source: &Path, scratch: Option<&Path>) -> Result<PrivateCopy, StoreError> {
        let names = folder_files(source)?;
        let scratch: PathBuf = scratch.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = tempfile::Builder::new().prefix("switchboard-copy-").tempdir_in(&scratch)?;
        let db = source.join("db");
        // sled holds an exclusive `flock` on its `db` file while the folder is open, and lets it
        // go from a background thread after its last handle is dropped: a folder closed a
        // moment ago may still be locked, so the lock is tried for a second (as `open_sled`
        // does) before the folder is taken for a running daemon's.
        let lock = File::open(&db).ok();
        if let Some(file) = &lock {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while file.try_lock().is_err() {
                if std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                return Err(StoreError::Damaged(format!(
                    "{} is in use by a running daemon (sled locks its folder); stop it, or use \
                     `switchboard backup` for a consistent copy of a live folder",
                    source.display()
                )));
            }
        }
        for name in names {
            copy_entry(&source.join(&name), &dir.path().join(&name))?;
        }
        drop(lock);
        Ok(PrivateCopy { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the copy as the folder `to` (an empty folder there is replaced), synced, by a
    /// rename: `to` is either absent or whole.
    pub fn persist(self, to: &Path) -> Result<(), StoreError> {
        for entry in std::fs::read_dir(self.path())? {
            File::open(entry?.path())?.sync_all()?;
        }
        let kept = self.dir.keep();
        if to.exists() {
            std::fs::remove_dir(to)?;
        }
        std::fs::rename(&kept, to)?;
        if let Some(parent) = to.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    }
}

/// The entries of a data folder that make up its log: sled's (`conf`, `db`, `snap.*`,
/// `blobs/`) and the durable record. Never the development key or anything else beside them.
fn folder_files(source: &Path) -> Result<Vec<std::ffi::OsString>, StoreError> {
    let entries = std::fs::read_dir(source).map_err(|error| {
        StoreError::Damaged(format!("{} cannot be read: {error}", source.display()))
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let text = name.to_string_lossy();
        let ours = matches!(text.as_ref(), "conf" | "db" | "blobs")
            || text == crate::durable::FILE_NAME
            || text.starts_with("snap.");
        if ours {
            names.push(name);
        }
    }
    let has = |wanted: &str| names.iter().any(|n| n == wanted);
    if !has("db") && !has(crate::durable::FILE_NAME) {
        return Err(StoreError::Damaged(format!(
            "{} is not a switchboard data folder (no db file)",
            source.display()
        )));
    }
    Ok(names)
}

fn copy_entry(from: &Path, to: &Path) -> Result<(), StoreError> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_entry(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_log_files_and_nothing_else() {
        let source = tempfile::tempdir().unwrap();
        for (name, bytes) in
            [("db", &b"sled"[..]), ("conf", b"c"), ("snap.00001", b"s"), ("master.key", b"k")]
        {
            std::fs::write(source.path().join(name), bytes).unwrap();
        }
        std::fs::create_dir(source.path().join("blobs")).unwrap();
        std::fs::write(source.path().join("blobs/7"), b"blob").unwrap();
        let copy = PrivateCopy::make(source.path(), None).unwrap();
        assert_eq!(std::fs::read(copy.path().join("db")).unwrap(), b"sled");
        assert_eq!(std::fs::read(copy.path().join("blobs/7")).unwrap(), b"blob");
        assert!(copy.path().join("snap.00001").exists());
        assert!(!copy.path().join("master.key").exists(), "the key never leaves its folder");
        let path = copy.path().to_path_buf();
        drop(copy);
        assert!(!path.exists());
    }

    #[test]
    fn a_locked_folder_and_an_empty_one_are_refused() {
        let source = tempfile::tempdir().unwrap();
        assert!(PrivateCopy::make(source.path(), None).is_err(), "no db file");
        let db = sled::open(source.path()).unwrap();
        let refused = PrivateCopy::make(source.path(), None).unwrap_err();
        assert!(refused.to_string().contains("in use by a running daemon"), "{refused}");
        drop(db);
    }
}
