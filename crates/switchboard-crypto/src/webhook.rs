//! Webhook signatures: Twilio's `X-Twilio-Signature` (HMAC-SHA1 over the URL and the sorted
//! parameters) and Meta's `X-Hub-Signature-256` (HMAC-SHA256 over the raw body). Used to check
//! what providers send us (HTTP layer) and to sign what we send (outbox), so that existing
//! validators such as the Twilio SDK's `RequestValidator` keep working.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// `base64(HMAC-SHA1(auth_token, url ‖ name₁value₁ ‖ …))`, names sorted, and a repeated name's
/// values sorted too (twilio-python's RequestValidator).
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Checks a signature against `url` as given, without its port, and with the default port added,
/// because Twilio is inconsistent about ports.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    if header.is_empty() {
        return false;
    }
    url_variants(url).iter().any(|candidate| {
        let expected = compute(auth_token, candidate, params);
        expected.as_bytes().ct_eq(header.as_bytes()).into()
    })
}

/// A JSON-body webhook: the URL carries `bodySHA256=<hex sha256(body)>` and is signed alone.
pub fn validate_json(auth_token: &str, url: &str, body: &[u8], header: &str) -> bool {
    use sha2::Digest;
    let Some(query) = url.split_once('?').map(|(_, q)| q) else { return false };
    let Some(claimed) = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
    else {
        return false;
    };
    let actual = hex::encode(sha2::Sha256::digest(body));
    let hash_matches: bool = actual.as_bytes().ct_eq(claimed.as_bytes()).into();
    hash_matches && validate(auth_token, url, &[], header)
}

fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return variants };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    match authority.rsplit_once(':') {
        // "[::1]" splits into "[:" and "1]": not a port.
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            variants.push(format!("{scheme}://{host}{path}"));
        }
        _ => variants.push(format!("{scheme}://{authority}:{default_port}{path}")),
    }
    variants
}

/// Meta's `X-Hub-Signature-256` header value for `body`: `sha256=<hex HMAC-SHA256>`.
pub fn meta_signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn validate_meta(app_secret: &str, body: &[u8], header: &str) -> bool {
    let expected = meta_signature(app_secret, body);
    !header.is_empty() && bool::from(expected.as_bytes().ct_eq(header.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn call_params(caller: &str) -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ])
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn twilio_published_vectors() {
        let p = call_params("+14158675309");
        assert_eq!(compute("12345", URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(
            compute("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            compute("12345", "http://mycompany.com:80/myapp.php?foo=1&bar=2", &p),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
        assert_eq!(
            compute("12345", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &p),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        assert_eq!(
            compute("12345", URL, &call_params("+12349013030")),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn ports_are_tolerated_both_ways() {
        let p = call_params("+14158675309");
        assert!(validate("12345", URL, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(validate(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &p,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(validate("12345", URL, &p, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(!validate("12345", URL, &p, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
        assert!(!validate("wrong", URL, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!validate("12345", URL, &p, ""));
    }

    #[test]
    fn repeated_keys_and_non_ascii() {
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(compute("12345", URL, &repeated), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        let chat = params(&[
            ("EventType", "onMessageSent"),
            ("ChannelSid", "CH00000000000000000000000000000000"),
            ("Body", "héllo wörld & more"),
            ("From", "alice"),
            ("Index", "0"),
        ]);
        assert_eq!(
            compute("test_auth_token", "http://127.0.0.1:8080/hooks/chat", &chat),
            "wpFYVFAFjK6YWlEr3Zo/stFiBcY="
        );
        let tags = params(&[("Tags", "b"), ("Tags", "a"), ("Body", "x")]);
        assert_eq!(
            compute("test_auth_token", "http://127.0.0.1:8080/hooks/chat", &tags),
            "fAN5+vfskXwwWmokr1HFUF1bHG4="
        );
        let whatsapp = params(&[
            ("AccountSid", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("Body", "Hello wörld & co"),
            ("From", "whatsapp:+14155550100"),
            ("MessageSid", "SM11111111111111111111111111111111"),
            ("NumMedia", "0"),
            ("To", "whatsapp:+14155238886"),
        ]);
        assert_eq!(
            compute("12345", "https://example.com/twilio/sms", &whatsapp),
            "uLWlOqc9ZbXFZkgdr5gdOYchs0o="
        );
    }

    #[test]
    fn json_bodies_sign_the_url_and_hash_the_body() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(compute("12345", url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(validate_json("12345", url, body, "a9nBmqA0ju/hNViExpshrM61xv4="));
        assert!(!validate_json("12345", url, b"{}", "a9nBmqA0ju/hNViExpshrM61xv4="));
        // SignalWire's "Vector C" (Twilio-compatible).
        let vector_c = "https://example.ngrok.io/webhook?bodySHA256=69f3cbfc18e386ef8236cb7008cd5a54b7fed637a8cb3373b5a1591d7f0fd5f4";
        assert!(validate_json(
            "PSKtest1234567890abcdef",
            vector_c,
            br#"{"event":"call.state"}"#,
            "dfO9ek8mxyFtn2nMz24plPmPfIY="
        ));
        let v3 = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert!(validate_json("12345", v3, body, "y77kIzt2vzLz71DgmJGsen2scGs="));
    }

    #[test]
    fn meta_vectors() {
        assert_eq!(
            meta_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(
            meta_signature("secret", b"test"),
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756";
        assert!(validate_meta("test_app_secret", body, header));
        assert!(!validate_meta("other", body, header));
        assert!(!validate_meta("test_app_secret", body, ""));
    }
}
