//! Requests that ask for an upgrade, on the raw connection: a WebSocket's first frame sent with
//! its handshake is read; an upgrade that is not a WebSocket of ours, or an `h2c` one, is
//! answered in HTTP/1.1 and the connection closed (docs/limits.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::support::api::{daemon_command, token};
use crate::support::Daemon;

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let command = daemon_command(&temp.path().join("data"));
    (temp, Daemon::start(command))
}

fn connect(daemon: &Daemon) -> TcpStream {
    let stream = TcpStream::connect(daemon.base_url.trim_start_matches("http://")).unwrap();
    // Generous: only stops a broken test from hanging.
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
}

/// A WebSocket handshake for `path`, as a browser sends it.
fn handshake(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A client's text frame: masked (with a key of zeros, so the payload reads as is).
fn client_text(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81];
    match text.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(text.as_bytes());
    frame
}

/// Everything the server sends until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection stayed open: {e}; got {received:?}"),
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads until `needle` has come (or the connection ends), returning everything read.
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    while !String::from_utf8_lossy(&received).contains(needle) {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[test]
fn a_first_frame_sent_with_the_handshake_is_read() {
    let (_temp, daemon) = started();
    let mut stream = connect(&daemon);
    let auth = json!({"type": "auth", "token": token("agent.early", "1h")}).to_string();
    let mut bytes = handshake("/ws").into_bytes();
    bytes.extend_from_slice(&client_text(&auth));
    // In one write: the frame arrives with the handshake, before any answer.
    stream.write_all(&bytes).unwrap();
    let received = read_until(&mut stream, "agent.early");
    assert!(received.starts_with("HTTP/1.1 101"), "{received:?}");
    assert!(received.contains("\"type\":\"ready\""), "{received:?}");
    assert!(received.contains("\"identity\":\"agent.early\""), "{received:?}");
}

#[test]
fn an_upgrade_that_is_not_a_websocket_of_ours_is_answered_and_closed() {
    let (_temp, daemon) = started();
    // A WebSocket handshake for a page that is no socket: its ordinary answer, then the end.
    let mut stream = connect(&daemon);
    stream.write_all(handshake("/healthz").as_bytes()).unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer:?}");
    // A handshake to the socket that is not a valid one (no key): refused, then the end.
    let mut stream = connect(&daemon);
    let keyless = handshake("/ws").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    stream.write_all(keyless.as_bytes()).unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // A bad token: Twilio's shape, as on any other connection.
    let mut stream = connect(&daemon);
    stream.write_all(handshake("/ws?token=junk").as_bytes()).unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    assert!(answer.contains("\"code\":20101") || answer.contains("\"code\": 20101"), "{answer}");
}

#[test]
fn an_h2c_upgrade_is_served_as_http_1_1_and_closed() {
    let (_temp, daemon) = started();
    // What `curl --http2 http://…` sends: answered in HTTP/1.1 (as actix-http does: the
    // connection then closes, since it asked for an upgrade), and the server still answers.
    let mut stream = connect(&daemon);
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                   Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\nok"), "{answer:?}");
    assert_eq!(daemon.get_anonymous("/healthz").status, 200);
}

#[test]
fn an_upgrade_asked_for_a_long_answer_or_not_exactly_websocket_is_refused() {
    let (_temp, daemon) = started();
    // The OpenAPI document (hundreds of KiB) is not given on a connection about to close.
    let mut stream = connect(&daemon);
    stream.write_all(handshake("/openapi.json").as_bytes()).unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("20001") && answer.len() < 4096, "{answer:?}");
    // `Upgrade` other than exactly `websocket` stays an ordinary request: no 101 for it, which
    // would leave its frames to be read as HTTP.
    let mut stream = connect(&daemon);
    let listed = handshake("/ws").replace("Upgrade: websocket", "Upgrade: websocket, foo");
    stream.write_all(listed.as_bytes()).unwrap();
    let answer = read_until(&mut stream, "20001");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
}
