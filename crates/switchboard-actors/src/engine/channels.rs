//! `Channels`: the engine's chat channels as callers reach them: a channel's state, an atomic
//! append, an inbound message under its Flex Flow, the channel lists, what a client missed, and
//! (in `flex_channel.rs`) opening and ending interactions.

use switchboard_domain::{
    ChannelCommand, ChannelState, IndexKind, Recorded, Rejection, Sid, SidPrefix,
};
use switchboard_store::{Executed, ReplayRecord};

use super::{Engine, Inbound, InboundOutcome, InboundRefusal};
use crate::channel::{Execute, GetState};
use crate::directory::FlowView;
use crate::hub::LiveEvent;
use crate::janitor::{ChannelListing, ListChannels};
use crate::registry::shard;
use crate::router::{Route, Routed};
use crate::EngineError;

/// The engine's chat channels (`Engine::channels`).
#[derive(Debug, Clone, Copy)]
pub struct Channels<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Chat channels: state, appends, inbound messages, lists and interactions.
    pub fn channels(&self) -> Channels<'_> {
        Channels { engine: self }
    }
}

impl<'e> Channels<'e> {
    /// The channel of a service with this unique name, if any.
    pub fn named(self, service_sid: Sid, unique_name: &str) -> Result<Option<Sid>, EngineError> {
        let found =
            self.engine.inner.log.lookup(IndexKind::UniqueName, Some(service_sid), unique_name)?;
        Ok(found.map(|(channel, _)| channel))
    }

    /// Every durable event of a channel from sequence `from` on, up to its head as it was when
    /// asked (what a reconnecting client missed). Waits for what is written to be durable.
    pub async fn durable_events(
        self,
        channel_sid: Sid,
        from: u64,
    ) -> Result<Vec<LiveEvent>, EngineError> {
        let log = &self.engine.inner.log;
        let head = log.next_seq(channel_sid)?;
        log.wait_durable(log.ticket()).await?;
        let mut events = Vec::new();
        for record in log.read::<Recorded>(channel_sid, from) {
            match record? {
                ReplayRecord::Event { seq, .. } if seq >= head => break,
                ReplayRecord::Event { seq, event, .. } => events.push(LiveEvent {
                    channel_sid,
                    service_sid: None,
                    seq,
                    at: event.at,
                    event: event.event,
                }),
                ReplayRecord::Shredded { .. } => {}
            }
        }
        Ok(events)
    }

    /// Stores an inbound message under the enabled Flex Flow that takes it (its channel type and
    /// our address): into the customer's channel or a new one. Returns once it is durable (or,
    /// for a redelivery, once the original is).
    pub async fn inbound(
        self,
        inbound: Inbound,
    ) -> Result<Result<InboundOutcome, InboundRefusal>, EngineError> {
        let provider = inbound.provider;
        let Some(flow) = self.engine.inner.flows.find_enabled(inbound.channel_type, &inbound.to)
        else {
            crate::metrics::inbound(provider, crate::metrics::InboundOutcomeKind::Unrouted);
            tracing::warn!(
                channel_type = inbound.channel_type.as_str(),
                "no enabled Flex Flow for an inbound message"
            );
            return Ok(Err(InboundRefusal::Unrouted));
        };
        let answer = self.store_inbound(flow, inbound).await;
        let outcome = crate::metrics::outcome_of(&answer, |stored| stored.duplicate);
        crate::metrics::inbound(provider, outcome);
        Ok(answer?.map_err(InboundRefusal::Rejected))
    }

    async fn store_inbound(
        self,
        flow: FlowView,
        inbound: Inbound,
    ) -> Result<Result<InboundOutcome, Rejection>, EngineError> {
        let routers = self.engine.inner.routers.get().ok_or(EngineError::Stopping)?;
        let router = &routers[shard(&(flow.sid, &inbound.customer_address), routers.len())];
        let _writing = self.engine.inner.log.writing();
        let at = self.engine.now();
        let routed = match router
            .send(Route { flow, inbound, at, span: tracing::Span::current() })
            .await??
        {
            Ok(routed) => routed,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let outcome = match routed {
            Routed::Stored { channel_sid, message_index, created_channel, durability } => {
                durability.wait().await?;
                InboundOutcome { channel_sid, message_index, created_channel, duplicate: false }
            }
            Routed::Duplicate { channel_sid, message_index } => {
                // The original may still be on its way to disk: wait for everything written so far.
                self.engine.inner.log.wait_durable(self.engine.inner.log.ticket()).await?;
                InboundOutcome {
                    channel_sid,
                    message_index,
                    created_channel: false,
                    duplicate: true,
                }
            }
        };
        Ok(Ok(outcome))
    }

    /// Runs commands on a channel as one atomic append and returns once durable.
    pub async fn execute(
        self,
        channel_sid: Sid,
        commands: Vec<ChannelCommand>,
    ) -> Result<Result<Executed, Rejection>, EngineError> {
        let _writing = self.engine.inner.log.writing();
        let at = self.engine.now();
        let cause = crate::cause::current();
        let execute = || Execute { commands: commands.clone(), at, cause: cause.clone() };
        let appended = match self.engine.inner.registry.ask(channel_sid, None, execute).await?? {
            Ok(appended) => appended,
            Err(rejection) => return Ok(Err(rejection)),
        };
        appended.durability.wait().await?;
        Ok(Ok(appended.executed))
    }

    /// The state of a channel, `None` if it does not exist.
    pub async fn state(self, channel_sid: Sid) -> Result<Option<ChannelState>, EngineError> {
        if channel_sid.prefix() != SidPrefix::CHANNEL
            || self.engine.inner.log.next_seq(channel_sid)? == 0
        {
            return Ok(None);
        }
        self.engine.inner.registry.ask(channel_sid, None, || GetState).await?.map(Some)
    }

    /// Every channel SID, in order.
    pub fn sids(self) -> Result<Vec<Sid>, EngineError> {
        Ok(self
            .engine
            .inner
            .log
            .streams()
            .filter(|s| s.as_ref().map_or(true, |s| s.prefix() == SidPrefix::CHANNEL))
            .collect::<Result<_, _>>()?)
    }

    /// The channels of a service (of every service with `None`), erased ones left out, in SID
    /// order, without loading any of them.
    pub async fn listings(
        self,
        service_sid: Option<Sid>,
    ) -> Result<Vec<ChannelListing>, EngineError> {
        Ok(self.engine.inner.janitor.send(ListChannels { service_sid }).await?)
    }
}
