//! Studio flows (`FW…`): a friendly name, a status and a definition, kept as revisions. Each
//! change of the definition or the status is a new revision, and every revision's definition is
//! kept, so an execution runs the revision it started on to its end even after an update.

use serde::{Deserialize, Serialize};
use switchboard_domain::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

use crate::{validate, Definition, ValidationError};

/// A flow's status: drafts are saved but run only by explicit tests; published flows run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    Draft,
    Published,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Draft => "draft",
            FlowStatus::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Option<FlowStatus> {
        [FlowStatus::Draft, FlowStatus::Published].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudioFlowEvent {
    /// Revision 1. The definition is Studio's JSON, as [`Definition::to_json`] writes it.
    FlowCreated {
        flow_sid: Sid,
        friendly_name: String,
        status: FlowStatus,
        definition: String,
        commit_message: Option<String>,
    },
    /// A new revision: the definition or the status changed (`None` keeps one).
    RevisionCommitted {
        status: FlowStatus,
        definition: Option<String>,
        commit_message: Option<String>,
    },
    /// Only the name changed: no new revision.
    FlowRenamed {
        friendly_name: String,
    },
    FlowDeleted,
}

impl DomainEvent for StudioFlowEvent {
    fn type_name(&self) -> &'static str {
        match self {
            StudioFlowEvent::FlowCreated { .. } => "studio_flow_created",
            StudioFlowEvent::RevisionCommitted { .. } => "studio_flow_revision_committed",
            StudioFlowEvent::FlowRenamed { .. } => "studio_flow_renamed",
            StudioFlowEvent::FlowDeleted => "studio_flow_deleted",
        }
    }
}

/// A change asked of a flow. Definitions come as Studio's JSON text and are validated here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StudioFlowCommand {
    Create {
        flow_sid: Sid,
        friendly_name: String,
        status: FlowStatus,
        definition: String,
        commit_message: Option<String>,
    },
    /// `None` keeps a field. A new revision when the definition or the status changes.
    Update {
        friendly_name: Option<String>,
        status: Option<FlowStatus>,
        definition: Option<String>,
        commit_message: Option<String>,
    },
    Delete,
}

/// Why a flow change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StudioFlowRejection {
    #[error("the Studio flow does not exist")]
    NotFound,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the flow definition is invalid: {}", join(.0))]
    InvalidDefinition(Vec<ValidationError>),
}

fn join(errors: &[ValidationError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// One revision of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// From 1.
    pub revision: u32,
    pub status: FlowStatus,
    pub definition: String,
    pub commit_message: Option<String>,
    pub friendly_name: String,
    pub date_created: Timestamp,
}

/// The longest friendly name and commit message kept.
pub const MAX_FLOW_TEXT: usize = 1024;

/// A flow as its events leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StudioFlowState {
    pub sid: Option<Sid>,
    pub friendly_name: String,
    /// Every revision, oldest first: revision `n` is at `n - 1`.
    pub revisions: Vec<Revision>,
    pub deleted: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
}

impl StudioFlowState {
    pub fn is_live(&self) -> bool {
        self.sid.is_some() && !self.deleted
    }

