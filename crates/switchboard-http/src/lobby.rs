//! The lobby: where a new connection waits while the server holds its ceiling of connections,
//! instead of the kernel's listen queue. The listener never stops accepting below its own cap
//! (far above the ceiling), so the kernel's queue stays drained and a newcomer's SYN is never
//! dropped (a dropped SYN is retried after 1 s, then 3 s, 7 s: `switchboard-bench hostile`,
//! docs/BENCHMARKS.md). In the lobby a connection waits for a place, first come first served;
//! one whose whole request has already arrived (a webhook, `/healthz`) does not wait: it is
//! served at once, past the ceiling, since it takes no more than its answer (and, like any
//! connection let in past `max_connections`, sheds a stalled body). When the lobby is
//! full too, a newcomer gets one look at what it sent and, unless that is a whole request, a 503.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::limits::ConnectionCounter;
use crate::twilio::error::ApiError;

type TcpStream = actix_web::rt::net::TcpStream;

/// How long a newcomer finding the lobby full may take to send its first bytes: they follow the
/// handshake at once from any client, so this only bounds a stranger who sends nothing.
const FIRST_LOOK: Duration = Duration::from_millis(100);

/// How often a connection waiting in the lobby is checked for its peer having gone (a stalled
/// request abandoned, a TLS client that gave up): a connection that left gives its descriptor
/// back within this, instead of holding it until its turn.
const WATCH: Duration = Duration::from_secs(1);

/// Bytes looked at (without reading them) to tell whether a whole request has arrived: a request
/// larger than this waits for its place like one still arriving.
const LOOK_BYTES: usize = 16 * 1024;

/// Connections waiting for a place, first come first served.
#[derive(Debug)]
pub(crate) struct Lobby {
    capacity: usize,
    /// Connections in the lobby now (the queue may also hold the places of some that left).
    present: AtomicUsize,
    /// Each waiting connection's bell, rung when a place is made for it.
    queue: Mutex<VecDeque<oneshot::Sender<()>>>,
}

/// A connection's place in the [`Lobby`]; it leaves when this is dropped.
struct InLobby<'a> {
    lobby: &'a Lobby,
    bell: oneshot::Receiver<()>,
}

impl Drop for InLobby<'_> {
    fn drop(&mut self) {
        self.lobby.present.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lobby {
    pub(crate) fn new(capacity: usize) -> Lobby {
        Lobby { capacity, present: AtomicUsize::new(0), queue: Mutex::new(VecDeque::new()) }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<oneshot::Sender<()>>> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.present.load(Ordering::Relaxed) == 0
    }

    /// A place is made: it goes to the first connection still waiting, if any; whether one was.
    pub(crate) fn place_made(&self) -> bool {
        if self.is_empty() {
            return false;
        }
        let mut queue = self.queue();
        while let Some(bell) = queue.pop_front() {
            if bell.send(()).is_ok() {
                return true;
            }
        }
        false
    }

    /// Enters the lobby, unless it is full.
    fn enter(&self) -> Option<InLobby<'_>> {
        if self.present.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.present.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let (ring, bell) = oneshot::channel();
        let mut queue = self.queue();
        // Bells of connections that left (served at once, or gone) are dropped in a sweep once
        // they outnumber the present ones, so the queue stays within twice the lobby.
        if queue.len() >= self.capacity.max(16) * 2 {
            queue.retain(|bell| !bell.is_closed());
        }
        queue.push_back(ring);
        Some(InLobby { lobby: self, bell })
    }
}

/// What a connection's first bytes say of its request.
#[derive(Debug, PartialEq, Eq)]
enum Arrived {
    /// The head and the whole body it announces (or a head actix answers at once: malformed).
    Whole,
    /// Not yet: more is coming, or never (a stalled body).
    Partial,
    /// Cannot be told from its first bytes: chunked, waiting for `100 Continue`, or longer than
    /// [`LOOK_BYTES`]. It waits for its place.
    Unknowable,
}

fn arrived(bytes: &[u8]) -> Arrived {
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut request = httparse::Request::new(&mut headers);
    let head = match request.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if bytes.len() < LOOK_BYTES => return Arrived::Partial,
        Ok(httparse::Status::Partial) => return Arrived::Unknowable,
        // actix answers it 400 and closes at once.
        Err(_) => return Arrived::Whole,
    };
    let mut length = 0;
    for header in request.headers.iter() {
        let name = header.name;
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case("100-continue"))
        {
            return Arrived::Unknowable;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().unwrap_or(0);
        }
    }
    match head.checked_add(length) {
        Some(whole) if whole <= bytes.len() => Arrived::Whole,
        Some(whole) if whole <= LOOK_BYTES => Arrived::Partial,
        _ => Arrived::Unknowable,
    }
}

