//! Limits on connections and request bodies, which a stranger controls before any credential is
//! checked: how many connections one address may hold (refused at once, so they cost no file
//! descriptor), how slowly a body may arrive ([`cut_slow_bodies`]: a body that stalls is cut
//! with 408 and its connection closed), and what happens when the server is full: a new
//! connection sheds the body that is furthest behind its pace ([`StalledBodies`]), so strangers
//! holding every place cannot keep others waiting until their bodies time out; past a ceiling a
//! new connection waits in the lobby (`lobby.rs`). The header timeout and keep-alive are
//! actix-http's own settings, set by the daemon from the same [`ServerLimits`]. docs/limits.md
//! lists every limit.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage as _, ResponseError as _};
use futures_util::task::AtomicWaker;
use futures_util::Stream;

pub use crate::lobby::Entry;
use crate::log_budget::LogBudget;
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
    /// Connections open at once, in total; past it, each new one sheds a stalled body's
    /// connection, and past [`ServerLimits::connection_ceiling`] new ones wait in the lobby
    /// (`lobby.rs`) unless their whole request has arrived.
    pub max_connections: usize,
    /// Connections open at once from one IP address (zero: no limit); past it, refused.
    pub max_connections_per_ip: usize,
    /// A body this far behind its pace (`body_min_rate` bytes a second since its headers) may be
    /// shed to admit a new connection when the server is full.
    pub shed_stalled_after: Duration,
}

impl ServerLimits {
    /// Connections open at once, whatever they are doing: `max_connections` and a tenth more
    /// (at least 16), room for new connections while the bodies they shed are closing, or
    /// while none is stalled enough to shed. Every one takes a file descriptor.
    pub fn connection_ceiling(&self) -> usize {
        self.max_connections.saturating_add((self.max_connections / 10).max(16))
    }
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
            shed_stalled_after: Duration::from_secs(1),
        }
    }
}

/// The connections open from each address, against a limit per address, and in total, against
/// the number past which a new connection sheds a stalled one.
#[derive(Debug)]
pub struct ConnectionCounter {
    per_ip: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    /// Connections admitted and not yet closed.
    total: AtomicUsize,
    shed_above: usize,
    /// Connections open past which a new one waits in the lobby (unless its request is whole).
    ceiling: usize,
    lobby: crate::lobby::Lobby,
    /// Connections admitted past `shed_above` when no body was stalled enough to shed for them;
    /// [`ConnectionCounter::shed_owed`] sheds for them later.
    owed: AtomicUsize,
    stalled: Arc<StalledBodies>,
}

/// One admitted connection; dropped (with the connection's data) when it closes.
#[derive(Debug)]
pub struct Admitted {
    counter: Arc<ConnectionCounter>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let open = self.counter.total.fetch_sub(1, Ordering::Relaxed) - 1;
        if open < self.counter.ceiling {
            self.counter.lobby.place_made();
        }
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
    refusal(&ApiError::new(503, 20429, "Too many connections from this address"))
});

/// A whole HTTP answer of `error` in Twilio's shape that closes the connection, for a connection
/// refused before any request is read.
pub(crate) fn refusal(error: &ApiError) -> Vec<u8> {
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
}

impl ConnectionCounter {
    /// A counter admitting `per_ip` connections per address (zero: any number), shedding none.
    pub fn new(per_ip: usize) -> Arc<ConnectionCounter> {
        let stalled = StalledBodies::new(Duration::MAX);
        ConnectionCounter::shedding_above(per_ip, (usize::MAX, usize::MAX), stalled, 0)
    }

    /// The counter of a server with `limits`: past `max_connections` open, a new connection sheds
    /// the body of [`ConnectionCounter::stalled_bodies`] that is furthest behind; past the
    /// ceiling, it waits in a lobby of `lobby` places ([`ConnectionCounter::enter`]).
    pub fn for_limits(limits: &ServerLimits, lobby: usize) -> Arc<ConnectionCounter> {
        let stalled = StalledBodies::new(limits.shed_stalled_after);
        let above = (limits.max_connections, limits.connection_ceiling());
        ConnectionCounter::shedding_above(limits.max_connections_per_ip, above, stalled, lobby)
    }

