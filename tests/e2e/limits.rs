//! Limits on what a stranger controls, through the real daemon: stalled bodies and headers are
//! cut, one address cannot hold more than its share of connections (refused at once, no file
//! descriptor kept) while others are still answered, a full server sheds stalled bodies and,
//! past its ceiling, answers a whole request at once while stalled ones wait, signed webhooks take no longer bodies than
//! REST, names are as long as Twilio allows, an oversized WebSocket frame gets close 1009, and
//! health answers say what they are.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;
use tungstenite::Message;

use crate::support::api::{
    assert_twilio_error, basic, daemon_command, token, twilio_signature, AUTH_TOKEN, OUR_NUMBER,
};
use crate::support::Daemon;

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    for (name, value) in extra {
        command.env(name, value);
    }
    (temp, Daemon::start(command))
}

fn address(daemon: &Daemon) -> SocketAddr {
    daemon.base_url.trim_start_matches("http://").parse().unwrap()
}

/// A connection to the daemon from `source` (any loopback address: 127.0.0.2 is "someone else").
fn connect_from(source: &str, daemon: &Daemon) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&address(daemon).into()).unwrap();
    socket.into()
}

/// Headers of a webhook that announces 65 000 bytes of body, and the first byte of it.
fn stalled_webhook() -> Vec<u8> {
    b"POST /webhooks/twilio HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: abc\r\n\
      Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 65000\r\n\r\nT"
        .to_vec()
}

/// `count` stalled webhooks, from four addresses in turn (127.0.0.2–5).
fn stalled_webhooks(daemon: &Daemon, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let mut stream = connect_from(&format!("127.0.0.{}", 2 + i % 4), daemon);
            stream.write_all(&stalled_webhook()).unwrap();
            stream
        })
        .collect()
}

/// Everything the server sends until it closes the connection (or `limit` passes: then what
/// came so far, and `false`).
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (String::from_utf8_lossy(&received).into_owned(), true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            // A reset also closes it.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&received).into_owned(), true)
            }
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

fn open_descriptors(daemon: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", daemon.child.id())).unwrap().count()
}

