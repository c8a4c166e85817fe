//! A fake outside party on 127.0.0.1: an HTTP server that records every request and answers with
//! the statuses it is told to (then 200). Stands in for an external integration, Twilio's or
//! Meta's APIs; only outside providers are ever faked.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub struct FakeServer {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub statuses: Arc<Mutex<VecDeque<u16>>>,
}

/// What a fake answers with.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: b"ok".to_vec() }
    }

    /// 200 with `body` of `content_type`.
    pub fn content(content_type: &str, body: &[u8]) -> Reply {
        let headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
        Reply { status: 200, headers, body: body.to_vec() }
    }

    /// 200 with a JSON document.
    pub fn json(value: &serde_json::Value) -> Reply {
        Reply::content("application/json", value.to_string().as_bytes())
    }

    /// A redirect to `location`.
    pub fn redirect(location: &str) -> Reply {
        let headers = vec![("Location".to_owned(), location.to_owned())];
        Reply { status: 302, headers, body: Vec::new() }
    }
}

impl FakeServer {
    pub fn start() -> FakeServer {
        FakeServer::start_with(|_| Reply::status(200))
    }

    /// A fake whose answers `handler` decides from each request (after any `fail_next`).
    pub fn start_with(handler: impl Fn(&Received) -> Reply + Send + 'static) -> FakeServer {
        FakeServer::start_on("127.0.0.1", handler)
    }

    /// A fake on another loopback address (`127.0.0.2`: a service "inside" that the daemon's
    /// outbound policy must not reach, while the fakes on 127.0.0.1 are allowed).
    pub fn start_on(ip: &str, handler: impl Fn(&Received) -> Reply + Send + 'static) -> FakeServer {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses: Arc<Mutex<VecDeque<u16>>> = Arc::new(Mutex::new(VecDeque::new()));
        let (log, plan) = (Arc::clone(&received), Arc::clone(&statuses));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else { continue };
                let planned = plan.lock().unwrap().pop_front();
                let reply = match planned {
                    Some(status) => Reply::status(status),
                    None => handler(&request),
                };
                log.lock().unwrap().push(request);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (name, value) in &reply.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&reply.body);
            }
        });
        FakeServer { url, received, statuses }
    }

    /// Forgets the statuses planned by `fail_next` that were not used yet.
    pub fn recover(&self) {
        self.statuses.lock().unwrap().clear();
    }

    /// Answers the next requests with these statuses, in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses.iter().copied());
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() })
}
