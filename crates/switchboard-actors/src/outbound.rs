//! The one policy every outbound HTTP call goes through (media fetches, provider APIs, external
//! integrations, channel and service webhooks), so that no URL a stranger can name turns the
//! server against its own network.
//!
//! - Only `http` and `https`. An address in the URL (any spelling the URL standard reads:
//!   `0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`) is checked before anything is sent; a
//!   name is resolved by [`PolicyResolver`], which hands the connector only the addresses the
//!   policy admits, so a name cannot be re-pointed between the check and the connection.
//! - Refused unless the operator's allow-list names them: loopback, private, shared (CGNAT),
//!   link-local, multicast, unspecified, broadcast, documentation and other special-use
//!   addresses, in IPv4, IPv6 and the IPv6 forms that embed an IPv4 address.
//! - Redirects are followed here, hop by hop (at most [`MAX_REDIRECTS`]), each checked again.
//! - A [`Credential`] is bound to origins (scheme, host, port): it is sent to a hop only if the
//!   hop's origin is one of them, so never to another port, never over http when the origin is
//!   https, and never after a redirect off it.
//! - Every call has a time limit; answers are read through [`read_capped`].
//!
//! A request that goes through an HTTP proxy named by the environment (`HTTPS_PROXY`, …) is
//! checked for its scheme and any address in its URL, but its name is resolved by the proxy,
//! which must apply its own egress rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ipnet::IpNet;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

/// The most redirects one call follows.
pub const MAX_REDIRECTS: usize = 5;

/// The most of a provider's or a webhook's answer that is read (media have their own limit).
pub const ANSWER_LIMIT_BYTES: u64 = 64 * 1024;

/// Which private and special addresses outbound calls may reach after all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Networks the operator allows although they are special-use (say, an integration on
    /// 10.0.0.5); empty by default.
    pub allow: Vec<IpNet>,
}

impl OutboundPolicy {
    /// A policy from the allow-list's entries: addresses (`127.0.0.1`, `::1`) or networks
    /// (`10.0.0.0/8`, `fd00::/8`).
    pub fn from_entries<S: AsRef<str>>(entries: &[S]) -> Result<OutboundPolicy, String> {
        let allow = entries
            .iter()
            .map(|entry| {
                let text = entry.as_ref().trim();
                text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)).map_err(
                    |_| format!("{text:?} is not an address or a network (10.0.0.0/8, ::1)"),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(OutboundPolicy { allow })
    }

    /// Whether `ip` may be reached; `Err` says why not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        match special_use(ip) {
            Some(kind) if !self.allow.iter().any(|net| net.contains(&ip)) => {
                Err(Refused(format!("{ip} is {kind} address")))
            }
            _ => Ok(()),
        }
    }

    /// Whether a URL may be asked before its name is resolved: its scheme, and its host if it
    /// is an address.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("the scheme {:?} is not http or https", url.scheme())));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(Refused("the URL names no host".into())),
        }
    }
}

/// Why the policy refuses a call. Its text names the address, never the URL's path or query (a
/// CDN's signed URL is a credential of its own, and this text is logged and stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Special-use IPv4 networks (RFC 6890 and its updates), with what each is.
static SPECIAL_V4: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/8", "an unspecified (\"this network\")"),
        ("10.0.0.0/8", "a private"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "a loopback"),
        ("169.254.0.0/16", "a link-local"),
        ("172.16.0.0/12", "a private"),
        ("192.0.0.0/24", "a protocol-assignment"),
        ("192.0.2.0/24", "a documentation"),
        ("192.88.99.0/24", "a 6to4-relay"),
        ("192.168.0.0/16", "a private"),
        ("198.18.0.0/15", "a benchmarking"),
        ("198.51.100.0/24", "a documentation"),
        ("203.0.113.0/24", "a documentation"),
        ("224.0.0.0/4", "a multicast"),
        ("240.0.0.0/4", "a reserved (or broadcast)"),
    ]
    .into_iter()
    .map(|(net, kind)| (net.parse().expect("a valid network"), kind))
    .collect()
});

/// Special-use IPv6 networks; those that embed an IPv4 address are handled by [`special_use`].
static SPECIAL_V6: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("::/128", "an unspecified"),
        ("::1/128", "a loopback"),
        ("64:ff9b:1::/48", "a local-use NAT64"),
        ("100::/64", "a discard-only"),
        ("2001::/23", "an IETF protocol-assignment"),
        ("2001:db8::/32", "a documentation"),
        ("fc00::/7", "a unique-local (private)"),
        ("fe80::/10", "a link-local"),
        ("fec0::/10", "a site-local"),
        ("ff00::/8", "a multicast"),
    ]
    .into_iter()
    .map(|(net, kind)| (net.parse().expect("a valid network"), kind))
    .collect()
});

