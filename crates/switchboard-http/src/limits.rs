//! Limits on connections and request bodies, which a stranger controls before any credential is
//! checked: how many connections one address may hold (refused at once, so they cost no file
//! descriptor), and how slowly a body may arrive ([`cut_slow_bodies`]: a body that stalls is cut
//! with 408 and its connection closed). The header timeout, keep-alive and the total of
//! connections are actix-web's own settings, set by the daemon from the same [`ServerLimits`].
//! docs/limits.md lists every limit.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage as _, ResponseError as _};
use futures_util::Stream;

use crate::twilio::error::ApiError;

/// The limits of the HTTP server; docs/limits.md names their settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request body must have arrived this long after its headers, plus one second for every
    /// `body_min_rate` bytes received so far.
    pub body_read_timeout: Duration,
    /// Bytes per second that buy a slow body more time.
    pub body_min_rate: u64,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long an idle connection is kept open between requests (zero: closed after each).
    pub keep_alive: Duration,
    /// Connections open at once, in total; past it, new ones wait in the kernel's queue.
    pub max_connections: usize,
    /// Connections open at once from one IP address (zero: no limit); past it, refused.
    pub max_connections_per_ip: usize,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            body_read_timeout: Duration::from_secs(10),
            body_min_rate: 1024,
            header_read_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

