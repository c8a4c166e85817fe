//! Request signatures as the HTTP layer uses them: Twilio's `X-Twilio-Signature` (HMAC-SHA1 over
//! the URL and the sorted parameters, port-tolerant, `bodySHA256` for JSON bodies) and Meta's
//! `X-Hub-Signature-256`.
//!
//! The code lives in `switchboard_crypto::webhook` (the crate that owns every keyed hash, shared
//! with the outbox that signs what we send); this module re-exports it under the Twilio
//! conventions and pins, through this path, every published vector the HTTP layer relies on, so
//! a change on either side that breaks compatibility with Twilio's SDKs fails here too.

pub use switchboard_crypto::webhook::{
    compute, meta_signature, validate, validate_json, validate_meta,
};

/// The header Twilio signs requests with.
pub const TWILIO_HEADER: &str = "X-Twilio-Signature";
/// The header Meta (WhatsApp Cloud API, Messenger) signs webhooks with.
pub const META_HEADER: &str = "X-Hub-Signature-256";

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
    fn twilio_api_8a_published_vector_and_ports() {
        let p = call_params("+14158675309");
        assert_eq!(compute("12345", URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let with_443 = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(compute("12345", with_443, &p), "kvajT1Ptam85bY51eRf/AJRuM3w=");
        // Accepted both ways round.
        assert!(validate("12345", with_443, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(validate("12345", URL, &p, "kvajT1Ptam85bY51eRf/AJRuM3w="));

        let http_80 = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
        assert_eq!(compute("12345", http_80, &p), "0ZXoZLH/DfblKGATFgpif+LLRf4=");
        assert!(validate(
            "12345",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &p,
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
        let http_1234 = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(compute("12345", http_1234, &p), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
        assert!(validate("12345", http_1234, &p, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
        // A non-default port is part of what was signed: the port-less signature does not fit it,
        // nor does the other scheme's.
        assert!(!validate("12345", http_1234, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!validate("12345", URL, &p, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    }

    #[test]
    fn twilio_api_8a_repeated_keys_and_non_ascii() {
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(compute("12345", URL, &repeated), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        assert!(validate("12345", URL, &repeated, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
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
    fn twilio_api_8a_json_bodies() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(compute("12345", url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(validate_json("12345", url, body, "a9nBmqA0ju/hNViExpshrM61xv4="));
        // The body must hash to the URL's bodySHA256 even when the signature is right.
        assert!(!validate_json(
            "12345",
            url,
            br#"{"property": "value"}"#,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        assert!(!validate_json("54321", url, body, "a9nBmqA0ju/hNViExpshrM61xv4="));
        // No bodySHA256 in the URL: nothing to check the body against.
        assert!(!validate_json("12345", URL, body, &compute("12345", URL, &[])));

        // SignalWire "Vector C" (Twilio-compatible).
        let url = "https://example.ngrok.io/webhook?bodySHA256=69f3cbfc18e386ef8236cb7008cd5a54b7fed637a8cb3373b5a1591d7f0fd5f4";
        assert_eq!(compute("PSKtest1234567890abcdef", url, &[]), "dfO9ek8mxyFtn2nMz24plPmPfIY=");
        assert!(validate_json(
            "PSKtest1234567890abcdef",
            url,
            br#"{"event":"call.state"}"#,
            "dfO9ek8mxyFtn2nMz24plPmPfIY="
        ));
    }

    #[test]
    fn real_clients_2_python_sdk_vectors() {
        // V1
        let v1 = call_params("+12349013030");
        assert!(validate("12345", URL, &v1, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!validate("12345", URL, &v1, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        // V2: UTF-8 values, an `&` inside a value, a non-default port signed verbatim.
        let chat_url = "http://127.0.0.1:8080/hooks/chat";
        let v2 = params(&[
            ("EventType", "onMessageSent"),
            ("ChannelSid", "CH00000000000000000000000000000000"),
            ("Body", "héllo wörld & more"),
            ("From", "alice"),
            ("Index", "0"),
        ]);
        assert_eq!(compute("test_auth_token", chat_url, &v2), "wpFYVFAFjK6YWlEr3Zo/stFiBcY=");
        assert!(validate("test_auth_token", chat_url, &v2, "wpFYVFAFjK6YWlEr3Zo/stFiBcY="));
        // V2b: a repeated name's values are sorted too.
        let v2b = params(&[("Tags", "b"), ("Tags", "a"), ("Body", "x")]);
        assert_eq!(compute("test_auth_token", chat_url, &v2b), "fAN5+vfskXwwWmokr1HFUF1bHG4=");
        assert!(validate("test_auth_token", chat_url, &v2b, "fAN5+vfskXwwWmokr1HFUF1bHG4="));
        // V3: JSON body, no params.
        let v3 = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert!(validate_json(
            "12345",
            v3,
            br#"{"property": "value", "boolean": true}"#,
            "y77kIzt2vzLz71DgmJGsen2scGs="
        ));
    }

    #[test]
    fn empty_and_garbage_headers_never_validate() {
        let p = call_params("+14158675309");
        for header in ["", " ", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "rsoydt4t1cutdk1pdd93/vvr8b8="] {
            assert!(!validate("12345", URL, &p, header), "{header:?}");
        }
        assert!(!validate("", URL, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn meta_vectors() {
        // twilio-api.md 8b.
        assert_eq!(
            meta_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(
            meta_signature("secret", b"test"),
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        // real-clients.md 5.
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756";
        assert_eq!(meta_signature("test_app_secret", body), header);
        assert!(validate_meta("test_app_secret", body, header));
        assert!(!validate_meta("other", body, header));
        assert!(!validate_meta("test_app_secret", b"{}", header));
        assert!(!validate_meta("test_app_secret", body, ""));
        assert!(!validate_meta(
            "test_app_secret",
            body,
            "dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
        ));
    }
}