/// What kind of special-use address `ip` is ("a loopback", …), or `None` for a global one. IPv6
/// addresses that carry an IPv4 one (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return special_v4(v4);
            }
            SPECIAL_V6.iter().find(|(net, _)| net.contains(&ip)).map(|(_, kind)| *kind)
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let ip = IpAddr::V4(ip);
    SPECIAL_V4.iter().find(|(net, _)| net.contains(&ip)).map(|(_, kind)| *kind)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // `::` and `::1` themselves are not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, _, _] if u32::from(low) > 1 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)),
        _ => None,
    }
}

/// Resolves names as the system does, and gives the connector only the addresses the policy
/// admits. The statically linked build of the container image (deploy/container) resolves the
/// same way, with no resolver of its own: glibc's `files` and `dns` sources are part of libc
/// since 2.34, so a static binary reads /etc/hosts and /etc/resolv.conf with no NSS module
/// (tests/e2e/container.rs resolves a name inside the image).
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let (admitted, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| policy.check_ip(a.ip()).is_ok());
            if admitted.is_empty() {
                let why = match refused.first() {
                    Some(address) => policy.check_ip(address.ip()).err().map(|r| r.0),
                    None => None,
                };
                let why = why.unwrap_or_else(|| "no address".into());
                return Err(Box::new(Refused(format!("{name} resolves to {why}"))) as _);
            }
            Ok(Box::new(admitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why an outbound call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The policy refuses the URL, an address its name resolves to, or a redirect: retrying
    /// cannot help.
    #[error("refused by the outbound policy: {0}")]
    Refused(String),
    /// The network or the other side failed; a retry may pass.
    #[error("{0}")]
    Network(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("the answer is larger than {0} bytes")]
    TooLarge(u64),
}

impl OutboundError {
    /// Whether trying again later may give another outcome.
    pub fn may_pass(&self) -> bool {
        matches!(self, OutboundError::Network(_))
    }
}

impl From<Refused> for OutboundError {
    fn from(refused: Refused) -> OutboundError {
        OutboundError::Refused(refused.0)
    }
}

/// An error with its causes, without any URL: reqwest's own text leaves out why a connection
/// failed, and a URL may carry a credential. A refusal of the resolver stays a refusal.
fn classify(error: reqwest::Error) -> OutboundError {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return OutboundError::Refused(refused.0.clone());
        }
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    OutboundError::Network(text)
}

/// A URL for an outbound call, or the refusal that it is none.
pub fn parse_url(text: &str) -> Result<Url, OutboundError> {
    Url::parse(text).map_err(|e| OutboundError::Refused(format!("not a URL ({e})")))
}

/// `base` with `segments` appended, each percent-encoded as one path segment (a `/`, `?`, `#`
/// or `..` in a segment stays inside it).
pub fn endpoint(base: &str, segments: &[&str]) -> Result<Url, OutboundError> {
    let mut url = parse_url(base)?;
    url.path_segments_mut()
        .map_err(|()| OutboundError::Refused("the base URL cannot take a path".into()))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Whether `id` is a provider's id that may go into a URL: 1 to 128 ASCII letters, digits, `_`
/// or `-`. Meta's media, phone number and Page ids are digits; nothing else is expected.
pub fn is_plain_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An `Authorization` value that may go only to `origins`. No `Debug` of the value: it is a
/// secret.
#[derive(Clone)]
pub struct Credential {
    origins: Vec<url::Origin>,
    value: HeaderValue,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origins: Vec<_> = self.origins.iter().map(url::Origin::ascii_serialization).collect();
        f.debug_struct("Credential").field("origins", &origins).finish_non_exhaustive()
    }
}

impl Credential {
    /// HTTP Basic for the origin of `base` (Twilio's API).
    pub fn basic(base: &str, user: &str, password: &str) -> Credential {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Credential::new(&[base], &format!("Basic {pair}"))
    }

    /// A bearer token for the origins of `bases` (the Graph API; WhatsApp's media host).
    pub fn bearer(bases: &[&str], token: &str) -> Credential {
        Credential::new(bases, &format!("Bearer {token}"))
    }

    fn new(bases: &[&str], value: &str) -> Credential {
        let origins = bases
            .iter()
            .filter_map(|base| Url::parse(base).ok())
            .map(|url| url.origin())
            // An opaque origin (`data:`, a scheme without a host) equals nothing, itself included.
            .filter(url::Origin::is_tuple)
            .collect();
        // A value that cannot be a header (a newline in a token) is sent to no one.
        let mut value =
            HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
        value.set_sensitive(true);
        Credential { origins, value }
    }

    /// Whether this credential goes with a request to `url`.
    pub fn admits(&self, url: &Url) -> bool {
        !self.value.is_empty() && self.origins.contains(&url.origin())
    }
}

