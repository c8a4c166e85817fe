//! Real time at `GET /ws`: a WebSocket authenticated by a Twilio-style access token.
//!
//! The token comes as `?token=`, an `Authorization: Bearer` header, or, preferably for browsers,
//! in a first frame `{"type":"auth","token":…}` (query strings end up in logs; this server never
//! logs one). The server then pushes, as JSON text frames, every durable event of every channel
//! the identity is a member of. `{"type":"resume","channel_sid":…,"seq":N}` replays everything
//! after N from the log, then live events continue with no gap and no duplicate.
//! `{"type":"typing","channel_sid":…}` is relayed to the other members; `{"type":"ping"}` gets
//! `{"type":"pong"}`. Client actions (`message`, with an uploaded medium's `media_sid` or not,
//! `edit_message`, `delete_message`, `consumed`, `join`, `leave`) are checked against the
//! identity's Chat roles and answered `ack` or `error` (50107 when not permitted; nothing is
//! written then). A deleted channel's members get its `channel_destroyed` event, then nothing
//! more of it. The connection closes when the token expires.
//!
//! Frames go out through a queue bounded in frames and bytes (`ws_transport`): a reader that
//! falls that far behind is closed with 1013 and resumes by `seq`. The server pings every
//! `ping_interval` (told in `ready`) and drops a peer silent for `ping_timeout`; when the daemon
//! stops, every connection gets a close frame (1001) and is dropped after a short grace.

use std::collections::HashMap;
use std::time::Duration;

use actix_http::ws::{CloseCode, CloseReason, Message, ProtocolError};
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_actors::{ClientAction, ClientRefusal, Live, LiveEvent};
use switchboard_domain::{ChannelEvent, ChannelState, Rejection, Sid, SidPrefix};
use tokio::time::Instant;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::token;
use crate::ws_transport::{Outbound, RealtimeConfig, CLOSE_GRACE};

mod sent;
pub mod upgraded;
mod wire;
mod worker;

use upgraded::Accepted;
pub(crate) use wire::messages_in;
use wire::Wire;

/// How long a connection without a token may take to send its auth frame.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame a client may send.
const FRAME_LIMIT_BYTES: usize = 64 * 1024;
/// The reason of the close for a frame over [`FRAME_LIMIT_BYTES`].
const FRAME_TOO_LARGE: &str = "frame larger than 65536 bytes";
const _: () = assert!(FRAME_LIMIT_BYTES == 65536, "FRAME_TOO_LARGE names the limit");

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(upgrade);
}

/// Who is on the other end, from a verified token.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub identity: String,
    expires_at_secs: i64,
    /// The Chat Service of the token's `ChatGrant`: only its channels are this peer's. A token
    /// without one (as `switchboard token` mints without `--service`) reaches every service.
    pub service_sid: Option<Sid>,
    /// A web visitor's token reaches this one channel and nothing else: no other channel, no
    /// list, no presence but its fellow members', and of its channel's events only those a
    /// visitor sees.
    pub channel_sid: Option<Sid>,
    /// Whether the token reaches chat at all (a token with only a TaskRouter grant does not).
    pub chat: bool,
    /// A worker's token: its TaskRouter events and actions (`ws/worker.rs`).
    pub worker: Option<worker::WorkerGrant>,
}

impl Peer {
    /// Whether `channel`, of `service`, is within this peer's token (never for a token without
    /// chat, such as a worker's: its media included).
    pub(crate) fn reaches(&self, channel: Sid, service: Option<Sid>) -> bool {
        self.chat
            && self.channel_sid.is_none_or(|granted| granted == channel)
            && self.reaches_service(service)
    }

    fn reaches_service(&self, service: Option<Sid>) -> bool {
        self.service_sid.is_none_or(|granted| service == Some(granted))
    }
}

