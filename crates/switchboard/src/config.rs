//! The daemon's configuration: a TOML file (`--config`), overridden by `SWITCHBOARD_*`
//! environment variables and command-line flags, over documented defaults.
//!
//! Precedence, highest first: flag or environment variable, file, default. Secrets may come from
//! any of them; they are never logged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;

use crate::cli::{DataArgs, DurabilityArg};
use crate::logging::{LogFormat, LogSettings, DEFAULT_FILTER};
use crate::memory::HugePages;

/// `switchboard serve` flags; each also reads its environment variable. No `Debug`: it holds
/// secrets, and nothing should be able to print them by accident.
#[derive(Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (see deploy/switchboard.example.toml).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Start even though the log holds less than its durable record says was acknowledged (or
    /// the record is missing or damaged): the loss is recorded in the folder's audit stream and
    /// a new durable record starts from what is left. Only on the command line, never from the
    /// environment or the file: it is a decision for one start, not a setting.
    #[arg(long)]
    pub accept_data_loss: bool,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHBOARD_LISTEN")]
    pub listen: Option<String>,
    /// Serve `/metrics` on this address of its own, without credentials, and not on `listen`
    /// [default: on `listen`, behind the account's Basic credentials].
    #[arg(long, env = "SWITCHBOARD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// What is logged: a level, and levels by module (e.g. info,switchboard_actors=debug);
    /// changeable while running through `/admin/v1/Logging` [default: info].
    #[arg(long = "log", env = "SWITCHBOARD_LOG")]
    pub log_filter: Option<String>,
    /// How log lines are written on stderr [default: text].
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log one line per request (method, route template, status, duration) on
    /// `switchboard::access` [default: false].
    #[arg(
        long,
        env = "SWITCHBOARD_ACCESS_LOG",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub access_log: Option<bool>,
    /// The URL providers and clients use to reach this server; signatures are checked against
    /// it and absolute URLs are built on it [default: http://<listen>].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// REST account SID (HTTP Basic user) [default: created on first start].
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID")]
    pub account_sid: Option<String>,
    /// REST auth token (HTTP Basic password) [default: created on first start].
    #[arg(long, env = "SWITCHBOARD_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// API key SID whose secret signs access tokens [default: created on first start].
    #[arg(long, env = "SWITCHBOARD_API_KEY_SID")]
    pub api_key_sid: Option<String>,
    #[arg(long, env = "SWITCHBOARD_API_KEY_SECRET", hide_env_values = true)]
    pub api_key_secret: Option<String>,
    /// The upstream Twilio account whose numbers post webhooks [default: the account SID].
    #[arg(long, env = "SWITCHBOARD_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Its auth token, which signs inbound webhooks [default: the auth token].
    #[arg(long, env = "SWITCHBOARD_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Where Twilio's REST API is (replies to SMS and WhatsApp customers) [default: https://api.twilio.com].
    #[arg(long, env = "SWITCHBOARD_TWILIO_API_BASE")]
    pub twilio_api_base: Option<String>,
    /// Where Meta's Graph API is (WhatsApp Cloud and Messenger sends, media)
    /// [default: https://graph.facebook.com/v22.0].
    #[arg(long, env = "SWITCHBOARD_GRAPH_API_BASE")]
    pub graph_api_base: Option<String>,
    /// The WhatsApp Cloud API access token of every number not listed in `whatsapp_numbers`.
    #[arg(long, env = "SWITCHBOARD_WHATSAPP_TOKEN", hide_env_values = true)]
    pub whatsapp_token: Option<String>,
    /// The Messenger page access token of every page not listed in `messenger_pages`.
    #[arg(long, env = "SWITCHBOARD_MESSENGER_PAGE_TOKEN", hide_env_values = true)]
    pub messenger_page_token: Option<String>,
    /// The largest medium fetched from a provider or uploaded, in bytes [default: 16777216].
    #[arg(long, env = "SWITCHBOARD_MEDIA_MAX_BYTES")]
    pub media_max_bytes: Option<u64>,
    /// The token Meta's webhook verification handshake must present.
    #[arg(long, env = "SWITCHBOARD_META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<String>,
    /// The Meta app secret that signs WhatsApp Cloud and Messenger webhooks.
    #[arg(long, env = "SWITCHBOARD_META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<String>,
    /// A channel with no message for this long is retired (e.g. 30s, 15m, 24h) [default: 24h].
    #[arg(long, env = "SWITCHBOARD_JANITOR_INACTIVE_AFTER")]
    pub janitor_inactive_after: Option<String>,
    /// A channel with nothing to do for this long frees its memory until next used [default: 5m].
    #[arg(long, env = "SWITCHBOARD_HIBERNATE_AFTER")]
    pub hibernate_after: Option<String>,
    /// The first retry of an outbox delivery waits about this long, doubling each time [default: 1s].
    #[arg(long, env = "SWITCHBOARD_OUTBOX_RETRY_BASE")]
    pub outbox_retry_base: Option<String>,
    /// How many times a reply to a customer is retried while its provider fails (network
    /// errors, 429, 5xx) before it is marked failed [default: 10, about five minutes].
    #[arg(long, env = "SWITCHBOARD_REPLY_RETRIES")]
    pub reply_retries: Option<u32>,
    /// PEM certificate chain: with --tls-key, serve HTTPS and WSS directly.
    #[arg(long, env = "SWITCHBOARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "SWITCHBOARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Transparent huge pages: off for this process, or the system's policy [default: off].
    #[arg(long, env = "SWITCHBOARD_HUGE_PAGES", value_enum)]
    pub huge_pages: Option<HugePages>,
    /// Private, loopback or other special-use addresses that outbound calls (media, webhooks,
    /// integrations, provider APIs) may reach after all: addresses or networks, comma-separated
    /// (e.g. 10.0.0.5,192.168.1.0/24) [default: none].
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_ALLOW", value_delimiter = ',')]
    pub outbound_allow: Option<Vec<String>>,
    /// Where WhatsApp Cloud media are downloaded from; the number's token goes there and to the
    /// Graph API only [default: https://lookaside.fbsbx.com].
    #[arg(long, env = "SWITCHBOARD_WHATSAPP_MEDIA_ORIGIN")]
    pub whatsapp_media_origin: Option<String>,
    /// A request body must arrive within this time after its headers, plus a second for every
    /// body_min_rate bytes received [default: 10s].
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT")]
    pub body_read_timeout: Option<String>,
    /// Bytes per second that buy a slowly arriving body more time [default: 1024].
    #[arg(long, env = "SWITCHBOARD_BODY_MIN_RATE")]
    pub body_min_rate: Option<u64>,
    /// How long a client may take to send a request's headers [default: 5s].
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// How long an idle connection is kept open between requests; 0s closes it after each
    /// [default: 5s].
    #[arg(long, env = "SWITCHBOARD_KEEP_ALIVE")]
    pub keep_alive: Option<String>,
    /// Connections open at once; past it, each new one sheds a connection whose request body
    /// stalled, and past a tenth more new ones wait in the lobby (a whole request does not)
    /// [default: 10000].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections open at once from one IP address; past it, refused at once (0: no limit;
    /// behind a reverse proxy every connection comes from the proxy) [default: 1000].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// When max_connections are open, a request body this far behind body_min_rate may be cut
    /// (408) to admit a new connection [default: 1s].
    #[arg(long, env = "SWITCHBOARD_SHED_STALLED_AFTER")]
    pub shed_stalled_after: Option<String>,
    /// The most frames waiting to be written to one WebSocket; a reader that falls further
    /// behind is closed (1013) and resumes [default: 256].
    #[arg(long, env = "SWITCHBOARD_WS_QUEUE_FRAMES")]
    pub ws_queue_frames: Option<usize>,
    /// The most bytes of frames waiting to be written to one WebSocket [default: 65536].
    #[arg(long, env = "SWITCHBOARD_WS_QUEUE_BYTES")]
    pub ws_queue_bytes: Option<usize>,
    /// How often the server pings each WebSocket [default: 20s].
    #[arg(long, env = "SWITCHBOARD_WS_PING_INTERVAL")]
    pub ws_ping_interval: Option<String>,
    /// A WebSocket peer that sends nothing, not even a pong, for this long is dropped
    /// [default: 60s].
    #[arg(long, env = "SWITCHBOARD_WS_PING_TIMEOUT")]
    pub ws_ping_timeout: Option<String>,
    /// How long after a TaskRouter worker's last WebSocket closed it is set to its workspace's
    /// `Offline` activity, unless one opens again meanwhile (0s: never) [default: 60s].
    #[arg(long, env = "SWITCHBOARD_WORKER_OFFLINE_GRACE")]
    pub worker_offline_grace: Option<String>,
    /// Webchat sessions one IP address may open per minute [default: 10].
    #[arg(long, env = "SWITCHBOARD_WEBCHAT_SESSIONS_PER_IP_PER_MINUTE")]
    pub webchat_sessions_per_ip_per_minute: Option<u32>,
    /// Webchat sessions one web flow may open per minute, from all addresses [default: 600].
    #[arg(long, env = "SWITCHBOARD_WEBCHAT_SESSIONS_PER_FLOW_PER_MINUTE")]
    pub webchat_sessions_per_flow_per_minute: Option<u32>,
    /// How long a web visitor's access token lives, more than 1m (the chat renews it a minute
    /// before it expires) and at most 24h [default: 1h].
    #[arg(long, env = "SWITCHBOARD_WEBCHAT_TOKEN_TTL")]
    pub webchat_token_ttl: Option<String>,
    /// REST requests one credential (the account, or one API key) may make per second, after
    /// a burst of rate_credential_burst (0: no limit) [default: 100].
    #[arg(long, env = "SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND")]
    pub rate_credential_per_second: Option<u32>,
    /// REST requests one credential may make at once after a pause [default: 200].
    #[arg(long, env = "SWITCHBOARD_RATE_CREDENTIAL_BURST")]
    pub rate_credential_burst: Option<u32>,
    /// Failed authentications one IP address may make per minute, after a burst of
    /// rate_failed_auth_burst; past it, its requests are refused before any credential is
    /// checked (0: no limit) [default: 20].
    #[arg(long, env = "SWITCHBOARD_RATE_FAILED_AUTH_PER_MINUTE")]
    pub rate_failed_auth_per_minute: Option<u32>,
    /// Failed authentications one IP address may make at once [default: 20].
    #[arg(long, env = "SWITCHBOARD_RATE_FAILED_AUTH_BURST")]
    pub rate_failed_auth_burst: Option<u32>,
    /// Requests without credentials one IP address may make per second, after a burst of
    /// rate_address_burst; signed provider webhooks are not counted (0: no limit)
    /// [default: 50].
    #[arg(long, env = "SWITCHBOARD_RATE_ADDRESS_PER_SECOND")]
    pub rate_address_per_second: Option<u32>,
    /// Requests without credentials one IP address may make at once [default: 100].
    #[arg(long, env = "SWITCHBOARD_RATE_ADDRESS_BURST")]
    pub rate_address_burst: Option<u32>,
    /// On a first start (no Chat service and no Flex Flow yet), make a default Chat service and
    /// an enabled web flow, whose widget the demo page at / shows [default: true].
    #[arg(long, env = "SWITCHBOARD_FIRST_START_DEFAULTS")]
    pub first_start_defaults: Option<bool>,
}

