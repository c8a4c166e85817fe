//! The running daemon as the dev commands reach it: at the address its data folder names (or as
//! given), waited for while it starts, and asked over REST with its own credentials.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;

use super::ConnectArgs;
use crate::daemon_config::{report, DaemonConfig, Found};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A daemon that answers, and the credentials to ask it with. No `Debug` derive: it holds the
/// auth token.
pub struct Connection {
    /// Where it listens, without a trailing slash.
    pub url: String,
    pub account_sid: String,
    auth_token: Found,
    /// Where the credentials came from, for the commands' report.
    pub credentials: String,
    pub config: DaemonConfig,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Connection {
    /// Finds the daemon, waits until it answers (at most `args.wait`), and resolves the REST
    /// credentials.
    pub fn open(args: &ConnectArgs) -> anyhow::Result<Connection> {
        let mut config = args.daemon.clone().load()?;
        let agent = ureq::AgentBuilder::new().timeout(REQUEST_TIMEOUT).build();
        let url = wait_for_daemon(args, &mut config, &agent)?;
        let (account, auth_token) = config.rest_credentials(&args.account_sid, &args.auth_token)?;
        let credentials = report(&[("account SID", &account), ("auth token", &auth_token)]);
        Ok(Connection { url, account_sid: account.value, auth_token, credentials, config, agent })
    }

    pub fn auth_token(&self) -> &str {
        &self.auth_token.value
    }

    /// The auth token and where it came from.
    pub fn auth_token_found(&self) -> &Found {
        &self.auth_token
    }

    /// What the daemon answers a GET of `path` (or of a whole URL it gave, such as a next page).
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = if path.starts_with("http") { path.to_owned() } else { self.at(path) };
        self.json(&url, self.agent.get(&url).set("Authorization", &self.authorization()).call())
    }

    /// Every item of a Twilio list, following its pages.
    pub fn list(&self, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(page) = next {
            let answer = self.get(&page)?;
            items.extend(answer[key].as_array().cloned().unwrap_or_default());
            next = answer["meta"]["next_page_url"].as_str().map(str::to_owned);
        }
        Ok(items)
    }

    /// The sandbox's deliveries, oldest first; an error that says so when there is no sandbox.
    pub fn sandbox_messages(&self) -> anyhow::Result<Vec<Value>> {
        self.list("/admin/v1/Sandbox/Messages?PageSize=1000", "messages")
            .context("the daemon's sandbox (a daemon with provider credentials has none)")
    }

    /// What the daemon answers a POST of `form` to `path`, with the REST credentials.
    pub fn post_form(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let url = self.at(path);
        let request = self.agent.post(&url).set("Authorization", &self.authorization());
        self.json(&url, request.send_form(form))
    }

    /// POSTs a provider's webhook, signed by the caller: the answer's status and text.
    pub fn post_webhook(
        &self,
        path: &str,
        signature: (&str, &str),
        body: &WebhookBody,
    ) -> anyhow::Result<(u16, String)> {
        let request = self.agent.post(&self.at(path)).set(signature.0, signature.1);
        let sent = match body {
            WebhookBody::Form(form) => {
                let pairs: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                request.send_form(&pairs)
            }
            WebhookBody::Json(bytes) => {
                request.set("Content-Type", "application/json").send_bytes(bytes)
            }
        };
        match sent {
            Ok(answer) => Ok((answer.status(), answer.into_string().unwrap_or_default())),
            Err(ureq::Error::Status(status, answer)) => {
                Ok((status, answer.into_string().unwrap_or_default()))
            }
            Err(error) => Err(error).with_context(|| format!("posting to {}", self.at(path))),
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn authorization(&self) -> String {
        let pair = format!("{}:{}", self.account_sid, self.auth_token.value);
        format!("Basic {}", BASE64.encode(pair))
    }

    fn json(
        &self,
        url: &str,
        answer: Result<ureq::Response, ureq::Error>,
    ) -> anyhow::Result<Value> {
        match answer {
            Ok(answer) => {
                let text = answer.into_string().with_context(|| url.to_owned())?;
                serde_json::from_str(&text).with_context(|| format!("{url}: not JSON"))
            }
            Err(ureq::Error::Status(status, answer)) => {
                let text = answer.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                let refused = if status == 401 {
                    format!(" (the credentials were refused: {})", self.credentials)
                } else {
                    String::new()
                };
                bail!("{url}: HTTP {status}: {message}{refused}")
            }
            Err(error) => Err(error).with_context(|| url.to_owned()),
        }
    }
}

/// A webhook's body.
#[derive(Debug)]
pub enum WebhookBody {
    Form(Vec<(String, String)>),
    Json(Vec<u8>),
}

/// The daemon's address once it answers its health check: as given, else as its data folder
/// says (read again while waiting: a starting daemon writes it), else its listen setting.
fn wait_for_daemon(
    args: &ConnectArgs,
    config: &mut DaemonConfig,
    agent: &ureq::Agent,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + args.wait;
    let mut said = false;
    loop {
        config.reread();
        let url = match &args.url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => match config.access()? {
                Some(access) => access.url.clone(),
                None => listen_url(config),
            },
        };
        let healthy = agent
            .get(&format!("{url}/healthz"))
            .timeout(Duration::from_secs(2))
            .call()
            .is_ok_and(|answer| answer.status() == 200);
        if healthy {
            return Ok(url);
        }
        if Instant::now() >= deadline {
            bail!(
                "no daemon answers at {url} (waited {}): start it with `switchboard serve` on the \
                 data folder {}, or give its address with --url",
                humantime::format_duration(args.wait),
                config.data().dir().display()
            );
        }
        if !said {
            eprintln!(
                "switchboard dev: waiting for the daemon of the data folder {} to answer (at \
                 {url})…",
                config.data().dir().display()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `http://` and the listen setting (the environment's, else the file's, else the default),
/// `https://` when the file names a certificate.
fn listen_url(config: &DaemonConfig) -> String {
    let listen = std::env::var("SWITCHBOARD_LISTEN")
        .ok()
        .or_else(|| config.file().listen.clone())
        .unwrap_or_else(|| crate::config::DEFAULT_LISTEN.to_owned());
    let tls =
        std::env::var_os("SWITCHBOARD_TLS_CERT").is_some() || config.file().tls_cert.is_some();
    format!("{}://{listen}", if tls { "https" } else { "http" })
}
