//! Chat Services: the container of channels, as in Twilio's Chat v2. An aggregate of its own,
//! stored in a stream named by its `IS` SID.

use serde::{Deserialize, Serialize};

use crate::{DomainEvent, Recorded, Sid, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceEvent {
    ServiceCreated { service_sid: Sid, friendly_name: String },
    ServiceRenamed { friendly_name: String },
}

impl DomainEvent for ServiceEvent {
    fn type_name(&self) -> &'static str {
        match self {
            ServiceEvent::ServiceCreated { .. } => "service_created",
            ServiceEvent::ServiceRenamed { .. } => "service_renamed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceState {
    pub sid: Option<Sid>,
    pub friendly_name: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
}

impl ServiceState {
    pub fn apply(&mut self, record: &Recorded<ServiceEvent>) {
        self.events_applied += 1;
        match &record.event {
            ServiceEvent::ServiceCreated { service_sid, friendly_name } if self.sid.is_none() => {
                self.sid = Some(*service_sid);
                self.friendly_name.clone_from(friendly_name);
                self.date_created = record.at;
            }
            ServiceEvent::ServiceCreated { .. } => return,
            ServiceEvent::ServiceRenamed { friendly_name } => {
                self.friendly_name.clone_from(friendly_name);
            }
        }
        self.date_updated = record.at;
    }
}