/// The file's shape: every key optional, names as the flags without dashes. The tools read it
/// too (`daemon_config`), so that they reach the daemon with its own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) listen: Option<String>,
    metrics_listen: Option<String>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    access_log: Option<bool>,
    pub(crate) public_url: Option<String>,
    pub(crate) account_sid: Option<String>,
    pub(crate) auth_token: Option<String>,
    pub(crate) api_key_sid: Option<String>,
    pub(crate) api_key_secret: Option<String>,
    pub(crate) twilio_account_sid: Option<String>,
    pub(crate) twilio_auth_token: Option<String>,
    twilio_api_base: Option<String>,
    graph_api_base: Option<String>,
    whatsapp_token: Option<String>,
    messenger_page_token: Option<String>,
    media_max_bytes: Option<u64>,
    meta_verify_token: Option<String>,
    pub(crate) meta_app_secret: Option<String>,
    janitor_inactive_after: Option<String>,
    hibernate_after: Option<String>,
    outbox_retry_base: Option<String>,
    reply_retries: Option<u32>,
    durability: Option<String>,
    flush_interval: Option<String>,
    flush_busy_writers: Option<u64>,
    record_sync_interval: Option<String>,
    pub(crate) tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    huge_pages: Option<HugePages>,
    outbound_allow: Option<Vec<String>>,
    whatsapp_media_origin: Option<String>,
    body_read_timeout: Option<String>,
    body_min_rate: Option<u64>,
    header_read_timeout: Option<String>,
    keep_alive: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    shed_stalled_after: Option<String>,
    ws_queue_frames: Option<usize>,
    ws_queue_bytes: Option<usize>,
    ws_ping_interval: Option<String>,
    ws_ping_timeout: Option<String>,
    worker_offline_grace: Option<String>,
    webchat_sessions_per_ip_per_minute: Option<u32>,
    webchat_sessions_per_flow_per_minute: Option<u32>,
    webchat_token_ttl: Option<String>,
    rate_credential_per_second: Option<u32>,
    rate_credential_burst: Option<u32>,
    rate_failed_auth_per_minute: Option<u32>,
    rate_failed_auth_burst: Option<u32>,
    rate_address_per_second: Option<u32>,
    rate_address_burst: Option<u32>,
    first_start_defaults: Option<bool>,
    #[serde(default)]
    pub(crate) twilio_numbers: Vec<TwilioNumber>,
    #[serde(default)]
    whatsapp_numbers: Vec<WhatsappNumber>,
    #[serde(default)]
    messenger_pages: Vec<MessengerPage>,
}

