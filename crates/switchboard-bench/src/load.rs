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
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("no runtime for the load: {error}");
                return (Vec::new(), concurrency as u64);
            }
        };
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

/// One keep-alive connection's requests; a refused or broken connection is opened again, and
/// counts as an error.
async fn connection(
    uri: hyper::Uri,
    t: usize,
    deadline: Instant,
    make: Arc<MakeRequest>,
) -> (Vec<Duration>, u64) {
    use http_body_util::{BodyExt, Full};
    let (mut latencies, mut errors) = (Vec::new(), 0u64);
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    // Origin form (`/path`) on the request line, as browsers and Twilio send it: the server
    // checks signatures against its public URL and this path.
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut i = 0usize;
    'connect: while Instant::now() < deadline {
        let Ok(stream) = tokio::net::TcpStream::connect(&authority).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(stream);
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(io).await else {
            errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let signed = make(t, i);
            i += 1;
            let request = hyper::Request::post(path.as_str())
                .header(hyper::header::HOST, &authority)
                .header(hyper::header::CONTENT_TYPE, signed.content_type)
                .header(signed.header.0, signed.header.1)
                .body(Full::new(bytes::Bytes::from(signed.body)));
            let Ok(request) = request else {
                errors += 1;
                continue;
            };
            let begun = Instant::now();
            let Ok(response) = sender.send_request(request).await else {
                errors += 1;
                continue 'connect;
            };
            let status = response.status();
            if response.into_body().collect().await.is_err() {
                errors += 1;
                continue 'connect;
            }
            if status == hyper::StatusCode::OK {
                latencies.push(begun.elapsed());
            } else {
                errors += 1;
            }
        }
    }
    (latencies, errors)
}
