//! deploy/nginx/switchboard.conf run by real nginx in front of the daemon: signed webhooks
//! checked against the public URL, a WebSocket upgraded and streaming, `/metrics` hidden, the
//! request id carried both ways, plain HTTP redirected to HTTPS.
//!
//! The example is taken as it is in the repository; only its listen ports, the upstream's
//! address and the certificate paths are rewritten, each by the exact line, so an edit to the
//! example that the test does not follow fails here instead of drifting silently.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::api::{
    basic, daemon_command, frames, token, twilio_signature, AUTH_TOKEN, OUR_NUMBER,
};
use crate::support::python::repo;
use crate::support::Daemon;

/// The server name the example answers for; the client resolves it to 127.0.0.1 itself.
const SERVER_NAME: &str = "chat.example.com";

/// A port free on 127.0.0.1 when asked (nginx binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `text` with the one line `old` replaced by `new`; panics unless `old` is there exactly once.
fn replace_line(text: &str, old: &str, new: &str) -> String {
    let found = text.lines().filter(|line| *line == old).count();
    assert_eq!(
        found, 1,
        "deploy/nginx/switchboard.conf should have the line {old:?} once (found {found} times): \
         the example changed, so change this test with it"
    );
    text.lines().map(|line| if line == old { new } else { line }).collect::<Vec<_>>().join("\n")
        + "\n"
}

/// The ports nginx listens on for the test, in place of 80 and 443.
struct Ports {
    http: u16,
    tls: u16,
}

/// The example with what must change for a test: its listeners on 127.0.0.1's free ports (the
/// IPv6 ones dropped: a test machine may have no IPv6), the daemon's address, the certificate.
fn example_for_test(ports: &Ports, daemon_address: &str, cert: &Path, key: &Path) -> String {
    let text = std::fs::read_to_string(repo().join("deploy/nginx/switchboard.conf")).unwrap();
    let replacements = [
        ("    listen 80;".to_owned(), format!("    listen 127.0.0.1:{};", ports.http)),
        ("    listen [::]:80;".to_owned(), String::new()),
        (
            "    listen 443 ssl http2;".to_owned(),
            format!("    listen 127.0.0.1:{} ssl http2;", ports.tls),
        ),
        ("    listen [::]:443 ssl http2;".to_owned(), String::new()),
        ("    server 127.0.0.1:8080;".to_owned(), format!("    server {daemon_address};")),
        (
            format!("    ssl_certificate     /etc/letsencrypt/live/{SERVER_NAME}/fullchain.pem;"),
            format!("    ssl_certificate     {};", cert.display()),
        ),
        (
            format!("    ssl_certificate_key /etc/letsencrypt/live/{SERVER_NAME}/privkey.pem;"),
            format!("    ssl_certificate_key {};", key.display()),
        ),
    ];
    replacements.iter().fold(text, |text, (old, new)| replace_line(&text, old, new))
}

/// The nginx program: on the PATH, or where Debian puts it (/usr/sbin, on no user's PATH but
/// root's); a missing one fails the test.
fn nginx_program() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|program| program.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx is needed: Debian's `nginx` package (.ci/run installs it; the test runs \
                 its own nginx, not the system's)"
            )
        })
}

/// nginx run as a child on a configuration of its own, stopped when dropped (a failing test
/// included).
struct Nginx {
    child: Child,
    prefix: PathBuf,
}