/// A Twilio number that belongs to another account than the default upstream one: replies from
/// it are sent, and webhooks for it checked, with that account's credentials.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioNumber {
    /// `+E164`, as in the flow's ContactIdentity (without `whatsapp:`).
    pub number: String,
    pub account_sid: String,
    pub auth_token: String,
}

/// A WhatsApp Cloud API number and the access token that sends from it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappNumber {
    pub phone_number_id: String,
    pub access_token: String,
}

/// A Facebook Page and its page access token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessengerPage {
    pub page_id: String,
    pub access_token: String,
}

// By hand, so that no secret is ever printed.
impl std::fmt::Debug for TwilioNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioNumber")
            .field("number", &self.number)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WhatsappNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsappNumber")
            .field("phone_number_id", &self.phone_number_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MessengerPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessengerPage").field("page_id", &self.page_id).finish_non_exhaustive()
    }
}

/// The resolved settings of one run of the daemon (no `Debug`: it holds secrets).
pub struct Settings {
    pub data: DataArgs,
    pub accept_data_loss: bool,
    pub listen: String,
    /// Where `/metrics` is served without credentials; `None`: on `listen`, with them.
    pub metrics_listen: Option<String>,
    pub logging: LogSettings,
    pub public_url: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub twilio_api_base: String,
    pub graph_api_base: String,
    pub whatsapp_token: Option<String>,
    pub messenger_page_token: Option<String>,
    pub twilio_numbers: Vec<TwilioNumber>,
    pub whatsapp_numbers: Vec<WhatsappNumber>,
    pub messenger_pages: Vec<MessengerPage>,
    pub media_max_bytes: u64,
    pub meta_verify_token: Option<String>,
    pub meta_app_secret: Option<String>,
    pub janitor_inactive_after: Duration,
    pub outbox_retry_base: Duration,
    pub reply_retries: u32,
    pub hibernate_after: Duration,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub huge_pages: HugePages,
    /// What outbound calls may reach.
    pub outbound: switchboard_actors::OutboundPolicy,
    pub whatsapp_media_origin: String,
    /// Connections, headers and bodies.
    pub limits: switchboard_http::limits::ServerLimits,
    pub realtime: switchboard_http::RealtimeConfig,
    pub webchat: switchboard_http::WebchatConfig,
    /// Rate limits per credential and per address.
    pub rate: switchboard_http::RateConfig,
    pub first_start_defaults: bool,
}

