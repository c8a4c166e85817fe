//! Flex Flows and Chat Services: few, read on every inbound message, changed rarely. Each lives
//! in its own stream of events (`FO…`, `IS…`); the directories keep all of them in memory and
//! serialize changes, which is also where the rule spanning flows (one enabled flow per channel
//! type and contact identity) is enforced.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use switchboard_domain::{
    conflicts, decide_flow, routing_key, ChannelType, DefaultRole, FlowCommand, FlowConfig,
    FlowRejection, FlowState, Recorded, RoleKind, RoleState, ServiceEvent, ServiceState,
    ServiceWebhooks, Sid, SidPrefix, Timestamp, WebFlowSettings, WebhookConfig,
};
use switchboard_store::{EventLog, FlushTicket, IndexChanges, ReplayRecord};

use crate::{new_sid, EngineError};

/// A live flow as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowView {
    pub sid: Sid,
    pub config: FlowConfig,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

#[derive(Debug)]
pub struct FlowDirectory {
    log: Arc<EventLog>,
    flows: RwLock<BTreeMap<Sid, FlowState>>,
    writing: Mutex<()>,
}

type Written<T> = Result<Result<(T, Option<FlushTicket>), FlowRejection>, EngineError>;

impl FlowDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<FlowDirectory, EngineError> {
        let flows = load_streams(&log, SidPrefix::FLEX_FLOW, FlowState::apply)?;
        Ok(FlowDirectory { log, flows: RwLock::new(flows), writing: Mutex::new(()) })
    }

    pub fn get(&self, sid: Sid) -> Option<FlowView> {
        self.read().get(&sid).and_then(view)
    }

    /// Every live flow, in SID order.
    pub fn list(&self) -> Vec<FlowView> {
        self.read().values().filter_map(view).collect()
    }

    /// The enabled flow that takes `channel_type` messages sent to `contact_identity`.
    pub fn find_enabled(
        &self,
        channel_type: ChannelType,
        contact_identity: &str,
    ) -> Option<FlowView> {
        let wanted = contact_identity.strip_prefix("whatsapp:").unwrap_or(contact_identity).trim();
        self.read().values().filter_map(view).find(|flow| {
            flow.config.enabled
                && routing_key(&flow.config)
                    .is_some_and(|(t, id)| t == channel_type && id == wanted)
        })
    }

    pub async fn create(
        &self,
        config: FlowConfig,
        at: Timestamp,
    ) -> Result<Result<FlowView, FlowRejection>, EngineError> {
        let sid = new_sid(SidPrefix::FLEX_FLOW);
        let written = self.write(sid, at, |_, others| {
            if let Some(conflict) = conflicts(sid, &config, others) {
                return Err(conflict);
            }
            Ok(FlowCommand::Create { flow_sid: sid, config })
        });
        self.finish(written).await
    }

    /// Applies `change` to the current configuration (a partial update).
    pub async fn update(
        &self,
        sid: Sid,
        at: Timestamp,
        change: impl FnOnce(FlowConfig) -> Result<FlowConfig, FlowRejection>,
    ) -> Result<Result<FlowView, FlowRejection>, EngineError> {
        let written = self.write(sid, at, |state, others| {
            let current = state.live().cloned().ok_or(FlowRejection::NotFound)?;
            let config = change(current)?;
            if let Some(conflict) = conflicts(sid, &config, others) {
                return Err(conflict);
            }
            Ok(FlowCommand::Update(config))
        });
        self.finish(written).await
    }

    /// A web flow's widget settings: the ones it was given, else the defaults (`None` for no
    /// live flow).
    pub fn web_settings(&self, sid: Sid) -> Option<WebFlowSettings> {
        let flows = self.read();
        let state = flows.get(&sid)?;
        state.live()?;
        Some(state.web.clone().unwrap_or_else(WebFlowSettings::default_form))
    }

    /// Replaces a web flow's widget settings.
    pub async fn set_web_settings(
        &self,
        sid: Sid,
        at: Timestamp,
        settings: WebFlowSettings,
    ) -> Result<Result<FlowView, FlowRejection>, EngineError> {
        let written = self.write(sid, at, |_, _| Ok(FlowCommand::SetWebSettings(settings)));
        self.finish(written).await
    }

    pub async fn delete(
        &self,
        sid: Sid,
        at: Timestamp,
    ) -> Result<Result<(), FlowRejection>, EngineError> {
        let (_, ticket) = match self.write(sid, at, |_, _| Ok(FlowCommand::Delete))? {
            Ok(done) => done,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let Some(ticket) = ticket {
            self.log.wait_durable(ticket).await?;
        }
        Ok(Ok(()))
    }

    fn write(
        &self,
        sid: Sid,
        at: Timestamp,
        command: impl FnOnce(&FlowState, Vec<(Sid, &FlowConfig)>) -> Result<FlowCommand, FlowRejection>,
    ) -> Written<FlowState> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let flows = self.read().clone();
        let state = flows.get(&sid).cloned().unwrap_or_default();
        let others: Vec<(Sid, &FlowConfig)> =
            flows.iter().filter_map(|(s, f)| f.live().map(|c| (*s, c))).collect();
        let events = match command(&state, others).and_then(|c| decide_flow(&state, c)) {
            Ok(events) => events,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if events.is_empty() {
            return Ok(Ok((state, None)));
        }
        let (next, ticket) = append(&self.log, sid, state, events, at, FlowState::apply)?;
        self.flows.write().unwrap_or_else(|e| e.into_inner()).insert(sid, next.clone());
        Ok(Ok((next, ticket)))
    }

    async fn finish(
        &self,
        written: Written<FlowState>,
    ) -> Result<Result<FlowView, FlowRejection>, EngineError> {
        let (state, ticket) = match written? {
            Ok(done) => done,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let Some(ticket) = ticket {
            self.log.wait_durable(ticket).await?;
        }
        Ok(view(&state).ok_or(FlowRejection::NotFound))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Sid, FlowState>> {
        self.flows.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn view(state: &FlowState) -> Option<FlowView> {
    Some(FlowView {
        sid: state.sid?,
        config: state.live()?.clone(),
        date_created: state.date_created,
        date_updated: state.date_updated,
    })
}

/// A Chat Service as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub sid: Sid,
    pub friendly_name: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// Every role, the four defaults included, in SID order.
    pub roles: BTreeMap<Sid, RoleState>,
    pub webhooks: ServiceWebhooks,
    /// Since when the post-event webhook has been set without a break.
    pub post_webhook_since: Option<Timestamp>,
    /// Whether users' reachability is kept and pushed (Twilio's `reachability_enabled`).
    pub reachability_enabled: bool,
}

impl ServiceView {
    pub fn role(&self, which: DefaultRole) -> Option<&RoleState> {
        self.roles.get(&which.sid(self.sid))
    }
}

#[derive(Debug)]
pub struct ServiceDirectory {
    log: Arc<EventLog>,
    services: RwLock<BTreeMap<Sid, ServiceState>>,
    writing: Mutex<()>,
}

impl ServiceDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<ServiceDirectory, EngineError> {
        let services = load_streams(&log, SidPrefix::SERVICE, ServiceState::apply)?;
        Ok(ServiceDirectory { log, services: RwLock::new(services), writing: Mutex::new(()) })
    }

    pub fn get(&self, sid: Sid) -> Option<ServiceView> {
        self.read().get(&sid).and_then(service_view)
    }

    pub fn list(&self) -> Vec<ServiceView> {
        self.read().values().filter_map(service_view).collect()
    }

    pub async fn create(
        &self,
        friendly_name: String,
        at: Timestamp,
    ) -> Result<ServiceView, EngineError> {
        let sid = new_sid(SidPrefix::SERVICE);
        self.change(sid, ServiceEvent::ServiceCreated { service_sid: sid, friendly_name }, at).await
    }

    pub async fn rename(
        &self,
        sid: Sid,
        friendly_name: String,
        at: Timestamp,
    ) -> Result<Option<ServiceView>, EngineError> {
        if self.get(sid).is_none() {
            return Ok(None);
        }
        self.change(sid, ServiceEvent::ServiceRenamed { friendly_name }, at).await.map(Some)
    }

    /// Renames the service, replaces its webhook settings (already checked) and sets its
    /// reachability, each when given, in one append.
    pub async fn update(
        &self,
        sid: Sid,
        friendly_name: Option<String>,
        webhooks: Option<ServiceWebhooks>,
        reachability: Option<bool>,
        at: Timestamp,
    ) -> Result<Option<ServiceView>, EngineError> {
        let Some(current) = self.get(sid) else { return Ok(None) };
        let mut events = Vec::new();
        events.extend(
            friendly_name.map(|friendly_name| ServiceEvent::ServiceRenamed { friendly_name }),
        );
        events.extend(webhooks.map(|webhooks| ServiceEvent::WebhooksUpdated { webhooks }));
        events.extend(reachability.map(|enabled| ServiceEvent::ReachabilityUpdated { enabled }));
        if events.is_empty() {
            return Ok(Some(current));
        }
        self.change_all(sid, events, at).await.map(Some)
    }

    /// The service's post-event webhook and since when it has been set, if it has one. Asked
    /// after every channel append, so it clones only the webhook.
    pub fn post_webhook(&self, sid: Sid) -> Option<(WebhookConfig, Timestamp)> {
        let services = self.read();
        let service = services.get(&sid)?;
        Some((service.webhooks.post_hook()?, service.post_webhook_since?))
    }

    /// Whether any service keeps users' reachability: asked at every WebSocket's opening and
    /// closing.
    pub fn reachability_anywhere(&self) -> bool {
        self.read().values().any(|s| s.reachability_enabled)
    }

    /// Whether the service has a post-event webhook: asked after every channel append.
    pub fn has_post_webhook(&self, sid: Sid) -> bool {
        self.read().get(&sid).is_some_and(|s| s.webhooks.post_webhook_url.is_some())
    }

    /// The service's pre-event webhook, if it has one.
    pub fn pre_webhook(&self, sid: Sid) -> Option<WebhookConfig> {
        self.read().get(&sid)?.webhooks.pre_hook()
    }

    /// Adds a role; `permissions` are already validated for `kind`.
    pub async fn create_role(
        &self,
        service: Sid,
        friendly_name: String,
        kind: RoleKind,
        permissions: Vec<String>,
        at: Timestamp,
    ) -> Result<Option<RoleState>, EngineError> {
        if self.get(service).is_none() {
            return Ok(None);
        }
        let role_sid = new_sid(SidPrefix::ROLE);
        let event = ServiceEvent::RoleCreated { role_sid, friendly_name, kind, permissions };
        let view = self.change(service, event, at).await?;
        Ok(view.roles.get(&role_sid).cloned())
    }

    /// Replaces a role's permission set.
    pub async fn update_role(
        &self,
        service: Sid,
        role_sid: Sid,
        permissions: Vec<String>,
        at: Timestamp,
    ) -> Result<Option<RoleState>, EngineError> {
        let exists = self.get(service).is_some_and(|s| s.roles.contains_key(&role_sid));
        if !exists {
            return Ok(None);
        }
        let view =
            self.change(service, ServiceEvent::RoleUpdated { role_sid, permissions }, at).await?;
        Ok(view.roles.get(&role_sid).cloned())
    }

    /// Deletes a role that is not a default one; the caller checks it is not in use.
    pub async fn delete_role(
        &self,
        service: Sid,
        role_sid: Sid,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        self.change(service, ServiceEvent::RoleDeleted { role_sid }, at).await.map(|_| ())
    }

    async fn change(
        &self,
        sid: Sid,
        event: ServiceEvent,
        at: Timestamp,
    ) -> Result<ServiceView, EngineError> {
        self.change_all(sid, vec![event], at).await
    }

    async fn change_all(
        &self,
        sid: Sid,
        events: Vec<ServiceEvent>,
        at: Timestamp,
    ) -> Result<ServiceView, EngineError> {
        let (state, ticket) = {
            let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
            let state = self.read().get(&sid).cloned().unwrap_or_default();
            let (next, ticket) = append(&self.log, sid, state, events, at, ServiceState::apply)?;
            self.services.write().unwrap_or_else(|e| e.into_inner()).insert(sid, next.clone());
            (next, ticket)
        };
        if let Some(ticket) = ticket {
            self.log.wait_durable(ticket).await?;
        }
        service_view(&state).ok_or_else(|| EngineError::Internal("service vanished".into()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Sid, ServiceState>> {
        self.services.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn service_view(state: &ServiceState) -> Option<ServiceView> {
    Some(ServiceView {
        sid: state.sid?,
        friendly_name: state.friendly_name.clone(),
        date_created: state.date_created,
        date_updated: state.date_updated,
        roles: state.roles.clone(),
        webhooks: state.webhooks.clone(),
        post_webhook_since: state.post_webhook_since,
        reachability_enabled: state.reachability_enabled,
    })
}

/// Events counted so far, for the expected sequence of the next append.
pub(crate) trait Counted {
    fn events_applied(&self) -> u64;
}

impl Counted for FlowState {
    fn events_applied(&self) -> u64 {
        self.events_applied
    }
}

impl Counted for ServiceState {
    fn events_applied(&self) -> u64 {
        self.events_applied
    }
}

fn append<S: Counted, E>(
    log: &EventLog,
    sid: Sid,
    state: S,
    events: Vec<E>,
    at: Timestamp,
    apply: fn(&mut S, &Recorded<E>),
) -> Result<(S, Option<FlushTicket>), EngineError>
where
    Recorded<E>: switchboard_store::LoggedEvent,
{
    append_indexed(log, sid, state, events, at, apply, &IndexChanges::default())
}

/// `append` with index changes in the same write.
pub(crate) fn append_indexed<S: Counted, E>(
    log: &EventLog,
    sid: Sid,
    mut state: S,
    events: Vec<E>,
    at: Timestamp,
    apply: fn(&mut S, &Recorded<E>),
    index: &IndexChanges,
) -> Result<(S, Option<FlushTicket>), EngineError>
where
    Recorded<E>: switchboard_store::LoggedEvent,
{
    // Flows', services' and users' events record their cause too (see `cause`).
    let cause = crate::cause::current();
    let records: Vec<Recorded<E>> =
        events.into_iter().map(|e| Recorded::caused(at, e, cause.clone())).collect();
    let appended = log.append(sid, state.events_applied(), &records, index)?;
    for record in &records {
        apply(&mut state, record);
    }
    Ok((state, Some(appended.ticket)))
}

/// Folds every stream of one kind from the log.
pub(crate) fn load_streams<S: Default, E>(
    log: &EventLog,
    prefix: SidPrefix,
    apply: fn(&mut S, &Recorded<E>),
) -> Result<BTreeMap<Sid, S>, EngineError>
where
    Recorded<E>: switchboard_store::LoggedEvent,
{
    let mut all = BTreeMap::new();
    for stream in log.streams() {
        let stream = stream?;
        if stream.prefix() != prefix {
            continue;
        }
        let mut state = S::default();
        for record in log.read::<Recorded<E>>(stream, 0) {
            if let ReplayRecord::Event { event, .. } = record? {
                apply(&mut state, &event);
            }
        }
        all.insert(stream, state);
    }
    Ok(all)
}