/// The WebSocket (a GET upgrade). The access token comes as `?token=`, as
/// `Authorization: Bearer`, or in a first frame `{"type":"auth","token":…}` within 10 seconds;
/// frames are JSON text (see docs/api.md, WebSockets).
#[utoipa::path(
    tag = "Realtime",
    operation_id = "WebSocket",
    params(
        ("token" = Option<String>, Query, description = "An access token (prefer the header or the first frame)"),
        ("Upgrade" = String, Header, description = "`websocket`"),
        ("Connection" = String, Header, description = "`Upgrade`"),
        ("Sec-WebSocket-Key" = String, Header),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`"),
    ),
    security(("accessToken" = []), ("accessTokenQuery" = []), ()),
    responses((status = 101, description = "Switching Protocols: the WebSocket is open")),
)]
#[get("/ws")]
async fn upgrade(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, actix_web::Error> {
    // actix-http hands the listener's upgrade service only a request whose `Upgrade` is
    // exactly `websocket`; any other would be answered 101 and then read as HTTP.
    let upgrade = request.headers().get(actix_web::http::header::UPGRADE);
    if !upgrade.is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        let refused = ApiError::new(400, 20001, "A WebSocket handshake needs Upgrade: websocket");
        return Err(refused.into());
    }
    let offered = query_token(&request).or_else(|| bearer_token(&request));
    let ip = request.peer_addr().map(|peer| peer.ip());
    let peer = match offered {
        Some(token) => Some(verify_from(&state, ip, &token).map_err(actix_web::Error::from)?),
        None => None,
    };
    let handshake = actix_http::ws::handshake(request.head())?.finish();
    let mut response = HttpResponse::from(handshake).map_into_boxed_body();
    // The listener takes the connection over once this answer is written (`ws/upgraded.rs`).
    let counted = crate::limits::admission_of(&request);
    response.extensions_mut().insert(Accepted { state, peer, ip, counted });
    Ok(response)
}

/// Serves a socket whose handshake [`upgrade`] accepted, on its own connection, until it ends.
async fn serve_accepted(accepted: Accepted, wire: Wire) {
    let Accepted { state, peer, ip, counted } = accepted;
    // The connection stays counted against its address and the server's limit while it lives.
    let _counted = counted;
    // Counted while this serves the socket, however it ends.
    let mut open = crate::metrics::OpenWebSocket::new();
    let mut connection = Connection::new(state.into_inner(), wire);
    let peer = match peer {
        Some(peer) => Some((peer, Vec::new())),
        None => connection.await_auth(ip).await,
    };
    match peer {
        Some((peer, resume)) => {
            open.is(crate::metrics::SocketKind::of(&peer));
            connection.serve(peer, resume).await
        }
        None => connection.close(CloseCode::Policy, "authentication required").await,
    }
}

/// [`verify`] within the limit of failed authentications of `ip` (`rate.rs`): an address past
/// it is refused before the token is read, and a token refused counts against it, unless it
/// only expired (20104 comes after its signature checked out: a client late to refresh, not a
/// guess, and an office of agents behind one address must not lock itself out).
pub(crate) fn verify_from(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    token: &str,
) -> Result<Peer, ApiError> {
    state.rate.before_authentication(ip)?;
    verify(state, token).or_else(|refused| {
        if refused.code() != ApiError::from(token::TokenError::Expired).code() {
            state.rate.failed_authentication(ip)?;
        }
        Err(refused)
    })
}

/// The peer an access token names, if this server signed it (or an API key of its own did).
fn verify(state: &AppState, token: &str) -> Result<Peer, ApiError> {
    let now_secs = state.engine.now().as_millis() / 1000;
    let credentials = &state.credentials;
    let visitor_key = crate::webchat::token_key(state);
    let lookup = |key_sid: &str| {
        let sid: Sid = key_sid.parse().ok()?;
        if sid == visitor_key.0 {
            return Some(visitor_key.1.expose().to_owned());
        }
        credentials.api_keys.get(&sid).map(|secret| secret.expose().to_owned())
    };
    let verified = token::verify(token, lookup, &credentials.account_sid.to_string(), now_secs)
        .map_err(ApiError::from)?;
    // The visitors' key signs nothing but tokens for one channel: one without is refused.
    let channel_sid =
        match (&verified.channel_sid, verified.api_key_sid == visitor_key.0.to_string()) {
            (None, false) => None,
            (Some(text), _) => Some(Sid::parse_with(text, SidPrefix::CHANNEL).map_err(|_| {
                ApiError::new(401, 20101, "The access token's channel is malformed")
            })?),
            (None, true) => {
                return Err(ApiError::new(401, 20101, "The access token names no channel"))
            }
        };
    // A grant for a service this server does not have is a token for somewhere else.
    let service_sid = match verified.service_sid.as_deref() {
        None => None,
        Some(text) => {
            let foreign =
                || ApiError::new(401, 20101, "The access token's Chat Service does not exist here");
            let sid = Sid::parse_with(text, SidPrefix::SERVICE).map_err(|_| foreign())?;
            state.engine.services().get(sid).ok_or_else(foreign)?;
            Some(sid)
        }
    };
    let worker = match &verified.task_router {
        Some(grant) if channel_sid.is_none() => Some(worker::grant(state, grant)?),
        Some(_) => return Err(ApiError::new(401, 20101, "A visitor's token has no worker")),
        None => None,
    };
    Ok(Peer {
        identity: verified.identity,
        expires_at_secs: verified.expires_at,
        service_sid,
        channel_sid,
        chat: verified.chat,
        worker,
    })
}

fn query_token(request: &HttpRequest) -> Option<String> {
    form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

pub(crate) fn bearer_token(request: &HttpRequest) -> Option<String> {
    let header = request.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// Whether a client's text frame is one this server reads (as the socket reads it).
pub(crate) fn is_client_frame(text: &str) -> bool {
    serde_json::from_str::<ClientFrame>(text).is_ok()
}

/// A frame a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    /// The token, and optionally where to resume channels before any live event is sent.
    Auth {
        token: String,
        #[serde(default)]
        resume: Vec<ResumeAt>,
    },
    Resume {
        channel_sid: String,
        seq: i64,
    },
    Typing {
        channel_sid: String,
    },
    Ping,
    /// Client actions, checked against the identity's roles (see `Clients::act`).
    /// `id`, when given, is echoed in the `ack` or `error` answer.
    /// A text message, or a media message carrying an upload of the channel (`media_sid`) with
    /// an optional body.
    Message {
        channel_sid: String,
        #[serde(default)]
        body: String,
        #[serde(default)]
        media_sid: Option<String>,
        #[serde(default)]
        attributes: Option<Value>,
        #[serde(default)]
        id: Option<Value>,
    },
    EditMessage {
        channel_sid: String,
        index: u64,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        attributes: Option<Value>,
        #[serde(default)]
        id: Option<Value>,
    },
    DeleteMessage {
        channel_sid: String,
        index: u64,
        #[serde(default)]
        id: Option<Value>,
    },
    Consumed {
        channel_sid: String,
        index: Option<u64>,
        #[serde(default)]
        id: Option<Value>,
    },
    Join {
        channel_sid: String,
        #[serde(default)]
        id: Option<Value>,
    },
    Leave {
        channel_sid: String,
        #[serde(default)]
        id: Option<Value>,
    },
    /// TaskRouter (a worker's token, `ws/worker.rs`): answers a reservation of the worker's
    /// with `accepted`, `rejected`, `wrapping` or `completed`.
    ReservationUpdate {
        task_sid: String,
        reservation_sid: String,
        status: String,
        #[serde(default)]
        id: Option<Value>,
    },
    /// Sets the worker's activity.
    WorkerUpdate {
        activity_sid: String,
        #[serde(default)]
        id: Option<Value>,
    },
    /// Replays the worker's events it has not seen: `after` holds the last `seq` it has of
    /// each stream (a task's `WT…` or its own `WK…`).
    WorkerResume {
        #[serde(default)]
        after: std::collections::BTreeMap<String, u64>,
    },
}

impl ClientFrame {
    /// Whether the frame is about chat channels (refused to a token without chat).
    fn is_chat(&self) -> bool {
        !matches!(
            self,
            ClientFrame::Auth { .. }
                | ClientFrame::Ping
                | ClientFrame::ReservationUpdate { .. }
                | ClientFrame::WorkerUpdate { .. }
                | ClientFrame::WorkerResume { .. }
        )
    }
}

/// A channel and the last `seq` the client has of it.
#[derive(Debug, Deserialize)]
struct ResumeAt {
    channel_sid: String,
    seq: i64,
}

/// Why a connection ends, and so how it takes its leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The connection is gone: nothing to say.
    Gone,
    /// The peer sent its close frame: answer it.
    PeerClosed,
    /// Close with this code and reason, let the peer answer within `grace`, then drop the
    /// connection. `discard` forgets the frames still queued (the peer resumes from the log).
    Close { code: CloseCode, reason: &'static str, grace: Duration, discard: bool },
    /// The peer answered nothing for the whole timeout: drop it without a word.
    Silent,
}

/// The close of a reader whose queue is full.
const TOO_SLOW: &str = "too slow: reconnect and resume from your last seq";

struct Connection {
    state: std::sync::Arc<AppState>,
    /// The connection itself: dropping it ends it, whatever the peer does.
    wire: Wire,
    config: RealtimeConfig,
    /// What waits to be written to the socket.
    out: Outbound,
    /// Set by whatever decides that the connection ends.
    ending: Option<Ending>,
    /// The sequence numbers sent per channel on this connection, so a resume and the live feed
    /// neither overlap nor leave a gap.
    sent: HashMap<Sid, sent::SentSeqs>,
    /// Whether each channel met so far is within the token's Chat Service.
    reach: HashMap<Sid, bool>,
    /// The worker's events sent on this connection, by stream, sequence and type, so a
    /// catch-up and the live feed never send one twice.
    worker_sent: std::collections::HashSet<(Sid, u64, &'static str)>,
}

impl Connection {
    fn new(state: std::sync::Arc<AppState>, wire: Wire) -> Connection {
        let config = state.realtime;
        Connection {
            state,
            wire,
            config,
            out: Outbound::new(&config),
            ending: None,
            sent: HashMap::new(),
            reach: HashMap::new(),
            worker_sent: std::collections::HashSet::new(),
        }
    }

    /// The peer from the first frame's token, and where it asks to resume.
    async fn await_auth(&mut self, ip: Option<std::net::IpAddr>) -> Option<(Peer, Vec<ResumeAt>)> {
        let mut closing = self.state.engine.hub().closing();
        let first = tokio::time::timeout(AUTH_TIMEOUT, self.wire.recv(&mut self.out));
        // The daemon stopping does not wait for a stranger's first frame.
        let frame = tokio::select! {
            frame = first => frame.ok()??.ok()?,
            _ = closing.wait_for(|closing| *closing) => return None,
        };
        let Message::Text(text) = frame else { return None };
        let Ok(ClientFrame::Auth { token, resume }) = serde_json::from_str::<ClientFrame>(&text)
        else {
            return None;
        };
        match verify_from(&self.state, ip, &token) {
            Ok(peer) => Some((peer, resume)),
            Err(error) => {
                self.send(
                    json!({"type": "error", "code": error.code(), "message": error.message()}),
                );
                None
            }
        }
    }

    async fn serve(mut self, peer: Peer, resume: Vec<ResumeAt>) {
        let hub = std::sync::Arc::clone(self.state.engine.hub());
        // A socket without chat listens under the empty identity, which no member has: it hears
        // the daemon stopping, no channel, and counts for nobody's presence.
        let listening = if peer.chat { peer.identity.as_str() } else { "" };
        // Subscribed before anything is read from the log, so that no event falls between a
        // resume and the live feed.
        let mut subscription = hub.subscribe(listening, peer.service_sid);
        let mut feed = self.subscribe_worker(&peer);
        if peer.chat {
            self.state.engine.presence().connections_changed(&peer.identity);
        }
        let ending = self.run(&peer, resume, &mut subscription, &mut feed).await;
        hub.unsubscribe(listening, subscription.id);
        if peer.chat {
            self.state.engine.presence().connections_changed(&peer.identity);
        }
        self.worker_left(&peer, feed);
        self.finish(ending).await;
    }

    /// The `ready` frame, then the resumes the auth frame asked for.
    async fn greet(&mut self, peer: &Peer, resume: Vec<ResumeAt>) {
        let (interval, timeout) = (self.config.ping_interval, self.config.ping_timeout);
        let mut ready = json!({
            "type": "ready",
            "identity": peer.identity,
            "version": PROTOCOL_VERSION,
            "ping_interval_ms": millis(interval),
            "ping_timeout_ms": millis(timeout),
            "chat": peer.chat,
        });
        self.describe_worker(peer, &mut ready);
        self.send(ready);
        for at in resume {
            if self.ending.is_some() {
                break;
            }
            self.resume(peer, &at.channel_sid, at.seq).await;
        }
    }

    /// Serves the peer until something ends the connection.
    ///
    /// What a frame or an event sets off (an action, a resume) is boxed, so that the task of an
    /// idle socket, which lives as long as the socket, holds only this loop's own state rather
    /// than room for the largest of those (docs/BENCHMARKS.md, memory per idle socket).
    async fn run(
        &mut self,
        peer: &Peer,
        resume: Vec<ResumeAt>,
        subscription: &mut switchboard_actors::Subscription,
        feed: &mut Option<switchboard_actors::WorkerSubscription>,
    ) -> Ending {
        let now_secs = self.state.engine.now().as_millis() / 1000;
        let lifetime =
            Duration::from_secs(u64::try_from(peer.expires_at_secs - now_secs).unwrap_or(0));
        let expiry = tokio::time::sleep(lifetime);
        tokio::pin!(expiry);
        let (interval, timeout) = (self.config.ping_interval, self.config.ping_timeout);
        let mut ping = tokio::time::interval_at(Instant::now() + interval, interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let silence = tokio::time::sleep(timeout);
        tokio::pin!(silence);
        Box::pin(self.greet(peer, resume)).await;
        while self.ending.is_none() {
            tokio::select! {
                // Whatever is queued goes out (as far as the peer takes it) before anything
                // else is looked at.
                biased;
                frame = self.wire.recv(&mut self.out) => {
                    silence.as_mut().reset(Instant::now() + timeout);
                    match frame {
                        Some(Ok(frame)) => {
                            if !Box::pin(self.on_frame(peer, frame)).await {
                                self.end(Ending::PeerClosed);
                            }
                        }
                        Some(Err(error)) => self.end(refused(error)),
                        None => self.end(Ending::Gone),
                    }
                }
                live = subscription.events.recv() => match live {
                    Some(live) => {
                        Box::pin(self.on_live(peer, live)).await;
                    }
                    // Dropped by the hub for falling behind: the client resumes from the log.
                    None => self.end(too_slow(timeout)),
                },
                item = worker::next(feed) => match item {
                    Some(item) => self.on_worker_item(peer, &item),
                    // Dropped by the feed for falling behind: the worker catches up.
                    None => self.end(too_slow(timeout)),
                },
                _ = subscription.closing.wait_for(|closing| *closing) => self.end(shutting_down()),
                () = &mut expiry => {
                    self.send(json!({"type": "error", "code": 20104, "message": "Access token expired"}));
                    self.end(Ending::Close {
                        code: CloseCode::Policy,
                        reason: "token expired",
                        grace: CLOSE_GRACE,
                        discard: false,
                    });
                }
                () = &mut silence => self.end(Ending::Silent),
                _ = ping.tick() => self.out.push_control(Message::Ping(Default::default())),
            }
        }
        self.ending.unwrap_or(Ending::Gone)
    }

    /// Takes leave as `ending` says: the close frame, a grace for the peer to answer it, and
    /// then the connection ended (dropped with `self`, whatever it still holds).
    async fn finish(mut self, ending: Ending) {
        let grace = match ending {
            Ending::Gone | Ending::Silent => return,
            Ending::PeerClosed => {
                self.out.push_close(None);
                CLOSE_GRACE
            }
            Ending::Close { code, reason, grace, discard } => {
                let reason = Some(CloseReason { code, description: Some(reason.to_owned()) });
                if discard {
                    self.out.replace_with_close(reason);
                } else {
                    self.out.push_close(reason);
                }
                grace
            }
        };
        let hub = std::sync::Arc::clone(self.state.engine.hub());
        let mut closing = hub.closing();
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        // Whether the peer answered our close (or sent its own, or left).
        let mut answered = ending == Ending::PeerClosed;
        // Until the peer answers the close (or leaves), writing what is queued meanwhile.
        while !answered {
            tokio::select! {
                biased;
                frame = self.wire.recv(&mut self.out) => {
                    answered = matches!(frame, Some(Ok(Message::Close(_))) | Some(Err(_)) | None);
                }
                () = &mut deadline => return,
                // The daemon is stopping: no more waiting on a slow peer.
                _ = closing.wait_for(|closing| *closing), if grace > CLOSE_GRACE => return,
            }
        }
        // Then what is left goes out, and our side of the connection ends after it.
        // The shutdown inside the race too: over TLS it writes a last record, which a peer that
        // reads nothing would otherwise hold for ever.
        let (wire, out) = (&mut self.wire, &mut self.out);
        let finished = async move {
            if wire.flush(out).await.is_ok() {
                wire.shut_down().await;
            }
        };
        tokio::select! {
            () = finished => {}
            () = &mut deadline => {}
            _ = closing.wait_for(|closing| *closing), if grace > CLOSE_GRACE => {}
        }
    }

    fn end(&mut self, ending: Ending) {
        self.ending.get_or_insert(ending);
    }

    /// Returns whether the connection stays open.
    async fn on_frame(&mut self, peer: &Peer, frame: Message) -> bool {
        match frame {
            Message::Ping(bytes) => {
                // A copy: the ping's bytes are a view of the read that brought them.
                self.out.push_control(Message::Pong(bytes::Bytes::copy_from_slice(&bytes)));
                true
            }
            Message::Close(_) => false,
            Message::Text(text) => match serde_json::from_str::<ClientFrame>(&text) {
                Ok(ClientFrame::Ping) => self.send(json!({"type": "pong"})),
                Ok(frame) if frame.is_chat() && !peer.chat => self.refuse_chat(&text),
                Ok(ClientFrame::ReservationUpdate { task_sid, reservation_sid, status, id }) => {
                    let answer = worker::answer_of(&status);
                    self.answer_reservation(peer, (&task_sid, &reservation_sid), answer, id).await
                }
                Ok(ClientFrame::WorkerUpdate { activity_sid, id }) => {
                    self.set_activity(peer, &activity_sid, id).await
                }
                Ok(ClientFrame::WorkerResume { after }) => self.worker_resume(peer, &after).await,
                Ok(ClientFrame::Resume { channel_sid, seq }) => {
                    self.resume(peer, &channel_sid, seq).await
                }
                Ok(ClientFrame::Typing { channel_sid }) => self.typing(peer, &channel_sid).await,
                Ok(ClientFrame::Auth { .. }) => self.error(20001, "already authenticated"),
                Ok(ClientFrame::Message { channel_sid, body, media_sid, attributes, id }) => {
                    let action = media_sid_of(media_sid.as_deref()).and_then(|media_sid| {
                        attributes_text(attributes).map(|attributes| ClientAction::Send {
                            body,
                            attributes: attributes.unwrap_or_else(|| "{}".into()),
                            media_sid,
                        })
                    });
                    self.act(peer, &channel_sid, action, id).await
                }
                Ok(ClientFrame::EditMessage { channel_sid, index, body, attributes, id }) => {
                    let action = attributes_text(attributes).map(|attributes| ClientAction::Edit {
                        index,
                        body,
                        attributes,
                    });
                    self.act(peer, &channel_sid, action, id).await
                }
                Ok(ClientFrame::DeleteMessage { channel_sid, index, id }) => {
                    self.act(peer, &channel_sid, Ok(ClientAction::Delete { index }), id).await
                }
                Ok(ClientFrame::Consumed { channel_sid, index, id }) => {
                    self.act(peer, &channel_sid, Ok(ClientAction::Consumed { index }), id).await
                }
                Ok(ClientFrame::Join { channel_sid, id }) => {
                    self.act(peer, &channel_sid, Ok(ClientAction::Join), id).await
                }
                Ok(ClientFrame::Leave { channel_sid, id }) => {
                    self.act(peer, &channel_sid, Ok(ClientAction::Leave), id).await
                }
                Err(error) => self.error(20001, &format!("unknown or malformed frame: {error}")),
            },
            _ => true,
        }
    }

    /// Whether `channel` is within the peer's token; remembered, as a channel keeps its service.
    async fn reaches(&mut self, peer: &Peer, channel: Sid, service: Option<Sid>) -> bool {
        if peer.channel_sid.is_some_and(|granted| granted != channel) {
            return false;
        }
        if peer.service_sid.is_none() {
            return true;
        }
        // The publisher said which service: nothing to ask the channel.
        if service.is_some() {
            return peer.reaches(channel, service);
        }
        if let Some(known) = self.reach.get(&channel) {
            return *known;
        }
        let service = match self.state.engine.channels().state(channel).await {
            Ok(state) => state.and_then(|s| s.service_sid),
            Err(_) => return false,
        };
        let reaches = peer.reaches(channel, service);
        self.reach.insert(channel, reaches);
        reaches
    }

    async fn on_live(&mut self, peer: &Peer, live: std::sync::Arc<Live>) -> bool {
        if !peer.chat {
            return true;
        }
        let (channel, service) = match &*live {
            Live::Event(event) => (event.channel_sid, event.service_sid),
            Live::Typing { channel_sid, service_sid, .. } => (*channel_sid, *service_sid),
            Live::Reachability { service_sid, identity, is_online, is_notifiable } => {
                return !peer.reaches_service(Some(*service_sid))
                    || !self.may_hear_reachability_of(peer, identity).await
                    || self.send(user_updated(
                        *service_sid,
                        identity,
                        (*is_online, *is_notifiable),
                    ));
            }
        };
        if !self.reaches(peer, channel, service).await {
            return true;
        }
        match &*live {
            Live::Event(event) => self.sent_before(event) || {
                self.mark_sent(event);
                (!shown_to(peer, event) || self.send(event_frame(event)))
                    && self.tell_joiner_reachability(peer, event).await
            },
            Live::Typing { channel_sid, identity, .. } => self.send(
                json!({"type": "typing", "channel_sid": channel_sid.to_string(), "identity": identity}),
            ),
            Live::Reachability { .. } => true,
        }
    }

    /// Whether this connection sent `event` already (by a resume, or live before it).
    fn sent_before(&self, event: &LiveEvent) -> bool {
        self.sent.get(&event.channel_sid).is_some_and(|sent| sent.contains(event.seq))
    }

    fn mark_sent(&mut self, event: &LiveEvent) {
        self.sent.entry(event.channel_sid).or_default().insert(event.seq);
    }

    /// Sends every durable event of the channel after `after` that this connection has not sent,
    /// then lets live events continue. Paced by the peer: a long history waits for room in the
    /// queue rather than overflow it.
    async fn resume(&mut self, peer: &Peer, channel_sid: &str, after: i64) -> bool {
        let Some(channel) = self.member_channel(peer, channel_sid).await else {
            return self.error(20404, "no such channel among yours");
        };
        // Only what is durable is replayed: up to the head as it was before a flush.
        let from = u64::try_from(after.saturating_add(1)).unwrap_or(0);
        let Ok(missed) = self.state.engine.channels().durable_events(channel, from).await else {
            return self.error(20500, "could not read the channel");
        };
        for live in missed {
            if self.sent_before(&live) {
                continue;
            }
            if !shown_to(peer, &live) {
                self.mark_sent(&live);
                continue;
            }
            let text = event_frame(&live).to_string();
            if !self.room_for(text.len()).await {
                return false;
            }
            self.mark_sent(&live);
            if !self.send_text(text) {
                return false;
            }
        }
        if !self.tell_members_reachability(peer, channel).await {
            return false;
        }
        let last = self.sent.get(&channel).and_then(sent::SentSeqs::last);
        self.send(json!({"type": "resumed", "channel_sid": channel.to_string(), "seq": last}))
    }

    /// Whether a user's reachability is the peer's to hear: any user's for a token of its own,
    /// for a web visitor's (a token of one channel) only the fellow members of that channel's.
    async fn may_hear_reachability_of(&self, peer: &Peer, identity: &str) -> bool {
        let Some(channel) = peer.channel_sid else { return true };
        matches!(
            self.state.engine.channels().state(channel).await,
            Ok(Some(state)) if state.member_by_identity(identity).is_some()
        )
    }

    /// A member joined: the peer learns the joiner's reachability, or, if the peer joined, that
    /// of the members it joined (no connection changed, so presence tells nobody).
    async fn tell_joiner_reachability(&mut self, peer: &Peer, event: &LiveEvent) -> bool {
        let ChannelEvent::MemberJoined { identity, .. } = &event.event else {
            return true;
        };
        if !self.state.engine.services().reachability_anywhere() {
            return true;
        }
        if *identity == peer.identity {
            return self.tell_members_reachability(peer, event.channel_sid).await;
        }
        let service = match event.service_sid {
            Some(service) => service,
            None => match self.state.engine.channels().state(event.channel_sid).await {
                Ok(Some(ChannelState { service_sid: Some(service), .. })) => service,
                _ => return true,
            },
        };
        match self.state.engine.presence().reachability(service, identity) {
            Some(reachability) => self.send(user_updated(service, identity, reachability)),
            None => true,
        }
    }

    /// After a resume, the reachability now of the channel's other members, if its service
    /// keeps it: a client shows who is there without waiting for a change, after a reconnect
    /// too, when it may have missed one.
    async fn tell_members_reachability(&mut self, peer: &Peer, channel: Sid) -> bool {
        // Most daemons keep none: then no resume reads the channel again for it.
        if !self.state.engine.services().reachability_anywhere() {
            return true;
        }
        let Ok(Some(state)) = self.state.engine.channels().state(channel).await else {
            return true;
        };
        let Some(service) = state.service_sid else { return true };
        let presence = self.state.engine.presence();
        // `None` for every member when the service keeps no reachability: nothing to tell.
        let frames: Vec<Value> = state
            .members
            .values()
            .filter(|m| m.identity != peer.identity)
            .filter_map(|m| {
                let reachability = presence.reachability(service, &m.identity)?;
                Some(user_updated(service, &m.identity, reachability))
            })
            .collect();
        frames.into_iter().all(|frame| self.send(frame))
    }

    async fn typing(&mut self, peer: &Peer, channel_sid: &str) -> bool {
        let Some((channel, state)) = self.member_channel_state(peer, channel_sid).await else {
            return self.error(20404, "no such channel among yours");
        };
        let others: Vec<String> = state
            .members
            .values()
            .map(|m| m.identity.clone())
            .filter(|i| *i != peer.identity)
            .collect();
        self.state.engine.hub().typing(channel, state.service_sid, &peer.identity, &others);
        true
    }

    /// The channel, if it exists, is within the peer's token, and `peer` is a member of it now.
    async fn member_channel(&self, peer: &Peer, channel_sid: &str) -> Option<Sid> {
        self.member_channel_state(peer, channel_sid).await.map(|(sid, _)| sid)
    }

    /// A channel of the peer's (one it is a member of, in a service it reaches), with its state.
    async fn member_channel_state(
        &self,
        peer: &Peer,
        channel_sid: &str,
    ) -> Option<(Sid, switchboard_domain::ChannelState)> {
        let sid = Sid::parse_with(channel_sid, SidPrefix::CHANNEL).ok()?;
        let state = self.state.engine.channels().state(sid).await.ok()??;
        if !peer.reaches(sid, state.service_sid) {
            return None;
        }
        state.member_by_identity(&peer.identity)?;
        Some((sid, state))
    }

    /// Runs a client action and answers `ack` (with the message's index for a send) or `error`.
    async fn act(
        &mut self,
        peer: &Peer,
        channel_sid: &str,
        action: Result<ClientAction, &'static str>,
        id: Option<Value>,
    ) -> bool {
        let answer = |mut frame: Value| {
            if let (Some(id), Some(map)) = (&id, frame.as_object_mut()) {
                map.insert("id".into(), id.clone());
            }
            frame
        };
        let action = match action {
            Ok(action) => action,
            Err(why) => {
                let frame = json!({"type": "error", "code": 20001, "message": why});
                return self.send(answer(frame));
            }
        };
        if let ClientAction::Send { body, .. } | ClientAction::Edit { body: Some(body), .. } =
            &action
        {
            if body.chars().count() > 32 * 1024 {
                let frame = json!({"type": "error", "code": 20001, "message": "body is longer than 32 768 characters"});
                return self.send(answer(frame));
            }
        }
        let channel = match Sid::parse_with(channel_sid, SidPrefix::CHANNEL) {
            Ok(channel) if self.reaches(peer, channel, None).await => channel,
            // A channel of another service is, to this token, no channel at all.
            _ => {
                let frame = json!({"type": "error", "code": 20404, "message": "no such channel"});
                return self.send(answer(frame));
            }
        };
        let frame = match self.state.engine.clients().act(&peer.identity, channel, action).await {
            Ok(Ok(index)) => {
                json!({"type": "ack", "channel_sid": channel.to_string(), "index": index})
            }
            Ok(Err(refusal)) => {
                let (code, message) = refusal_code(&refusal);
                json!({"type": "error", "code": code, "message": message})
            }
            Err(error) => {
                tracing::error!(%error, "a client action failed");
                json!({"type": "error", "code": 20500, "message": "internal error"})
            }
        };
        self.send(answer(frame))
    }

    /// A chat frame from a token without chat: 50107, with the frame's `id` if it had one.
    fn refuse_chat(&mut self, text: &str) -> bool {
        let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").cloned());
        let mut frame = json!({"type": "error", "code": 50107, "message": "the access token has no chat grant"});
        if let (Some(id), Some(map)) = (id, frame.as_object_mut()) {
            map.insert("id".into(), id);
        }
        self.send(frame)
    }

    fn error(&mut self, code: u32, message: &str) -> bool {
        self.send(json!({"type": "error", "code": code, "message": message}))
    }

    /// Queues a frame; false, and the connection ends, when the peer is too slow to take it.
    fn send(&mut self, frame: Value) -> bool {
        self.send_text(frame.to_string())
    }

    fn send_text(&mut self, text: String) -> bool {
        if self.out.push_text(text).is_ok() {
            return true;
        }
        self.end(too_slow(self.config.ping_timeout));
        false
    }

    /// Waits until the queue has room for a frame of `len` bytes, handing frames to the peer meanwhile; false,
    /// and the connection ends, if the peer takes nothing for the whole timeout or is gone.
    async fn room_for(&mut self, len: usize) -> bool {
        let mut closing = self.state.engine.hub().closing();
        while !self.out.has_room_for(len) {
            let timeout = self.config.ping_timeout;
            // The daemon stopping does not wait for a slow reader to take its catch-up.
            tokio::select! {
                taken = tokio::time::timeout(timeout, self.wire.flush(&mut self.out)) => match taken {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => self.end(Ending::Gone),
                    Err(_) => self.end(Ending::Silent),
                },
                _ = closing.wait_for(|closing| *closing) => self.end(shutting_down()),
            }
            if self.ending.is_some() {
                return false;
            }
        }
        true
    }

    /// Closes with `code` and `why` once what is queued went out.
    async fn close(self, code: CloseCode, why: &'static str) {
        self.finish(Ending::Close { code, reason: why, grace: CLOSE_GRACE, discard: false }).await;
    }
}

/// How the daemon stopping ends a socket: 1001, with what is queued sent first.
fn shutting_down() -> Ending {
    Ending::Close {
        code: CloseCode::Away,
        reason: "server shutting down",
        grace: CLOSE_GRACE,
        discard: false,
    }
}

/// How a frame the protocol refuses ends the connection: one over the size limit with 1009
/// ("message too big"), anything else with 1002, each with the reason; and a log line. A
/// connection that ended or failed under the frame (the peer went away without a close frame)
/// is no refusal: it is gone, with nothing to send it.
fn refused(error: ProtocolError) -> Ending {
    // actix reports a frame it cannot decode (text that is not UTF-8, reserved bits set) as
    // `InvalidData` too: that one is refused like any other.
    if let ProtocolError::Io(error) = &error {
        if error.kind() != std::io::ErrorKind::InvalidData {
            tracing::debug!(%error, "a WebSocket peer went away without a close frame");
            return Ending::Gone;
        }
    }
    let not_utf8 = matches!(&error, ProtocolError::Io(error)
        if error.get_ref().is_some_and(|inner| inner.is::<std::str::Utf8Error>()));
    let (code, reason) = match error {
        ProtocolError::Overflow => (CloseCode::Size, FRAME_TOO_LARGE),
        // RFC 6455 7.4.1: data inconsistent with its type.
        _ if not_utf8 => (CloseCode::Invalid, "a text frame that is not UTF-8"),
        _ => (CloseCode::Protocol, "protocol error"),
    };
    tracing::warn!(%error, "a WebSocket frame was refused; closing with {}", u16::from(code));
    Ending::Close { code, reason, grace: CLOSE_GRACE, discard: false }
}

/// The ending of a reader whose queue is full: it has the whole timeout to read up to the close.
fn too_slow(timeout: Duration) -> Ending {
    Ending::Close { code: CloseCode::Again, reason: TOO_SLOW, grace: timeout, discard: true }
}

/// The version of the frames described in docs/api.md, told in `ready` (3 added a worker's
/// TaskRouter frames).
const PROTOCOL_VERSION: u32 = 3;

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The medium a `message` frame names, if any: a media SID (`ME…`).
fn media_sid_of(text: Option<&str>) -> Result<Option<Sid>, &'static str> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Sid::parse_with(text, SidPrefix::MEDIA)
            .map(Some)
            .map_err(|_| "media_sid must be a media SID (ME…)"),
    }
}

/// Attributes as a client sends them: a JSON document, or a string holding one; at most 16 KiB.
fn attributes_text(attributes: Option<Value>) -> Result<Option<String>, &'static str> {
    let text = match attributes {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => {
            if serde_json::from_str::<Value>(&text).is_err() {
                return Err("attributes must be a JSON document");
            }
            text
        }
        Some(other) => other.to_string(),
    };
    if text.len() > 16 * 1024 {
        return Err("attributes are longer than 16 KiB");
    }
    Ok(Some(text))
}

/// Twilio's codes for a refused client action: 50107 "User not authorized for command" for
/// everything the roles (or membership of a private channel) forbid.
fn refusal_code(refusal: &ClientRefusal) -> (u32, String) {
    let message = refusal.to_string();
    let code = match refusal {
        ClientRefusal::ChannelNotFound => 20404,
        ClientRefusal::NotMember | ClientRefusal::Private | ClientRefusal::Unauthorized(_) => 50107,
        ClientRefusal::Media(_) => 20001,
        // Twilio's "HTTP error response code": the service's own webhook said no (or nothing).
        ClientRefusal::WebhookRefused { .. } => 11217,
        ClientRefusal::Rejected(rejection) => match rejection {
            Rejection::MemberExists(_) => 50404,
            Rejection::MessageNotFound(_) | Rejection::MemberNotFound(_) => 20404,
            Rejection::ChannelInactive | Rejection::ChannelErased => 50300,
            _ => 20001,
        },
    };
    (code, message)
}

/// Whether `peer` is sent `event`: everything for a token of the account's, and for a web
/// visitor only what its chat shows (messages, who joins and leaves, reads, the chat's end), never
/// its channel's attributes, tasks, webhooks or deliveries.
fn shown_to(peer: &Peer, event: &LiveEvent) -> bool {
    use switchboard_domain::ChannelEvent as E;
    peer.channel_sid.is_none()
        || matches!(
            event.event,
            E::MessageAdded { .. }
                | E::MessageEdited { .. }
                | E::MessageRemoved { .. }
                | E::MemberJoined { .. }
                | E::MemberLeft { .. }
                | E::ReadHorizonUpdated { .. }
                | E::ChannelDeactivated { .. }
                | E::ChannelReactivated { .. }
                | E::DataErased { .. }
                | E::ChannelDestroyed { .. }
        )
}

/// `{"type":"user_updated", …}`: Twilio's `userUpdated` for a change of reachability.
fn user_updated(service: Sid, identity: &str, (is_online, is_notifiable): (bool, bool)) -> Value {
    json!({
        "type": "user_updated",
        "service_sid": service.to_string(),
        "identity": identity,
        "is_online": is_online,
        "is_notifiable": is_notifiable,
        "reasons": ["reachabilityOnline"],
    })
}

/// `{"type":…, "channel_sid":…, "seq":…, "timestamp":…, …the event's fields}`.
pub fn event_frame(event: &LiveEvent) -> Value {
    // Its own types (`wire.rs`): the stored form of the event never shapes the protocol.
    serde_json::to_value(crate::wire::EventFrame::of(event)).unwrap_or_else(|_| json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::{ChannelEvent, Timestamp, WebhookMethod};

    #[test]
    fn members_never_see_a_webhooks_configuration() {
        let webhook_sid = Sid::from_parts(SidPrefix::WEBHOOK, [1; 16]);
        let live = LiveEvent {
            channel_sid: Sid::from_parts(SidPrefix::CHANNEL, [1; 16]),
            service_sid: None,
            seq: 3,
            at: Timestamp(0),
            event: ChannelEvent::WebhookAdded {
                webhook_sid,
                url: "https://bridge.example.com/hook?secret=s3cr3t".into(),
                method: WebhookMethod::Post,
                filters: vec!["onMessageSent".into()],
                retry_count: 1,
            },
        };
        let frame = event_frame(&live);
        assert_eq!(frame["type"], "webhook_added");
        assert_eq!(frame["webhook_sid"], webhook_sid.to_string());
        assert_eq!(frame["seq"], 3);
        assert!(!frame.to_string().contains("s3cr3t"), "{frame}");
        assert!(frame.get("filters").is_none());
    }
}