    fn shedding_above(
        per_ip: usize,
        (shed_above, ceiling): (usize, usize),
        stalled: Arc<StalledBodies>,
        lobby: usize,
    ) -> Arc<ConnectionCounter> {
        let open = Mutex::new(HashMap::new());
        Arc::new(ConnectionCounter {
            per_ip,
            open,
            total: AtomicUsize::new(0),
            shed_above,
            ceiling,
            lobby: crate::lobby::Lobby::new(lobby),
            owed: AtomicUsize::new(0),
            stalled,
        })
    }

    /// Whether a new connection may come straight in: fewer than the ceiling open, and nobody
    /// waiting in the lobby before it.
    pub(crate) fn has_room(&self) -> bool {
        self.total.load(Ordering::Relaxed) < self.ceiling && self.lobby.is_empty()
    }

    pub(crate) fn lobby(&self) -> &crate::lobby::Lobby {
        &self.lobby
    }

    /// Sheds a stalled body for each connection admitted past `max_connections` that found none
    /// to shed when it came (its bodies were too young, or still in their headers); without this,
    /// a server at its ceiling would accept nothing more until a deadline came. Called a few
    /// times a second, from one task; it also gives the lobby any place left unused (one whose
    /// connection went, or was refused for its address, on its way in).
    pub fn shed_owed(&self) {
        let open = self.total.load(Ordering::Relaxed);
        for _ in open..self.ceiling {
            if !self.lobby.place_made() {
                break;
            }
        }
        // Connections that closed of themselves since made the room they owed.
        let over = self.total.load(Ordering::Relaxed).saturating_sub(self.shed_above);
        self.owed.fetch_min(over, Ordering::Relaxed);
        let mut paid = 0;
        while paid < self.owed.load(Ordering::Relaxed) && self.stalled.shed_one() {
            paid += 1;
        }
        self.owed.fetch_sub(paid, Ordering::Relaxed);
    }

    /// The bodies this counter sheds, as app data for [`cut_slow_bodies`].
    pub fn stalled_bodies(&self) -> Arc<StalledBodies> {
        Arc::clone(&self.stalled)
    }