impl Settings {
    /// Whether replies may go to a real provider: some upstream credential is configured. A
    /// Twilio account counts only when both its SID and its auth token are given (the daemon's
    /// own account is the upstream one unless told otherwise, as documented), never when either
    /// was made by the daemon on first start; WhatsApp and Messenger tokens are never made. With
    /// none, replies go to the local sandbox.
    pub fn upstream_configured(&self) -> bool {
        let twilio_account = self.twilio_account_sid.is_some() || self.account_sid.is_some();
        let twilio_token = self.twilio_auth_token.is_some() || self.auth_token.is_some();
        (twilio_account && twilio_token)
            || !self.twilio_numbers.is_empty()
            || self.whatsapp_token.is_some()
            || !self.whatsapp_numbers.is_empty()
            || self.messenger_page_token.is_some()
            || !self.messenger_pages.is_empty()
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_JANITOR_INACTIVE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest `record_sync_interval` accepted.
pub const MAX_RECORD_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `flush_interval` accepted: under load every write waits up to the interval for
/// its flush, and past a few milliseconds that stops being a trade and becomes a mistake.
pub const MAX_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut data = self.data;
        data.data_dir = data.data_dir.or(file.data_dir);
        if data.durability.is_none() {
            data.durability = match file.durability.as_deref() {
                None => None,
                Some("fsync") => Some(DurabilityArg::Fsync),
                Some("flush") => Some(DurabilityArg::Flush),
                Some(other) => bail!("durability must be fsync or flush, not {other:?}"),
            };
        }
        if let (None, Some(text)) = (data.flush_interval, &file.flush_interval) {
            data.flush_interval = Some(duration("flush_interval", text, "1ms, 500us, 0s")?);
        }
        data.flush_busy_writers = data.flush_busy_writers.or(file.flush_busy_writers);
        if let (None, Some(text)) = (data.record_sync_interval, &file.record_sync_interval) {
            data.record_sync_interval =
                Some(duration("record_sync_interval", text, "50ms, 1s, 0s")?);
        }
        if let Some(interval) = data.record_sync_interval.filter(|i| *i > MAX_RECORD_SYNC_INTERVAL)
        {
            bail!(
                "record_sync_interval {} is longer than {}: after a power cut the durable record \
                 could lag the log by that much",
                humantime::format_duration(interval),
                humantime::format_duration(MAX_RECORD_SYNC_INTERVAL)
            );
        }
        if data.flush_busy_writers == Some(0) {
            bail!("flush_busy_writers must be at least 1: with 0, even a lone write would wait");
        }
        if let Some(interval) = data.flush_interval.filter(|i| *i > MAX_FLUSH_INTERVAL) {
            bail!(
                "flush_interval {} is longer than {}: under load every acknowledgement would wait \
                 about that long",
                humantime::format_duration(interval),
                humantime::format_duration(MAX_FLUSH_INTERVAL)
            );
        }
        let window = self.janitor_inactive_after.or(file.janitor_inactive_after);
        let janitor_inactive_after = match window {
            Some(text) => duration("janitor_inactive_after", &text, "30s, 15m, 24h")?,
            None => DEFAULT_JANITOR_INACTIVE_AFTER,
        };
        if janitor_inactive_after.is_zero() {
            bail!("janitor_inactive_after must be longer than zero");
        }
        let outbox_retry_base = match self.outbox_retry_base.or(file.outbox_retry_base) {
            Some(text) => duration("outbox_retry_base", &text, "500ms, 1s")?,
            None => Duration::from_secs(1),
        };
        let hibernate_after = match self.hibernate_after.or(file.hibernate_after) {
            Some(text) => duration("hibernate_after", &text, "30s, 5m")?,
            None => Duration::from_secs(300),
        };
        let media_max_bytes = self
            .media_max_bytes
            .or(file.media_max_bytes)
            .unwrap_or(switchboard_actors::media::DEFAULT_MAX_BYTES);
        if media_max_bytes == 0 {
            bail!("media_max_bytes must be more than zero");
        }
        let mut realtime = realtime(
            self.ws_queue_frames.or(file.ws_queue_frames),
            self.ws_queue_bytes.or(file.ws_queue_bytes),
            self.ws_ping_interval.or(file.ws_ping_interval),
            self.ws_ping_timeout.or(file.ws_ping_timeout),
        )?;
        if let Some(text) = self.worker_offline_grace.or(file.worker_offline_grace) {
            realtime.worker_offline_grace = duration("worker_offline_grace", &text, "60s, 0s")?;
        }
        let tls = match (self.tls_cert.or(file.tls_cert), self.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("TLS needs both a certificate (tls_cert) and a key (tls_key)"),
        };
        let limits = server_limits(GivenLimits {
            body_read_timeout: self.body_read_timeout.or(file.body_read_timeout),
            body_min_rate: self.body_min_rate.or(file.body_min_rate),
            header_read_timeout: self.header_read_timeout.or(file.header_read_timeout),
            keep_alive: self.keep_alive.or(file.keep_alive),
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(file.max_connections_per_ip),
            shed_stalled_after: self.shed_stalled_after.or(file.shed_stalled_after),
        })?;
        let allow = self.outbound_allow.or(file.outbound_allow).unwrap_or_default();
        let allow: Vec<&str> = allow.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect();
        let outbound = switchboard_actors::OutboundPolicy::from_entries(&allow)
            .map_err(|why| anyhow::anyhow!("outbound_allow: {why}"))?;
        let twilio_api_base = self
            .twilio_api_base
            .or(file.twilio_api_base)
            .unwrap_or_else(|| "https://api.twilio.com".to_owned());
        let graph_api_base = self
            .graph_api_base
            .or(file.graph_api_base)
            .unwrap_or_else(|| switchboard_actors::DEFAULT_GRAPH_API_BASE.to_owned());
        let whatsapp_media_origin = self
            .whatsapp_media_origin
            .or(file.whatsapp_media_origin)
            .unwrap_or_else(|| switchboard_actors::DEFAULT_WHATSAPP_MEDIA_ORIGIN.to_owned());
        for (key, url) in [
            ("twilio_api_base", &twilio_api_base),
            ("graph_api_base", &graph_api_base),
            ("whatsapp_media_origin", &whatsapp_media_origin),
        ] {
            provider_origin(key, url)?;
        }
        let rate = rate([
            self.rate_credential_per_second.or(file.rate_credential_per_second),
            self.rate_credential_burst.or(file.rate_credential_burst),
            self.rate_failed_auth_per_minute.or(file.rate_failed_auth_per_minute),
            self.rate_failed_auth_burst.or(file.rate_failed_auth_burst),
            self.rate_address_per_second.or(file.rate_address_per_second),
            self.rate_address_burst.or(file.rate_address_burst),
        ]);
        Ok(Settings {
            data,
            accept_data_loss: self.accept_data_loss,
            listen: self.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            logging: LogSettings {
                filter: self.log_filter.or(file.log).unwrap_or_else(|| DEFAULT_FILTER.to_owned()),
                format: self.log_format.or(file.log_format).unwrap_or_default(),
                access_log: self.access_log.or(file.access_log).unwrap_or(false),
            },
            public_url: self.public_url.or(file.public_url),
            account_sid: self.account_sid.or(file.account_sid),
            auth_token: self.auth_token.or(file.auth_token),
            api_key_sid: self.api_key_sid.or(file.api_key_sid),
            api_key_secret: self.api_key_secret.or(file.api_key_secret),
            twilio_account_sid: self.twilio_account_sid.or(file.twilio_account_sid),
            twilio_auth_token: self.twilio_auth_token.or(file.twilio_auth_token),
            twilio_api_base,
            graph_api_base,
            whatsapp_token: self.whatsapp_token.or(file.whatsapp_token),
            messenger_page_token: self.messenger_page_token.or(file.messenger_page_token),
            twilio_numbers: file.twilio_numbers,
            whatsapp_numbers: file.whatsapp_numbers,
            messenger_pages: file.messenger_pages,
            media_max_bytes,
            meta_verify_token: self.meta_verify_token.or(file.meta_verify_token),
            meta_app_secret: self.meta_app_secret.or(file.meta_app_secret),
            janitor_inactive_after,
            outbox_retry_base,
            reply_retries: self.reply_retries.or(file.reply_retries).unwrap_or(10),
            hibernate_after,
            tls,
            huge_pages: self.huge_pages.or(file.huge_pages).unwrap_or_default(),
            outbound,
            whatsapp_media_origin,
            limits,
            realtime,
            webchat: webchat(
                self.webchat_sessions_per_ip_per_minute.or(file.webchat_sessions_per_ip_per_minute),
                self.webchat_sessions_per_flow_per_minute
                    .or(file.webchat_sessions_per_flow_per_minute),
                self.webchat_token_ttl.or(file.webchat_token_ttl),
            )?,
            rate,
            first_start_defaults: self
                .first_start_defaults
                .or(file.first_start_defaults)
                .unwrap_or(true),
        })
    }
}

