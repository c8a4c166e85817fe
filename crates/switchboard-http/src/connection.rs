//! What the server does with each accepted connection before any request: `TCP_NODELAY`.
//!
//! Without `TCP_NODELAY` the kernel holds a small write back while an earlier one is unacknowledged,
//! and the peer's delayed ACK makes that about 40 ms: an `ack` written right after an event frame
//! waited for it on one action in ten. Writes are already coalesced per turn of the event loop
//! (actix writes everything a connection has ready in one go), so the kernel need not do it.

use std::any::Any;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

/// For the listener's `on_connect`: sets `TCP_NODELAY`.
pub fn on_connect(connection: &dyn Any, _data: &mut Extensions) {
    let stream = connection
        .downcast_ref::<TcpStream>()
        .or_else(|| connection.downcast_ref::<TlsStream<TcpStream>>().map(|tls| tls.get_ref().0));
    if let Some(stream) = stream {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_connection_gets_nodelay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let server = TcpStream::from_std(accepted).unwrap();
        assert!(!server.nodelay().unwrap(), "the kernel's default is Nagle on");
        on_connect(&server, &mut Extensions::new());
        assert!(server.nodelay().unwrap());
    }

    #[test]
    fn other_connection_types_are_left_alone() {
        on_connect(&"not a socket", &mut Extensions::new());
    }
}