    /// Admits one more connection from `ip`, unless it already holds its share. Only that: an
    /// address over its fair share of a full server is not refused sooner, since a stranger
    /// refused at once comes back at once, and the churn of their reconnections filled the
    /// kernel's queue faster than holding them did (`switchboard-bench hostile`, docs/BENCHMARKS.md).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(ip).or_insert(0);
        if self.per_ip > 0 && *count >= self.per_ip {
            return None;
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
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
                // Shared: a WebSocket taken out of actix's dispatcher keeps it (`ws/upgraded.rs`).
                data.insert(Rc::new(admitted));
                // This one is in; a stalled one makes room for it, as its deadline would have.
                if self.total.load(Ordering::Relaxed) > self.shed_above && !self.stalled.shed_one()
                {
                    self.owed.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
                tracing::debug!(peer = %peer.ip(), "refused a connection: too many from its address");
                let socket = socket2::SockRef::from(stream);
                // The socket buffer of a new connection takes this at once. Sent with the system
                // call itself: tokio's `try_write` refuses until its reactor has seen the socket
                // writable, which a connection this new has not been yet.
                if plain {
                    let _ = socket.send(&REFUSAL);
                }
                // Both ways: the server's next read sees the end, so the connection and its
                // descriptor go at once, whatever the client does.
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The place in the count of the connection `request` came on, for whatever outlives the
/// request's own hold on it (a WebSocket served on the connection after its handshake).
pub(crate) fn admission_of(request: &actix_web::HttpRequest) -> Option<Rc<Admitted>> {
    request.conn_data::<Rc<Admitted>>().cloned()
}

/// Request bodies waiting for their next bytes, ordered by how far behind their pace they are
/// (the time their bytes so far have paid for, at the minimum rate, since their headers). When
/// the server is full, the first of them is cut as if its deadline had come ([`TimedBody`]).
/// Only bodies read by a handler are here: slow headers are cut by actix's header timeout, idle
/// connections by keep-alive, and a body the handler never reads by its answer.
#[derive(Debug)]
pub struct StalledBodies {
    shed_after: Duration,
    waiting: Mutex<BTreeMap<(tokio::time::Instant, u64), Arc<CutSwitch>>>,
    next_id: AtomicU64,
}

/// How a shed body learns that it is cut: its state, and the waker of the task reading it (which
/// may be on another worker's thread than the connection that sheds it). A body that ends and a
/// shed that picks it race for the one switch, so a shed is never counted for a body that went
/// on to complete (which would make no room).
#[derive(Debug, Default)]
struct CutSwitch {
    state: AtomicU8,
    reader: AtomicWaker,
}

/// [`CutSwitch`]'s states: waiting for bytes, cut by a shed, or read to its end.
const WAITING: u8 = 0;
const CUT: u8 = 1;
const ENDED: u8 = 2;

impl CutSwitch {
    /// Cuts the body unless it already ended; whether it was cut.
    fn cut(&self) -> bool {
        self.state.compare_exchange(WAITING, CUT, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Marks the body read to its end unless it was cut first; whether it ended.
    fn end(&self) -> bool {
        self.state.compare_exchange(WAITING, ENDED, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }
}

/// A body's place in [`StalledBodies`]; it leaves when dropped.
#[derive(Debug)]
struct Waiting {
    bodies: Arc<StalledBodies>,
    key: (tokio::time::Instant, u64),
    switch: Arc<CutSwitch>,
}

/// Sheds are logged a few a second at most: under attack there are thousands.
static SHED_LOG: LazyLock<LogBudget> = LazyLock::new(|| {
    LogBudget::new("connection_shed", tracing::Level::INFO, crate::log_budget::PER_SECOND)
});

impl StalledBodies {
    /// Bodies that may be shed once `shed_after` behind their pace.
    pub fn new(shed_after: Duration) -> Arc<StalledBodies> {
        let waiting = Mutex::new(BTreeMap::new());
        Arc::new(StalledBodies { shed_after, waiting, next_id: AtomicU64::new(0) })
    }

    fn waiting(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<(tokio::time::Instant, u64), Arc<CutSwitch>>> {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn enter(self: &Arc<Self>, paid_until: tokio::time::Instant) -> Waiting {
        let key = (paid_until, self.next_id.fetch_add(1, Ordering::Relaxed));
        let switch = Arc::new(CutSwitch::default());
        self.waiting().insert(key, Arc::clone(&switch));
        Waiting { bodies: Arc::clone(self), key, switch }
    }

    /// Cuts the body furthest behind its pace when it is at least `shed_after` behind; whether
    /// one was cut. Its reader fails as at its deadline: 408, and the connection closes. A body
    /// that ended while being picked is passed over for the next.
    pub fn shed_one(&self) -> bool {
        let now = tokio::time::Instant::now();
        let switch = loop {
            let mut waiting = self.waiting();
            let Some(first) = waiting.first_entry() else { return false };
            if first.key().0.checked_add(self.shed_after).is_none_or(|due| due > now) {
                return false;
            }
            let switch = first.remove();
            drop(waiting);
            if switch.cut() {
                break switch;
            }
        };
        switch.reader.wake();
        metrics::counter!(crate::metrics::CONNECTIONS_SHED).increment(1);
        if SHED_LOG.admit() {
            tracing::info!(
                "the server holds max_connections: shed the connection of a stalled request body \
                 to admit a new one"
            );
        }
        true
    }
}

impl Waiting {
    /// Moves the body to its new place after bytes arrived, unless it was shed meanwhile.
    fn paid_until(&mut self, paid_until: tokio::time::Instant) {
        let mut waiting = self.bodies.waiting();
        if let Some(switch) = waiting.remove(&self.key) {
            self.key.0 = paid_until;
            waiting.insert(self.key, switch);
        }
    }

    fn is_cut(&self) -> bool {
        self.switch.state.load(Ordering::SeqCst) == CUT
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.bodies.waiting().remove(&self.key);
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
/// too (see [`KeepReader`]). Requests without a body and WebSocket handshakes are left alone,
/// and a body read whole costs no more than its timer. HTTP/2 bodies are cut at their deadline
/// but never shed: cutting one ends its stream, not its connection, so it would make no room.
pub async fn cut_slow_bodies(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let deadline = request.app_data::<BodyDeadline>().copied();
    let Some(deadline) =
        deadline.filter(|_| has_body(&request) && !is_websocket_handshake(&request))
    else {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    };
    let stalled = request.app_data::<Arc<StalledBodies>>().cloned();
    // With no minimum rate a body's pace is nothing to be behind: none is shed.
    let stalled = stalled
        .filter(|_| request.version() < actix_web::http::Version::HTTP_2 && deadline.min_rate > 0);
    let progress = Rc::new(Progress::default());
    let reader = Rc::new(RefCell::new(request.take_payload()));
    let mut timed = TimedBody::new(Rc::clone(&reader), deadline, Rc::clone(&progress));
    timed.stalled = stalled;
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

/// A WebSocket handshake (`GET` with `Upgrade: websocket`), whose "body" is the socket itself.
/// Not any request that says `Connection: upgrade`: that header alone leaves a body decoded as
/// usual, and a stranger sending it would otherwise stall a body with no deadline at all.
fn is_websocket_handshake(request: &ServiceRequest) -> bool {
    let upgrade = request.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok());
    request.method() == actix_web::http::Method::GET
        && upgrade.is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
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
    /// Where the body waits to be shed, if the server sheds any; entered at the first wait.
    stalled: Option<Arc<StalledBodies>>,
    waiting: Option<Waiting>,
}

impl TimedBody {
    fn new(
        inner: Rc<RefCell<Payload>>,
        deadline: BodyDeadline,
        progress: Rc<Progress>,
    ) -> TimedBody {
        let started = tokio::time::Instant::now();
        let (timer, stalled, waiting) = (None, None, None);
        TimedBody { inner, deadline, started, received: 0, timer, progress, stalled, waiting }
    }

    fn deadline(&self) -> tokio::time::Instant {
        let earned = self.received.checked_div(self.deadline.min_rate).unwrap_or(0);
        self.started + self.deadline.timeout + Duration::from_secs(earned)
    }

    /// The time the bytes received so far pay for at the minimum rate, from the headers on.
    fn paid_until(&self) -> tokio::time::Instant {
        let nanos = u128::from(self.received) * 1_000_000_000;
        let paid = nanos.checked_div(u128::from(self.deadline.min_rate)).unwrap_or(0);
        self.started + Duration::from_nanos(u64::try_from(paid).unwrap_or(u64::MAX))
    }

    /// Ends the body as too slow: the middleware answers 408 and closes the connection.
    fn cut(&mut self) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.progress.expired.set(true);
        self.waiting = None;
        let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "body too slow");
        Poll::Ready(Some(Err(PayloadError::Io(error))))
    }

    /// Waits in [`StalledBodies`] (entering at the first wait) with `cx`'s waker; whether the
    /// body was shed.
    fn wait_to_be_shed(&mut self, cx: &Context<'_>) -> bool {
        let Some(bodies) = &self.stalled else { return false };
        let paid_until = self.paid_until();
        let waiting = self.waiting.get_or_insert_with(|| bodies.enter(paid_until));
        waiting.switch.reader.register(cx.waker());
        // Checked after registering: a shed between the two still wakes this task.
        waiting.is_cut()
    }
}

impl Stream for TimedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.progress.expired.get() {
            return Poll::Ready(None);
        }
        if this.waiting.as_ref().is_some_and(Waiting::is_cut) {
            return this.cut();
        }
        let polled = Pin::new(&mut *this.inner.borrow_mut()).poll_next(cx);
        match polled {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                let paid_until = this.paid_until();
                if let Some(waiting) = &mut this.waiting {
                    waiting.paid_until(paid_until);
                }
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(None) => {
                // Shed just before its end: it counts as cut, since the shed counted on the room.
                if this.waiting.as_ref().is_some_and(|waiting| !waiting.switch.end()) {
                    return this.cut();
                }
                this.progress.ended.set(true);
                this.waiting = None;
                return Poll::Ready(None);
            }
            Poll::Ready(error) => return Poll::Ready(error),
            Poll::Pending => {}
        }
        if this.wait_to_be_shed(cx) {
            return this.cut();
        }
        let deadline = this.deadline();
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => this.cut(),
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
    async fn a_full_server_sheds_the_body_furthest_behind_its_pace_and_only_a_stalled_one() {
        use futures_util::{FutureExt as _, StreamExt as _};
        let bodies = StalledBodies::new(Duration::ZERO);
        let deadline = BodyDeadline { timeout: Duration::from_secs(600), min_rate: 1024 };
        let stalled_body = |chunks, progress| {
            let mut timed = TimedBody::new(body(chunks, false), deadline, progress);
            timed.stalled = Some(Arc::clone(&bodies));
            timed
        };
        static ONE: [&[u8]; 1] = [b"a"];
        static AHEAD: [&[u8]; 1] = [&[b'x'; 8192]];
        let progress = Rc::new(Progress::default());
        let mut stalled = stalled_body(&ONE, Rc::clone(&progress));
        let mut ahead = stalled_body(&AHEAD, Rc::default());
        for timed in [&mut stalled, &mut ahead] {
            timed.next().await.unwrap().unwrap();
            assert!(timed.next().now_or_never().is_none(), "waits for more");
        }
        assert_eq!(bodies.waiting().len(), 2);
        // One byte pays for a millisecond: past it, that body is behind.
        std::thread::sleep(Duration::from_millis(5));
        assert!(bodies.shed_one(), "the one byte is furthest behind");
        let cut = stalled.next().await.unwrap();
        assert!(
            matches!(cut, Err(PayloadError::Io(ref e)) if e.kind() == std::io::ErrorKind::TimedOut)
        );
        assert!(progress.expired.get());
        // 8 KiB at 1 KiB a second pay for 8 s: not behind yet, so not shed.
        assert!(!bodies.shed_one());
        assert!(ahead.next().now_or_never().is_none(), "still waiting, not cut");
        drop((stalled, ahead));
        assert!(bodies.waiting().is_empty(), "a body leaves when it goes");
    }

    #[actix_rt::test]
    async fn a_body_that_ends_while_picked_is_not_counted_as_shed() {
        let bodies = StalledBodies::new(Duration::ZERO);
        let long_ago = tokio::time::Instant::now() - Duration::from_secs(60);
        // It ends between being picked and being cut: the shed passes it over, counting nothing.
        let ended = bodies.enter(long_ago);
        assert!(ended.switch.end());
        assert!(!bodies.shed_one(), "an ended body makes no room");
        assert!(bodies.waiting().is_empty());
        // Cut first: its end comes too late, and it stays cut.
        let cut = bodies.enter(long_ago);
        assert!(bodies.shed_one());
        assert!(cut.is_cut() && !cut.switch.end());
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
