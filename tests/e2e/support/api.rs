//! Talking to a running daemon as its users do: REST with HTTP Basic, Twilio-signed webhooks,
//! WebSockets with access tokens. The signing here is written independently of the server's, from
//! Twilio's published algorithm, so a mistake on either side shows.

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

use super::{run, switchboard, Daemon};

pub const ACCOUNT_SID: &str = "AC5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b";
pub const AUTH_TOKEN: &str = "e2e_auth_token";
pub const API_KEY_SID: &str = "SK5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b";
pub const API_KEY_SECRET: &str = "e2e_api_key_secret";
/// The number our Flex Flows answer for.
pub const OUR_NUMBER: &str = "+15005550006";

/// The daemon's settings in every test: known credentials, and nothing sent off the machine.
pub const DAEMON_SETTINGS: [(&str, &str); 7] = [
    ("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID),
    ("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN),
    ("SWITCHBOARD_API_KEY_SID", API_KEY_SID),
    ("SWITCHBOARD_API_KEY_SECRET", API_KEY_SECRET),
    // Replies must never go to the real Twilio from a test: a closed port on loopback unless a
    // test serves a fake there.
    ("SWITCHBOARD_TWILIO_API_BASE", "http://127.0.0.1:9"),
    ("SWITCHBOARD_GRAPH_API_BASE", "http://127.0.0.1:9"),
    // No default service and web flow: each test makes what it counts on (tests/e2e/widget.rs
    // starts without this).
    ("SWITCHBOARD_FIRST_START_DEFAULTS", "false"),
];

/// `switchboard` with known credentials and a data folder.
pub fn daemon_command(data_dir: &std::path::Path) -> Command {
    let mut command = switchboard();
    command.env("SWITCHBOARD_DATA_DIR", data_dir).envs(DAEMON_SETTINGS);
    // Nor anything else off this machine (a media URL a test made up): every proxied request
    // goes to a closed port, and only loopback, where the fakes are, is reached directly.
    for (name, value) in [
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("ALL_PROXY", "http://127.0.0.1:9"),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ] {
        command.env(name, value).env(name.to_ascii_lowercase(), value);
    }
    command
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn read(result: Result<ureq::Response, ureq::Error>) -> Response {
    match result {
        Ok(response) => {
            Response { status: response.status(), body: response.into_string().unwrap() }
        }
        Err(ureq::Error::Status(status, response)) => {
            Response { status, body: response.into_string().unwrap_or_default() }
        }
        Err(error) => panic!("request failed: {error}"),
    }
}

/// A response read as bytes, with its content type.
#[derive(Debug)]
pub struct Bytes {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

fn read_bytes(result: Result<ureq::Response, ureq::Error>) -> Bytes {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("request failed: {error}"),
    };
    let status = response.status();
    let content_type = response.header("Content-Type").unwrap_or_default().to_owned();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    Bytes { status, content_type, body }
}

/// GET `url` with `authorization` (a whole header value) when given, read as bytes.
pub fn get_bytes(url: &str, authorization: Option<&str>) -> Bytes {
    let mut request = ureq::get(url);
    if let Some(authorization) = authorization {
        request = request.set("Authorization", authorization);
    }
    read_bytes(request.call())
}

/// POST raw `body` of `content_type` to `url` with `authorization` when given.
pub fn post_bytes(
    url: &str,
    content_type: &str,
    body: &[u8],
    authorization: Option<&str>,
) -> Response {
    let mut request = ureq::post(url).set("Content-Type", content_type);
    if let Some(authorization) = authorization {
        request = request.set("Authorization", authorization);
    }
    read(request.send_bytes(body))
}

/// The `Authorization` header of the account's Basic credentials.
pub fn basic() -> String {
    format!("Basic {}", BASE64.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")))
}

impl Daemon {
    pub fn get(&self, path: &str) -> Response {
        read(ureq::get(&self.url(path)).set("Authorization", &basic()).call())
    }

    pub fn get_anonymous(&self, path: &str) -> Response {
        read(ureq::get(&self.url(path)).call())
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        read(ureq::post(&self.url(path)).set("Authorization", &basic()).send_form(form))
    }

    /// `post` with more request headers (`X-Twilio-Webhook-Enabled`, …).
    pub fn post_with_headers(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = ureq::post(&self.url(path)).set("Authorization", &basic());
        for (name, value) in headers {
            request = request.set(name, value);
        }
        read(request.send_form(form))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.delete_with_headers(path, &[])
    }

    /// `delete` with more request headers (`X-Twilio-Webhook-Enabled`, …).
    pub fn delete_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = ureq::delete(&self.url(path)).set("Authorization", &basic());
        for (name, value) in headers {
            request = request.set(name, value);
        }
        read(request.call())
    }

    /// A Chat Service and an enabled SMS flow with the task integration; returns (IS, FO).
    pub fn sms_flow(&self, long_lived: bool) -> (String, String) {
        let service = self.post("/chat/v2/Services", &[("FriendlyName", "support")]);
        assert_eq!(service.status, 201, "{}", service.body);
        let service = service.json()["sid"].as_str().unwrap().to_owned();
        let long_lived = if long_lived { "true" } else { "false" };
        let flow = self.post(
            "/flex/v1/FlexFlows",
            &[
                ("FriendlyName", "SMS"),
                ("ChatServiceSid", &service),
                ("ChannelType", "sms"),
                ("ContactIdentity", OUR_NUMBER),
                ("Enabled", "true"),
                ("IntegrationType", "task"),
                ("LongLived", long_lived),
            ],
        );
        assert_eq!(flow.status, 201, "{}", flow.body);
        (service, flow.json()["sid"].as_str().unwrap().to_owned())
    }

    /// A Chat Service and a Flex Flow on it with `params` (FriendlyName and ChatServiceSid are
    /// added); returns (IS, FO).
    pub fn flow(&self, params: &[(&str, &str)]) -> (String, String) {
        let service = self.post("/chat/v2/Services", &[("FriendlyName", "flow service")]);
        assert_eq!(service.status, 201, "{}", service.body);
        let service = service.json()["sid"].as_str().unwrap().to_owned();
        let mut form = vec![("FriendlyName", "flow"), ("ChatServiceSid", service.as_str())];
        form.extend_from_slice(params);
        let flow = self.post("/flex/v1/FlexFlows", &form);
        assert_eq!(flow.status, 201, "{}", flow.body);
        (service, flow.json()["sid"].as_str().unwrap().to_owned())
    }

    /// Posts an inbound SMS as Twilio would, signed with the auth token.
    pub fn sms(&self, from: &str, body: &str, message_sid: &str) -> Response {
        let params = [
            ("From", from),
            ("To", OUR_NUMBER),
            ("Body", body),
            ("MessageSid", message_sid),
            ("NumMedia", "0"),
        ];
        self.twilio_webhook(&params, None)
    }

    /// Posts Twilio webhook parameters, signed (or with `signature` instead when given).
    pub fn twilio_webhook(&self, params: &[(&str, &str)], signature: Option<&str>) -> Response {
        let url = self.url("/webhooks/twilio");
        let signed = twilio_signature(AUTH_TOKEN, &url, params);
        let request = ureq::post(&url).set("X-Twilio-Signature", signature.unwrap_or(&signed));
        read(request.send_form(params))
    }

    /// The channels of a service, private ones included.
    pub fn channels(&self, service: &str) -> Vec<Value> {
        let list = self.get(&format!(
            "/chat/v2/Services/{service}/Channels?Type=private&Type=public&PageSize=100"
        ));
        assert_eq!(list.status, 200, "{}", list.body);
        list.json()["channels"].as_array().unwrap().clone()
    }

    pub fn messages(&self, service: &str, channel: &str) -> Vec<Value> {
        let list = self
            .get(&format!("/chat/v2/Services/{service}/Channels/{channel}/Messages?PageSize=100"));
        assert_eq!(list.status, 200, "{}", list.body);
        list.json()["messages"].as_array().unwrap().clone()
    }

    /// A WebSocket to `/ws`, with the token in the query string when given.
    pub fn websocket(
        &self,
        token: Option<&str>,
    ) -> Result<WebSocket<MaybeTlsStream<TcpStream>>, Box<tungstenite::Error>> {
        let base = self.base_url.replacen("http://", "ws://", 1);
        let url = match token {
            Some(token) => format!("{base}/ws?token={token}"),
            None => format!("{base}/ws"),
        };
        let (socket, _) = tungstenite::connect(url).map_err(Box::new)?;
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        }
        Ok(socket)
    }

    /// A WebSocket (token in the query) whose socket has a receive buffer of about `bytes`, set
    /// before connecting so the window stays that small: a reader that stops reading holds back
    /// the server's writes after a few frames, not after the kernel's usual megabytes.
    pub fn websocket_with_small_window(
        &self,
        token: &str,
        bytes: usize,
    ) -> WebSocket<MaybeTlsStream<TcpStream>> {
        use nix::sys::socket::{
            connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
        };
        let address = self.base_url.trim_start_matches("http://");
        let target: std::net::SocketAddrV4 = address.parse().unwrap();
        let fd =
            socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
        setsockopt(&fd, sockopt::RcvBuf, &bytes).unwrap();
        connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(target)).unwrap();
        let stream = TcpStream::from(fd);
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let url = format!("ws://{address}/ws?token={token}");
        let (socket, _) = tungstenite::client(url, MaybeTlsStream::Plain(stream)).unwrap();
        socket
    }
}

/// Asserts a response is an error in Twilio's shape with this status and code.
#[track_caller]
pub fn assert_twilio_error(response: &Response, status: u16, code: u64) {
    assert_eq!(response.status, status, "{}", response.body);
    let body = response.json();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["more_info"], format!("https://www.twilio.com/docs/errors/{code}"), "{body}");
}