#[test]
fn stalled_bodies_and_headers_are_cut() {
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_BODY_READ_TIMEOUT", "1s"),
        ("SWITCHBOARD_HEADER_READ_TIMEOUT", "1s"),
    ]);
    let mut webhook = TcpStream::connect(address(&daemon)).unwrap();
    webhook.write_all(&stalled_webhook()).unwrap();
    let rest_request = format!(
        "POST /chat/v2/Services HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 65000\r\n\r\nF",
        basic()
    );
    let mut rest = TcpStream::connect(address(&daemon)).unwrap();
    rest.write_all(rest_request.as_bytes()).unwrap();
    // `Connection: upgrade` on an ordinary body: no WebSocket, so its body has a deadline too.
    let mut upgrade = TcpStream::connect(address(&daemon)).unwrap();
    let upgrade_request = String::from_utf8(stalled_webhook()).unwrap().replacen(
        "Host: x\r\n",
        "Host: x\r\nConnection: Upgrade\r\n",
        1,
    );
    assert!(upgrade_request.contains("Connection: Upgrade"), "{upgrade_request}");
    upgrade.write_all(upgrade_request.as_bytes()).unwrap();
    let mut headers = TcpStream::connect(address(&daemon)).unwrap();
    headers.write_all(b"POST /webhooks/twilio HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Refused before its body is read (wrong credentials): the chunked body that trickles on is
    // not drained for ever, the connection closes with the answer.
    let mut refused = TcpStream::connect(address(&daemon)).unwrap();
    refused
        .write_all(
            b"POST /chat/v2/Services HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\
              Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        )
        .unwrap();
    // Generous: the server's limits are a second; this only stops a broken test from hanging.
    let wait = Duration::from_secs(30);
    let stalled = [("webhook", &mut webhook), ("REST", &mut rest), ("upgrade", &mut upgrade)];
    for (name, stream) in stalled {
        let (answer, closed) = read_until_closed(stream, wait);
        assert!(closed, "the stalled {name} body was never cut: {answer:?}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{name}: {answer:?}");
        assert!(
            answer.contains("\"code\":20001") || answer.contains("\"code\": 20001"),
            "{answer}"
        );
    }
    let (answer, closed) = read_until_closed(&mut headers, wait);
    assert!(closed, "stalled headers were never cut: {answer:?}");
    let (answer, closed) = read_until_closed(&mut refused, wait);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    assert!(closed, "a refused request's unread body kept its connection open");
    // The server still answers.
    assert_eq!(daemon.get_anonymous("/healthz").status, 200);
}

#[test]
fn one_address_holds_its_share_of_connections_and_the_rest_are_still_answered() {
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "40"),
        ("SWITCHBOARD_BODY_READ_TIMEOUT", "3s"),
    ]);
    let (service, _) = daemon.sms_flow(false);
    assert!(!service.is_empty());
    assert_eq!(daemon.get_anonymous("/healthz").status, 200);
    let before = open_descriptors(&daemon);
    // 200 hostile connections from one address, each with a stalled webhook body.
    let mut hostile: Vec<TcpStream> =
        (0..200).map(|_| connect_from("127.0.0.2", &daemon)).collect();
    for stream in &mut hostile {
        // A refused connection may already be closed: its write may fail.
        let _ = stream.write_all(&stalled_webhook());
    }
    // Meanwhile everyone else is served: health, and a correctly signed webhook.
    assert_eq!(daemon.get_anonymous("/healthz").status, 200);
    assert_eq!(
        daemon.sms("+14155550188", "still here", "SM00000000000000000000000000000c01").status,
        200
    );
    // Each hostile connection ends: refused at once (503, or closed), or cut at the body's
    // deadline (408). Exactly the address's share was let in.
    let mut cut = 0;
    let mut refused = 0;
    for stream in &mut hostile {
        let (answer, closed) = read_until_closed(stream, Duration::from_secs(30));
        assert!(closed, "a hostile connection stayed open: {answer:?}");
        if answer.starts_with("HTTP/1.1 408") {
            cut += 1;
        } else {
            assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer:?}");
            refused += 1;
        }
    }
    assert_eq!((cut, refused), (40, 160));
    assert_eq!(counter(&daemon, "switchboard_connections_refused_total"), 160.0);
    drop(hostile);
    // And no descriptor is kept for any of them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_descriptors(&daemon) > before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = open_descriptors(&daemon);
    assert!(after <= before + 2, "{before} descriptors before, {after} after");
    // The address may connect again once its connections are gone.
    let mut again = connect_from("127.0.0.2", &daemon);
    again.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut again, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