/// The connections open from each address, against a limit per address.
#[derive(Debug)]
pub struct ConnectionCounter {
    per_ip: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropped (with the connection's data) when it closes.
#[derive(Debug)]
pub struct Admitted {
    counter: Arc<ConnectionCounter>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a refused connection reads before it is shut (plain HTTP only): 503 in Twilio's shape.
static REFUSAL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let error = ApiError::new(503, 20429, "Too many connections from this address");
    let body = serde_json::json!({
        "code": error.code(),
        "message": error.message(),
        "more_info": error.more_info(),
        "status": error.status(),
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

impl ConnectionCounter {
    /// A counter admitting `per_ip` connections per address (zero: any number).
    pub fn new(per_ip: usize) -> Arc<ConnectionCounter> {
        Arc::new(ConnectionCounter { per_ip, open: Mutex::new(HashMap::new()) })
    }

    /// Admits one more connection from `ip`, unless it already holds its share.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(ip).or_insert(0);
        if self.per_ip > 0 && *count >= self.per_ip {
            return None;
        }
        *count += 1;
        Some(Admitted { counter: Arc::clone(self), ip })
    }

    /// For `HttpServer::on_connect`: admits the new connection (its [`Admitted`] lives in the
    /// connection's data, so it is counted until it closes) or shuts it at once.
    pub fn on_connect(self: &Arc<Self>, connection: &dyn Any, data: &mut Extensions) {
        let (stream, plain) = if let Some(stream) = connection.downcast_ref::<TcpStream>() {
            (stream, true)
        } else if let Some(tls) = connection.downcast_ref::<TlsStream>() {
            (tls.get_ref().0, false)
        } else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else { return };
        match self.admit(peer.ip()) {
            Some(admitted) => {
                data.insert(admitted);
            }
            None => {
                tracing::debug!(peer = %peer.ip(), "refused a connection: too many from its address");
                // Best effort: the socket buffer of a new connection takes this at once.
                if plain {
                    let _ = stream.try_write(&REFUSAL);
                }
                // Both ways: the server's next read sees the end, so the connection and its
                // descriptor go at once, whatever the client does.
                let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

type TcpStream = actix_web::rt::net::TcpStream;
/// A request body as actix-web takes one from middleware.
type BoxedBody = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;
type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;

/// How fast a body must arrive, as app data for [`cut_slow_bodies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDeadline {
    pub timeout: Duration,
    pub min_rate: u64,
}

impl From<ServerLimits> for BodyDeadline {
    fn from(limits: ServerLimits) -> BodyDeadline {
        BodyDeadline { timeout: limits.body_read_timeout, min_rate: limits.body_min_rate }
    }
}

/// Middleware (`from_fn`) that cuts a request body arriving too slowly for the app's
/// [`BodyDeadline`]: the handler's read fails, and whatever it answered becomes a 408 that closes
/// the connection. A connection whose body was not read to its end is closed after the answer
/// too (see [`KeepReader`]). Requests without a body (WebSocket upgrades among them) are left
/// alone, and a body read whole costs no more than its timer.
pub async fn cut_slow_bodies(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let deadline = request.app_data::<BodyDeadline>().copied();
    let Some(deadline) = deadline.filter(|_| has_body(&request) && !request.head().upgrade())
    else {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    };
    let progress = Rc::new(Progress::default());
    let reader = Rc::new(RefCell::new(request.take_payload()));
    let timed = TimedBody::new(Rc::clone(&reader), deadline, Rc::clone(&progress));
    request.set_payload(Payload::from(Box::pin(timed) as BoxedBody));
    let response = next.call(request).await?;
    if progress.expired.get() {
        tracing::debug!(path = response.request().path(), "cut a request body that stalled");
        let (request, _) = response.into_parts();
        let timed_out = ApiError::new(
            408,
            20001,
            format!(
                "The request body did not arrive in time (within {:?}, at {} bytes a second)",
                deadline.timeout, deadline.min_rate
            ),
        )
        .error_response();
        let response = ServiceResponse::new(request, timed_out);
        return Ok(response.map_body(|_, body| KeepReader::boxed(body, reader)));
    }
    if progress.ended.get() {
        return Ok(response.map_into_left_body());
    }
    Ok(response.map_body(|_, body| KeepReader::boxed(body, reader)))
}

/// What became of a request body: read to its end, or cut.
#[derive(Debug, Default)]
struct Progress {
    ended: Cell<bool>,
    expired: Cell<bool>,
}

/// An answer's body that keeps the request body's reader alive until it is sent. actix-http
/// closes a connection whose request body is unread while its reader lives; once the reader is
/// dropped, it would instead drain a chunked body for as long as the client trickles it, with no
/// timer at all.
struct KeepReader {
    body: BoxBody,
    _reader: Rc<RefCell<Payload>>,
}

impl KeepReader {
    fn boxed<B: MessageBody + 'static, L>(
        body: B,
        reader: Rc<RefCell<Payload>>,
    ) -> EitherBody<L, BoxBody> {
        EitherBody::right(BoxBody::new(KeepReader { body: BoxBody::new(body), _reader: reader }))
    }
}

impl MessageBody for KeepReader {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

fn has_body(request: &ServiceRequest) -> bool {
    let headers = request.headers();
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    request.head().chunked() || length.is_some_and(|l| l.trim() != "0")
}

/// A request body whose deadline moves with what arrives: `timeout` after the headers, one
/// second more for every `min_rate` bytes.
struct TimedBody {
    inner: Rc<RefCell<Payload>>,
    deadline: BodyDeadline,
    started: tokio::time::Instant,
    received: u64,
    /// Made at the first wait only: a body that arrives with its headers costs no timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    progress: Rc<Progress>,
}

impl TimedBody {
    fn new(
        inner: Rc<RefCell<Payload>>,
        deadline: BodyDeadline,
        progress: Rc<Progress>,
    ) -> TimedBody {
        let started = tokio::time::Instant::now();
        TimedBody { inner, deadline, started, received: 0, timer: None, progress }
    }

    fn deadline(&self) -> tokio::time::Instant {
        let earned = self.received.checked_div(self.deadline.min_rate).unwrap_or(0);
        self.started + self.deadline.timeout + Duration::from_secs(earned)
    }
}

impl Stream for TimedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.progress.expired.get() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut *this.inner.borrow_mut()).poll_next(cx);
        match polled {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(None) => {
                this.progress.ended.set(true);
                return Poll::Ready(None);
            }
            Poll::Ready(error) => return Poll::Ready(error),
            Poll::Pending => {}
        }
        let deadline = this.deadline();
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.progress.expired.set(true);
                let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "body too slow");
                Poll::Ready(Some(Err(PayloadError::Io(error))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_gets_it_back() {
        let counter = ConnectionCounter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = counter.admit(a).unwrap();
        let second = counter.admit(a).unwrap();
        assert!(counter.admit(a).is_none(), "a third from the same address");
        assert!(counter.admit("::ffff:192.0.2.1".parse().unwrap()).is_none(), "mapped is the same");
        let other = counter.admit(b);
        assert!(other.is_some(), "another address is not held up");
        drop(first);
        let again = counter.admit(a);
        assert!(again.is_some());
        drop((second, again, other));
        assert!(counter.open.lock().unwrap().is_empty(), "nothing is kept for closed connections");
        let unlimited = ConnectionCounter::new(0);
        let many: Vec<_> = (0..10).map(|_| unlimited.admit(a).unwrap()).collect();
        assert_eq!(many.len(), 10);
    }

    #[test]
    fn the_refusal_is_a_whole_http_answer() {
        let text = std::str::from_utf8(&REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((json["status"].as_u64(), json["code"].as_u64()), (Some(503), Some(20429)));
    }

    /// A request body of `chunks`, which stalls after them unless `ends`.
    fn body(chunks: &'static [&'static [u8]], ends: bool) -> Rc<RefCell<Payload>> {
        use futures_util::stream::{self, StreamExt as _};
        let sent = stream::iter(chunks.iter().map(|c| Ok(Bytes::from_static(c))));
        let stream: BoxedBody =
            if ends { Box::pin(sent) } else { Box::pin(sent.chain(stream::pending())) };
        Rc::new(RefCell::new(Payload::from(stream)))
    }

    #[actix_rt::test]
    async fn a_stalled_body_is_cut_and_a_steady_one_earns_time() {
        use futures_util::StreamExt as _;
        let deadline = BodyDeadline { timeout: Duration::from_millis(50), min_rate: 1024 };
        let progress = Rc::new(Progress::default());
        let mut stalled = TimedBody::new(body(&[b"a"], false), deadline, Rc::clone(&progress));
        assert_eq!(stalled.next().await.unwrap().unwrap(), Bytes::from_static(b"a"));
        let cut = stalled.next().await.unwrap();
        let timed_out =
            matches!(cut, Err(PayloadError::Io(ref e)) if e.kind() == std::io::ErrorKind::TimedOut);
        assert!(timed_out, "{cut:?}");
        assert!(progress.expired.get() && !progress.ended.get());
        assert!(stalled.next().await.is_none());

        let progress = Rc::new(Progress::default());
        let mut whole = TimedBody::new(body(&[b"abc"], true), deadline, Rc::clone(&progress));
        assert_eq!(whole.next().await.unwrap().unwrap(), Bytes::from_static(b"abc"));
        assert!(!progress.ended.get(), "not before its end is read");
        assert!(whole.next().await.is_none());
        assert!(progress.ended.get() && !progress.expired.get());

        // At one byte a second, each byte buys a second past the bare timeout.
        let deadline = BodyDeadline { min_rate: 1, ..deadline };
        let mut steady = TimedBody::new(body(&[b"xy"], false), deadline, Rc::default());
        steady.next().await.unwrap().unwrap();
        assert_eq!(steady.deadline(), steady.started + deadline.timeout + Duration::from_secs(2));
    }
}
