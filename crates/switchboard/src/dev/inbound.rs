//! An inbound message posted as its provider posts it: Twilio's form for SMS and WhatsApp over
//! Twilio, Meta's JSON for the WhatsApp Cloud API and Messenger, each signed with the secret the
//! daemon checks it with, over the URL it checks it against.

use std::process::ExitCode;

use anyhow::{bail, Context};
use rand::RngCore;
use serde_json::{json, Value};
use switchboard_domain::{customer_address, ChannelType};

use super::daemon::{Connection, WebhookBody};
use super::MessageArgs;
use crate::daemon_config::{Found, Given, Source};

/// Which provider's message to post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sms,
    Whatsapp,
    Messenger,
}

impl Kind {
    fn channel_type(self) -> ChannelType {
        match self {
            Kind::Sms => ChannelType::Sms,
            Kind::Whatsapp => ChannelType::Whatsapp,
            Kind::Messenger => ChannelType::Facebook,
        }
    }

    fn command(self) -> &'static str {
        match self {
            Kind::Sms => "sms",
            Kind::Whatsapp => "whatsapp",
            Kind::Messenger => "messenger",
        }
    }
}

/// The enabled Flex Flow that takes the message.
#[derive(Debug)]
struct Flow {
    sid: String,
    service_sid: String,
    /// Its ContactIdentity: our number, `phone_number_id` or Page id.
    identity: String,
}

pub fn run(kind: Kind, args: &MessageArgs) -> anyhow::Result<ExitCode> {
    let daemon = Connection::open(&args.connect)?;
    let flow = find_flow(&daemon, kind, args.to.as_deref())?;
    let signed = sign(&daemon, kind, args, &flow)?;
    let (status, answer) = daemon.post_webhook(signed.path, signed.header(), &signed.body)?;
    let how = format!(
        "signed with the {} from {} over {}{}",
        signed.secret_name, signed.secret.source, signed.public_url, signed.path
    );
    if !(200..300).contains(&status) {
        bail!("{}{}: HTTP {status}: {answer} ({how})", daemon.url, signed.path);
    }
    let address = customer_address(kind.channel_type(), &signed.customer)
        .map_err(|e| anyhow::anyhow!("--from {:?}: {e}", args.from))?;
    eprintln!(
        "switchboard dev {}: {} -> {} (Flex Flow {}), {how}; REST {}",
        kind.command(),
        signed.customer,
        flow.identity,
        flow.sid,
        daemon.credentials,
    );
    let Some(channel) = find_channel(&daemon, &flow, &address)? else {
        bail!("the daemon took the message, but no active channel of {address} was found");
    };
    eprintln!("stored in channel {channel} of service {}", flow.service_sid);
    if daemon.sandbox_messages().is_ok() {
        eprintln!(
            "replies go to the daemon's sandbox, never to a provider: see them with `switchboard \
             dev sandbox`"
        );
    }
    println!("{channel}");
    Ok(ExitCode::SUCCESS)
}

/// The enabled flow of the kind's channel type for `to`, or its only one.
fn find_flow(daemon: &Connection, kind: Kind, to: Option<&str>) -> anyhow::Result<Flow> {
    let channel_type = kind.channel_type().as_str();
    let flows = daemon.list("/flex/v1/FlexFlows?PageSize=1000", "flex_flows")?;
    let enabled: Vec<Flow> = flows
        .iter()
        .filter(|f| f["enabled"] == true && f["channel_type"] == channel_type)
        .filter_map(|f| {
            Some(Flow {
                sid: f["sid"].as_str()?.to_owned(),
                service_sid: f["chat_service_sid"].as_str()?.to_owned(),
                identity: f["contact_identity"].as_str()?.to_owned(),
            })
        })
        .collect();
    let bare = |identity: &str| identity.trim_start_matches("whatsapp:").to_owned();
    let mut matching: Vec<Flow> = match to {
        Some(to) => enabled.into_iter().filter(|f| bare(&f.identity) == bare(to)).collect(),
        None => enabled,
    };
    match (matching.len(), to) {
        (1, _) => Ok(matching.remove(0)),
        (0, Some(to)) => bail!("no enabled {channel_type} Flex Flow answers for {to}"),
        (0, None) => bail!(
            "no enabled {channel_type} Flex Flow: create one first (README, quick start: POST \
             /flex/v1/FlexFlows with ChannelType={channel_type}, Enabled=true)"
        ),
        (_, _) => {
            let identities: Vec<&str> = matching.iter().map(|f| f.identity.as_str()).collect();
            bail!(
                "several enabled {channel_type} Flex Flows ({}): say which with --to",
                identities.join(", ")
            )
        }
    }
}