/// What a look at a connection found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    Whole,
    /// Nothing whole yet (or nothing at all); the connection is still open.
    NotWhole,
    /// The peer closed the connection or it failed.
    Gone,
}

/// One look at what `stream` has received so far, without reading it: `None` when tokio's
/// readiness was stale (the look cleared it, so the next wait is for new bytes).
fn look(stream: &TcpStream) -> Option<Look> {
    use futures_util::FutureExt as _;
    // Allocated for the look alone: a connection waiting holds no buffer.
    let mut bytes = vec![0u8; LOOK_BYTES];
    match stream.peek(&mut bytes).now_or_never()? {
        Ok(0) | Err(_) => Some(Look::Gone),
        Ok(n) if arrived(&bytes[..n]) == Arrived::Whole => Some(Look::Whole),
        Ok(_) => Some(Look::NotWhole),
    }
}

/// Waits for `stream`'s first bytes and looks at them, once. Only once: waiting for more would
/// mean clearing tokio's readiness, and the connection's reader, once let in, would then wait
/// for bytes that came already (actix's header timeout answered 408). A request that was not
/// whole at its first look waits for its place.
async fn first_bytes(stream: &TcpStream) -> Look {
    loop {
        let Ok(ready) = stream.ready(tokio::io::Interest::READABLE).await else {
            return Look::Gone;
        };
        match look(stream) {
            // A peer that stopped sending (its end stays readable) with no whole request.
            Some(Look::NotWhole) if ready.is_read_closed() => return Look::Gone,
            Some(decided) => return decided,
            // Nothing there after all (the look's `WouldBlock` cleared the readiness).
            None => {}
        }
    }
}

/// What the listener does with a new connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// Served: there was room, its place came, or its whole request had arrived.
    Serve,
    /// Refused with a 503 (the lobby was full), or gone while waiting: nothing more to do.
    Drop,
}

/// The answer of a full server, in Twilio's shape, before the connection is shut.
static FULL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let error = ApiError::new(503, 20429, "The server holds all the connections it can: try again");
    crate::limits::refusal(&error)
});

impl ConnectionCounter {
    /// Decides what becomes of a new connection (`plain`: not TLS, so its request can be looked
    /// at). Straight in while the server holds fewer than its ceiling and nobody is waiting;
    /// otherwise in the lobby until a place is made for it, unless its whole request arrives
    /// first; with the lobby full, in only with a whole request, else refused with a 503.
    pub async fn enter(&self, stream: &TcpStream, plain: bool) -> Entry {
        if self.has_room() {
            return Entry::Serve;
        }
        let Some(mut waiting) = self.lobby().enter() else {
            let looked = if plain { first_look(stream).await } else { Look::NotWhole };
            match looked {
                Look::Whole => return Entry::Serve,
                Look::Gone => return Entry::Drop,
                Look::NotWhole => {}
            }
            metrics::counter!(crate::metrics::CONNECTIONS_TURNED_AWAY).increment(1);
            refuse(stream, plain);
            return Entry::Drop;
        };
        let looked = async {
            match plain.then_some(first_bytes(stream).await) {
                Some(decided @ (Look::Whole | Look::Gone)) => decided,
                // Not looked at again (see `first_bytes`), but watched for its peer leaving.
                _ => watch_for_departure(stream).await,
            }
        };
        tokio::select! {
            rung = &mut waiting.bell => if rung.is_ok() { Entry::Serve } else { Entry::Drop },
            looked = looked => if looked == Look::Whole { Entry::Serve } else { Entry::Drop },
        }
    }
}

/// Resolves to [`Look::Gone`] once the peer has closed its end or the connection failed,
/// checked every [`WATCH`].
async fn watch_for_departure(stream: &TcpStream) -> Look {
    loop {
        tokio::time::sleep(WATCH).await;
        if peer_gone(stream) {
            return Look::Gone;
        }
    }
}