/// The HTTP client of the policy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl Outbound {
    /// A client under `policy` whose every request (each redirect's too) ends after `timeout`.
    pub fn new(policy: Arc<OutboundPolicy>, timeout: Duration) -> Outbound {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver { policy: Arc::clone(&policy) }))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            // Never a default client instead: it would follow redirects and resolve names
            // outside the policy. Building fails only if TLS cannot start, which is fatal anyway.
            .expect("the outbound HTTP client could not be built");
        Outbound { client, policy }
    }

    pub fn get(&self, url: Url) -> Call<'_> {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: Url) -> Call<'_> {
        self.request(Method::POST, url)
    }

    fn request(&self, method: Method, url: Url) -> Call<'_> {
        Call {
            outbound: self,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            credential: None,
            timeout: None,
        }
    }
}

/// One outbound call, built up and then sent.
#[derive(Debug)]
pub struct Call<'a> {
    outbound: &'a Outbound,
    method: Method,
    url: Url,
    headers: HeaderMap,
    /// The content type and the bytes.
    body: Option<(&'static str, bytes::Bytes)>,
    credential: Option<&'a Credential>,
    timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    /// A header; a name or value that cannot be one (a newline in it) is left out.
    pub fn header(mut self, name: &str, value: &str) -> Call<'a> {
        let name = HeaderName::from_bytes(name.as_bytes());
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(value)) {
            self.headers.insert(name, value);
        }
        self
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Call<'a> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            form.append_pair(name.as_ref(), value.as_ref());
        }
        self.body = Some(("application/x-www-form-urlencoded", form.finish().into()));
        self
    }

    /// A body of `content_type` as it is (a rendered template, which need not parse).
    pub fn body(mut self, content_type: &'static str, bytes: impl Into<bytes::Bytes>) -> Call<'a> {
        self.body = Some((content_type, bytes.into()));
        self
    }

    pub fn json(mut self, value: &serde_json::Value) -> Call<'a> {
        self.body = Some(("application/json", value.to_string().into()));
        self
    }

    /// Sent with each hop whose origin the credential admits, and with no other.
    pub fn credential(mut self, credential: &'a Credential) -> Call<'a> {
        self.credential = Some(credential);
        self
    }

    /// A shorter time limit than the client's, for each hop.
    pub fn timeout(mut self, timeout: Duration) -> Call<'a> {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the call, following redirects (each checked again); the first answer that is not
    /// a redirect is returned, whatever its status.
    pub async fn send(self) -> Result<Response, OutboundError> {
        let Call { outbound, mut method, mut url, headers, mut body, credential, timeout } = self;
        for _ in 0..=MAX_REDIRECTS {
            outbound.policy.check_url(&url)?;
            let mut request = outbound.client.request(method.clone(), url.clone());
            request = request.headers(headers.clone());
            if let Some((content_type, bytes)) = &body {
                request = request.header(CONTENT_TYPE, *content_type).body(bytes.clone());
            }
            if let Some(credential) = credential.filter(|c| c.admits(&url)) {
                request = request.header(AUTHORIZATION, credential.value.clone());
            }
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            let response = request.send().await.map_err(classify)?;
            let status = response.status();
            let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            let Some(next) = location.filter(|_| status.is_redirection()) else {
                return Ok(response);
            };
            url = url.join(next).map_err(|e| {
                OutboundError::Refused(format!("a redirect to something that is not a URL ({e})"))
            })?;
            // As browsers do: 303, and 301/302 after a POST, go on as a GET without a body.
            let as_get = status == StatusCode::SEE_OTHER
                || (method == Method::POST
                    && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND));
            if as_get {
                method = Method::GET;
                body = None;
            }
        }
        Err(OutboundError::TooManyRedirects)
    }
}

