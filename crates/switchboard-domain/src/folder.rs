//! A data folder's own audit stream: what happened to the folder itself (an operator accepting
//! a loss the opener found, a restore from a backup), as opposed to what happened in a channel.
//! Stored like every other stream, in the stream named `DF` + the folder's id, so `replay` shows
//! it and `verify` checks its chain.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderEvent {
    /// The log held less than its durable record said was acknowledged, and the operator
    /// started it anyway (`serve --accept-data-loss`). Positions are head checkpoint numbers
    /// and record counts; `problems` is what the opener found, in its words.
    LossAccepted {
        acknowledged_checkpoint: u64,
        acknowledged_records: u64,
        found_checkpoint: u64,
        found_records: u64,
        problems: Vec<String>,
    },
    /// The folder was put in place from a backup (`switchboard restore`) that held this much.
    Restored {
        backup_checkpoint: u64,
        backup_records: u64,
        /// When the backup was taken, as its manifest says (RFC 3339).
        backup_taken_at: String,
    },
}

impl DomainEvent for FolderEvent {
    fn type_name(&self) -> &'static str {
        match self {
            FolderEvent::LossAccepted { .. } => "loss_accepted",
            FolderEvent::Restored { .. } => "restored",
        }
    }
}
