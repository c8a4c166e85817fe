//! What every handler shares: the engine, the credentials, and the public URL that signatures
//! and absolute links are built on.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;
use switchboard_actors::Engine;
use switchboard_domain::Sid;

/// A secret string: compared in constant time, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The API keys that authenticate REST calls and sign access tokens, shared by every worker: an
/// admin may add and revoke keys while the daemon runs (`console/keys.rs`).
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(Arc<RwLock<BTreeMap<Sid, Secret>>>);

impl ApiKeys {
    pub fn new(keys: HashMap<Sid, Secret>) -> ApiKeys {
        ApiKeys(Arc::new(RwLock::new(keys.into_iter().collect())))
    }

    pub fn get(&self, sid: &Sid) -> Option<Secret> {
        self.read().get(sid).cloned()
    }

    /// The first key by SID: the one that signs console tokens (as the CLI's tools pick).
    pub fn first(&self) -> Option<(Sid, Secret)> {
        let keys = self.read();
        keys.iter().min_by_key(|(sid, _)| sid.to_string()).map(|(sid, s)| (*sid, s.clone()))
    }

    pub fn sids(&self) -> Vec<Sid> {
        self.read().keys().copied().collect()
    }

    pub fn insert(&self, sid: Sid, secret: Secret) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(sid, secret);
    }

    /// Whether it was there.
    pub fn remove(&self, sid: &Sid) -> bool {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(sid).is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Sid, Secret>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Who may call the REST API and sign access tokens.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub account_sid: Sid,
    pub auth_token: Secret,
    /// API keys (`SK…`): each authenticates REST calls and signs access tokens.
    pub api_keys: ApiKeys,
    /// The upstream Twilio account (whose numbers post webhooks and send replies).
    pub twilio_account_sid: Sid,
    /// Its auth token, which signs inbound Twilio webhooks.
    pub twilio_auth_token: Secret,
    /// Other upstream Twilio accounts, whose numbers are listed in the configuration: a webhook
    /// whose `AccountSid` names one of them is checked with its auth token.
    pub twilio_accounts: HashMap<Sid, Secret>,
}

impl Credentials {
    /// The auth token that signs Twilio's webhooks for `account_sid` (the `AccountSid` parameter).
    pub fn twilio_token_for(&self, account_sid: Option<&str>) -> &Secret {
        account_sid
            .and_then(|text| text.parse::<Sid>().ok())
            .and_then(|sid| self.twilio_accounts.get(&sid))
            .unwrap_or(&self.twilio_auth_token)
    }
}

/// What Meta's webhooks are checked with.
#[derive(Debug, Clone, Default)]
pub struct MetaConfig {
    /// Answers the `hub.verify_token` of the verification handshake.
    pub verify_token: Option<Secret>,
    /// Signs every POST (`X-Hub-Signature-256`).
    pub app_secret: Option<Secret>,
}

/// The application's shared state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Engine,
    pub credentials: Credentials,
    pub meta: MetaConfig,
    /// Scheme, host and port clients use, without a trailing slash (`https://chat.example.com`).
    pub public_url: String,
    /// How WebSockets are served: their queues and heartbeat.
    pub realtime: crate::RealtimeConfig,
    /// The webchat's limits and the counts its rate limits keep.
    pub webchat: crate::Webchat,
    /// The rate limits per credential and per address, and what they have counted.
    pub rate: crate::RateLimits,
    /// The console's open sessions (`console/session.rs`).
    pub sessions: crate::Sessions,
}

impl AppState {
    /// An absolute URL on the public base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }
}
