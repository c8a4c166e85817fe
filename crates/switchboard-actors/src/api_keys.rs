//! The daemon's API keys as its data folder keeps them: each a random secret sealed under the
//! folder's system key, named `api_key/<SID>`. Made on first start or offline by the tools, and
//! by an admin in the console while the daemon runs, who may also revoke them.

use std::sync::Arc;

use rand::RngCore;
use switchboard_domain::{Sid, SidPrefix};
use switchboard_store::EventLog;

use crate::{Engine, EngineError};

const NAME_PREFIX: &str = "api_key/";

/// Every API key kept in the folder.
pub fn stored(log: &EventLog) -> Result<Vec<(Sid, String)>, EngineError> {
    let mut keys = Vec::new();
    for name in log.secret_names(NAME_PREFIX)? {
        let sid: Sid = name[NAME_PREFIX.len()..]
            .parse()
            .map_err(|_| EngineError::Internal(format!("a stored API key's name: {name:?}")))?;
        if let Some(bytes) = log.secret(&name)? {
            let secret = String::from_utf8(bytes)
                .map_err(|_| EngineError::Internal("a stored API key is not text".into()))?;
            keys.push((sid, secret));
        }
    }
    Ok(keys)
}

/// Makes a new API key and keeps it in the folder, durably.
pub fn create(log: &EventLog) -> Result<(Sid, String), EngineError> {
    let sid = crate::ids::new_sid(SidPrefix::API_KEY);
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    log.set_secret(&format!("{NAME_PREFIX}{sid}"), secret.as_bytes())?;
    Ok((sid, secret))
}

/// Removes an API key from the folder, durably: whether the folder kept it.
pub fn remove(log: &EventLog, sid: Sid) -> Result<bool, EngineError> {
    Ok(log.remove_secret(&format!("{NAME_PREFIX}{sid}"))?)
}

impl Engine {
    /// A new API key, kept in the folder (its secret is returned this once).
    pub async fn create_api_key(&self) -> Result<(Sid, String), EngineError> {
        let log = Arc::clone(self.log());
        tokio::task::spawn_blocking(move || create(&log))
            .await
            .map_err(|e| EngineError::Internal(format!("making an API key: {e}")))?
    }

    /// Removes an API key from the folder: whether it was kept there.
    pub async fn revoke_api_key(&self, sid: Sid) -> Result<bool, EngineError> {
        let log = Arc::clone(self.log());
        tokio::task::spawn_blocking(move || remove(&log, sid))
            .await
            .map_err(|e| EngineError::Internal(format!("revoking an API key: {e}")))?
    }
}
