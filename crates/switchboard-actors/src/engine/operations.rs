//! `Operations`: what the daemon's operator and its probes ask of the engine: readiness, memory
//! and metrics, the sandbox, and a clean stop.

use std::sync::Arc;

use actix::prelude::*;

use std::time::Duration;

use super::Engine;

/// How long a clean stop waits for the live channels to write their snapshots.
const HIBERNATE_ALL_LIMIT: Duration = Duration::from_secs(15);

/// The engine as its operator sees it (`Engine::operations`).
#[derive(Debug, Clone, Copy)]
pub struct Operations<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Readiness, memory, metrics, the sandbox and a clean stop.
    pub fn operations(&self) -> Operations<'_> {
        Operations { engine: self }
    }
}

impl<'e> Operations<'e> {
    /// Whether the engine can take work: the log acknowledges writes and the routers, the
    /// janitor and the arbiters that run channels are alive.
    pub fn check_ready(self) -> Result<(), String> {
        self.engine.inner.log.check_ready().map_err(|e| e.to_string())?;
        let routers_alive =
            self.engine.inner.routers.get().is_some_and(|r| r.iter().all(Addr::connected));
        if !routers_alive {
            return Err("a flow router has stopped".into());
        }
        if !self.engine.inner.janitor.connected() {
            return Err("the janitor has stopped".into());
        }
        Ok(())
    }

    /// Live channel actors (the rest are hibernated or never loaded).
    pub fn live_channels(self) -> usize {
        self.engine.inner.registry.live()
    }

    /// What the daemon holds in memory for its channels, users and streams (`memory.rs`).
    pub fn memory(self) -> crate::MemoryFigures {
        let held = &self.engine.inner.janitor_holds;
        crate::MemoryFigures {
            channels_known: held.channels.load(std::sync::atomic::Ordering::Relaxed),
            janitor_bytes: held.bytes.load(std::sync::atomic::Ordering::Relaxed),
            users_bytes: self.engine.inner.users.footprint(),
            stream_caches_bytes: self.engine.inner.log.stream_caches_footprint(),
            tasks_bytes: self.engine.inner.task_router.tasks_footprint(),
            studio_executions: self.engine.inner.studio_flows.executions_held(),
            studio_executions_bytes: self.engine.inner.studio_flows.executions_footprint(),
        }
    }

    /// Sets the gauges that are sampled when scraped rather than kept as things change: live
    /// channel actors, what the daemon holds in memory, and the store's size on disk.
    pub async fn sample_metrics(self) {
        // The janitor folds channels' reports in batches: fold what waits, so the figures
        // count every channel reported so far.
        let _ = self.engine.inner.janitor.send(crate::janitor::TakeActivity).await;
        let disk_bytes = self.engine.inner.log.size_on_disk();
        if let Err(error) = &disk_bytes {
            tracing::warn!(%error, "could not read the store's size on disk");
        }
        crate::metrics::sample(self.live_channels(), &self.memory(), disk_bytes.ok());
        crate::metrics::sample_outbox(&self.engine.inner.consumers.pending());
        let (waiting, oldest) = self.engine.inner.task_router.waiting(self.engine.now());
        crate::metrics::sample_task_router(waiting, oldest);
    }

    /// Snapshots every live channel far enough past its latest snapshot, and stops those with
    /// nothing left to publish, as hibernation does: for a clean stop, so that the next start
    /// does not replay every channel's recent events on its first message.
    pub async fn hibernate_all(self) {
        let actors = self.engine.inner.registry.live_actors();
        let count = actors.len();
        // An actor already stopping answers with an error: it needs nothing more.
        let all = futures_util::future::join_all(
            actors.iter().map(|addr| addr.send(crate::channel::Hibernate)),
        );
        // Snapshots are derived data: a slow channel does not hold a stop up for long.
        match tokio::time::timeout(HIBERNATE_ALL_LIMIT, all).await {
            Ok(_) => tracing::info!(channels = count, "live channels hibernated"),
            Err(_) => tracing::warn!(
                channels = count,
                "not every live channel hibernated in time; those load from older snapshots"
            ),
        }
    }

    /// The sandbox replies go to, when the daemon has no upstream provider credentials.
    pub fn sandbox(self) -> Option<&'e Arc<crate::Sandbox>> {
        self.engine.inner.hooks.config.sandbox.as_ref()
    }
}
