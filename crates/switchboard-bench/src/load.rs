//! The load generator: N keep-alive connections, each posting one request after another as
//! fast as it is answered, timing every answer.
//!
//! The load shares the machine's two cores with the server it measures, so what it costs is taken
//! from the server. Two clients are kept, so that figures stay comparable across sessions:
//! - [`Client::Async`] (the default): every connection a task on a two-thread tokio runtime,
//!   HTTP/1.1 by hyper. Built like wrk (a few threads, event-driven), which the first measurements
//!   (docs/BENCHMARKS.md) used for the figures the targets are set against; it costs about 25 µs
//!   of CPU per request here.
//! - [`Client::Threads`]: one OS thread per connection with a blocking client (ureq), what this
//!   tool used until 2026-12-02. Its 64 threads cost about 50 µs of CPU per request and crowd
//!   the scheduler, which lengthens every server's tail.
//!
//! [`post_numbered`] is the async client's other shape: a fixed number of requests, each to a
//! path of its own, answered bodies kept (`chat` checks every message it posted).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Run;

/// Which load generator posts the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Client {
    /// Every connection a task on two threads (hyper), built like wrk.
    #[default]
    Async,
    /// One OS thread per connection (ureq): the client of the figures before 2026-12-02.
    Threads,
}

/// One request ready to post: its signature header, content type and body.
pub struct Signed {
    pub header: (&'static str, String),
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Builds the request `i` of connection `t`.
pub type MakeRequest = dyn Fn(usize, usize) -> Signed + Send + Sync;

/// `concurrency` keep-alive connections, each posting what `make` builds for (connection,
/// request number) until `seconds` pass; 200s are timed, anything else counts as an error.
pub fn load_with(
    client: Client,
    url: &str,
    concurrency: usize,
    seconds: Duration,
    make: impl Fn(usize, usize) -> Signed + Send + Sync + 'static,
) -> (Run, u64) {
    let make: Arc<MakeRequest> = Arc::new(make);
    let started = Instant::now();
    let deadline = started + seconds;
    let (latencies, errors) = match client {
        Client::Async => with_tasks(url, concurrency, deadline, make),
        Client::Threads => with_threads(url, concurrency, deadline, make),
    };
    (Run::from(latencies, started.elapsed()), errors)
}

fn with_threads(
    url: &str,
    concurrency: usize,
    deadline: Instant,
    make: Arc<MakeRequest>,
) -> (Vec<Duration>, u64) {
    let threads: Vec<_> = (0..concurrency)
        .map(|t| {
            let (url, make) = (url.to_owned(), Arc::clone(&make));
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().max_idle_connections_per_host(1).build();
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                for i in 0usize.. {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let request = make(t, i);
                    let begun = Instant::now();
                    let sent = agent
                        .post(&url)
                        .set(request.header.0, &request.header.1)
                        .set("Content-Type", request.content_type)
                        .send_bytes(&request.body);
                    match sent {
                        Ok(response) if response.status() == 200 => latencies.push(begun.elapsed()),
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = (Vec::new(), 0);
    for thread in threads {
        let (latencies, errors) = thread.join().unwrap_or_default();
        all.0.extend(latencies);
        all.1 += errors;
    }
    all
}

fn with_tasks(
    url: &str,
    concurrency: usize,
    deadline: Instant,
    make: Arc<MakeRequest>,
) -> (Vec<Duration>, u64) {
    let Some(runtime) = runtime() else { return (Vec::new(), concurrency as u64) };
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        eprintln!("not a URL: {url}");
        return (Vec::new(), concurrency as u64);
    };
    runtime.block_on(async move {
        let connections: Vec<_> = (0..concurrency)
            .map(|t| tokio::spawn(connection(uri.clone(), t, deadline, Arc::clone(&make))))
            .collect();
        let mut all = (Vec::new(), 0);
        for connection in connections {
            let (latencies, errors) = connection.await.unwrap_or_else(|_| (Vec::new(), 1));
            all.0.extend(latencies);
            all.1 += errors;
        }
        all
    })
}

/// The load's two threads: the generator's share of the machine stays the same in every load.
fn runtime() -> Option<tokio::runtime::Runtime> {
    let built = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    built.map_err(|error| eprintln!("no runtime for the load: {error}")).ok()
}

/// One keep-alive connection's requests; a refused or broken connection is opened again, and
/// counts as an error.
async fn connection(
    uri: hyper::Uri,
    t: usize,
    deadline: Instant,
    make: Arc<MakeRequest>,
) -> (Vec<Duration>, u64) {
    let (mut latencies, mut errors) = (Vec::new(), 0u64);
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    // Origin form (`/path`) on the request line, as browsers and Twilio send it: the server
    // checks signatures against its public URL and this path.
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut i = 0usize;
    'connect: while Instant::now() < deadline {
        let Some(mut sender) = open(&authority).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while Instant::now() < deadline {
            let signed = make(t, i);
            i += 1;
            match post(&mut sender, &authority, &path, signed).await {
                Ok(reply) if reply.status == hyper::StatusCode::OK => {
                    latencies.push(reply.answered - reply.sent);
                }
                Ok(_) | Err(Failure::Unsent) => errors += 1,
                Err(Failure::Broken) => {
                    errors += 1;
                    continue 'connect;
                }
            }
        }
    }
    (latencies, errors)
}

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// A keep-alive HTTP/1.1 connection to `authority`, or `None` when it cannot be opened.
async fn open(authority: &str) -> Option<Sender> {
    let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
    let _ = stream.set_nodelay(true);
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// What one request got, and when it was sent and answered.
struct Reply {
    status: hyper::StatusCode,
    body: bytes::Bytes,
    sent: Instant,
    answered: Instant,
}

/// Why a request got no answer: it could not be built, or the connection broke (open another).
enum Failure {
    Unsent,
    Broken,
}

/// Posts one request on `sender` and reads the whole answer.
async fn post(
    sender: &mut Sender,
    authority: &str,
    path: &str,
    signed: Signed,
) -> Result<Reply, Failure> {
    use http_body_util::{BodyExt, Full};
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, signed.content_type)
        .header(signed.header.0, signed.header.1)
        .body(Full::new(bytes::Bytes::from(signed.body)))
        .map_err(|_| Failure::Unsent)?;
    let sent = Instant::now();
    let response = sender.send_request(request).await.map_err(|_| Failure::Broken)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|_| Failure::Broken)?.to_bytes();
    Ok(Reply { status, body, sent, answered: Instant::now() })
}

/// One answered request of a numbered load.
pub struct Answer {
    /// The request's number, from 0.
    pub number: usize,
    pub sent: Instant,
    pub answered: Instant,
    pub body: bytes::Bytes,
}

/// What a numbered load got: its 2xx answers, its errors, and when it began and ended.
pub struct Numbered {
    pub answers: Vec<Answer>,
    pub errors: u64,
    pub started: Instant,
    pub elapsed: Duration,
}

/// Builds request `number` of a numbered load: its path on the load's host, and what it posts.
pub type MakeNumbered = dyn Fn(usize) -> (String, Signed) + Send + Sync;

/// Posts the requests numbered `0..total`, `concurrency` in flight, each connection taking the
/// next number when its previous request is answered (by [`Client::Async`]'s means). 2xx answers
/// are kept with their bodies; anything else, a refused connection included, counts as an error
/// and is not posted again.
pub fn post_numbered(
    base: &str,
    concurrency: usize,
    total: usize,
    make: impl Fn(usize) -> (String, Signed) + Send + Sync + 'static,
) -> Numbered {
    let make: Arc<MakeNumbered> = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let authority = base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let Some(runtime) = runtime() else {
        return Numbered {
            answers: Vec::new(),
            errors: total as u64,
            started,
            elapsed: Duration::ZERO,
        };
    };
    let (answers, errors) = runtime.block_on(async move {
        let connections: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                let (authority, next, make) =
                    (authority.clone(), Arc::clone(&next), Arc::clone(&make));
                tokio::spawn(numbered_connection(authority, next, total, make))
            })
            .collect();
        let mut all = (Vec::new(), 0);
        for connection in connections {
            let (answers, errors) = connection.await.unwrap_or_else(|_| (Vec::new(), 1));
            all.0.extend(answers);
            all.1 += errors;
        }
        all
    });
    Numbered { answers, errors, started, elapsed: started.elapsed() }
}

/// One connection of a numbered load: posts the next number until there is none left.
async fn numbered_connection(
    authority: String,
    next: Arc<std::sync::atomic::AtomicUsize>,
    total: usize,
    make: Arc<MakeNumbered>,
) -> (Vec<Answer>, u64) {
    let take = || next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut answers, mut errors) = (Vec::new(), 0u64);
    let mut number = take();
    'connect: while number < total {
        let Some(mut sender) = open(&authority).await else {
            // The number is spent: a load against a server that is gone ends.
            errors += 1;
            number = take();
            continue;
        };
        while number < total {
            let (path, signed) = make(number);
            let posted = post(&mut sender, &authority, &path, signed).await;
            let this = std::mem::replace(&mut number, take());
            match posted {
                Ok(reply) if reply.status.is_success() => answers.push(Answer {
                    number: this,
                    sent: reply.sent,
                    answered: reply.answered,
                    body: reply.body,
                }),
                Ok(_) | Err(Failure::Unsent) => errors += 1,
                Err(Failure::Broken) => {
                    errors += 1;
                    continue 'connect;
                }
            }
        }
    }
    (answers, errors)
}
