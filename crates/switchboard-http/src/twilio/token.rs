//! Access tokens in Twilio's format: a JWT with header `cty: twilio-fpa;v=1`, HS256-signed with
//! an API key's secret, `iss` the API key SID, `sub` the account SID, and the chat identity in
//! `grants.identity`. Tokens minted by the official helper libraries are accepted as they are.
//!
//! Time is passed in (Unix seconds), never read here. A token may live at most 24 hours, as
//! Twilio's do; one whose `exp` is further than that from its `nbf` (or from now, without `nbf`)
//! is refused. No leeway is given: clients renew before expiry.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::twilio::error::ApiError;

/// The longest lifetime a token may claim.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
const CONTENT_TYPE: &str = "twilio-fpa;v=1";

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
    let mut header = Header::new(Algorithm::HS256);
    header.cty = Some(CONTENT_TYPE.to_owned());
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
        },
    };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(api_key_secret.as_bytes()))
        .expect("HS256 signing of serializable claims cannot fail")
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
    let identity =
        claims.grants.identity.filter(|i| !i.is_empty()).ok_or(TokenError::NoIdentity)?;
    Ok(VerifiedToken {
        identity,
        service_sid: chat.and_then(|c| c.service_sid),
        api_key_sid: claims.iss,
        expires_at: claims.exp,
    })
}

fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
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

    const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    /// twilio-api.md 8c (secret "secret").
    const REFERENCE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiLTE3MDAwMDAwMDAiLCJpc3MiOiJTS2JiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiwic3ViIjoiQUNhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYSIsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJncmFudHMiOnsiaWRlbnRpdHkiOiJhbGljZSIsImNoYXQiOnsic2VydmljZV9zaWQiOiJJU2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjIn19fQ._HFV70w8NWa21szNwvZF6w1aA55wz_0w5zxfpdVQJEA";
    /// real-clients.md 3: minted by the official Python SDK (secret "my_api_key_secret").
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
}