/// The webchat's rate limits and its access tokens' lifetime, each given or its default.
fn webchat(
    per_ip: Option<u32>,
    per_flow: Option<u32>,
    token_ttl: Option<String>,
) -> anyhow::Result<switchboard_http::WebchatConfig> {
    let defaults = switchboard_http::WebchatConfig::default();
    let token_ttl_secs = match token_ttl {
        Some(text) => duration("webchat_token_ttl", &text, "1h, 10m")?.as_secs(),
        None => defaults.token_ttl_secs.unsigned_abs(),
    };
    if !(61..=86_400).contains(&token_ttl_secs) {
        bail!("webchat_token_ttl must be more than 1m and at most 24h");
    }
    Ok(switchboard_http::WebchatConfig {
        sessions_per_ip_per_minute: per_ip.unwrap_or(defaults.sessions_per_ip_per_minute),
        sessions_per_flow_per_minute: per_flow.unwrap_or(defaults.sessions_per_flow_per_minute),
        token_ttl_secs: i64::try_from(token_ttl_secs)?,
        ..defaults
    })
}

/// The rate limits, each given or its default: credential per second and burst, failed
/// authentications per minute and burst, requests without credentials per second and burst.
fn rate(given: [Option<u32>; 6]) -> switchboard_http::RateConfig {
    let defaults = switchboard_http::RateConfig::default();
    let [credential, credential_burst, failed, failed_burst, address, address_burst] = given;
    switchboard_http::RateConfig {
        credential_per_second: credential.unwrap_or(defaults.credential_per_second),
        credential_burst: credential_burst.unwrap_or(defaults.credential_burst),
        failed_auth_per_minute: failed.unwrap_or(defaults.failed_auth_per_minute),
        failed_auth_burst: failed_burst.unwrap_or(defaults.failed_auth_burst),
        address_per_second: address.unwrap_or(defaults.address_per_second),
        address_burst: address_burst.unwrap_or(defaults.address_burst),
    }
}

/// The server's limits as given (flag or variable, else file), each `None` for its default.
struct GivenLimits {
    body_read_timeout: Option<String>,
    body_min_rate: Option<u64>,
    header_read_timeout: Option<String>,
    keep_alive: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    shed_stalled_after: Option<String>,
}

/// The server's limits, the defaults filling in what was not given.
fn server_limits(given: GivenLimits) -> anyhow::Result<switchboard_http::limits::ServerLimits> {
    let defaults = switchboard_http::limits::ServerLimits::default();
    let duration_of = |key: &str, given: Option<String>, default| match given {
        Some(text) => duration(key, &text, "5s, 500ms, 1m"),
        None => Ok(default),
    };
    let limits = switchboard_http::limits::ServerLimits {
        body_read_timeout: duration_of(
            "body_read_timeout",
            given.body_read_timeout,
            defaults.body_read_timeout,
        )?,
        body_min_rate: given.body_min_rate.unwrap_or(defaults.body_min_rate),
        header_read_timeout: duration_of(
            "header_read_timeout",
            given.header_read_timeout,
            defaults.header_read_timeout,
        )?,
        keep_alive: duration_of("keep_alive", given.keep_alive, defaults.keep_alive)?,
        max_connections: given.max_connections.unwrap_or(defaults.max_connections),
        max_connections_per_ip: given
            .max_connections_per_ip
            .unwrap_or(defaults.max_connections_per_ip),
        shed_stalled_after: duration_of(
            "shed_stalled_after",
            given.shed_stalled_after,
            defaults.shed_stalled_after,
        )?,
    };
    // Zero would turn a limit off: a stalled client would then hold its connection for ever.
    if limits.body_read_timeout.is_zero() || limits.header_read_timeout.is_zero() {
        bail!("body_read_timeout and header_read_timeout must be longer than zero");
    }
    if limits.max_connections == 0 {
        bail!("max_connections must be at least 1");
    }
    Ok(limits)
}

