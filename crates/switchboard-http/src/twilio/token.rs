//! Access tokens in Twilio's format: a JWT with header `cty: twilio-fpa;v=1`, HS256-signed with
//! an API key's secret, `iss` the API key SID, `sub` the account SID, and the chat identity in
//! `grants.identity`. Tokens minted by the official helper libraries are accepted as they are.
//!
//! Time is passed in (Unix seconds), never read here. A token may live at most 24 hours, as
//! Twilio's do; one whose `exp` is further than that from its `nbf` (or from now, without `nbf`)
//! is refused. No leeway is given: clients renew before expiry, and minting and checking happen on
//! the same server clock. A token is valid for `nbf <= now < exp`.
//!
//! Errors map to Twilio's access-token codes (partly unverified, docs/api.md): 20102
//! for a header that is not `HS256` + `cty: twilio-fpa;v=1` (so `alg: none` and HS384/HS512 are
//! refused here), 20104 for an expired token, 20101 for everything else (bad signature, unknown
//! key, other account, not yet valid, too long-lived, no identity), all with HTTP 401.
//!
//! The chat grant is read from `grants.chat`, or from the legacy `grants.ip_messaging` when
//! `chat` is absent.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::twilio::error::ApiError;

/// The longest lifetime a token may claim.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
const CONTENT_TYPE: &str = "twilio-fpa;v=1";
/// The header, byte for byte as the tests' reference token has it (docs/api.md; the helper
/// libraries differ only in key order, which no verifier looks at).
pub(crate) const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChatGrant {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_role_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_credential_sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Grants {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatGrant>,
    /// The legacy name of the chat grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_messaging: Option<ChatGrant>,
    /// Switchboard's own: the token is a web visitor's, good for this one channel only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webchat: Option<WebchatGrant>,
    /// Twilio's TaskRouter grant: the token is a worker's, for its real-time events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_router: Option<TaskRouterGrant>,
}

/// Twilio's `grants.task_router`, as the helper libraries' `TaskRouterGrant` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TaskRouterGrant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The one channel a web visitor's token reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WebchatGrant {
    pub channel_sid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub jti: String,
    pub iss: String,
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub grants: Grants,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub identity: String,
    pub service_sid: Option<String>,
    pub api_key_sid: String,
    pub expires_at: i64,
    /// A web visitor's token: the one channel it reaches.
    pub channel_sid: Option<String>,
    /// Whether the token reaches chat: it has a chat grant, or no TaskRouter grant (a token
    /// with only the TaskRouter grant is a worker's, for its TaskRouter events alone).
    pub chat: bool,
    pub task_router: Option<TaskRouterGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed or its signature does not verify")]
    Invalid,
    #[error("the access token header is not a Twilio access token header")]
    Header,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token lives longer than 24 hours")]
    TooLong,
    #[error("the access token is for another account")]
    WrongAccount,
    #[error("the access token has no identity grant")]
    NoIdentity,
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> ApiError {
        let code = match error {
            TokenError::Expired => 20104,
            TokenError::Header => 20102,
            _ => 20101,
        };
        ApiError::new(401, code, error.to_string())
    }
}

/// Signs a token as Twilio's helper libraries do (`jti` = `<key>-<now>`, no `iat`).
pub fn mint(
    account_sid: &str,
    api_key_sid: &str,
    api_key_secret: &str,
    identity: &str,
    service_sid: Option<&str>,
    ttl_secs: u64,
    now_secs: i64,
) -> String {
    let claims = AccessTokenClaims {
        jti: format!("{api_key_sid}-{now_secs}"),
        iss: api_key_sid.to_owned(),
        sub: account_sid.to_owned(),
        nbf: Some(now_secs),
        exp: now_secs.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX)),
        grants: Grants {
            identity: Some(identity.to_owned()),
            chat: Some(ChatGrant {
                service_sid: service_sid.map(str::to_owned),
                ..ChatGrant::default()
            }),
            ip_messaging: None,
            webchat: None,
            task_router: None,
        },
    };
    encode(&claims, api_key_secret)
}

/// A web visitor's token: `identity` in `service_sid`, reaching `channel_sid` only.
pub struct VisitorToken<'a> {
    pub account_sid: &'a str,
    pub api_key_sid: &'a str,
    pub api_key_secret: &'a str,
    pub identity: &'a str,
    pub service_sid: &'a str,
    pub channel_sid: &'a str,
}

impl fmt::Debug for VisitorToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VisitorToken({} in {}, key {})",
            self.identity, self.channel_sid, self.api_key_sid
        )
    }
}