/// X-Twilio-Signature: base64(HMAC-SHA1(token, url + sorted name/value pairs)).
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort();
    let mut text = url.to_owned();
    for (name, value) in sorted {
        text.push_str(name);
        text.push_str(value);
    }
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// An access token minted by the binary (`switchboard token`).
pub fn token(identity: &str, ttl: &str) -> String {
    token_for_service(identity, ttl, None)
}

/// An access token whose `ChatGrant` names `service` when given.
pub fn token_for_service(identity: &str, ttl: &str, service: Option<&str>) -> String {
    let mut command = switchboard();
    command.args(["token", "--identity", identity, "--ttl", ttl]);
    if let Some(service) = service {
        command.args(["--service", service]);
    }
    let minted = run(command
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_API_KEY_SID", API_KEY_SID)
        .env("SWITCHBOARD_API_KEY_SECRET", API_KEY_SECRET));
    minted.assert_ok();
    minted.stdout.trim().to_owned()
}

/// Reads up to `limit` text frames, stopping early once nothing comes for a while (the socket's
/// reads must time out). Any stream: a socket through TLS (tests/e2e/reverse_proxy.rs) too.
pub fn frames<S: std::io::Read + std::io::Write>(
    socket: &mut WebSocket<S>,
    limit: usize,
) -> Vec<Value> {
    let mut frames = Vec::new();
    let mut idle = 0;
    while frames.len() < limit && idle < 5 {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                idle = 0;
                frames.push(serde_json::from_str(&text).unwrap());
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                idle += 1
            }
            Err(_) => break,
        }
    }
    frames
}

/// Sends a client frame with `id` added and returns the server's answer to it (`ack` or
/// `error` carrying that id), skipping the events that arrive meanwhile; panics after a deadline.
pub fn ws_call(
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    mut frame: Value,
    id: &str,
) -> Value {
    frame["id"] = Value::String(id.to_owned());
    socket.send(tungstenite::Message::Text(frame.to_string())).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        for answer in frames(socket, 1) {
            if answer["id"] == id {
                return answer;
            }
        }
    }
    panic!("no answer to {id}");
}