/// A provider's base URL must be http or https with a host: provider credentials go to its
/// origin only, and over https unless it is itself http (a stand-in on this machine).
fn provider_origin(key: &str, text: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(text).with_context(|| format!("{key} {text:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("{key} {text:?} must be an http or https URL with a host");
    }
    Ok(())
}

/// The WebSocket settings, over their defaults.
fn realtime(
    queue_frames: Option<usize>,
    queue_bytes: Option<usize>,
    ping_interval: Option<String>,
    ping_timeout: Option<String>,
) -> anyhow::Result<switchboard_http::RealtimeConfig> {
    let defaults = switchboard_http::RealtimeConfig::default();
    let config = switchboard_http::RealtimeConfig {
        queue_frames: queue_frames.unwrap_or(defaults.queue_frames),
        queue_bytes: queue_bytes.unwrap_or(defaults.queue_bytes),
        ping_interval: match ping_interval {
            Some(text) => duration("ws_ping_interval", &text, "20s, 1m")?,
            None => defaults.ping_interval,
        },
        ping_timeout: match ping_timeout {
            Some(text) => duration("ws_ping_timeout", &text, "60s, 2m")?,
            None => defaults.ping_timeout,
        },
        worker_offline_grace: defaults.worker_offline_grace,
    };
    if config.queue_frames == 0 || config.queue_bytes == 0 {
        bail!("ws_queue_frames and ws_queue_bytes must be more than zero");
    }
    if config.ping_interval.is_zero() {
        bail!("ws_ping_interval must be longer than zero");
    }
    if config.ping_timeout <= config.ping_interval {
        bail!(
            "ws_ping_timeout ({}) must be longer than ws_ping_interval ({}): a peer that answers \
             every ping would be dropped between two of them",
            humantime::format_duration(config.ping_timeout),
            humantime::format_duration(config.ping_interval)
        );
    }
    Ok(config)
}

/// The duration setting `key`, or an error that names it and shows `examples` of the format.
fn duration(key: &str, text: &str, examples: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(text).with_context(|| format!("{key} {text:?} (use e.g. {examples})"))
}

pub(crate) fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not a valid configuration", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../deploy/switchboard.example.toml");

    #[test]
    fn the_example_configuration_is_valid_also_with_its_tables_uncommented() {
        toml::from_str::<FileConfig>(EXAMPLE).expect("the example as shipped");
        // Uncomment the tables at the end, as an operator would.
        let tables_at = EXAMPLE.find("# [[whatsapp_numbers]]").unwrap();
        let (head, tail) = EXAMPLE.split_at(tables_at);
        let uncommented: String = tail
            .lines()
            .map(|line| line.strip_prefix("# ").unwrap_or(line).to_owned() + "\n")
            .collect();
        let file: FileConfig = toml::from_str(&format!("{head}{uncommented}")).unwrap();
        assert_eq!(file.whatsapp_numbers[0].phone_number_id, "106540352242922");
        assert_eq!(file.messenger_pages[0].page_id, "1029384756");
        assert_eq!(file.twilio_numbers[0].number, "+15005550009");
        assert_eq!(file.janitor_inactive_after.as_deref(), Some("24h"), "scalars stay top-level");
    }

    /// The flags as the command line would give them, with `--config` naming `toml`.
    fn resolve_with_file(toml: &str, flags: &[&str]) -> anyhow::Result<Settings> {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, toml)?;
        let args =
            ["serve", "--config", path.to_str().unwrap()].into_iter().chain(flags.iter().copied());
        <Command as clap::Parser>::try_parse_from(args)?.serve.resolve()
    }

    #[test]
    fn webchat_limits_and_first_start_defaults_come_from_the_file_unless_a_flag_says_otherwise() {
        let default = resolve_with_file("", &[]).unwrap();
        assert_eq!(default.webchat, switchboard_http::WebchatConfig::default());
        assert!(default.first_start_defaults);
        let ttl = "webchat_token_ttl = \"10m\"\n";
        assert_eq!(resolve_with_file(ttl, &[]).unwrap().webchat.token_ttl_secs, 600);
        assert!(resolve_with_file("webchat_token_ttl = \"60s\"\n", &[]).is_err());
        assert!(resolve_with_file("webchat_token_ttl = \"25h\"\n", &[]).is_err());
        let file = "webchat_sessions_per_ip_per_minute = 3\nfirst_start_defaults = false\n";
        let from_file = resolve_with_file(file, &[]).unwrap();
        assert_eq!(from_file.webchat.sessions_per_ip_per_minute, 3);
        assert_eq!(from_file.webchat.sessions_per_flow_per_minute, 600);
        assert!(!from_file.first_start_defaults);
        let flagged =
            resolve_with_file(file, &["--webchat-sessions-per-flow-per-minute", "7"]).unwrap();
        assert_eq!(flagged.webchat.sessions_per_flow_per_minute, 7);
    }

    #[test]
    fn rate_limits_come_from_the_file_unless_a_flag_says_otherwise() {
        let default = resolve_with_file("", &[]).unwrap();
        assert_eq!(default.rate, switchboard_http::RateConfig::default());
        let file = "rate_credential_per_second = 7\nrate_address_burst = 0\n";
        let from_file = resolve_with_file(file, &[]).unwrap();
        assert_eq!(from_file.rate.credential_per_second, 7);
        assert_eq!(from_file.rate.address_burst, 0);
        assert_eq!(from_file.rate.failed_auth_per_minute, 20);
        let flagged = resolve_with_file(
            file,
            &["--rate-credential-per-second", "9", "--rate-failed-auth-burst", "3"],
        )
        .unwrap();
        assert_eq!(flagged.rate.credential_per_second, 9);
        assert_eq!(flagged.rate.failed_auth_burst, 3);
    }

    #[test]
    fn flush_pacing_comes_from_the_file_unless_a_flag_says_otherwise() {
        let file = "flush_interval = \"2ms\"\nflush_busy_writers = 8\n";
        let pacing = resolve_with_file(file, &[]).unwrap().data.store_config().pacing;
        assert_eq!((pacing.interval, pacing.busy_writers), (Duration::from_millis(2), 8));
        let flagged = resolve_with_file(file, &["--flush-interval", "0s"]).unwrap();
        assert_eq!(flagged.data.store_config().pacing.interval, Duration::ZERO);
        let default = resolve_with_file("", &[]).unwrap().data.store_config().pacing;
        assert_eq!(default, switchboard_store::FlushPacing::default());
        let wrong = resolve_with_file("flush_interval = \"soon\"\n", &[]).err().unwrap();
        assert!(format!("{wrong:#}").contains("flush_interval \"soon\""), "{wrong:#}");
        let long = resolve_with_file("", &["--flush-interval", "2s"]).err().unwrap();
        assert!(format!("{long:#}").contains("longer than 100ms"), "{long:#}");
        let none = resolve_with_file("flush_busy_writers = 0\n", &[]).err().unwrap();
        assert!(format!("{none:#}").contains("at least 1"), "{none:#}");
    }

    #[test]
    fn the_record_sync_interval_comes_from_the_file_unless_a_flag_says_otherwise() {
        let default = resolve_with_file("", &[]).unwrap().data.store_config().record_sync;
        assert_eq!(default, switchboard_store::DEFAULT_RECORD_SYNC);
        let file = "record_sync_interval = \"10ms\"\n";
        let from_file = resolve_with_file(file, &[]).unwrap().data.store_config().record_sync;
        assert_eq!(from_file, Duration::from_millis(10));
        let flagged = resolve_with_file(file, &["--record-sync-interval", "0s"]).unwrap();
        assert_eq!(flagged.data.store_config().record_sync, Duration::ZERO);
        let long = resolve_with_file("record_sync_interval = \"5s\"\n", &[]).err().unwrap();
        assert!(format!("{long:#}").contains("longer than 1s"), "{long:#}");
    }

    #[test]
    fn huge_pages_are_off_unless_the_file_or_a_flag_keeps_the_systems_policy() {
        assert_eq!(resolve_with_file("", &[]).unwrap().huge_pages, HugePages::Off);
        let file = "huge_pages = \"system\"\n";
        assert_eq!(resolve_with_file(file, &[]).unwrap().huge_pages, HugePages::System);
        let flagged = resolve_with_file(file, &["--huge-pages", "off"]).unwrap();
        assert_eq!(flagged.huge_pages, HugePages::Off);
        let wrong = resolve_with_file("huge_pages = \"always\"\n", &[]).err().unwrap();
        assert!(format!("{wrong:#}").contains("unknown variant `always`"), "{wrong:#}");
    }

    #[test]
    fn limits_and_the_outbound_allow_list_come_from_the_file_unless_a_flag_says_otherwise() {
        let defaults = resolve_with_file("", &[]).unwrap();
        assert_eq!(defaults.limits, switchboard_http::limits::ServerLimits::default());
        assert!(defaults.outbound.allow.is_empty(), "nothing private is reachable by default");
        assert_eq!(defaults.whatsapp_media_origin, "https://lookaside.fbsbx.com");
        let file = "body_read_timeout = \"3s\"\nmax_connections_per_ip = 7\nkeep_alive = \"0s\"\n\
                    outbound_allow = [\"10.0.0.0/8\", \"::1\"]\n";
        let settings = resolve_with_file(file, &["--max-connections", "50"]).unwrap();
        assert_eq!(settings.limits.body_read_timeout, Duration::from_secs(3));
        assert_eq!(settings.limits.max_connections_per_ip, 7);
        assert_eq!(settings.limits.max_connections, 50);
        assert!(settings.limits.keep_alive.is_zero());
        assert_eq!(settings.limits.shed_stalled_after, Duration::from_secs(1), "the default");
        let shed = resolve_with_file("shed_stalled_after = \"3s\"\n", &[]).unwrap();
        assert_eq!(shed.limits.shed_stalled_after, Duration::from_secs(3));
        assert_eq!(settings.outbound.allow.len(), 2);
        let flagged =
            resolve_with_file(file, &["--outbound-allow", "127.0.0.1,192.168.0.0/16"]).unwrap();
        let allowed: Vec<String> = flagged.outbound.allow.iter().map(ToString::to_string).collect();
        assert_eq!(allowed, ["127.0.0.1/32", "192.168.0.0/16"]);
        let wrong = resolve_with_file("outbound_allow = [\"intranet\"]\n", &[]).err().unwrap();
        assert!(format!("{wrong:#}").contains("outbound_allow"), "{wrong:#}");
        let off = resolve_with_file("body_read_timeout = \"0s\"\n", &[]).err().unwrap();
        assert!(format!("{off:#}").contains("longer than zero"), "{off:#}");
        let ftp = resolve_with_file("twilio_api_base = \"ftp://api.twilio.com\"\n", &[]);
        assert!(format!("{:#}", ftp.err().unwrap()).contains("twilio_api_base"));
    }

    #[test]
    fn replies_go_to_the_sandbox_unless_some_upstream_credential_is_configured() {
        let upstream = |toml: &str, flags: &[&str]| {
            resolve_with_file(toml, flags).unwrap().upstream_configured()
        };
        assert!(!upstream("", &[]), "nothing configured: the credentials will be made");
        assert!(!upstream("account_sid = \"AC00000000000000000000000000000001\"\n", &[]));
        assert!(
            upstream("", &["--account-sid", "AC1", "--auth-token", "t"]),
            "the default upstream"
        );
        assert!(upstream("", &["--twilio-account-sid", "AC1", "--auth-token", "t"]));
        assert!(!upstream("twilio_auth_token = \"t\"\n", &[]), "an account made on first start");
        assert!(upstream("whatsapp_token = \"w\"\n", &[]));
        assert!(upstream("", &["--messenger-page-token", "p"]));
        let page = "[[messenger_pages]]\npage_id = \"1\"\naccess_token = \"p\"\n";
        assert!(upstream(page, &[]));
        let number = "[[twilio_numbers]]\nnumber = \"+15005550009\"\naccount_sid = \"AC1\"\n\
                      auth_token = \"t\"\n";
        assert!(upstream(number, &[]));
    }

    #[test]
    fn websocket_settings_come_from_the_file_unless_a_flag_says_otherwise() {
        let default = resolve_with_file("", &[]).unwrap().realtime;
        assert_eq!(default, switchboard_http::RealtimeConfig::default());
        let file = "ws_queue_frames = 8\nws_queue_bytes = 4096\nws_ping_interval = \"5s\"\n\
                    ws_ping_timeout = \"12s\"\n";
        let from_file = resolve_with_file(file, &[]).unwrap().realtime;
        assert_eq!((from_file.queue_frames, from_file.queue_bytes), (8, 4096));
        assert_eq!(from_file.ping_interval, Duration::from_secs(5));
        assert_eq!(from_file.ping_timeout, Duration::from_secs(12));
        let flagged = resolve_with_file(file, &["--ws-queue-frames", "3"]).unwrap().realtime;
        assert_eq!((flagged.queue_frames, flagged.queue_bytes), (3, 4096));
        let wrong = resolve_with_file("ws_ping_timeout = \"10s\"\n", &[]).err().unwrap();
        assert!(format!("{wrong:#}").contains("must be longer than ws_ping_interval"), "{wrong:#}");
        let none = resolve_with_file("ws_queue_bytes = 0\n", &[]).err().unwrap();
        assert!(format!("{none:#}").contains("more than zero"), "{none:#}");
        let grace = "worker_offline_grace = \"0s\"\n";
        assert_eq!(
            resolve_with_file(grace, &[]).unwrap().realtime.worker_offline_grace,
            Duration::ZERO
        );
        let flagged = resolve_with_file(grace, &["--worker-offline-grace", "2m"]).unwrap();
        assert_eq!(flagged.realtime.worker_offline_grace, Duration::from_secs(120));
        assert!(resolve_with_file("worker_offline_grace = \"soon\"\n", &[]).is_err());
    }

    #[test]
    fn metrics_are_on_the_main_listener_unless_a_flag_or_the_file_names_their_own() {
        assert_eq!(resolve_with_file("", &[]).unwrap().metrics_listen, None);
        let file = "metrics_listen = \"127.0.0.1:9464\"\n";
        let from_file = resolve_with_file(file, &[]).unwrap();
        assert_eq!(from_file.metrics_listen.as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(from_file.listen, DEFAULT_LISTEN, "the main listener stays where it was");
        let flagged = resolve_with_file(file, &["--metrics-listen", "10.0.0.7:9100"]).unwrap();
        assert_eq!(flagged.metrics_listen.as_deref(), Some("10.0.0.7:9100"));
    }

    #[test]
    fn log_settings_come_from_the_file_unless_a_flag_says_otherwise() {
        let default = resolve_with_file("", &[]).unwrap().logging;
        let expected =
            LogSettings { filter: "info".to_owned(), format: LogFormat::Text, access_log: false };
        assert_eq!(default, expected);
        let file = "log = \"warn,switchboard_actors=debug\"\nlog_format = \"json\"\n\
                    access_log = true\n";
        let from_file = resolve_with_file(file, &[]).unwrap().logging;
        assert_eq!(from_file.filter, "warn,switchboard_actors=debug");
        assert_eq!((from_file.format, from_file.access_log), (LogFormat::Json, true));
        let flags = ["--log", "debug", "--log-format", "text", "--access-log", "false"];
        let flagged = resolve_with_file(file, &flags).unwrap().logging;
        assert_eq!(flagged.filter, "debug");
        assert_eq!((flagged.format, flagged.access_log), (LogFormat::Text, false));
        let bare = resolve_with_file("", &["--access-log"]).unwrap().logging;
        assert!(bare.access_log, "the bare flag turns it on");
        let wrong = resolve_with_file("log_format = \"xml\"\n", &[]).err().unwrap();
        assert!(format!("{wrong:#}").contains("unknown variant `xml`"), "{wrong:#}");
    }

    #[test]
    fn a_misspelt_table_key_is_refused() {
        let wrong = "[[whatsapp_numbers]]\nphone_number_id = \"1\"\ntoken = \"x\"\n";
        assert!(toml::from_str::<FileConfig>(wrong).is_err());
    }
}