/// One request (`line`, then `headers`, each ending in CRLF) on a connection of its own from
/// 127.0.0.1: the whole answer, or what came before `limit` (a server that never accepts the
/// connection answers nothing).
fn fresh_request(
    daemon: &Daemon,
    line: &str,
    headers: &str,
    body: &str,
    limit: Duration,
) -> String {
    let mut stream = connect_from("127.0.0.1", daemon);
    let request = format!(
        "{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n\
         {body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    read_until_closed(&mut stream, limit).0
}

/// The value of a counter in the daemon's `/metrics`: its name, with its labels if it has any,
/// as exported.
fn counter(daemon: &Daemon, name: &str) -> f64 {
    let scrape = daemon.get("/metrics");
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    let line = scrape.body.lines().find(|line| line.starts_with(&format!("{name} ")));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

#[test]
fn a_full_server_sheds_stalled_bodies_so_newcomers_are_answered() {
    // Bodies could stall for two minutes; the test waits 30 s at most for anything.
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_MAX_CONNECTIONS", "100"),
        ("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "40"),
        ("SWITCHBOARD_BODY_READ_TIMEOUT", "120s"),
    ]);
    daemon.sms_flow(false);
    let before = open_descriptors(&daemon);
    // 150 stalled webhooks from four addresses, each within its address's share: more than the
    // server holds (100, and a tenth more at most while it sheds).
    let mut hostile = stalled_webhooks(&daemon, 150);
    let wait = Duration::from_secs(30);
    let health = fresh_request(&daemon, "GET /healthz", "", "", wait);
    assert!(health.starts_with("HTTP/1.1 200"), "/healthz was not answered: {health:?}");
    let webhook = fresh_signed_webhook(&daemon, wait);
    assert!(webhook.starts_with("HTTP/1.1 200"), "the webhook was not answered: {webhook:?}");
    // Every connection past the hundred cost a stalled one its place: cut with 408 and closed.
    let (cut, still_open) = cut_and_open(&mut hostile, 50, wait);
    assert!(cut >= 50, "{cut} stalled connections were cut, {still_open} still open");
    let shed = counter(&daemon, "switchboard_connections_shed_total");
    assert!(shed >= 50.0, "{shed} shed, {cut} cut, {still_open} still open");
    // No descriptor is kept for a connection that went: the daemon holds those still open
    // (past the ceiling of 116, in its lobby) and no more.
    let during = open_descriptors(&daemon);
    assert!(during <= before + still_open + 2, "{before} descriptors before, {during} while full");
    drop(hostile);
    let deadline = Instant::now() + wait;
    while open_descriptors(&daemon) > before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = open_descriptors(&daemon);
    assert!(after <= before + 2, "{before} descriptors before, {after} after");
}

#[test]
fn past_its_ceiling_a_server_answers_whole_requests_at_once_while_stalled_ones_wait() {
    // No body is shed or cut while the test runs: past the ceiling the only way in is the
    // lobby's, where a connection whose whole request has arrived does not wait.
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_MAX_CONNECTIONS", "100"),
        ("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "40"),
        ("SWITCHBOARD_BODY_READ_TIMEOUT", "600s"),
        ("SWITCHBOARD_SHED_STALLED_AFTER", "600s"),
    ]);
    daemon.sms_flow(false);
    // 150 stalled webhooks: 116 held (the ceiling), the rest waiting for a place.
    let mut hostile = stalled_webhooks(&daemon, 150);
    let wait = Duration::from_secs(30);
    for _ in 0..3 {
        let health = fresh_request(&daemon, "GET /healthz", "", "", wait);
        assert!(health.starts_with("HTTP/1.1 200"), "/healthz was not answered: {health:?}");
    }
    let webhook = fresh_signed_webhook(&daemon, wait);
    assert!(webhook.starts_with("HTTP/1.1 200"), "the webhook was not answered: {webhook:?}");
    // Nobody made room for them: every stalled connection is still open, none was shed.
    for stream in &mut hostile {
        let (answer, closed) = read_until_closed(stream, Duration::from_millis(10));
        assert!(!closed && answer.is_empty(), "{answer:?}");
    }
    assert_eq!(counter(&daemon, "switchboard_connections_shed_total"), 0.0);
}

/// A correctly signed SMS webhook on a connection of its own ([`fresh_request`]).
fn fresh_signed_webhook(daemon: &Daemon, limit: Duration) -> String {
    let url = daemon.url("/webhooks/twilio");
    let params = [
        ("From", "+14155550190"),
        ("To", OUR_NUMBER),
        ("Body", "through a full server"),
        ("MessageSid", "SM00000000000000000000000000000c04"),
        ("NumMedia", "0"),
    ];
    let form: String =
        form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let headers = format!(
        "X-Twilio-Signature: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
        twilio_signature(AUTH_TOKEN, &url, &params)
    );
    fresh_request(daemon, "POST /webhooks/twilio", &headers, &form, limit)
}

/// Waits (up to `limit`) until at least `wanted` of `streams` were answered 408 and closed;
/// how many were, and how many are still open. Any other answer fails the test.
fn cut_and_open(streams: &mut [TcpStream], wanted: usize, limit: Duration) -> (usize, usize) {
    let deadline = Instant::now() + limit;
    // What each sent so far, and whether it closed.
    let mut answers = vec![(String::new(), false); streams.len()];
    loop {
        for (stream, (answer, cut)) in streams.iter_mut().zip(answers.iter_mut()) {
            if *cut {
                continue;
            }
            let (more, closed) = read_until_closed(stream, Duration::from_millis(10));
            answer.push_str(&more);
            if closed {
                assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
                *cut = true;
            }
        }
        let count = answers.iter().filter(|(_, cut)| *cut).count();
        if count >= wanted || Instant::now() > deadline {
            return (count, streams.len() - count);
        }
    }
}

