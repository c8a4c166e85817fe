//! What the server does with each accepted connection before any request: `TCP_NODELAY`, and
//! keeping the socket's descriptor, so that a WebSocket whose peer stopped reading can be ended.
//!
//! Without `TCP_NODELAY` the kernel holds a small write back while an earlier one is unacknowledged,
//! and the peer's delayed ACK makes that about 40 ms: an `ack` written right after an event frame
//! waited for it on one action in ten. Writes are already coalesced per turn of the event loop
//! (actix writes everything a connection has ready in one go), so the kernel need not do it.

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::HttpRequest;
use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::socket::{shutdown, Shutdown};

/// The descriptor of a connection's socket, kept with the connection's data.
#[derive(Debug, Clone, Copy)]
struct ConnectionSocket(RawFd);

/// For `HttpServer::on_connect`: sets `TCP_NODELAY` and keeps the socket's descriptor.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    let stream = connection
        .downcast_ref::<TcpStream>()
        .or_else(|| connection.downcast_ref::<TlsStream<TcpStream>>().map(|tls| tls.get_ref().0));
    if let Some(stream) = stream {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        data.insert(ConnectionSocket(stream.as_raw_fd()));
    }
}

/// A WebSocket's own handle on its connection's socket: a duplicate of the descriptor, closed when
/// dropped. Shutting the socket down makes the server's reads end and its blocked writes fail, so
/// the connection and everything it buffers are freed even when the peer never reads again.
#[derive(Debug)]
pub(crate) struct SocketHandle(RawFd);

impl SocketHandle {
    /// The socket of the connection `request` came on.
    pub(crate) fn of(request: &HttpRequest) -> Option<SocketHandle> {
        // The request is being served on that connection, so its descriptor is open right now.
        SocketHandle::duplicate(request.conn_data::<ConnectionSocket>()?.0)
    }

    fn duplicate(fd: RawFd) -> Option<SocketHandle> {
        match fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(0)) {
            Ok(own) => Some(SocketHandle(own)),
            Err(error) => {
                tracing::warn!(%error, "could not duplicate a WebSocket's descriptor");
                None
            }
        }
    }

    /// Ends the connection in both directions, whatever the peer does.
    pub(crate) fn shut_down(&self) {
        // ENOTCONN when the peer is already gone: nothing left to end.
        let _ = shutdown(self.0, Shutdown::Both);
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[actix_rt::test]
    async fn a_connection_gets_nodelay_and_its_socket_can_be_shut_down_from_a_handle() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let server = TcpStream::from_std(accepted).unwrap();
        assert!(!server.nodelay().unwrap(), "the kernel's default is Nagle on");
        let mut data = Extensions::new();
        on_connect(&server, &mut data);
        assert!(server.nodelay().unwrap());
        let kept = *data.get::<ConnectionSocket>().unwrap();
        assert_eq!(kept.0, server.as_raw_fd());
        let handle = SocketHandle::duplicate(kept.0).unwrap();
        assert_ne!(handle.0, kept.0, "a descriptor of its own");
        handle.shut_down();
        drop(handle);
        let mut buffer = [0u8; 8];
        assert_eq!(client.read(&mut buffer).unwrap(), 0, "the peer sees the end of the stream");
        // The server's own descriptor is still open: only the connection ended.
        assert!(server.nodelay().is_ok());
    }

    #[test]
    fn other_connection_types_are_left_alone() {
        let mut data = Extensions::new();
        on_connect(&"not a socket", &mut data);
        assert!(data.get::<ConnectionSocket>().is_none());
    }
}
