//! The listener's service for upgraded connections: every HTTP/1.1 request that asks for a
//! WebSocket (or is a `CONNECT`) leaves actix-http's dispatcher, with its buffers, and comes here.
//!
//! The request still goes through the whole app, middleware included, so that it is answered,
//! logged and counted as any other. When the app accepted a WebSocket (`/ws` answered 101 and
//! left an [`Accepted`] on its answer), the answer is written and the socket is served on the
//! bare connection, in this same future (`ws/wire.rs`); anything else is answered as usual and
//! the connection closed, since what the peer meant to send after an upgrade is not HTTP.

use std::net::IpAddr;
use std::rc::Rc;

use actix_codec::{AsyncRead, AsyncWrite, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::{h1, ConnectionType, Request, Response, StatusCode};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::web;
use futures_util::SinkExt;

use super::{Peer, Wire, FRAME_LIMIT_BYTES};
use crate::limits::Admitted;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use actix_web::ResponseError;

/// The largest answer given to a request that asked for an upgrade and got none.
const REFUSED_ANSWER_LIMIT: usize = 64 * 1024;
/// How long a peer has to take that answer.
const REFUSED_ANSWER_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// A handshake `/ws` accepted, carried on its 101 answer to this service.
pub(crate) struct Accepted {
    pub(super) state: web::Data<AppState>,
    /// Verified from the handshake's token, or `None` until the first frame brings one.
    pub(super) peer: Option<Peer>,
    pub(super) ip: Option<IpAddr>,
    /// The connection's place in the server's count (`limits.rs`), kept while the socket lives.
    pub(super) counted: Option<Rc<Admitted>>,
}

/// Serves one upgraded connection: the request through `app`, then the WebSocket it accepted
/// or the answer it got. Never fails: a connection that breaks simply ends.
pub async fn take_over<T, S, B>(
    app: Rc<S>,
    (request, framed): (Request, Framed<T, h1::Codec>),
) -> Result<(), actix_web::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    // Boxed, like the socket below: neither sits in this future, which lives as long as the
    // connection, nor in actix's task of every connection.
    let mut answered = match Box::pin(app.call(request)).await {
        Ok(response) => response.map_into_boxed_body().into_parts().1,
        Err(error) => error.error_response(),
    };
    let accepted = answered.extensions_mut().remove::<Accepted>();
    let response = Response::from(answered);
    match accepted {
        Some(accepted) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            Box::pin(serve_socket(accepted, response, framed)).await
        }
        _ => Box::pin(answer_and_close(response, framed)).await,
    }
    Ok(())
}

/// Writes the 101 and serves the socket on the connection, without the dispatcher's buffers.
async fn serve_socket<T>(
    accepted: Accepted,
    response: Response<actix_http::body::BoxBody>,
    mut framed: Framed<T, h1::Codec>,
) where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (head, _) = response.into_parts();
    if framed.send(h1::Message::Item((head, BodySize::None))).await.is_err() {
        return;
    }
    let parts = framed.into_parts();
    // What the peer sent right after its handshake is its first frames; the dispatcher's two
    // buffers go here, before the socket's long wait.
    let wire = Wire::new(Box::new(parts.io), &parts.read_buf, FRAME_LIMIT_BYTES);
    drop(parts.read_buf);
    drop(parts.write_buf);
    super::serve_accepted(accepted, wire).await;
}

/// Answers a request that asked for an upgrade and got none (a refused handshake, another path,
/// a `CONNECT`), then closes: the peer may already be sending what it meant to after one.
async fn answer_and_close<T>(
    response: Response<actix_http::body::BoxBody>,
    mut framed: Framed<T, h1::Codec>,
) where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (head, body) = response.into_parts();
    // The app's answers to these are short (an error in Twilio's shape, a page at most); one
    // that streams (a backup) is not given on a connection about to close.
    let (mut head, body) =
        match actix_http::body::to_bytes_limited(body, REFUSED_ANSWER_LIMIT).await {
            Ok(Ok(body)) => (head, body),
            _ => {
                let refused = ApiError::new(
                    400,
                    20001,
                    "This answer is not given to a request that asks for a WebSocket upgrade",
                );
                let (head, body) = Response::from(refused.error_response()).into_parts();
                let body = actix_http::body::to_bytes(body).await.unwrap_or_default();
                (head, body)
            }
        };
    head.head_mut().set_connection_type(ConnectionType::Close);
    let size = BodySize::Sized(body.len() as u64);
    let written = async {
        framed.send(h1::Message::Item((head, size))).await?;
        if !body.is_empty() {
            framed.send(h1::Message::Chunk(Some(body))).await?;
        }
        framed.send(h1::Message::Chunk(None)).await?;
        framed.close().await
    };
    // The dispatcher's timers stay behind with it: a peer that reads nothing gets this long.
    match tokio::time::timeout(REFUSED_ANSWER_TIME, written).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "could not answer a refused upgrade"),
        Err(_) => tracing::debug!("a refused upgrade's answer was not taken in time"),
    }
}