impl VisitorToken<'_> {
    /// Signs it, valid from `now_secs` for `ttl_secs`.
    pub fn mint(&self, ttl_secs: i64, now_secs: i64) -> String {
        let claims = AccessTokenClaims {
            jti: format!("{}-{now_secs}", self.api_key_sid),
            iss: self.api_key_sid.to_owned(),
            sub: self.account_sid.to_owned(),
            nbf: Some(now_secs),
            exp: now_secs.saturating_add(ttl_secs),
            grants: Grants {
                identity: Some(self.identity.to_owned()),
                chat: Some(ChatGrant {
                    service_sid: Some(self.service_sid.to_owned()),
                    ..ChatGrant::default()
                }),
                ip_messaging: None,
                webchat: Some(WebchatGrant { channel_sid: self.channel_sid.to_owned() }),
                task_router: None,
            },
        };
        encode(&claims, self.api_key_secret)
    }
}

fn encode(claims: &AccessTokenClaims, api_key_secret: &str) -> String {
    // Encoded by hand rather than with `jsonwebtoken::encode`, whose header puts `typ` first: this
    // way a token minted with the reference inputs is the reference token, byte for byte.
    let payload = serde_json::to_vec(claims).expect("claims of strings and integers serialize");
    let message =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER_JSON), URL_SAFE_NO_PAD.encode(payload));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(api_key_secret.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HS256 signing with an HMAC key cannot fail");
    format!("{message}.{signature}")
}

/// Verifies `token`: header, signature under the secret of its `iss`, account, lifetime, identity.
pub fn verify(
    token: &str,
    secret_of: impl Fn(&str) -> Option<String>,
    account_sid: &str,
    now_secs: i64,
) -> Result<VerifiedToken, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::HS256 || header.cty.as_deref() != Some(CONTENT_TYPE) {
        return Err(TokenError::Header);
    }
    // The key is chosen by `iss`, so read it before checking the signature; nothing else of the
    // payload is trusted until the signature verifies.
    let unverified = unverified_issuer(token).ok_or(TokenError::Invalid)?;
    let secret = secret_of(&unverified).ok_or(TokenError::Invalid)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|_| TokenError::Invalid)?
    .claims;
    if claims.iss != unverified {
        return Err(TokenError::Invalid);
    }
    if claims.sub != account_sid {
        return Err(TokenError::WrongAccount);
    }
    if now_secs >= claims.exp {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now_secs < nbf) {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp - claims.nbf.unwrap_or(now_secs) > MAX_LIFETIME_SECS {
        return Err(TokenError::TooLong);
    }
    let chat = claims.grants.chat.or(claims.grants.ip_messaging);
    let reaches_chat = chat.is_some() || claims.grants.task_router.is_none();
    let identity =
        claims.grants.identity.filter(|i| !i.is_empty()).ok_or(TokenError::NoIdentity)?;
    Ok(VerifiedToken {
        identity,
        service_sid: chat.and_then(|c| c.service_sid),
        api_key_sid: claims.iss,
        expires_at: claims.exp,
        channel_sid: claims.grants.webchat.map(|grant| grant.channel_sid),
        chat: reaches_chat,
        task_router: claims.grants.task_router,
    })
}

fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Issuer>(&bytes).ok().map(|i| i.iss)
}

