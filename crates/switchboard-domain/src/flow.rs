//! Flex Flows: which inbound address (a number, a page, a web flow) is handled how.
//!
//! A flow is its own aggregate, stored as events in a stream named by its `FO` SID, so changes to
//! routing are in the audit trail like everything else. The rule that spans flows (one enabled
//! flow per channel type and contact identity) needs all flows at once and is checked by the
//! caller that holds them, with [`conflicts`].

use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

/// The kind of channel a flow takes messages from (Twilio's `ChannelType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    Web,
    Sms,
    Facebook,
    Whatsapp,
    Line,
    Custom,
}

impl ChannelType {
    pub const ALL: [ChannelType; 6] = [
        ChannelType::Web,
        ChannelType::Sms,
        ChannelType::Facebook,
        ChannelType::Whatsapp,
        ChannelType::Line,
        ChannelType::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Web => "web",
            ChannelType::Sms => "sms",
            ChannelType::Facebook => "facebook",
            ChannelType::Whatsapp => "whatsapp",
            ChannelType::Line => "line",
            ChannelType::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> Option<ChannelType> {
        ChannelType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// What happens after a message reaches its channel (Twilio's `IntegrationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationType {
    Studio,
    External,
    Task,
}

impl IntegrationType {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::Studio => "studio",
            IntegrationType::External => "external",
            IntegrationType::Task => "task",
        }
    }

    pub fn parse(text: &str) -> Option<IntegrationType> {
        [IntegrationType::Studio, IntegrationType::External, IntegrationType::Task]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

/// The `Integration.*` parameters; which ones matter depends on the integration type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Integration {
    pub flow_sid: Option<Sid>,
    pub url: Option<String>,
    pub workspace_sid: Option<Sid>,
    pub workflow_sid: Option<Sid>,
    pub channel: Option<String>,
    pub timeout_secs: Option<u64>,
    pub priority: Option<i64>,
    pub creation_on_message: Option<bool>,
    pub retry_count: Option<u8>,
}

impl Integration {
    /// Twilio's defaults: a day to accept a task, priority 0, three retries.
    pub const DEFAULT_TIMEOUT_SECS: u64 = 86_400;
    pub const DEFAULT_RETRY_COUNT: u8 = 3;
}

/// Everything a flow says; replaced whole by each update event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowConfig {
    pub friendly_name: String,
    pub chat_service_sid: Sid,
    pub channel_type: ChannelType,
    /// The address the flow answers for: a number (`+1…`), a WhatsApp number, a page id, a name.
    pub contact_identity: Option<String>,
    pub enabled: bool,
    pub integration_type: IntegrationType,
    pub integration: Integration,
    pub long_lived: bool,
    pub janitor_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowEvent {
    FlowCreated {
        flow_sid: Sid,
        config: FlowConfig,
    },
    FlowUpdated {
        config: FlowConfig,
    },
    FlowDeleted,
    /// A web flow's widget settings, replaced whole (`web_flow.rs`).
    WebSettingsChanged {
        settings: crate::WebFlowSettings,
    },
}

impl DomainEvent for FlowEvent {
    fn type_name(&self) -> &'static str {
        match self {
            FlowEvent::FlowCreated { .. } => "flow_created",
            FlowEvent::FlowUpdated { .. } => "flow_updated",
            FlowEvent::FlowDeleted => "flow_deleted",
            FlowEvent::WebSettingsChanged { .. } => "web_settings_changed",
        }
    }
}

/// A flow as its events leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlowState {
    pub sid: Option<Sid>,
    pub config: Option<FlowConfig>,
    pub deleted: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
    /// The widget settings a web flow was given, if any.
    #[serde(default)]
    pub web: Option<crate::WebFlowSettings>,
}

impl FlowState {
    pub fn apply(&mut self, record: &Recorded<FlowEvent>) {
        self.events_applied += 1;
        match &record.event {
            FlowEvent::FlowCreated { flow_sid, config } if self.sid.is_none() => {
                self.sid = Some(*flow_sid);
                self.config = Some(config.clone());
                self.date_created = record.at;
            }
            FlowEvent::FlowCreated { .. } => return,
            FlowEvent::FlowUpdated { config } => self.config = Some(config.clone()),
            FlowEvent::FlowDeleted => self.deleted = true,
            FlowEvent::WebSettingsChanged { settings } => self.web = Some(settings.clone()),
        }
        self.date_updated = record.at;
    }