    /// The newest revision.
    pub fn latest(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    /// Revision `n`, kept for the executions pinned to it.
    pub fn revision(&self, n: u32) -> Option<&Revision> {
        self.revisions.get(usize::try_from(n).ok()?.checked_sub(1)?)
    }

    /// The newest published revision: the one new executions start on.
    pub fn live_revision(&self) -> Option<&Revision> {
        self.revisions.iter().rev().find(|r| r.status == FlowStatus::Published)
    }

    fn push_revision(
        &mut self,
        at: Timestamp,
        status: FlowStatus,
        definition: String,
        message: &Option<String>,
    ) {
        self.revisions.push(Revision {
            revision: self.revisions.len() as u32 + 1,
            status,
            definition,
            commit_message: message.clone(),
            friendly_name: self.friendly_name.clone(),
            date_created: at,
        });
    }

    fn fold(&mut self, record: &Recorded<StudioFlowEvent>) {
        let at = record.at;
        match &record.event {
            StudioFlowEvent::FlowCreated { .. } if self.sid.is_some() => return,
            StudioFlowEvent::FlowCreated {
                flow_sid,
                friendly_name,
                status,
                definition,
                commit_message,
            } => {
                self.sid = Some(*flow_sid);
                self.friendly_name.clone_from(friendly_name);
                self.date_created = at;
                self.push_revision(at, *status, definition.clone(), commit_message);
            }
            StudioFlowEvent::RevisionCommitted { status, definition, commit_message } => {
                let Some(latest) = self.latest() else { return };
                let definition = definition.clone().unwrap_or_else(|| latest.definition.clone());
                self.push_revision(at, *status, definition, commit_message);
            }
            StudioFlowEvent::FlowRenamed { friendly_name } => {
                self.friendly_name.clone_from(friendly_name)
            }
            StudioFlowEvent::FlowDeleted => self.deleted = true,
        }
        self.date_updated = at;
    }
}

/// Validates a definition's text and returns it as it is stored (canonical JSON).
fn checked_definition(text: &str) -> Result<String, StudioFlowRejection> {
    let definition = Definition::parse(text).map_err(|e| {
        StudioFlowRejection::InvalidDefinition(vec![ValidationError {
            state: None,
            property: None,
            message: e.to_string(),
        }])
    })?;
    validate(&definition).map_err(StudioFlowRejection::InvalidDefinition)?;
    Ok(definition.to_json())
}

fn check_text(text: &Option<String>, what: &'static str) -> Result<(), StudioFlowRejection> {
    match text {
        Some(t) if t.len() > MAX_FLOW_TEXT => Err(StudioFlowRejection::Invalid(what)),
        _ => Ok(()),
    }
}

fn decide_update(
    state: &StudioFlowState,
    friendly_name: Option<String>,
    status: Option<FlowStatus>,
    definition: Option<String>,
    commit_message: Option<String>,
) -> Result<Vec<StudioFlowEvent>, StudioFlowRejection> {
    let latest = state.latest().ok_or(StudioFlowRejection::NotFound)?;
    check_text(&friendly_name, "FriendlyName is longer than 1024 characters")?;
    check_text(&commit_message, "CommitMessage is longer than 1024 characters")?;
    let definition = definition.map(|d| checked_definition(&d)).transpose()?;
    let mut events = Vec::new();
    if let Some(name) = friendly_name.filter(|n| *n != state.friendly_name) {
        if name.trim().is_empty() {
            return Err(StudioFlowRejection::Invalid("FriendlyName must not be empty"));
        }
        events.push(StudioFlowEvent::FlowRenamed { friendly_name: name });
    }
    let definition = definition.filter(|d| *d != latest.definition);
    let new_status = status.unwrap_or(latest.status);
    if definition.is_some() || new_status != latest.status {
        events.push(StudioFlowEvent::RevisionCommitted {
            status: new_status,
            definition,
            commit_message,
        });
    }
    Ok(events)
}

impl Aggregate for StudioFlowState {
    type Event = StudioFlowEvent;
    type Command = StudioFlowCommand;
    type Rejection = StudioFlowRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::STUDIO_FLOW;
    const NAME: &'static str = "studio flow";

    fn decide(
        &self,
        command: StudioFlowCommand,
    ) -> Result<Vec<StudioFlowEvent>, StudioFlowRejection> {
        match command {
            StudioFlowCommand::Create {
                flow_sid,
                friendly_name,
                status,
                definition,
                commit_message,
            } => {
                if self.sid.is_some() {
                    return Err(StudioFlowRejection::Invalid("the flow SID is already in use"));
                }
                if friendly_name.trim().is_empty() {
                    return Err(StudioFlowRejection::Invalid("FriendlyName must not be empty"));
                }
                check_text(
                    &Some(friendly_name.clone()),
                    "FriendlyName is longer than 1024 characters",
                )?;
                check_text(&commit_message, "CommitMessage is longer than 1024 characters")?;
                let definition = checked_definition(&definition)?;
                Ok(vec![StudioFlowEvent::FlowCreated {
                    flow_sid,
                    friendly_name,
                    status,
                    definition,
                    commit_message,
                }])
            }
            _ if !self.is_live() => Err(StudioFlowRejection::NotFound),
            StudioFlowCommand::Update { friendly_name, status, definition, commit_message } => {
                decide_update(self, friendly_name, status, definition, commit_message)
            }
            StudioFlowCommand::Delete => Ok(vec![StudioFlowEvent::FlowDeleted]),
        }
    }