impl fmt::Display for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (key {})", self.identity, self.api_key_sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Header;

    const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    /// A deterministic token made for these tests (secret "secret"; docs/api.md).
    const REFERENCE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiLTE3MDAwMDAwMDAiLCJpc3MiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiwic3ViIjoiQUNhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYSIsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJncmFudHMiOnsiaWRlbnRpdHkiOiJhbGljZSIsImNoYXQiOnsic2VydmljZV9zaWQiOiJJU2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjIn19fQ._HFV70w8NWa21szNwvZF6w1aA55wz_0w5zxfpdVQJEA";
    /// Minted by the official Python SDK at a frozen clock (secret "my_api_key_secret").
    const PYTHON_SDK: &str = "eyJhbGciOiJIUzI1NiIsImN0eSI6InR3aWxpby1mcGE7dj0xIiwidHlwIjoiSldUIn0.eyJqdGkiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiY2hhdCI6eyJzZXJ2aWNlX3NpZCI6IklTMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJlbmRwb2ludF9pZCI6ImFsaWNlOndlYjoxIiwicHVzaF9jcmVkZW50aWFsX3NpZCI6IkNSY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2MifSwiaWRlbnRpdHkiOiJhbGljZSJ9LCJpc3MiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiwiZXhwIjoxNzAwMDAzNjAwLCJuYmYiOjE3MDAwMDAwMDAsInN1YiI6IkFDYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWEifQ.g9WadCXrkPBamVnvkFxCK9lu_sMOCKzTh4cP1GS_BeE";

    fn secret(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |iss| (iss == KEY).then(|| value.to_owned())
    }

    #[test]
    fn reference_and_sdk_tokens_verify() {
        let ok = verify(REFERENCE, secret("secret"), ACCOUNT, 1_700_000_010).unwrap();
        assert_eq!(ok.identity, "alice");
        assert_eq!(ok.service_sid.as_deref(), Some("IScccccccccccccccccccccccccccccccc"));
        let sdk = verify(PYTHON_SDK, secret("my_api_key_secret"), ACCOUNT, 1_700_000_010).unwrap();
        assert_eq!(sdk.identity, "alice");
        assert_eq!(sdk.service_sid.as_deref(), Some("IS00000000000000000000000000000000"));
    }

    #[test]
    fn expired_wrong_secret_wrong_account_and_tampering_are_refused() {
        assert_eq!(
            verify(REFERENCE, secret("secret"), ACCOUNT, 1_700_003_600 + 3600),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(REFERENCE, secret("other"), ACCOUNT, 1_700_000_010),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(
                REFERENCE,
                secret("secret"),
                "AC00000000000000000000000000000000",
                1_700_000_010
            ),
            Err(TokenError::WrongAccount)
        );
        assert_eq!(
            verify(REFERENCE, secret("secret"), ACCOUNT, 1_699_999_000),
            Err(TokenError::NotYetValid)
        );
        let mut parts: Vec<String> = REFERENCE.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replacen('a', "b", 1);
        assert_eq!(
            verify(&parts.join("."), secret("secret"), ACCOUNT, 1_700_000_010),
            Err(TokenError::Invalid)
        );
        let unsigned = format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwiY3R5IjoidHdpbGlvLWZwYTt2PTEifQ",
            REFERENCE.split('.').nth(1).unwrap()
        );
        assert!(verify(&unsigned, secret("secret"), ACCOUNT, 1_700_000_010).is_err());
    }

    #[test]
    fn minted_tokens_round_trip_and_respect_the_lifetime_limit() {
        let token = mint(
            ACCOUNT,
            KEY,
            "s3cret",
            "bob",
            Some("IS00000000000000000000000000000000"),
            3600,
            1_800_000_000,
        );
        let ok = verify(&token, secret("s3cret"), ACCOUNT, 1_800_000_001).unwrap();
        assert_eq!((ok.identity.as_str(), ok.expires_at), ("bob", 1_800_003_600));
        let long = mint(ACCOUNT, KEY, "s3cret", "bob", None, 2 * 86_400, 1_800_000_000);
        assert_eq!(
            verify(&long, secret("s3cret"), ACCOUNT, 1_800_000_001),
            Err(TokenError::TooLong)
        );
        let plain_jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": KEY, "sub": ACCOUNT, "exp": 1_900_000_000, "grants": {"identity": "x"}}),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert_eq!(
            verify(&plain_jwt, secret("s3cret"), ACCOUNT, 1_800_000_001),
            Err(TokenError::Header)
        );
    }

    /// An HS256 token over `claims` with `header` (JSON), signed with `secret`.
    fn sign_raw(header: &str, claims: &serde_json::Value, secret: &str) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn minting_the_reference_inputs_gives_the_reference_token() {
        let token = mint(
            ACCOUNT,
            KEY,
            "secret",
            "alice",
            Some("IScccccccccccccccccccccccccccccccc"),
            3600,
            1_700_000_000,
        );
        assert_eq!(token, REFERENCE);
        // The signature segment alone, as the reference token has it.
        assert_eq!(token.rsplit('.').next(), Some("_HFV70w8NWa21szNwvZF6w1aA55wz_0w5zxfpdVQJEA"));
    }

    #[test]
    fn minted_claims_follow_the_helper_libraries() {
        let token = mint(ACCOUNT, KEY, "s", "bob", None, 60, 1_800_000_000);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.typ.as_deref(), header.cty.as_deref()),
            (Algorithm::HS256, Some("JWT"), Some("twilio-fpa;v=1"))
        );
        let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "jti": format!("{KEY}-1800000000"),
                "iss": KEY,
                "sub": ACCOUNT,
                "nbf": 1_800_000_000,
                "exp": 1_800_000_060,
                // Without a service the chat grant is empty, as ChatGrant() is in the SDK.
                "grants": {"identity": "bob", "chat": {}},
            })
        );
        assert!(claims.get("iat").is_none());
    }

    #[test]
    fn sdk_token_rejections() {
        // The SDK's token: expired once `exp` has passed, wrong key, wrong account, tampering.
        assert_eq!(
            verify(PYTHON_SDK, secret("my_api_key_secret"), ACCOUNT, 1_700_003_600 + 3600),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(PYTHON_SDK, secret("secret"), ACCOUNT, 1_700_000_010),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(
                PYTHON_SDK,
                secret("my_api_key_secret"),
                "AC00000000000000000000000000000000",
                1_700_000_010
            ),
            Err(TokenError::WrongAccount)
        );
        let mut parts: Vec<&str> = PYTHON_SDK.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
                .unwrap()
                .replace("\"identity\":\"alice\"", "\"identity\":\"mallory\""),
        );
        parts[1] = &forged_payload;
        assert_eq!(
            verify(&parts.join("."), secret("my_api_key_secret"), ACCOUNT, 1_700_000_010),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn validity_window_edges() {
        let at = |now| verify(REFERENCE, secret("secret"), ACCOUNT, now);
        assert!(at(1_700_000_000).is_ok(), "valid from nbf");
        assert_eq!(at(1_699_999_999), Err(TokenError::NotYetValid));
        assert!(at(1_700_003_599).is_ok(), "valid until the second before exp");
        assert_eq!(at(1_700_003_600), Err(TokenError::Expired));
    }

    #[test]
    fn unknown_keys_and_alg_none_are_invalid() {
        assert_eq!(
            verify(REFERENCE, |_: &str| None, ACCOUNT, 1_700_000_010),
            Err(TokenError::Invalid)
        );
        // alg none, with Twilio's cty, and no signature: refused before any key is looked up.
        let none_header =
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","cty":"twilio-fpa;v=1"}"#);
        let unsigned = format!("{none_header}.{}.", REFERENCE.split('.').nth(1).unwrap());
        let looked_up = std::cell::Cell::new(false);
        let result = verify(
            &unsigned,
            |_: &str| {
                looked_up.set(true);
                Some("secret".to_owned())
            },
            ACCOUNT,
            1_700_000_010,
        );
        assert_eq!(result, Err(TokenError::Invalid));
        assert!(!looked_up.get());
        // The reference payload and signature under an `alg: none` header: still refused.
        let relabelled = format!("{none_header}.{}", REFERENCE.split_once('.').unwrap().1);
        assert!(verify(&relabelled, secret("secret"), ACCOUNT, 1_700_000_010).is_err());
        for garbage in ["", "a.b", "a.b.c", "....", REFERENCE.split('.').next().unwrap()] {
            assert_eq!(
                verify(garbage, secret("secret"), ACCOUNT, 1_700_000_010),
                Err(TokenError::Invalid),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn other_algorithms_and_content_types_are_header_errors() {
        let claims = serde_json::json!({
            "jti": "x", "iss": KEY, "sub": ACCOUNT, "nbf": 1_700_000_000, "exp": 1_700_003_600,
            "grants": {"identity": "alice"},
        });
        let mut hs512 = Header::new(Algorithm::HS512);
        hs512.cty = Some(CONTENT_TYPE.to_owned());
        let token =
            jsonwebtoken::encode(&hs512, &claims, &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(
            verify(&token, secret("secret"), ACCOUNT, 1_700_000_010),
            Err(TokenError::Header)
        );
        let wrong_cty =
            sign_raw(r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=2"}"#, &claims, "secret");
        assert_eq!(
            verify(&wrong_cty, secret("secret"), ACCOUNT, 1_700_000_010),
            Err(TokenError::Header)
        );
        let right =
            sign_raw(r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#, &claims, "secret");
        assert!(verify(&right, secret("secret"), ACCOUNT, 1_700_000_010).is_ok());
    }

    #[test]
    fn a_task_router_grant_alone_reaches_no_chat_and_a_chat_grant_no_worker() {
        const HEADER: &str = r#"{"typ":"JWT","alg":"HS256","cty":"twilio-fpa;v=1"}"#;
        let token = |grants: serde_json::Value| {
            let claims = serde_json::json!({
                "jti": "j", "iss": KEY, "sub": ACCOUNT, "nbf": 1_700_000_000,
                "exp": 1_700_003_600, "grants": grants,
            });
            verify(&sign_raw(HEADER, &claims, "secret"), secret("secret"), ACCOUNT, 1_700_000_010)
                .unwrap()
        };
        // As the Python SDK's TaskRouterGrant writes it.
        let worker = token(serde_json::json!({
            "identity": "alice",
            "task_router": {
                "workspace_sid": "WS00000000000000000000000000000001",
                "worker_sid": "WK00000000000000000000000000000002",
                "role": "worker",
            },
        }));
        assert!(!worker.chat);
        let grant = worker.task_router.unwrap();
        assert_eq!(grant.workspace_sid.as_deref(), Some("WS00000000000000000000000000000001"));
        assert_eq!(grant.worker_sid.as_deref(), Some("WK00000000000000000000000000000002"));
        assert_eq!(grant.role.as_deref(), Some("worker"));
        let chat = token(serde_json::json!({"identity": "alice", "chat": {}}));
        assert!(chat.chat && chat.task_router.is_none());
        let both = token(serde_json::json!({"identity": "alice", "chat": {}, "task_router": {}}));
        assert!(both.chat && both.task_router.is_some());
    }

    #[test]
    fn legacy_ip_messaging_grant_and_missing_identity() {
        const HEADER: &str = r#"{"typ":"JWT","alg":"HS256","cty":"twilio-fpa;v=1"}"#;
        // Twilio's documented decoded example uses `ip_messaging`.
        let legacy = sign_raw(
            HEADER,
            &serde_json::json!({
                "jti": format!("{KEY}-1450471147"), "iss": KEY, "sub": ACCOUNT,
                "nbf": 1_450_471_147, "exp": 1_450_474_747,
                "grants": {
                    "identity": "user@example.com",
                    "ip_messaging": {
                        "service_sid": "IS00000000000000000000000000000001",
                        "endpoint_id": "HipFlowSlackDockRC:user@example.com:someiosdevice",
                    },
                },
            }),
            "secret",
        );
        let ok = verify(&legacy, secret("secret"), ACCOUNT, 1_450_471_200).unwrap();
        assert_eq!(ok.identity, "user@example.com");
        assert_eq!(ok.service_sid.as_deref(), Some("IS00000000000000000000000000000001"));
        assert_eq!((ok.api_key_sid.as_str(), ok.expires_at), (KEY, 1_450_474_747));

        // `chat` wins when both are present.
        let both = sign_raw(
            HEADER,
            &serde_json::json!({
                "jti": "j", "iss": KEY, "sub": ACCOUNT, "exp": 1_450_474_747,
                "grants": {
                    "identity": "u",
                    "chat": {"service_sid": "IS00000000000000000000000000000002"},
                    "ip_messaging": {"service_sid": "IS00000000000000000000000000000001"},
                },
            }),
            "secret",
        );
        let ok = verify(&both, secret("secret"), ACCOUNT, 1_450_471_200).unwrap();
        assert_eq!(ok.service_sid.as_deref(), Some("IS00000000000000000000000000000002"));

        for grants in [serde_json::json!({"chat": {}}), serde_json::json!({"identity": ""})] {
            let token = sign_raw(
                HEADER,
                &serde_json::json!({"jti": "j", "iss": KEY, "sub": ACCOUNT, "exp": 1_450_474_747, "grants": grants}),
                "secret",
            );
            assert_eq!(
                verify(&token, secret("secret"), ACCOUNT, 1_450_471_200),
                Err(TokenError::NoIdentity),
                "{grants}"
            );
        }
    }

    #[test]
    fn lifetime_limit_without_nbf_counts_from_now() {
        const HEADER: &str = r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#;
        let claims = |exp: i64| serde_json::json!({"jti": "j", "iss": KEY, "sub": ACCOUNT, "exp": exp, "grants": {"identity": "u"}});
        let now = 1_800_000_000;
        let day = sign_raw(HEADER, &claims(now + MAX_LIFETIME_SECS), "secret");
        assert!(verify(&day, secret("secret"), ACCOUNT, now).is_ok());
        let longer = sign_raw(HEADER, &claims(now + MAX_LIFETIME_SECS + 1), "secret");
        assert_eq!(verify(&longer, secret("secret"), ACCOUNT, now), Err(TokenError::TooLong));
        // Exactly 24 hours from nbf is allowed.
        let exact = mint(ACCOUNT, KEY, "secret", "u", None, 86_400, now);
        assert!(verify(&exact, secret("secret"), ACCOUNT, now).is_ok());
    }

    #[test]
    fn errors_map_to_twilio_codes() {
        let cases = [
            (TokenError::Invalid, 20101),
            (TokenError::Header, 20102),
            (TokenError::Expired, 20104),
            (TokenError::NotYetValid, 20101),
            (TokenError::TooLong, 20101),
            (TokenError::WrongAccount, 20101),
            (TokenError::NoIdentity, 20101),
        ];
        for (error, code) in cases {
            let api = ApiError::from(error.clone());
            assert_eq!((api.status(), api.code()), (401, code), "{error}");
        }
    }
}
