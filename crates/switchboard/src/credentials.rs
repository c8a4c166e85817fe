//! The REST credentials and API keys of the daemon: given in the configuration, or made on first
//! start, kept sealed in the data folder, and printed once on stdout (never to the log).

use std::collections::HashMap;

use anyhow::{bail, Context};
use rand::RngCore;
use switchboard_domain::{Sid, SidPrefix};
use switchboard_http::state::{ApiKeys, Credentials, Secret};
use switchboard_store::EventLog;

use crate::config::Settings;

const ACCOUNT_SID: &str = "account_sid";
const AUTH_TOKEN: &str = "auth_token";
/// The Meta app secret a sandboxed daemon checks WhatsApp Cloud and Messenger webhooks with
/// when none is configured, so that `switchboard dev whatsapp` and `dev messenger` can sign.
const DEVELOPMENT_META_APP_SECRET: &str = "development_meta_app_secret";

/// Resolves every credential; makes and stores what is missing.
pub fn resolve(log: &EventLog, settings: &Settings) -> anyhow::Result<Credentials> {
    let mut created = Vec::new();
    let account_sid = match &settings.account_sid {
        Some(text) => {
            Sid::parse_with(text, SidPrefix::ACCOUNT).context("SWITCHBOARD_ACCOUNT_SID")?
        }
        None => {
            let stored = stored_text(log, ACCOUNT_SID)?;
            match stored {
                Some(text) => text.parse().context("the stored account SID")?,
                None => {
                    let sid = random_sid(SidPrefix::ACCOUNT);
                    log.set_secret(ACCOUNT_SID, sid.to_string().as_bytes())?;
                    created.push(format!("account SID:    {sid}"));
                    sid
                }
            }
        }
    };
    let auth_token = match &settings.auth_token {
        Some(token) => token.clone(),
        None => match stored_text(log, AUTH_TOKEN)? {
            Some(token) => token,
            None => {
                let token = random_hex(16);
                log.set_secret(AUTH_TOKEN, token.as_bytes())?;
                created.push(format!("auth token:     {token}"));
                token
            }
        },
    };
    let mut api_keys = stored_api_keys(log)?;
    match (&settings.api_key_sid, &settings.api_key_secret) {
        (Some(sid), Some(secret)) => {
            let sid =
                Sid::parse_with(sid, SidPrefix::API_KEY).context("SWITCHBOARD_API_KEY_SID")?;
            api_keys.insert(sid, Secret::new(secret.clone()));
        }
        (None, None) => {}
        _ => bail!("give both SWITCHBOARD_API_KEY_SID and SWITCHBOARD_API_KEY_SECRET, or neither"),
    }
    if api_keys.is_empty() {
        let (sid, secret) = create_api_key(log)?;
        created.push(format!("API key SID:    {sid}"));
        created.push(format!("API key secret: {}", secret.expose()));
        api_keys.insert(sid, secret);
    }
    if !created.is_empty() {
        println!("switchboard created credentials; they are shown this once:");
        for line in created {
            println!("  {line}");
        }
    }
    let twilio_auth_token =
        settings.twilio_auth_token.clone().unwrap_or_else(|| auth_token.clone());
    let twilio_account_sid = match &settings.twilio_account_sid {
        Some(text) => {
            Sid::parse_with(text, SidPrefix::ACCOUNT).context("SWITCHBOARD_TWILIO_ACCOUNT_SID")?
        }
        None => account_sid,
    };
    let mut twilio_accounts = HashMap::new();
    for number in &settings.twilio_numbers {
        if !number.number.starts_with('+') {
            bail!("twilio_numbers: {:?} is not a +E164 number", number.number);
        }
        let sid = Sid::parse_with(&number.account_sid, SidPrefix::ACCOUNT)
            .with_context(|| format!("twilio_numbers: the account of {}", number.number))?;
        twilio_accounts.insert(sid, Secret::new(number.auth_token.clone()));
    }
    Ok(Credentials {
        account_sid,
        twilio_account_sid,
        auth_token: Secret::new(auth_token),
        api_keys: ApiKeys::new(api_keys),
        twilio_auth_token: Secret::new(twilio_auth_token),
        twilio_accounts,
    })
}

/// The development Meta app secret kept in the folder, made on first need.
pub fn development_meta_app_secret(log: &EventLog) -> anyhow::Result<Secret> {
    if let Some(secret) = stored_text(log, DEVELOPMENT_META_APP_SECRET)? {
        return Ok(Secret::new(secret));
    }
    let secret = random_hex(16);
    log.set_secret(DEVELOPMENT_META_APP_SECRET, secret.as_bytes())?;
    Ok(Secret::new(secret))
}

/// The credentials this daemon takes from its folder rather than its configuration, for the
/// tools, which cannot open the folder while the daemon runs (`access`). What the configuration
/// gives is left out: the tools read it where the daemon did, and it is never written here.
pub fn kept_in_folder(
    log: &EventLog,
    settings: &Settings,
    meta_app_secret: Option<&Secret>,
) -> anyhow::Result<crate::access::FolderCredentials> {
    let api_key = match settings.api_key_sid {
        Some(_) => None,
        None => stored_api_keys(log)?.into_iter().min_by_key(|(sid, _)| sid.to_string()),
    };
    Ok(crate::access::FolderCredentials {
        account_sid: match settings.account_sid {
            Some(_) => None,
            None => stored_text(log, ACCOUNT_SID)?,
        },
        auth_token: match settings.auth_token {
            Some(_) => None,
            None => stored_text(log, AUTH_TOKEN)?,
        },
        api_key_sid: api_key.as_ref().map(|(sid, _)| sid.to_string()),
        api_key_secret: api_key.map(|(_, secret)| secret.expose().to_owned()),
        meta_app_secret: match settings.meta_app_secret {
            Some(_) => None,
            None => meta_app_secret.map(|s| s.expose().to_owned()),
        },
    })
}

/// Makes a new API key and stores it sealed in the folder.
pub fn create_api_key(log: &EventLog) -> anyhow::Result<(Sid, Secret)> {
    let (sid, secret) = switchboard_actors::api_keys::create(log)?;
    Ok((sid, Secret::new(secret)))
}

fn stored_api_keys(log: &EventLog) -> anyhow::Result<HashMap<Sid, Secret>> {
    let stored = switchboard_actors::api_keys::stored(log)?;
    Ok(stored.into_iter().map(|(sid, secret)| (sid, Secret::new(secret))).collect())
}

fn stored_text(log: &EventLog, name: &str) -> anyhow::Result<Option<String>> {
    match log.secret(name)? {
        Some(bytes) => Ok(Some(String::from_utf8(bytes).context("a stored secret")?)),
        None => Ok(None),
    }
}

fn random_sid(prefix: SidPrefix) -> Sid {
    switchboard_actors::new_sid(prefix)
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