/// Whether the peer has closed its end (or the connection failed), asked of the kernel with a
/// level-triggered `poll(2)`: unlike tokio's readiness, which a look must not clear (see
/// `first_bytes`), and unlike a peek, which still returns the unread bytes of a peer that left.
fn peer_gone(stream: &TcpStream) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut asked = [PollFd::new(stream, PollFlags::RDHUP)];
    match rustix::event::poll(&mut asked, Some(&Timespec { tv_sec: 0, tv_nsec: 0 })) {
        Ok(0) => false,
        Ok(_) => asked[0].revents().intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR),
        // Interrupted, say: looked at again at the next watch.
        Err(_) => false,
    }
}

/// One look at what a newcomer sent, waiting up to [`FIRST_LOOK`] for its first bytes.
async fn first_look(stream: &TcpStream) -> Look {
    tokio::time::timeout(FIRST_LOOK, first_bytes(stream)).await.unwrap_or(Look::NotWhole)
}

/// A 503 (plain HTTP only; written by the system call itself, as a connection this new may not
/// be known writable to tokio yet) and the socket shut both ways, so it goes at once.
fn refuse(stream: &TcpStream, plain: bool) {
    let socket = socket2::SockRef::from(stream);
    if plain {
        let _ = socket.send(&FULL);
    }
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_whole_once_its_head_and_announced_body_are_in() {
        let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(arrived(get), Arrived::Whole);
        assert_eq!(arrived(&get[..20]), Arrived::Partial, "half a head");
        let post = b"POST /webhooks/twilio HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nBody=";
        assert_eq!(arrived(post), Arrived::Whole);
        assert_eq!(arrived(&post[..post.len() - 1]), Arrived::Partial, "a byte short");
        let stalled = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65000\r\n\r\nB";
        assert_eq!(arrived(stalled), Arrived::Unknowable, "more than is looked at");
        let small = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\nB";
        assert_eq!(arrived(small), Arrived::Partial);
        let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(arrived(chunked), Arrived::Unknowable);
        let expect =
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(arrived(expect), Arrived::Unknowable);
        assert_eq!(arrived(b"\x16\x03\x01 not http\r\n\r\n"), Arrived::Whole, "answered 400");
        let huge = [b'a'; LOOK_BYTES];
        assert_eq!(arrived(&huge), Arrived::Unknowable, "no end in sight");
    }

    #[test]
    fn places_go_first_come_first_served_and_a_full_lobby_takes_no_one() {
        let lobby = Lobby::new(2);
        let mut first = lobby.enter().unwrap();
        let mut second = lobby.enter().unwrap();
        assert!(lobby.enter().is_none(), "full");
        assert!(lobby.place_made());
        assert_eq!(first.bell.try_recv(), Ok(()));
        assert!(second.bell.try_recv().is_err(), "the second waits");
        drop(first);
        let mut third = lobby.enter().unwrap();
        drop(second);
        // The place of one that left goes to the next still waiting.
        assert!(lobby.place_made());
        assert_eq!(third.bell.try_recv(), Ok(()));
        drop(third);
        assert!(lobby.is_empty());
        assert!(!lobby.place_made(), "nobody to give it to");
    }

    #[test]
    fn the_queue_stays_within_twice_the_lobby() {
        let lobby = Lobby::new(1);
        for _ in 0..100 {
            drop(lobby.enter().unwrap());
        }
        assert!(lobby.queue().len() <= 33, "{}", lobby.queue().len());
    }

    #[actix_rt::test]
    async fn past_the_ceiling_a_whole_request_goes_in_at_once_and_the_rest_wait_their_turn() {
        use futures_util::FutureExt as _;
        use std::io::{Read as _, Write as _};
        let (counter, mut held) = at_the_ceiling(1);
        assert!(!counter.has_room(), "at the ceiling");
        // A whole request is let in at once, past the ceiling.
        let (whole, mut client) = pair().await;
        client.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(counter.enter(&whole, true).await, Entry::Serve);
        // A stalled one waits in the lobby, which it fills.
        let (stalled, mut first) = pair().await;
        first.write_all(b"POST / HTTP/1.1\r\nContent-Length: 65000\r\n\r\nB").unwrap();
        let mut waiting = Box::pin(counter.enter(&stalled, true));
        assert!(waiting.as_mut().now_or_never().is_none());
        // The next finds it full: refused with a 503, unless its request is whole.
        let (refused, mut second) = pair().await;
        second.write_all(b"POST / HTTP/1.1\r\nContent-Length: 65000\r\n\r\nB").unwrap();
        assert_eq!(counter.enter(&refused, true).await, Entry::Drop);
        let mut answer = String::new();
        second.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        let (also_whole, mut third) = pair().await;
        third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(counter.enter(&also_whole, true).await, Entry::Serve);
        // A place made goes to the one waiting.
        drop(held.pop());
        assert_eq!(waiting.await, Entry::Serve);
        assert!(counter.lobby().is_empty());
    }

    #[actix_rt::test]
    async fn a_place_not_taken_is_given_again_by_the_tick() {
        use futures_util::FutureExt as _;
        use std::io::Write as _;
        let (counter, mut held) = at_the_ceiling(2);
        let (streams, mut clients): (Vec<_>, Vec<_>) =
            [pair().await, pair().await].into_iter().unzip();
        for client in &mut clients {
            client.write_all(b"POST / HTTP/1.1\r\nContent-Length: 65000\r\n\r\nB").unwrap();
        }
        let mut first = Box::pin(counter.enter(&streams[0], true));
        let mut second = Box::pin(counter.enter(&streams[1], true));
        assert!(
            first.as_mut().now_or_never().is_none() && second.as_mut().now_or_never().is_none()
        );
        drop(held.pop());
        // The first is given the place but never takes it (gone on its way in, say).
        assert_eq!(first.now_or_never(), Some(Entry::Serve));
        assert!(second.as_mut().now_or_never().is_none(), "one place, one connection");
        counter.shed_owed();
        assert_eq!(second.now_or_never(), Some(Entry::Serve));
    }

    #[actix_rt::test]
    async fn a_connection_that_leaves_the_lobby_gives_its_place_back_tls_or_not() {
        use futures_util::FutureExt as _;
        use std::io::Write as _;
        let (counter, _held) = at_the_ceiling(2);
        // A stalled request that gets no further, and a TLS client that is never looked at.
        let (stalled, mut abandoned) = pair().await;
        abandoned.write_all(b"POST / HTTP/1.1\r\nContent-Length: 65000\r\n\r\nB").unwrap();
        let (tls, tls_client) = pair().await;
        let mut waiting = Box::pin(counter.enter(&stalled, true));
        let mut waiting_tls = Box::pin(counter.enter(&tls, false));
        assert!(waiting.as_mut().now_or_never().is_none());
        assert!(waiting_tls.as_mut().now_or_never().is_none());
        // Still there after a watch: nobody left.
        tokio::time::sleep(WATCH * 2).await;
        assert!(waiting.as_mut().now_or_never().is_none() && !counter.lobby().is_empty());
        drop(abandoned);
        drop(tls_client);
        // Bounded, so a lobby that never notices fails the test instead of hanging it.
        let noticed = |left| tokio::time::timeout(WATCH * 10, left);
        assert_eq!(noticed(waiting).await, Ok(Entry::Drop));
        assert_eq!(noticed(waiting_tls).await, Ok(Entry::Drop));
        assert!(counter.lobby().is_empty(), "both places given back");
    }

    /// A counter of no `max_connections` with a lobby of `lobby` places, at its ceiling: the
    /// connections that hold it.
    fn at_the_ceiling(
        lobby: usize,
    ) -> (std::sync::Arc<ConnectionCounter>, Vec<crate::limits::Admitted>) {
        let limits = crate::limits::ServerLimits { max_connections: 0, ..Default::default() };
        let counter = ConnectionCounter::for_limits(&limits, lobby);
        let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let held = (0..16).map(|_| counter.admit(ip).unwrap()).collect();
        (counter, held)
    }

    /// A server-side stream and its client.
    async fn pair() -> (TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        (TcpStream::from_std(accepted).unwrap(), client)
    }

    #[actix_rt::test]
    async fn a_look_waits_for_the_first_bytes_reads_none_and_sees_a_peer_go() {
        use std::io::Write as _;
        let (server, mut client) = pair().await;
        assert_eq!(look(&server).unwrap_or(Look::NotWhole), Look::NotWhole, "nothing yet");
        let waiting = first_bytes(&server);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            client.write_all(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na").unwrap();
            client
        });
        assert_eq!(waiting.await, Look::NotWhole, "a byte of three");
        let client = writer.join().unwrap();
        // Whoever reads it next (actix, let in) reads it at once: the look cleared nothing.
        let mut read = [0u8; 64];
        assert_eq!(server.try_read(&mut read).unwrap(), 39);
        drop(client);
        // A peer that goes with half a request, or with nothing, is gone.
        for sent in [&b"POST / HTTP/1.1\r\n"[..], b""] {
            let (server, mut client) = pair().await;
            client.write_all(sent).unwrap();
            drop(client);
            assert_eq!(first_bytes(&server).await, Look::Gone);
        }
    }
}