/// A webhook ready to post.
#[derive(Debug)]
struct Signed {
    path: &'static str,
    header_name: &'static str,
    signature: String,
    body: WebhookBody,
    /// The customer as the provider names them.
    customer: String,
    secret_name: &'static str,
    secret: Found,
    public_url: String,
}

impl Signed {
    fn header(&self) -> (&str, &str) {
        (self.header_name, &self.signature)
    }
}

fn sign(
    daemon: &Connection,
    kind: Kind,
    args: &MessageArgs,
    flow: &Flow,
) -> anyhow::Result<Signed> {
    let public_url = public_url(daemon, args)?;
    let cloud = kind == Kind::Whatsapp && !flow.identity.starts_with("whatsapp:");
    if kind == Kind::Messenger || cloud {
        return meta_webhook(daemon, kind, args, flow, public_url);
    }
    let (account_sid, token) = twilio_account(daemon, args, &flow.identity)?;
    let customer = match kind {
        Kind::Whatsapp if !args.from.starts_with("whatsapp:") => format!("whatsapp:{}", args.from),
        _ => args.from.clone(),
    };
    let message_sid = format!("SM{}", random_hex());
    let form: Vec<(String, String)> = [
        ("ToCountry", "US"),
        ("AccountSid", account_sid.as_str()),
        ("MessageSid", &message_sid),
        ("SmsMessageSid", &message_sid),
        ("From", &customer),
        ("To", &flow.identity),
        ("Body", &args.body),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let path = "/webhooks/twilio";
    let signature =
        switchboard_crypto::webhook::compute(&token.value, &format!("{public_url}{path}"), &form);
    Ok(Signed {
        path,
        header_name: "X-Twilio-Signature",
        signature,
        body: WebhookBody::Form(form),
        customer,
        secret_name: "Twilio auth token",
        secret: token,
        public_url,
    })
}

/// The URL the daemon checks signatures against: as given, else the file's, else what the
/// daemon said it uses, else its address.
fn public_url(daemon: &Connection, args: &MessageArgs) -> anyhow::Result<String> {
    let given = Given {
        value: args.public_url.as_deref(),
        flag: "--public-url",
        env: "SWITCHBOARD_PUBLIC_URL",
    };
    let config = &daemon.config;
    let found = config.setting(given, |f| f.public_url.as_ref(), |_| None)?;
    let url = match (found, config.access()?) {
        (Some(found), _) => found.value,
        (None, Some(access)) if args.connect.url.is_none() => access.public_url.clone(),
        (None, _) => daemon.url.clone(),
    };
    Ok(url.trim_end_matches('/').to_owned())
}

/// The account that posts webhooks for `number` and the auth token that signs them, as the
/// daemon has them: a `[[twilio_numbers]]` entry, else the upstream account, else the daemon's
/// own account.
fn twilio_account(
    daemon: &Connection,
    args: &MessageArgs,
    number: &str,
) -> anyhow::Result<(String, Found)> {
    let config = &daemon.config;
    let bare = number.trim_start_matches("whatsapp:");
    if let Some(entry) = config.file().twilio_numbers.iter().find(|n| n.number == bare) {
        let path = config.file_path().map(Into::into).unwrap_or_default();
        let token = Found { value: entry.auth_token.clone(), source: Source::File(path) };
        return Ok((entry.account_sid.clone(), token));
    }
    let account = Given {
        value: args.twilio_account_sid.as_deref(),
        flag: "--twilio-account-sid",
        env: "SWITCHBOARD_TWILIO_ACCOUNT_SID",
    };
    let token = Given {
        value: args.twilio_auth_token.as_deref(),
        flag: "--twilio-auth-token",
        env: "SWITCHBOARD_TWILIO_AUTH_TOKEN",
    };
    let account_sid = config
        .setting(account, |f| f.twilio_account_sid.as_ref(), |_| None)?
        .map_or_else(|| daemon.account_sid.clone(), |found| found.value);
    let token = match config.setting(token, |f| f.twilio_auth_token.as_ref(), |_| None)? {
        Some(token) => token,
        // The daemon checks Twilio's webhooks with its own auth token unless told otherwise.
        None => daemon.auth_token_found().clone(),
    };
    Ok((account_sid, token))
}

/// A WhatsApp Cloud API or Messenger webhook, signed with the Meta app secret.
fn meta_webhook(
    daemon: &Connection,
    kind: Kind,
    args: &MessageArgs,
    flow: &Flow,
    public_url: String,
) -> anyhow::Result<Signed> {
    let given = Given {
        value: args.meta_app_secret.as_deref(),
        flag: "--meta-app-secret",
        env: "SWITCHBOARD_META_APP_SECRET",
    };
    let secret = daemon.config.required(
        given,
        "Meta app secret",
        "meta_app_secret",
        |f| f.meta_app_secret.as_ref(),
        |c| c.meta_app_secret.as_ref(),
    )?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let (path, customer, body) = if kind == Kind::Messenger {
        let psid = args.from.trim_start_matches("messenger:").to_owned();
        let body = messenger_body(&flow.identity, &psid, &args.body, now.as_millis());
        ("/webhooks/messenger", format!("messenger:{psid}"), body)
    } else {
        let wa_id = args.from.trim_start_matches("whatsapp:").trim_start_matches('+').to_owned();
        let body = whatsapp_body(&flow.identity, &wa_id, &args.body, now.as_secs());
        ("/webhooks/whatsapp", format!("whatsapp:+{wa_id}"), body)
    };
    let bytes = serde_json::to_vec(&body).context("a webhook body")?;
    Ok(Signed {
        path,
        header_name: "X-Hub-Signature-256",
        signature: switchboard_crypto::webhook::meta_signature(&secret.value, &bytes),
        body: WebhookBody::Json(bytes),
        customer,
        secret_name: "Meta app secret",
        secret,
        public_url,
    })
}

fn whatsapp_body(phone_number_id: &str, wa_id: &str, text: &str, secs: u64) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "DEV", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": phone_number_id, "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Dev Customer"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": format!("wamid.DEV{}", random_hex()),
                "timestamp": secs.to_string(), "type": "text", "text": {"body": text}}],
        },
    }]}]})
}

fn messenger_body(page_id: &str, psid: &str, text: &str, millis: u128) -> Value {
    json!({"object": "page", "entry": [{"id": page_id, "time": millis, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": millis,
        "message": {"mid": format!("m_DEV{}", random_hex()), "text": text},
    }]}]})
}

/// The active channel the flow opened for `address`: the newest, should there be several.
fn find_channel(daemon: &Connection, flow: &Flow, address: &str) -> anyhow::Result<Option<String>> {
    let path = format!("/chat/v2/Services/{}/Channels?Type=private&PageSize=100", flow.service_sid);
    let channels = daemon.list(&path, "channels")?;
    let ours = channels.iter().filter(|channel| {
        let attributes: Value =
            serde_json::from_str(channel["attributes"].as_str().unwrap_or("{}"))
                .unwrap_or_default();
        attributes["flex_flow_sid"] == flow.sid.as_str()
            && attributes["from"] == address
            && attributes["status"] == "ACTIVE"
    });
    Ok(ours
        .max_by_key(|c| c["date_created"].as_str().unwrap_or_default().to_owned())
        .and_then(|c| c["sid"].as_str().map(str::to_owned)))
}

fn random_hex() -> String {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    id.iter().map(|b| format!("{b:02x}")).collect()
}
