//! The live channel actors, by SID. Starts an actor on first use, on one of a fixed set of
//! arbiters (threads), and forgets it when it hibernates.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use actix::{Actor, Addr, ArbiterHandle};
use switchboard_domain::Sid;

use crate::channel::{ChannelActor, ChannelDeps};

#[derive(Debug)]
pub(crate) struct Registry {
    actors: Mutex<HashMap<Sid, Addr<ChannelActor>>>,
    arbiters: Vec<ArbiterHandle>,
    deps: Mutex<Option<Arc<ChannelDeps>>>,
}

impl Registry {
    pub fn new(arbiters: Vec<ArbiterHandle>) -> Registry {
        Registry { actors: Mutex::new(HashMap::new()), arbiters, deps: Mutex::new(None) }
    }

    /// Completes the registry once the janitor exists (actors report to it).
    pub fn set_deps(&self, deps: Arc<ChannelDeps>) {
        *self.deps.lock().unwrap_or_else(|e| e.into_inner()) = Some(deps);
    }

    /// The actor of `sid`, started if it is not running.
    pub fn get(&self, sid: Sid) -> Addr<ChannelActor> {
        self.get_near(sid, shard(&sid, self.arbiters.len()))
    }

    /// The arbiters, for actors that should live beside channel actors.
    pub fn arbiters(&self) -> &[ArbiterHandle] {
        &self.arbiters
    }

    /// The actor of `sid`; if it must be started, it starts on arbiter `home`, so that a router
    /// and the channels it feeds exchange messages on one thread instead of waking another.
    pub fn get_near(&self, sid: Sid, home: usize) -> Addr<ChannelActor> {
        let mut actors = self.actors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(addr) = actors.get(&sid) {
            if addr.connected() {
                return addr.clone();
            }
        }
        let deps = self.deps.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let deps = deps.expect("the engine sets the registry's dependencies before use");
        let arbiter = &self.arbiters[home % self.arbiters.len()];
        let addr = ChannelActor::start_in_arbiter(arbiter, move |_| ChannelActor::new(sid, deps));
        actors.insert(sid, addr.clone());
        addr
    }

    /// Sends a message to the actor of `sid` (started on arbiter `home` if it must be) and waits
    /// for the reply. One retry covers an actor that hibernated between the lookup and the send.
    pub async fn ask<M>(
        &self,
        sid: Sid,
        home: Option<usize>,
        message: impl Fn() -> M,
    ) -> Result<M::Result, crate::EngineError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        ChannelActor: actix::Handler<crate::span::InSpan<M>>,
    {
        for _ in 0..2 {
            let addr = match home {
                Some(home) => self.get_near(sid, home),
                None => self.get(sid),
            };
            // In the caller's span: what the actor logs for it names the request.
            if let Ok(reply) = addr.send(crate::span::InSpan::current(message())).await {
                return Ok(reply);
            }
        }
        Err(crate::EngineError::Stopping)
    }

    /// Called by a stopping actor; a newer actor of the same SID is left alone.
    pub fn remove(&self, sid: Sid, addr: &Addr<ChannelActor>) {
        let mut actors = self.actors.lock().unwrap_or_else(|e| e.into_inner());
        if actors.get(&sid) == Some(addr) {
            actors.remove(&sid);
        }
    }

    /// The actors running now.
    pub fn live_actors(&self) -> Vec<Addr<ChannelActor>> {
        self.actors.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn live(&self) -> usize {
        self.actors.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

pub(crate) fn shard(key: &impl Hash, shards: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % shards.max(1) as u64) as usize
}