    /// The live configuration: `None` before creation and after deletion.
    pub fn live(&self) -> Option<&FlowConfig> {
        if self.deleted {
            None
        } else {
            self.config.as_ref()
        }
    }
}

/// Why a flow change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowRejection {
    #[error("the Flex Flow does not exist")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(
        "Flex Flow {existing} is already enabled for {channel_type} messages to {contact_identity}"
    )]
    Conflict { existing: Sid, channel_type: &'static str, contact_identity: String },
}

/// Checks a configuration on its own (the cross-flow rule is [`conflicts`]).
pub fn validate(config: &FlowConfig) -> Result<(), FlowRejection> {
    let invalid = |m: &str| Err(FlowRejection::Invalid(m.to_owned()));
    if config.friendly_name.trim().is_empty() {
        return invalid("FriendlyName must not be empty");
    }
    match config.integration_type {
        IntegrationType::Studio if config.integration.flow_sid.is_none() => {
            return invalid("Integration.FlowSid is required for IntegrationType studio");
        }
        IntegrationType::Studio => {}
        IntegrationType::External => match &config.integration.url {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {}
            Some(_) => return invalid("Integration.Url must be an http or https URL"),
            None => return invalid("Integration.Url is required for IntegrationType external"),
        },
        IntegrationType::Task => {}
    }
    if config.integration.retry_count.is_some_and(|n| n > 3) {
        return invalid("Integration.RetryCount must be between 0 and 3");
    }
    let needs_identity = !matches!(config.channel_type, ChannelType::Web | ChannelType::Custom);
    if config.enabled && needs_identity && config.contact_identity.is_none() {
        return invalid("ContactIdentity is required for an enabled flow of this channel type");
    }
    if let Some(identity) = &config.contact_identity {
        check_contact_identity(config.channel_type, identity).map_err(FlowRejection::Invalid)?;
    }
    Ok(())
}

/// Whether `identity` is an address inbound traffic of `channel_type` can name. Providers name
/// our side exactly so, so a flow kept for anything else would never take a message: it is
/// refused with the reason instead.
fn check_contact_identity(channel_type: ChannelType, identity: &str) -> Result<(), String> {
    let shown = format!("ContactIdentity {identity:?}");
    match channel_type {
        ChannelType::Sms if crate::address::is_e164(identity) => Ok(()),
        ChannelType::Sms => Err(format!(
            "{shown} is not an E.164 number (+ and 8 to 15 digits, as +15005550006){}",
            plus_hint(identity)
        )),
        ChannelType::Whatsapp => match identity.strip_prefix("whatsapp:") {
            Some(number) if crate::address::is_e164(number) => Ok(()),
            Some(_) => Err(format!(
                "{shown} is not whatsapp: and an E.164 number (as whatsapp:+14155238886){}",
                plus_hint(identity.trim_start_matches("whatsapp:"))
            )),
            // A WhatsApp Cloud API number is named by its phone_number_id.
            None if is_numeric_id(identity) => Ok(()),
            None => Err(format!(
                "{shown} is neither a WhatsApp number over Twilio (whatsapp:+14155238886, with \
                 its whatsapp: prefix) nor a WhatsApp Cloud API phone_number_id (digits)"
            )),
        },
        ChannelType::Facebook if is_numeric_id(identity) => Ok(()),
        ChannelType::Facebook => Err(format!("{shown} is not a Facebook Page id (digits)")),
        ChannelType::Web | ChannelType::Line | ChannelType::Custom => {
            if identity.trim().is_empty() {
                Err("ContactIdentity is empty".to_owned())
            } else {
                Ok(())
            }
        }
    }
}

/// Why a number lost its `+`, when it looks that way: in a form, an unencoded `+` is a space.
fn plus_hint(number: &str) -> &'static str {
    let digits = number.trim_start();
    if !digits.starts_with('+') && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    {
        "; a + sent unencoded in a form arrives as a space: encode it as %2B \
         (curl --data-urlencode ContactIdentity=+1…)"
    } else {
        ""
    }
}