impl Nginx {
    /// The example, rewritten, inside the least `nginx.conf` that runs it as this user with
    /// everything under `prefix`; waits until it accepts connections on the TLS port.
    fn start(prefix: &Path, example: &str, tls_port: u16) -> Nginx {
        std::fs::write(prefix.join("switchboard.conf"), example).unwrap();
        let p = prefix.display();
        // Run as root (as CI may), nginx hands its workers to `nobody`, who cannot enter the
        // test's private temporary folder: keep them as root there. The folder this process just
        // made is owned by whom it runs as.
        let as_root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(prefix).unwrap()) == 0;
        let user = if as_root { "user root;\n" } else { "" };
        let main = format!(
            "{user}worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log {p}/access.log;\n\
             \x20   client_body_temp_path {p}/client_body;\n    proxy_temp_path {p}/proxy;\n\
             \x20   fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n\
             \x20   scgi_temp_path {p}/scgi;\n    include {p}/switchboard.conf;\n}}\n"
        );
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, main).unwrap();
        let program = nginx_program();
        let nginx = |args: &[&str]| {
            let mut command = Command::new(&program);
            command
                .arg("-p")
                .arg(prefix)
                .arg("-c")
                .arg(&conf)
                // The log of its start, before it reads the configuration's error_log.
                .arg("-e")
                .arg(prefix.join("error.log"))
                .args(args);
            command
        };
        // `-t` first: a configuration nginx refuses says why here.
        let checked = nginx(&["-t"]).output().expect("nginx -t runs");
        assert!(
            checked.status.success(),
            "nginx refuses the example:\n{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        let child = nginx(&["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx { child, prefix: prefix.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                panic!("nginx exited ({status}):\n{}", nginx.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen:\n{}", nginx.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master, which stops its workers (SIGKILL would leave them listening).
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS client that trusts only the test's certificate.
fn tls_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(cert).unwrap();
    for der in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(der.unwrap()).unwrap();
    }
    Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

/// An HTTP client that reaches `chat.example.com:<port>` at 127.0.0.1 (so the Host header and
/// the TLS server name are the public ones), and shows redirects instead of following them.
fn public_client(cert: &Path) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(tls_config(cert))
        .redirects(0)
        .resolver(|address: &str| {
            let port = address
                .strip_prefix(&format!("{SERVER_NAME}:"))
                .and_then(|port| port.parse::<u16>().ok())
                .ok_or_else(|| std::io::Error::other(format!("not the test's host: {address}")))?;
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        })
        .build()
}

/// Status, named response header and body of a request, 4xx and 5xx included.
fn answer(result: Result<ureq::Response, ureq::Error>, header: &str) -> (u16, String, String) {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("request failed: {error}"),
    };
    let status = response.status();
    let value = response.header(header).unwrap_or_default().to_owned();
    (status, value, response.into_string().unwrap_or_default())
}

/// A WebSocket to `url` (wss://chat.example.com:<port>/…) over TLS to 127.0.0.1.
fn public_websocket(
    cert: &Path,
    url: &str,
    port: u16,
) -> tungstenite::WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // `frames` reads until the socket is quiet for a while: reads must time out.
    tcp.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let name = rustls::pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    let tls = rustls::ClientConnection::new(tls_config(cert), name).unwrap();
    let stream = rustls::StreamOwned::new(tls, tcp);
    match tungstenite::client(url, stream) {
        Ok((socket, _)) => socket,
        Err(error) => panic!("no WebSocket through nginx: {error}"),
    }
}

/// The daemon, set as the example's comment tells operators, behind nginx running the example,
/// and a client that reaches it as the public does. Dropped in this order: nginx, the daemon,
/// their folder.
struct Proxied {
    nginx: Nginx,
    daemon: Daemon,
    client: ureq::Agent,
    ports: Ports,
    /// `https://chat.example.com:<nginx's TLS port>`, the daemon's public_url.
    public_url: String,
    cert: PathBuf,
    /// The Chat service of the SMS flow.
    service: String,
    _temp: tempfile::TempDir,
}