/// In a daemon's log: the lines of `refusal` written, and the ones held back that later lines
/// reported (`suppressed=N`).
fn refusals_in(log: &str, refusal: &str) -> (usize, usize) {
    let written = log.lines().filter(|line| line.contains(refusal)).count();
    let held_back = log
        .lines()
        .filter(|line| line.contains("held back") && line.contains("twilio_signature"))
        .map(|line| {
            let count = line.split("suppressed=").nth(1).unwrap_or_else(|| panic!("{line}"));
            count.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    (written, held_back)
}

#[test]
fn a_flood_of_forged_webhooks_writes_a_few_log_lines_and_counts_the_rest() {
    let (_temp, daemon) = start(&[]);
    let forged = [("From", "+14155550191"), ("To", OUR_NUMBER), ("Body", "forged")];
    let sent = 300;
    let started = Instant::now();
    for _ in 0..sent {
        assert_eq!(daemon.twilio_webhook(&forged, Some("forged")).status, 403);
    }
    // Five lines a second, in bursts of five: what the flood's time allows, not one a refusal.
    let allowed = 5 + (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    // The budget refills (a line every 200 ms): this refusal is logged, after a line saying how
    // many were held back.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(daemon.twilio_webhook(&forged, Some("forged")).status, 403);
    let refusal = "refused a webhook with a bad or missing X-Twilio-Signature";
    // The log is written behind the answers: wait until the last refusal's lines are there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (log, written, held_back) = loop {
        let log = daemon.stderr();
        let (written, held_back) = refusals_in(&log, refusal);
        let last = log.lines().rev().find(|line| line.contains("twilio_signature"));
        let reported = last.is_some_and(|line| line.contains("held back"));
        let refused_last = log.lines().last().is_some_and(|line| line.contains(refusal));
        let all = written + held_back == sent + 1;
        if all && reported && refused_last || Instant::now() > deadline {
            break (log, written, held_back);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        (5..=allowed + 1).contains(&written),
        "{written} lines of {}, at most {allowed}",
        sent + 1
    );
    assert_eq!(written + held_back, sent + 1, "every refusal is logged or counted:\n{log}");
    // Metrics count them all, whatever the log kept.
    let metrics = daemon.get("/metrics").body;
    let series = |name: &str| {
        let line = metrics.lines().find(|line| line.starts_with(name));
        line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let refused = "switchboard_http_requests_total{route=\"/webhooks/twilio\",method=\"POST\",\
                   status=\"4xx\"}";
    assert_eq!(series(refused), (sent + 1) as f64, "{metrics}");
    let suppressed = "switchboard_log_lines_suppressed_total{kind=\"twilio_signature\"}";
    assert_eq!(series(suppressed), held_back as f64);
}

#[test]
fn signed_webhooks_take_bodies_as_long_as_rest_does_and_no_longer() {
    let (_temp, daemon) = start(&[]);
    let (service, _) = daemon.sms_flow(false);
    let customer = "+14155550189";
    // ASCII: the form limit (64 KiB) also bounds REST's bodies, and "é" takes six bytes encoded.
    let longest = "a".repeat(32_768);
    let answer = daemon.sms(customer, &longest, "SM00000000000000000000000000000c02");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let too_long = format!("{longest}x");
    let refused = daemon.sms(customer, &too_long, "SM00000000000000000000000000000c03");
    assert_twilio_error(&refused, 400, 20001);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let messages = daemon.messages(&service, &channel);
    assert_eq!(messages.len(), 1, "the long body was not stored");
    // A signature alone is not enough to make the daemon read a body it would refuse.
    let url = daemon.url("/webhooks/twilio");
    let huge = format!("Body={}", "a".repeat(70_000));
    let signature = twilio_signature(AUTH_TOKEN, &url, &[("Body", &huge[5..])]);
    let response = ureq::post(&url)
        .set("X-Twilio-Signature", &signature)
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&huge);
    let status = match response {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(status, 413);
}

#[test]
fn names_and_identities_are_as_long_as_twilio_allows() {
    let (_temp, daemon) = start(&[]);
    let name = |n: usize| "n".repeat(n);
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", &name(64))]);
    assert_eq!(service.status, 201, "{}", service.body);
    let service = service.json()["sid"].as_str().unwrap().to_owned();
    let long_service = daemon.post("/chat/v2/Services", &[("FriendlyName", &name(65))]);
    assert_twilio_error(&long_service, 400, 50003);
    // Channels: 64 characters when created, 256 when updated, as Twilio.
    let channels = format!("/chat/v2/Services/{service}/Channels");
    assert_twilio_error(&daemon.post(&channels, &[("FriendlyName", &name(60_000))]), 400, 50003);
    assert_twilio_error(&daemon.post(&channels, &[("UniqueName", &name(65))]), 400, 50004);
    let channel = daemon.post(&channels, &[("FriendlyName", &name(64)), ("UniqueName", &name(64))]);
    assert_eq!(channel.status, 201, "{}", channel.body);
    let channel = format!("{channels}/{}", channel.json()["sid"].as_str().unwrap());
    assert_eq!(daemon.post(&channel, &[("FriendlyName", &name(256))]).status, 200);
    assert_twilio_error(&daemon.post(&channel, &[("FriendlyName", &name(257))]), 400, 50003);
    assert_twilio_error(&daemon.post(&channel, &[("UniqueName", &name(257))]), 400, 50004);
    let users = format!("/chat/v2/Services/{service}/Users");
    assert_twilio_error(&daemon.post(&users, &[("Identity", &name(257))]), 400, 50207);
    assert_eq!(daemon.post(&users, &[("Identity", &name(256))]).status, 201);
    let flow = |identity: &str| {
        daemon.post(
            "/flex/v1/FlexFlows",
            &[
                ("FriendlyName", "flow"),
                ("ChatServiceSid", &service),
                ("ChannelType", "sms"),
                ("ContactIdentity", identity),
                ("IntegrationType", "task"),
            ],
        )
    };
    assert_twilio_error(&flow(&name(60_000)), 400, 20001);
    assert_eq!(flow(OUR_NUMBER).status, 201);
}

#[test]
fn an_oversized_websocket_frame_gets_close_1009_and_a_log_line() {
    let (_temp, daemon) = start(&[]);
    let mut socket = daemon.websocket(Some(&token("agent.alice", "1h"))).unwrap();
    let big = json!({"type": "ping", "padding": "p".repeat(70 * 1024)});
    socket.send(Message::Text(big.to_string())).unwrap();
    let close = close_frame(&mut socket);
    assert_eq!(u16::from(close.code), 1009);
    assert!(close.reason.contains("65536"), "{}", close.reason);
    logged_a_refused_frame(&daemon);
}

/// A text frame that is not UTF-8 is a protocol error like any other: close 1002 and a log
/// line (not the silence of a peer that went away, which actix reports the same way).
#[test]
fn a_text_frame_that_is_not_utf8_gets_close_1007_and_a_log_line() {
    let (_temp, daemon) = start(&[]);
    let mut socket = daemon.websocket(Some(&token("agent.alice", "1h"))).unwrap();
    let text = tungstenite::protocol::frame::coding::OpCode::Data(
        tungstenite::protocol::frame::coding::Data::Text,
    );
    let broken = tungstenite::protocol::frame::Frame::message(vec![0xff, 0xfe, 0x80], text, true);
    socket.send(Message::Frame(broken)).unwrap();
    assert_eq!(u16::from(close_frame(&mut socket).code), 1007);
    logged_a_refused_frame(&daemon);
}

/// The close frame the daemon sends next, reading past anything else.
fn close_frame(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
) -> tungstenite::protocol::CloseFrame<'static> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let close = loop {
        assert!(Instant::now() < deadline, "no close frame");
        match socket.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(error) => panic!("the connection dropped without a close frame: {error}"),
        }
    };
    close.expect("a close frame with a code").into_owned()
}

fn logged_a_refused_frame(daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.stderr().contains("WebSocket frame") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.stderr().contains("WebSocket frame"), "{}", daemon.stderr());
}

#[test]
fn health_answers_say_they_are_text() {
    let (_temp, daemon) = start(&[]);
    for path in ["/healthz", "/readyz"] {
        let response = ureq::get(&daemon.url(path)).call().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"), "{path}");
    }
}
