//! How long the strings a client sends may be, in characters: Twilio's limits and error codes
//! where Twilio documents them, ours (code 20001) where it does not. Each handler names the
//! limits of its resource and checks them with [`check`] before anything is written;
//! docs/limits.md lists them all.

use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;

/// The longest message body, over REST, the WebSocket and signed webhooks alike.
pub const MESSAGE_BODY_CHARS: usize = 32 * 1024;

/// The longest value of one form parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub max_chars: usize,
    /// Twilio's error code for it (50003 "Friendly name too long", …), or 20001.
    pub code: u32,
}

const fn limit(name: &'static str, max_chars: usize, code: u32) -> Limit {
    Limit { name, max_chars, code }
}

/// Twilio: "FriendlyNames must be between 1 and 64 characters long" (20002); Chat 50003.
pub const SERVICE_NAME: Limit = limit("FriendlyName", 64, 50003);
pub const FLOW_NAME: Limit = limit("FriendlyName", 64, 20002);
/// Twilio's Chat channels: 64 characters when created, 256 when updated.
pub const CHANNEL_NAME_CREATE: Limit = limit("FriendlyName", 64, 50003);
pub const CHANNEL_NAME_UPDATE: Limit = limit("FriendlyName", 256, 50003);
pub const UNIQUE_NAME_CREATE: Limit = limit("UniqueName", 64, 50004);
pub const UNIQUE_NAME_UPDATE: Limit = limit("UniqueName", 256, 50004);
/// Identities (users, members, invites, Flex's chat users): Twilio's code 50207, our length.
pub const IDENTITY: Limit = limit("Identity", 256, 50207);
pub const USER_NAME: Limit = limit("FriendlyName", 256, 50003);
/// A message's author (50310 "Author parameter is too long").
pub const AUTHOR: Limit = limit("From", 256, 50310);
pub const CREATED_BY: Limit = limit("CreatedBy", 256, 20001);
pub const LAST_UPDATED_BY: Limit = limit("LastUpdatedBy", 256, 20001);
pub const CONTACT_IDENTITY: Limit = limit("ContactIdentity", 256, 20001);
pub const INTEGRATION_URL: Limit = limit("Integration.Url", 2048, 20001);
pub const INTEGRATION_CHANNEL: Limit = limit("Integration.Channel", 256, 20001);
pub const WEBHOOK_URL: Limit = limit("Configuration.Url", 2048, 20001);
pub const WEBHOOK_TRIGGERS: Limit = limit("Configuration.Triggers", 256, 20001);
pub const PRE_WEBHOOK_URL: Limit = limit("PreWebhookUrl", 2048, 20001);
pub const POST_WEBHOOK_URL: Limit = limit("PostWebhookUrl", 2048, 20001);
/// Flex's Channels and WebChannels: the names of the chat channel and user they make.
pub const CHAT_NAME: Limit = limit("ChatFriendlyName", 256, 50003);
pub const CHAT_USER_NAME: Limit = limit("ChatUserFriendlyName", 256, 50003);
pub const CUSTOMER_NAME: Limit = limit("CustomerFriendlyName", 256, 50003);
pub const CHAT_UNIQUE_NAME: Limit = limit("ChatUniqueName", 256, 50004);
pub const TARGET: Limit = limit("Target", 256, 20001);
/// TaskRouter: names of workspaces, activities, task channels, queues and workflows.
pub const TASKROUTER_NAME: Limit = limit("FriendlyName", 64, 20001);
pub const TASK_CHANNEL_UNIQUE_NAME: Limit = limit("UniqueName", 64, 20001);
pub const EVENTS_FILTER: Limit = limit("EventsFilter", 4096, 20001);
pub const EVENT_CALLBACK_URL: Limit = limit("EventCallbackUrl", 2048, 20001);
pub const TARGET_WORKERS: Limit = limit("TargetWorkers", 4096, 20001);
/// Workers' names (Twilio: unique, case aside) and the JSON attributes of workers and tasks.
pub const WORKER_NAME: Limit = limit("FriendlyName", 256, 20001);
pub const TASKROUTER_ATTRIBUTES: Limit = limit("Attributes", 16 * 1024, 20001);
pub const TASK_REASON: Limit = limit("Reason", 1024, 20001);
/// A workflow's configuration JSON: room for some hundred filters.
pub const WORKFLOW_CONFIGURATION: Limit = limit("Configuration", 64 * 1024, 20001);
pub const ASSIGNMENT_CALLBACK_URL: Limit = limit("AssignmentCallbackUrl", 2048, 20001);
pub const FALLBACK_ASSIGNMENT_CALLBACK_URL: Limit =
    limit("FallbackAssignmentCallbackUrl", 2048, 20001);
/// Studio flows: the name and a revision's commit message (Twilio documents neither limit; the
/// domain keeps at most 1024 bytes of each, which 256 characters never pass).
pub const STUDIO_FLOW_NAME: Limit = limit("FriendlyName", 256, 20001);
pub const COMMIT_MESSAGE: Limit = limit("CommitMessage", 256, 20001);

/// Refuses the first value (repeats included) longer than its limit.
pub fn check(form: &TwilioForm, limits: &[Limit]) -> Result<(), ApiError> {
    for limit in limits {
        for value in form.all(limit.name) {
            at_most(limit, value)?;
        }
    }
    Ok(())
}

/// Refuses `value` if it is longer than `limit`.
pub fn at_most(limit: &Limit, value: &str) -> Result<(), ApiError> {
    // Counting stops past the limit: a long value costs no more than a short one.
    if value.chars().nth(limit.max_chars).is_some() {
        return Err(ApiError::new(
            400,
            limit.code,
            format!("{} is longer than {} characters", limit.name, limit.max_chars),
        ));
    }
    Ok(())
}

/// Refuses a message body longer than [`MESSAGE_BODY_CHARS`].
pub fn check_body(body: &str) -> Result<(), ApiError> {
    if body.chars().nth(MESSAGE_BODY_CHARS).is_some() {
        return Err(ApiError::bad_param("Body is longer than 32 768 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_up_to_the_limit_pass_and_longer_ones_name_the_limit() {
        let form = TwilioForm::parse(
            format!("FriendlyName={}&Identity=a&Identity={}", "é".repeat(64), "b".repeat(257))
                .as_bytes(),
        );
        assert!(check(&form, &[SERVICE_NAME]).is_ok(), "64 characters, whatever their bytes");
        let refused = check(&form, &[SERVICE_NAME, IDENTITY]).unwrap_err();
        assert_eq!((refused.status(), refused.code()), (400, 50207), "every repeat is checked");
        assert_eq!(refused.message(), "Identity is longer than 256 characters");
        let long = TwilioForm::parse(format!("FriendlyName={}", "x".repeat(65)).as_bytes());
        assert_eq!(check(&long, &[SERVICE_NAME]).unwrap_err().code(), 50003);
        assert!(check(&long, &[CHANNEL_NAME_UPDATE]).is_ok());
        assert!(check_body(&"é".repeat(MESSAGE_BODY_CHARS)).is_ok());
        assert!(check_body(&"a".repeat(MESSAGE_BODY_CHARS + 1)).is_err());
    }
}