fn is_numeric_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 32 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The routing key of a flow: its channel type and its contact identity as inbound traffic
/// names it (a WhatsApp number without its `whatsapp:` prefix).
pub fn routing_key(config: &FlowConfig) -> Option<(ChannelType, String)> {
    let identity = config.contact_identity.as_deref()?;
    let identity = identity.strip_prefix("whatsapp:").unwrap_or(identity).trim();
    Some((config.channel_type, identity.to_owned()))
}

/// The enabled flow among `others` that `candidate` would collide with, if any.
pub fn conflicts<'a>(
    candidate_sid: Sid,
    candidate: &FlowConfig,
    others: impl IntoIterator<Item = (Sid, &'a FlowConfig)>,
) -> Option<FlowRejection> {
    if !candidate.enabled {
        return None;
    }
    let key = routing_key(candidate)?;
    others
        .into_iter()
        .filter(|(sid, other)| *sid != candidate_sid && other.enabled)
        .find(|(_, other)| routing_key(other).as_ref() == Some(&key))
        .map(|(existing, _)| FlowRejection::Conflict {
            existing,
            channel_type: key.0.as_str(),
            contact_identity: key.1.clone(),
        })
}

/// A change to a flow, checked against its state.
pub fn decide_flow(
    state: &FlowState,
    command: FlowCommand,
) -> Result<Vec<FlowEvent>, FlowRejection> {
    match command {
        FlowCommand::Create { flow_sid, config } => {
            if state.sid.is_some() {
                return Err(FlowRejection::Invalid("the Flex Flow already exists".into()));
            }
            validate(&config)?;
            Ok(vec![FlowEvent::FlowCreated { flow_sid, config }])
        }
        FlowCommand::Update(config) => {
            let current = state.live().ok_or(FlowRejection::NotFound)?;
            validate(&config)?;
            if *current == config {
                return Ok(Vec::new());
            }
            Ok(vec![FlowEvent::FlowUpdated { config }])
        }
        FlowCommand::Delete => {
            state.live().ok_or(FlowRejection::NotFound)?;
            Ok(vec![FlowEvent::FlowDeleted])
        }
        FlowCommand::SetWebSettings(settings) => {
            let current = state.live().ok_or(FlowRejection::NotFound)?;
            if current.channel_type != ChannelType::Web {
                return Err(FlowRejection::Invalid(
                    "widget settings are for a Flex Flow with ChannelType web".into(),
                ));
            }
            crate::validate_web_settings(&settings)?;
            if state.web.as_ref() == Some(&settings) {
                return Ok(Vec::new());
            }
            Ok(vec![FlowEvent::WebSettingsChanged { settings }])
        }
    }
}

/// A request to change a flow. Updates carry the whole new configuration: the HTTP layer merges
/// the parameters given into the current one, as Twilio's partial POST update does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowCommand {
    Create {
        flow_sid: Sid,
        config: FlowConfig,
    },
    Update(FlowConfig),
    Delete,
    /// Replaces a web flow's widget settings.
    SetWebSettings(crate::WebFlowSettings),
}

impl Aggregate for FlowState {
    type Event = FlowEvent;
    type Command = FlowCommand;
    type Rejection = FlowRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::FLEX_FLOW;
    const NAME: &'static str = "flow";

    fn decide(&self, command: FlowCommand) -> Result<Vec<FlowEvent>, FlowRejection> {
        decide_flow(self, command)
    }