    fn apply(&mut self, record: &Recorded<StudioFlowEvent>) {
        self.events_applied += 1;
        self.fold(record);
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

    const ONE: &str = r#"{"states": [
        {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "hi"}]},
        {"name": "hi", "type": "send-message", "transitions": [], "properties": {"body": "Hi"}}
      ], "initial_state": "Trigger", "flags": {"allow_concurrent_calls": true}}"#;

    fn run(
        state: &mut StudioFlowState,
        command: StudioFlowCommand,
        at: i64,
    ) -> Result<usize, StudioFlowRejection> {
        let events = state.decide(command)?;
        let n = events.len();
        for event in events {
            state.apply(&Recorded::new(Timestamp(at), event));
        }
        Ok(n)
    }

    fn create(definition: &str) -> StudioFlowCommand {
        StudioFlowCommand::Create {
            flow_sid: Sid::from_parts(SidPrefix::STUDIO_FLOW, [1; 16]),
            friendly_name: "Support".into(),
            status: FlowStatus::Draft,
            definition: definition.into(),
            commit_message: Some("first".into()),
        }
    }

    fn update(status: Option<FlowStatus>, definition: Option<&str>) -> StudioFlowCommand {
        StudioFlowCommand::Update {
            friendly_name: None,
            status,
            definition: definition.map(str::to_owned),
            commit_message: Some("change".into()),
        }
    }

    #[test]
    fn each_change_of_definition_or_status_is_a_revision_and_all_are_kept() {
        let mut state = StudioFlowState::default();
        assert_eq!(state.decide(StudioFlowCommand::Delete), Err(StudioFlowRejection::NotFound));
        run(&mut state, create(ONE), 1).unwrap();
        assert_eq!(state.latest().unwrap().revision, 1);
        assert_eq!(state.live_revision(), None, "a draft does not run");
        run(&mut state, update(Some(FlowStatus::Published), None), 2).unwrap();
        let two = ONE.replace("\"Hi\"", "\"Hello\"");
        run(&mut state, update(None, Some(&two)), 3).unwrap();
        assert_eq!(state.revisions.len(), 3);
        assert!(state.revision(1).unwrap().definition.contains("\"Hi\""));
        assert!(state.revision(3).unwrap().definition.contains("\"Hello\""));
        assert_eq!(state.revision(3).unwrap().status, FlowStatus::Published, "status kept");
        assert_eq!(state.live_revision().unwrap().revision, 3);
        assert_eq!(run(&mut state, update(None, Some(&two)), 4), Ok(0), "no change, no revision");
        let rename = StudioFlowCommand::Update {
            friendly_name: Some("Sales".into()),
            status: None,
            definition: None,
            commit_message: None,
        };
        run(&mut state, rename, 5).unwrap();
        assert_eq!((state.friendly_name.as_str(), state.revisions.len()), ("Sales", 3));
        run(&mut state, StudioFlowCommand::Delete, 6).unwrap();
        assert!(!state.is_live());
        assert_eq!(state.revision(0), None);
    }

    #[test]
    fn an_invalid_definition_is_refused_naming_the_state_and_property() {
        let mut state = StudioFlowState::default();
        let bad = ONE.replace("send-message", "say-play");
        let Err(StudioFlowRejection::InvalidDefinition(errors)) = state.decide(create(&bad)) else {
            panic!("an unsupported widget must be refused");
        };
        assert!(
            errors[0].to_string().starts_with("state 'hi': widget type 'say-play'"),
            "{errors:?}"
        );
        assert!(matches!(
            state.decide(create("{")),
            Err(StudioFlowRejection::InvalidDefinition(_))
        ));
        run(&mut state, create(ONE), 1).unwrap();
        let no_body = ONE.replace(r#""properties": {"body": "Hi"}"#, r#""properties": {}"#);
        let refused = state.decide(update(None, Some(&no_body))).unwrap_err().to_string();
        assert!(refused.contains("state 'hi': property 'body': is required"), "{refused}");
    }
}