/// An answer's body, refused past `limit` bytes (checked on its declared length first).
pub async fn read_capped(mut response: Response, limit: u64) -> Result<Vec<u8>, OutboundError> {
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(OutboundError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(OutboundError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn special_addresses_are_refused_in_every_family_and_embedding() {
        let policy = OutboundPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:0a00:0001::1",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(policy.check_ip(ip(refused)).is_err(), "{refused} was admitted");
        }
        for admitted in [
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::",
            "2001:4860:4860::8888",
        ] {
            assert!(policy.check_ip(ip(admitted)).is_ok(), "{admitted} was refused");
        }
        let why = policy.check_ip(ip("::ffff:127.0.0.1")).unwrap_err();
        assert_eq!(why.0, "127.0.0.1 is a loopback address");
    }

    #[test]
    fn the_allow_list_admits_what_it_names_in_any_spelling() {
        let policy =
            OutboundPolicy::from_entries(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap();
        assert!(policy.check_ip(ip("127.0.0.1")).is_ok());
        assert!(policy.check_ip(ip("::ffff:127.0.0.1")).is_ok(), "the mapped form is the same");
        assert!(policy.check_ip(ip("127.0.0.2")).is_err());
        assert!(policy.check_ip(ip("10.200.0.1")).is_ok());
        assert!(policy.check_ip(ip("fd12::1")).is_ok());
        assert!(policy.check_ip(ip("::1")).is_err());
        let wrong = OutboundPolicy::from_entries(&["localhost"]).unwrap_err();
        assert!(wrong.contains("\"localhost\""), "{wrong}");
        assert!(OutboundPolicy::from_entries(&["10.0.0.0/33"]).is_err());
    }

    #[test]
    fn urls_are_read_as_the_url_standard_reads_them() {
        let policy = OutboundPolicy::default();
        for refused in [
            "http://127.0.0.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:127.0.0.1]:8080/",
            "http://0/",
            "file:///etc/passwd",
            "ftp://example.com/",
            "gopher://example.com/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(policy.check_url(&url).is_err(), "{refused} was admitted");
        }
        for admitted in
            ["https://example.com/x", "http://8.8.8.8:8080/", "https://[2606:4700::1111]/"]
        {
            assert!(policy.check_url(&Url::parse(admitted).unwrap()).is_ok(), "{admitted}");
        }
    }

    #[tokio::test]
    async fn names_are_resolved_and_only_admitted_addresses_are_given_to_the_connector() {
        use reqwest::dns::Resolve as _;
        let strict = PolicyResolver { policy: Arc::new(OutboundPolicy::default()) };
        let refused = strict.resolve("localhost".parse().unwrap()).await.err().unwrap();
        let refused = refused.downcast_ref::<Refused>().expect("a refusal");
        assert!(refused.0.starts_with("localhost resolves to "), "{refused}");
        let policy = OutboundPolicy::from_entries(&["127.0.0.0/8", "::1"]).unwrap();
        let allowing = PolicyResolver { policy: Arc::new(policy) };
        let admitted: Vec<_> =
            allowing.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!admitted.is_empty() && admitted.iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn credentials_go_to_their_exact_origin_only() {
        let basic = Credential::basic("https://api.twilio.com", "AC1", "token");
        let admits = |url: &str| basic.admits(&Url::parse(url).unwrap());
        assert!(admits("https://api.twilio.com/2010-04-01/Accounts/AC1/Media/ME1"));
        assert!(admits("https://API.twilio.com:443/x"), "the default port is the same origin");
        assert!(!admits("http://api.twilio.com/x"), "never in the clear");
        assert!(!admits("https://api.twilio.com:8443/x"), "another port");
        assert!(!admits("https://api.twilio.com.evil.test/x"));
        assert!(!admits("https://evil.test/?https://api.twilio.com"));
        let fake = Credential::basic("http://127.0.0.1:4010", "AC1", "token");
        assert!(fake.admits(&Url::parse("http://127.0.0.1:4010/Media/1").unwrap()));
        assert!(!fake.admits(&Url::parse("http://127.0.0.1:4011/Media/1").unwrap()));
        let bearer = Credential::bearer(
            &["https://graph.facebook.com/v22.0", "https://lookaside.fbsbx.com"],
            "t",
        );
        assert!(
            bearer.admits(&Url::parse("https://lookaside.fbsbx.com/whatsapp_business/x").unwrap())
        );
        assert!(!bearer.admits(&Url::parse("https://cdn.fbsbx.com/x").unwrap()));
        let printed = format!("{basic:?} {bearer:?}");
        assert!(!printed.contains("token") && !printed.contains("QUMx"), "{printed}");
        let broken = Credential::bearer(&["https://graph.facebook.com"], "a\nb");
        assert!(!broken.admits(&Url::parse("https://graph.facebook.com/x").unwrap()));
    }

    #[test]
    fn endpoints_encode_each_segment_and_ids_are_checked() {
        let url =
            endpoint("https://graph.facebook.com/v22.0", &["../../../admin/evil?x=1#"]).unwrap();
        assert_eq!(url.host_str(), Some("graph.facebook.com"));
        assert!(url.path().starts_with("/v22.0/"), "{url}");
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        assert_eq!(url.path_segments().unwrap().count(), 2, "{url}");
        let twilio =
            endpoint("http://127.0.0.1:9/", &["2010-04-01", "Accounts", "AC1", "Messages.json"])
                .unwrap();
        assert_eq!(twilio.as_str(), "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Messages.json");
        assert!(is_plain_id("1037543291543636"));
        assert!(is_plain_id("WAMEDIA1"));
        for wrong in ["", "..", "a/b", "a?b", "a#b", "a%2e", "é", &"1".repeat(129)] {
            assert!(!is_plain_id(wrong), "{wrong:?}");
        }
    }
}