    fn apply(&mut self, record: &Recorded<FlowEvent>) {
        FlowState::apply(self, record);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SidPrefix;

    fn config(channel_type: ChannelType, identity: &str) -> FlowConfig {
        FlowConfig {
            friendly_name: "sms".into(),
            chat_service_sid: Sid::from_parts(SidPrefix::SERVICE, [1; 16]),
            channel_type,
            contact_identity: Some(identity.into()),
            enabled: true,
            integration_type: IntegrationType::Task,
            integration: Integration::default(),
            long_lived: false,
            janitor_enabled: true,
        }
    }

    fn sid(n: u8) -> Sid {
        Sid::from_parts(SidPrefix::FLEX_FLOW, [n; 16])
    }

    #[test]
    fn one_enabled_flow_per_channel_type_and_identity() {
        let first = config(ChannelType::Whatsapp, "whatsapp:+14155238886");
        let same = config(ChannelType::Whatsapp, "+14155238886");
        let flows = [(sid(1), &first)];
        assert!(matches!(conflicts(sid(2), &same, flows), Some(FlowRejection::Conflict { .. })));
        assert_eq!(conflicts(sid(1), &same, flows), None, "a flow never conflicts with itself");
        let sms = config(ChannelType::Sms, "+14155238886");
        assert_eq!(conflicts(sid(2), &sms, flows), None, "another channel type is another key");
        let mut disabled = same.clone();
        disabled.enabled = false;
        assert_eq!(conflicts(sid(2), &disabled, flows), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut external = config(ChannelType::Sms, "+15005550006");
        external.integration_type = IntegrationType::External;
        assert!(
            matches!(validate(&external), Err(FlowRejection::Invalid(m)) if m.contains("Integration.Url"))
        );
        external.integration.url = Some("https://example.com/hook".into());
        assert_eq!(validate(&external), Ok(()));
        let mut studio = external.clone();
        studio.integration_type = IntegrationType::Studio;
        assert!(
            matches!(validate(&studio), Err(FlowRejection::Invalid(m)) if m.contains("Integration.FlowSid"))
        );
        studio.integration.flow_sid = Some(Sid::from_parts(SidPrefix::STUDIO_FLOW, [2; 16]));
        assert_eq!(validate(&studio), Ok(()));
        let mut no_identity = config(ChannelType::Sms, "+15005550006");
        no_identity.contact_identity = None;
        assert!(validate(&no_identity).is_err());
        no_identity.channel_type = ChannelType::Web;
        assert_eq!(validate(&no_identity), Ok(()));
    }

    #[test]
    fn a_contact_identity_must_be_an_address_of_its_channel_type() {
        let check = |channel_type, identity| validate(&config(channel_type, identity));
        assert_eq!(check(ChannelType::Sms, "+15005550006"), Ok(()));
        let unencoded = check(ChannelType::Sms, " 15005550006").unwrap_err().to_string();
        assert!(
            unencoded.contains("not an E.164 number") && unencoded.contains("%2B"),
            "{unencoded}"
        );
        let letters = check(ChannelType::Sms, "support").unwrap_err().to_string();
        assert!(!letters.contains("%2B"), "the hint is only for a lost +: {letters}");
        assert!(check(ChannelType::Sms, "+1 500 555 0006").is_err());
        assert_eq!(check(ChannelType::Whatsapp, "whatsapp:+14155238886"), Ok(()));
        assert_eq!(check(ChannelType::Whatsapp, "106540352242922"), Ok(()), "a phone_number_id");
        let bare = check(ChannelType::Whatsapp, "+14155238886").unwrap_err().to_string();
        assert!(bare.contains("whatsapp: prefix"), "{bare}");
        let lost = check(ChannelType::Whatsapp, "whatsapp: 14155238886").unwrap_err().to_string();
        assert!(lost.contains("%2B"), "{lost}");
        assert_eq!(check(ChannelType::Facebook, "1029384756"), Ok(()));
        assert!(check(ChannelType::Facebook, "messenger:1029384756").is_err());
        assert_eq!(check(ChannelType::Custom, "my-bridge"), Ok(()));
        assert!(check(ChannelType::Web, "  ").is_err());
        let mut disabled = config(ChannelType::Sms, " 15005550006");
        disabled.enabled = false;
        assert!(validate(&disabled).is_err(), "a disabled flow is checked too");
    }

    #[test]
    fn lifecycle_and_redundant_updates() {
        let mut state = FlowState::default();
        let created = decide_flow(
            &state,
            FlowCommand::Create {
                flow_sid: sid(1),
                config: config(ChannelType::Sms, "+15005550006"),
            },
        )
        .unwrap();
        for event in created {
            state.apply(&crate::Recorded::new(Timestamp(1), event));
        }
        assert_eq!(
            decide_flow(&state, FlowCommand::Update(config(ChannelType::Sms, "+15005550006"))),
            Ok(vec![])
        );
        let deleted = decide_flow(&state, FlowCommand::Delete).unwrap();
        state.apply(&crate::Recorded::new(Timestamp(2), deleted[0].clone()));
        assert_eq!(state.live(), None);
        assert_eq!(decide_flow(&state, FlowCommand::Delete), Err(FlowRejection::NotFound));
    }
}
