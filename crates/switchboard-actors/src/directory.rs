//! Flex Flows and Chat Services: few, read on every inbound message, changed rarely. Each lives
//! in its own stream of events (`FO…`, `IS…`), run like every stream kind (`streams.rs`); the
//! directories keep all of them in memory and serialize changes, which is also where the rule
//! spanning flows (one enabled flow per channel type and contact identity) is enforced.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard_domain::{
    conflicts, routing_key, ChannelType, DefaultRole, FlowCommand, FlowConfig, FlowRejection,
    FlowState, RoleKind, RoleState, ServiceCommand, ServiceRejection, ServiceState,
    ServiceWebhooks, Sid, SidPrefix, Timestamp, WebFlowSettings, WebhookConfig,
};
use switchboard_store::EventLog;

use crate::streams::{Streams, Written};
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
    flows: Streams<FlowState>,
}

impl FlowDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<FlowDirectory, EngineError> {
        Ok(FlowDirectory { flows: Streams::load(log)? })
    }

    pub fn get(&self, sid: Sid) -> Option<FlowView> {
        self.flows.read().get(&sid).and_then(view)
    }

    /// Every live flow, in SID order.
    pub fn list(&self) -> Vec<FlowView> {
        self.flows.read().values().filter_map(view).collect()
    }

    /// The enabled flow that takes `channel_type` messages sent to `contact_identity`.
    pub fn find_enabled(
        &self,
        channel_type: ChannelType,
        contact_identity: &str,
    ) -> Option<FlowView> {
        let wanted = contact_identity.strip_prefix("whatsapp:").unwrap_or(contact_identity).trim();
        self.flows.read().values().filter_map(view).find(|flow| {
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
        let flows = self.flows.read();
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
        let written = self.write(sid, at, |_, _| Ok(FlowCommand::Delete));
        Ok(self.flows.durable(written).await?.map(|_| ()))
    }

    /// Decides the command `command` makes of the flow's state and every other live flow's
    /// configuration, under the writer's lock.
    fn write(
        &self,
        sid: Sid,
        at: Timestamp,
        command: impl FnOnce(&FlowState, Vec<(Sid, &FlowConfig)>) -> Result<FlowCommand, FlowRejection>,
    ) -> Written<FlowState> {
        let mut writer = self.flows.writer();
        let state = writer.state(sid);
        let command = {
            let flows = writer.read();
            let others = flows.iter().filter_map(|(s, f)| f.live().map(|c| (*s, c))).collect();
            match command(&state, others) {
                Ok(command) => command,
                Err(rejection) => return Ok(Err(rejection)),
            }
        };
        writer.execute(sid, vec![command], at)
    }

    async fn finish(
        &self,
        written: Written<FlowState>,
    ) -> Result<Result<FlowView, FlowRejection>, EngineError> {
        let state = match self.flows.durable(written).await? {
            Ok(state) => state,
            Err(rejection) => return Ok(Err(rejection)),
        };
        Ok(view(&state).ok_or(FlowRejection::NotFound))
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
    services: Streams<ServiceState>,
}

impl ServiceDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<ServiceDirectory, EngineError> {
        Ok(ServiceDirectory { services: Streams::load(log)? })
    }

    pub fn get(&self, sid: Sid) -> Option<ServiceView> {
        self.services.read().get(&sid).and_then(service_view)
    }

    pub fn list(&self) -> Vec<ServiceView> {
        self.services.read().values().filter_map(service_view).collect()
    }

    pub async fn create(
        &self,
        friendly_name: String,
        at: Timestamp,
    ) -> Result<ServiceView, EngineError> {
        let sid = new_sid(SidPrefix::SERVICE);
        let command = ServiceCommand::Create { service_sid: sid, friendly_name };
        let state = self.change(sid, command, at).await?.map_err(|rejection| {
            EngineError::Internal(format!("a new service was refused: {rejection}"))
        })?;
        service_view(&state).ok_or_else(|| EngineError::Internal("service vanished".into()))
    }

    pub async fn rename(
        &self,
        sid: Sid,
        friendly_name: String,
        at: Timestamp,
    ) -> Result<Option<ServiceView>, EngineError> {
        self.update(sid, Some(friendly_name), None, None, at).await
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
        let command = ServiceCommand::Update { friendly_name, webhooks, reachability };
        let changed = self.change(sid, command, at).await?;
        Ok(changed.ok().as_ref().and_then(service_view))
    }

    /// The service's post-event webhook and since when it has been set, if it has one. Asked
    /// after every channel append, so it clones only the webhook.
    pub fn post_webhook(&self, sid: Sid) -> Option<(WebhookConfig, Timestamp)> {
        let services = self.services.read();
        let service = services.get(&sid)?;
        Some((service.webhooks.post_hook()?, service.post_webhook_since?))
    }

    /// Whether any service keeps users' reachability: asked at every WebSocket's opening and
    /// closing.
    pub fn reachability_anywhere(&self) -> bool {
        self.services.read().values().any(|s| s.reachability_enabled)
    }

    /// Whether the service has a post-event webhook: asked after every channel append.
    pub fn has_post_webhook(&self, sid: Sid) -> bool {
        self.services.read().get(&sid).is_some_and(|s| s.webhooks.post_webhook_url.is_some())
    }

    /// The service's pre-event webhook, if it has one.
    pub fn pre_webhook(&self, sid: Sid) -> Option<WebhookConfig> {
        self.services.read().get(&sid)?.webhooks.pre_hook()
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
        let role_sid = new_sid(SidPrefix::ROLE);
        let command = ServiceCommand::CreateRole { role_sid, friendly_name, kind, permissions };
        let changed = self.change(service, command, at).await?;
        Ok(changed.ok().and_then(|state| state.roles.get(&role_sid).cloned()))
    }

    /// Replaces a role's permission set.
    pub async fn update_role(
        &self,
        service: Sid,
        role_sid: Sid,
        permissions: Vec<String>,
        at: Timestamp,
    ) -> Result<Option<RoleState>, EngineError> {
        let command = ServiceCommand::UpdateRole { role_sid, permissions };
        let changed = self.change(service, command, at).await?;
        Ok(changed.ok().and_then(|state| state.roles.get(&role_sid).cloned()))
    }

    /// Deletes a role that is not a default one; the caller checks it is not in use. A role
    /// that is not there (or a default one) is left as it is.
    pub async fn delete_role(
        &self,
        service: Sid,
        role_sid: Sid,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        self.change(service, ServiceCommand::DeleteRole { role_sid }, at).await.map(|_| ())
    }

    async fn change(
        &self,
        sid: Sid,
        command: ServiceCommand,
        at: Timestamp,
    ) -> Result<Result<ServiceState, ServiceRejection>, EngineError> {
        let written = self.services.execute(sid, vec![command], at);
        self.services.durable(written).await
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
