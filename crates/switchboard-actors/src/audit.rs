//! The operator's audit handle on a running engine: signed heads to anchor off the machine, and
//! online backups streamed while the daemon keeps serving, and an integrity check of every
//! chain (what `switchboard verify` does on a stopped daemon's folder, minus the folder's own
//! files). Each reads the log on a thread of its own, never on the HTTP workers.

use std::io::Write;
use std::sync::Arc;

use switchboard_domain::{Sid, SidPrefix};
use switchboard_store::{AnchoredHeads, EventLog, ReplayItem, VerifyMode, VerifyReport};
use tokio::sync::mpsc;

use crate::{iso8601, Clock, Engine, EngineError};

/// The size of the chunks a backup is streamed in, and how many may wait for the client: a
/// slow client holds the exporting thread back, never more memory than this.
const CHUNK: usize = 64 * 1024;
const CHUNKS_QUEUED: usize = 16;

/// What [`Engine::audit`] hands out.
#[derive(Debug)]
pub struct Audit<'a> {
    log: &'a Arc<EventLog>,
    clock: &'a Arc<dyn Clock>,
}

impl Engine {
    /// The audit handle: anchored heads and backups.
    pub fn audit(&self) -> Audit<'_> {
        Audit { log: self.log(), clock: self.clock() }
    }
}

impl Audit<'_> {
    /// Every stream's durable head and the log's position, signed under the master key.
    pub async fn anchor_heads(&self) -> Result<AnchoredHeads, EngineError> {
        let log = Arc::clone(self.log);
        let taken_at = iso8601(self.clock.now());
        tokio::task::spawn_blocking(move || log.anchor_heads(&taken_at))
            .await
            .map_err(|e| EngineError::Internal(format!("anchoring heads: {e}")))?
            .map_err(EngineError::from)
    }

    /// Checks every stream's hash chain and head (no record is opened: `VerifyMode::Integrity`).
    pub async fn check_integrity(&self) -> Result<VerifyReport, EngineError> {
        let log = Arc::clone(self.log);
        tokio::task::spawn_blocking(move || log.verify(VerifyMode::Integrity, &mut |_| {}))
            .await
            .map_err(|e| EngineError::Internal(format!("checking integrity: {e}")))?
            .map_err(EngineError::from)
    }

    /// At most `limit` events of a channel from sequence `from` on, decrypted (a range costs that
    /// range); `None` if the channel does not exist.
    pub fn channel_events(
        &self,
        channel_sid: Sid,
        from: u64,
        limit: usize,
    ) -> Result<Option<Vec<ReplayItem>>, EngineError> {
        if channel_sid.prefix() != SidPrefix::CHANNEL || self.log.next_seq(channel_sid)? == 0 {
            return Ok(None);
        }
        let range = self.log.read_range(channel_sid, from, limit);
        Ok(Some(range.collect::<Result<_, _>>()?))
    }

    /// A consistent copy of the whole log (`switchboard_store::EventLog::export`), as chunks. An
    /// `Err` item means the copy failed part way: whoever forwards it must not end the stream as
    /// if it were whole (the copy's last frame is what says it is).
    pub fn backup(&self) -> mpsc::Receiver<Result<Vec<u8>, String>> {
        let (tx, rx) = mpsc::channel(CHUNKS_QUEUED);
        let log = Arc::clone(self.log);
        let taken_at = iso8601(self.clock.now());
        std::thread::Builder::new()
            .name("switchboard-backup".into())
            .spawn(move || {
                let mut out = Chunks { tx, buffer: Vec::with_capacity(CHUNK) };
                match log.export(&taken_at, &mut out) {
                    Ok(summary) => tracing::info!(
                        entries = summary.entries,
                        bytes = summary.bytes,
                        "backup streamed"
                    ),
                    Err(error) => {
                        tracing::error!(%error, "backup failed part way");
                        let _ = out.tx.blocking_send(Err(error.to_string()));
                    }
                }
            })
            .map_err(|error| tracing::error!(%error, "could not start the backup thread"))
            .ok();
        rx
    }
}

/// Hands what is written to the stream in chunks; fails once the client has gone.
struct Chunks {
    tx: mpsc::Sender<Result<Vec<u8>, String>>,
    buffer: Vec<u8>,
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the backup's client went away")
        })
    }
}