impl Proxied {
    fn start() -> Proxied {
        let temp = tempfile::tempdir().unwrap();
        let ports = Ports { http: free_port(), tls: free_port() };
        let public_url = format!("https://{SERVER_NAME}:{}", ports.tls);
        // public_url is the proxy's URL, and no limits per address: every connection comes
        // from the proxy's.
        let mut command = daemon_command(&temp.path().join("data"));
        command
            .env("SWITCHBOARD_PUBLIC_URL", &public_url)
            .env("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "0")
            .env("SWITCHBOARD_RATE_FAILED_AUTH_PER_MINUTE", "0")
            .env("SWITCHBOARD_RATE_ADDRESS_PER_SECOND", "0");
        let daemon = Daemon::start(command);
        let (service, _) = daemon.sms_flow(false);
        let prefix = temp.path().join("nginx");
        std::fs::create_dir(&prefix).unwrap();
        let (cert, key) = crate::support::self_signed_certificate(&prefix, SERVER_NAME);
        let daemon_address = daemon.base_url.trim_start_matches("http://").to_owned();
        let example = example_for_test(&ports, &daemon_address, &cert, &key);
        let nginx = Nginx::start(&prefix, &example, ports.tls);
        let client = public_client(&cert);
        Proxied { nginx, daemon, client, ports, public_url, cert, service, _temp: temp }
    }

    fn public(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// An inbound SMS posted through nginx, its signature made over `signed_url`.
    fn sms(&self, from: &str, body: &str, message_sid: &str, signed_url: &str) -> (u16, String) {
        let params =
            [("From", from), ("To", OUR_NUMBER), ("Body", body), ("MessageSid", message_sid)];
        let signature = twilio_signature(AUTH_TOKEN, signed_url, &params);
        let request = self.client.post(&self.public("/webhooks/twilio"));
        let (status, _, body) =
            answer(request.set("X-Twilio-Signature", &signature).send_form(&params), "");
        (status, body)
    }

    /// The bodies of the messages stored in the service's one channel, listed through nginx.
    fn stored_bodies(&self) -> Vec<String> {
        let path = format!(
            "/chat/v2/Services/{}/Channels?Type=private&Type=public&PageSize=100",
            self.service
        );
        let request = self.client.get(&self.public(&path)).set("Authorization", &basic());
        let (status, _, body) = answer(request.call(), "");
        assert_eq!(status, 200, "{body}");
        let listed: Value = serde_json::from_str(&body).unwrap();
        let channels = listed["channels"].as_array().unwrap();
        assert_eq!(channels.len(), 1, "{channels:?}");
        // Absolute URLs in answers are the public ones.
        let url = channels[0]["url"].as_str().unwrap_or_default();
        assert!(url.starts_with(&self.public_url), "{channels:?}");
        let channel = channels[0]["sid"].as_str().unwrap();
        let messages = self.daemon.messages(&self.service, channel);
        messages.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect()
    }
}

#[test]
fn the_nginx_example_proxies_signed_webhooks_websockets_and_request_ids_and_hides_metrics() {
    let proxied = Proxied::start();
    // The customer's socket first, through /ws: upgraded, authenticated, ready.
    let customer = "+14155550701";
    let ws_url =
        format!("wss://{SERVER_NAME}:{}/ws?token={}", proxied.ports.tls, token(customer, "1h"));
    let mut socket = public_websocket(&proxied.cert, &ws_url, proxied.ports.tls);
    let ready = frames(&mut socket, 1);
    assert_eq!(ready.first().map(|f| &f["type"]), Some(&Value::from("ready")), "{ready:?}");
    assert_eq!(ready[0]["identity"], customer, "{ready:?}");

    // A webhook signed over the public URL, as Twilio signs what it posts there: taken …
    let public_webhook = proxied.public("/webhooks/twilio");
    let (status, body) = proxied.sms(
        customer,
        "hello through nginx",
        "SM00000000000000000000000000000701",
        &public_webhook,
    );
    assert_eq!(status, 200, "{body}\nnginx:\n{}", proxied.nginx.error_log());
    // … and streamed to the customer's socket through the proxy.
    let seen = frames(&mut socket, 10);
    let added: Vec<_> = seen.iter().filter(|f| f["type"] == "message_added").collect();
    assert_eq!(added.len(), 1, "{seen:?}");
    assert_eq!(added[0]["body"], "hello through nginx", "{seen:?}");

    // One signed over the daemon's own address, as if public_url were left unset: refused.
    let own_webhook = proxied.daemon.url("/webhooks/twilio");
    let (status, body) = proxied.sms(
        customer,
        "signed over the wrong URL",
        "SM00000000000000000000000000000702",
        &own_webhook,
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(proxied.stored_bodies(), ["hello through nginx"]);

    request_ids_metrics_and_plain_http(&proxied);

    // And nginx had nothing to complain of, at start or since.
    let log = proxied.nginx.error_log();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|line| {
            ["[warn]", "[error]", "[crit]", "[alert]", "[emerg]"].iter().any(|l| line.contains(l))
        })
        .collect();
    assert!(complaints.is_empty(), "{log}");
}

/// The client's request id comes back, `/metrics` is hidden, plain HTTP is redirected.
fn request_ids_metrics_and_plain_http(proxied: &Proxied) {
    let client = &proxied.client;
    // The client's request id reaches the daemon and comes back through nginx.
    let (status, id, _) = answer(
        client.get(&proxied.public("/healthz")).set("X-Request-Id", "e2e-proxy-701").call(),
        "X-Request-Id",
    );
    assert_eq!((status, id.as_str()), (200, "e2e-proxy-701"));

    // /metrics: served by the daemon to the account's credentials, not through the proxy.
    let direct = ureq::get(&proxied.daemon.url("/metrics")).set("Authorization", &basic()).call();
    assert_eq!(direct.map(|r| r.status()).ok(), Some(200));
    let (status, _, _) =
        answer(client.get(&proxied.public("/metrics")).set("Authorization", &basic()).call(), "");
    assert_eq!(status, 404);

    // Plain HTTP: redirected to HTTPS, path and query kept.
    let plain = format!("http://{SERVER_NAME}:{}/webchat/v1/widget.js?v=1", proxied.ports.http);
    let (status, location, _) = answer(client.get(&plain).call(), "Location");
    assert_eq!(status, 301);
    assert_eq!(location, format!("https://{SERVER_NAME}/webchat/v1/widget.js?v=1"));
}
