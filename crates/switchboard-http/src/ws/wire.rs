//! A WebSocket's frames read and written straight on its connection, with buffers that exist only
//! while a frame is in flight: an idle socket holds its connection and nothing else.
//!
//! actix-http's dispatcher keeps an 8 KiB read buffer and an 8 KiB write buffer for a connection's
//! whole life; a WebSocket served through it (actix-ws) kept both, plus a hand-off channel, for as
//! long as it stayed open, most of what an idle socket cost (docs/BENCHMARKS.md). Here a read
//! goes to a buffer on the stack and only the bytes of a frame not yet complete are kept; frames
//! are encoded into a buffer that is let go once written.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_codec::{AsyncRead, AsyncWrite, Decoder, Encoder, ReadBuf};
use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use bytes::{Buf, BytesMut};

use crate::ws_transport::Outbound;

/// A connection a WebSocket runs on: plain TCP or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// How much one read takes off the socket at most (on the stack of the read, not the socket's).
const READ_CHUNK: usize = 4096;
/// How many encoded bytes are written at once: frames queued beyond wait encoded in the queue,
/// where they are counted against its bound.
const WRITE_CHUNK: usize = 16 * 1024;

/// The connection is gone: a write failed, or wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

/// One WebSocket's connection, after the handshake.
pub(crate) struct Wire {
    io: Box<dyn Io>,
    codec: Codec,
    /// Bytes read that do not make a whole frame yet; holds no memory between frames.
    read_buf: BytesMut,
    /// Bytes encoded and not yet written; holds no memory once they are.
    write_buf: BytesMut,
    /// Bytes were written and not yet flushed: TLS keeps records of its own until a flush.
    unflushed: bool,
    /// The peer ended its side of the connection.
    read_closed: bool,
    /// The largest frame taken, in bytes of payload.
    max_frame: usize,
}

impl Wire {
    /// `io` right after the handshake's answer, with whatever the peer sent after its handshake
    /// (`read`), taking frames of at most `max_frame` bytes.
    pub(crate) fn new(io: Box<dyn Io>, read: &[u8], max_frame: usize) -> Wire {
        Wire {
            io,
            codec: Codec::new().max_size(max_frame),
            read_buf: BytesMut::from(read),
            write_buf: BytesMut::new(),
            unflushed: false,
            read_closed: false,
            max_frame,
        }
    }

    /// Whether everything handed to the connection is written.
    pub(crate) fn is_written(&self, out: &Outbound) -> bool {
        out.is_empty() && self.write_buf.is_empty() && !self.unflushed
    }

    /// The peer's next frame, writing what `out` holds meanwhile (and going on reading while the
    /// peer does not take it). `None` once the connection is gone or the peer ended it.
    pub(crate) async fn recv(
        &mut self,
        out: &mut Outbound,
    ) -> Option<Result<Message, ProtocolError>> {
        std::future::poll_fn(|cx| {
            if !self.is_written(out) {
                if let Poll::Ready(Err(Gone)) = self.poll_write(out, cx) {
                    return Poll::Ready(None);
                }
            }
            self.poll_frame(cx)
        })
        .await
    }

    /// Resolves once everything `out` holds is written; an error once the connection is gone.
    pub(crate) async fn flush(&mut self, out: &mut Outbound) -> Result<(), Gone> {
        std::future::poll_fn(|cx| self.poll_write(out, cx)).await
    }

    /// Ends our side of the connection (after the close handshake): what was written still
    /// reaches the peer, then it sees the end of the stream.
    pub(crate) async fn shut_down(&mut self) {
        let _ = std::future::poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await;
    }

    fn poll_write(&mut self, out: &mut Outbound, cx: &mut Context<'_>) -> Poll<Result<(), Gone>> {
        loop {
            while self.write_buf.len() < WRITE_CHUNK {
                let Some(frame) = out.pop() else { break };
                self.codec.encode(frame, &mut self.write_buf).map_err(|_| Gone)?;
            }
            if self.write_buf.is_empty() {
                // Written: the buffer goes until the next frame.
                self.write_buf = BytesMut::new();
                ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(|_| Gone)?;
                self.unflushed = false;
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.io).poll_write(cx, &self.write_buf)) {
                Ok(0) | Err(_) => return Poll::Ready(Err(Gone)),
                Ok(written) => {
                    self.write_buf.advance(written);
                    self.unflushed = true;
                }
            }
        }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, ProtocolError>>> {
        loop {
            if let Some(frame) = take_frame(&mut self.read_buf, &mut self.codec, self.max_frame) {
                return Poll::Ready(Some(frame));
            }
            if self.read_closed {
                return Poll::Ready(None);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut read)) {
                Ok(()) if read.filled().is_empty() => self.read_closed = true,
                Ok(()) => self.read_buf.extend_from_slice(read.filled()),
                Err(error) => return Poll::Ready(Some(Err(ProtocolError::Io(error)))),
            }
        }
    }
}

/// The next whole frame `buffered` holds, taken off it; `None` while it holds none yet.
///
/// A frame over `max_frame` is refused on its header, before its payload is read. A frame goes to
/// actix's parser only once every byte of it is here: the parser reserves room for the whole
/// payload a header announces, and a stranger's header is no promise of bytes, so what a socket
/// holds follows what its peer sent, not what it said it would send.
pub(crate) fn take_frame(
    buffered: &mut BytesMut,
    codec: &mut Codec,
    max_frame: usize,
) -> Option<Result<Message, ProtocolError>> {
    let (header, length) = frame_header(buffered)?;
    if length > max_frame as u64 {
        *buffered = BytesMut::new();
        return Some(Err(ProtocolError::Overflow));
    }
    // Within `max_frame`, so the sum cannot overflow.
    if (buffered.len() as u64) < header as u64 + length {
        return None;
    }
    let frame = codec.decode(buffered).transpose()?;
    if buffered.is_empty() {
        *buffered = BytesMut::new();
    }
    Some(frame.and_then(message_of))
}

/// Every message in `bytes`, read as a socket reads what its peer sends, up to the first error
/// (where a socket closes). For the fuzz target of the wire (`fuzzing.rs`).
pub(crate) fn messages_in(bytes: &[u8], max_frame: usize) -> Vec<Message> {
    let (mut buffered, mut codec) = (BytesMut::from(bytes), Codec::new().max_size(max_frame));
    let mut messages = Vec::new();
    while let Some(Ok(message)) = take_frame(&mut buffered, &mut codec, max_frame) {
        messages.push(message);
    }
    messages
}

/// The length of a frame's header (mask included) and of the payload it declares, once the header's
/// length bytes are in `bytes` (RFC 6455 5.2).
fn frame_header(bytes: &[u8]) -> Option<(usize, u64)> {
    let second = *bytes.get(1)?;
    let mask = if second & 0x80 == 0 { 0 } else { 4 };
    let extended = |n: usize| bytes.get(2..2 + n);
    let (extra, length) = match second & 0x7f {
        126 => extended(2).map(|b| (2, u64::from(u16::from_be_bytes([b[0], b[1]]))))?,
        127 => extended(8).map(|b| (8, u64::from_be_bytes(b.try_into().unwrap_or([0xff; 8]))))?,
        short => (0, u64::from(short)),
    };
    Some((2 + extra + mask, length))
}

/// A decoded frame as the connection reads it: text that is not UTF-8 is refused (as
/// `InvalidData`, as actix-ws did); a continuation is passed on, and ignored, as before.
fn message_of(frame: Frame) -> Result<Message, ProtocolError> {
    Ok(match frame {
        Frame::Text(bytes) => match std::str::from_utf8(&bytes) {
            Ok(text) => Message::Text(text.to_owned().into()),
            Err(error) => {
                let error = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
                return Err(ProtocolError::Io(error));
            }
        },
        Frame::Binary(bytes) => Message::Binary(bytes),
        Frame::Ping(bytes) => Message::Ping(bytes),
        Frame::Pong(bytes) => Message::Pong(bytes),
        Frame::Close(reason) => Message::Close(reason),
        Frame::Continuation(item) => Message::Continuation(item),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws_transport::RealtimeConfig;
    use actix_http::ws::{CloseCode, CloseReason};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client's masked frame, as a browser sends it.
    fn client_frame(message: Message) -> BytesMut {
        let mut bytes = BytesMut::new();
        Codec::new().client_mode().encode(message, &mut bytes).unwrap();
        bytes
    }

    #[actix_rt::test]
    async fn frames_split_across_reads_and_after_the_handshake_are_read_whole() {
        let (client, server) = tokio::io::duplex(64);
        let mut client = client;
        let first = client_frame(Message::Text("hello".into()));
        let second = client_frame(Message::Text("x".repeat(300).into()));
        // The first frame came with the handshake; the second in pieces smaller than itself.
        let mut wire = Wire::new(Box::new(server), &first, 1024);
        let writer = actix_rt::spawn(async move {
            for piece in second.chunks(7) {
                client.write_all(piece).await.unwrap();
            }
            client
        });
        let mut out = Outbound::new(&RealtimeConfig::default());
        assert!(matches!(wire.recv(&mut out).await, Some(Ok(Message::Text(t))) if t == "hello"));
        assert!(matches!(wire.recv(&mut out).await, Some(Ok(Message::Text(t))) if t.len() == 300));
        assert_eq!(wire.read_buf.capacity(), 0, "nothing kept between frames");
        drop(writer.await.unwrap());
        assert!(wire.recv(&mut out).await.is_none(), "the peer's end of the stream ends it");
    }

    #[actix_rt::test]
    async fn what_is_queued_is_written_and_its_buffer_let_go() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut wire = Wire::new(Box::new(server), &[], 1024);
        let mut out = Outbound::new(&RealtimeConfig::default());
        out.push_text("event".into()).unwrap();
        let reason = CloseReason { code: CloseCode::Away, description: Some("bye".into()) };
        out.push_close(Some(reason));
        wire.flush(&mut out).await.unwrap();
        assert!(wire.is_written(&out));
        assert_eq!(wire.write_buf.capacity(), 0);
        let mut bytes = vec![0; 64];
        let n = client.read(&mut bytes).await.unwrap();
        let mut received = BytesMut::from(&bytes[..n]);
        let mut codec = Codec::new().client_mode();
        assert!(
            matches!(codec.decode(&mut received).unwrap(), Some(Frame::Text(t)) if t == "event")
        );
        let Some(Frame::Close(Some(close))) = codec.decode(&mut received).unwrap() else {
            panic!("a close frame")
        };
        assert_eq!(close.code, CloseCode::Away);
    }

    /// A connection that takes every write at once but flushes only on its second try, as TLS
    /// does when its records wait for room in the socket.
    #[derive(Default)]
    struct SlowFlush {
        written: usize,
        flush_tries: usize,
        flushed: bool,
    }

    impl AsyncRead for SlowFlush {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for SlowFlush {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bytes: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.written += bytes.len();
            self.flushed = false;
            Poll::Ready(Ok(bytes.len()))
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            self.flush_tries += 1;
            if self.flush_tries % 2 == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.flushed = true;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_flush_left_pending_after_the_last_write_is_tried_again() {
        let mut wire = Wire::new(Box::new(SlowFlush::default()), &[], 1024);
        let mut out = Outbound::new(&RealtimeConfig::default());
        out.push_text("hello".into()).unwrap();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(wire.poll_write(&mut out, &mut cx).is_pending(), "written, flush pending");
        assert!(!wire.is_written(&out), "not written while its flush is pending");
        assert!(matches!(wire.poll_write(&mut out, &mut cx), Poll::Ready(Ok(()))));
        assert!(wire.is_written(&out));
    }

    #[test]
    fn the_header_is_read_from_each_form_of_it() {
        for len in [5, 300, 70_000] {
            let frame = client_frame(Message::Binary(vec![0; len].into()));
            let header = frame.len() - len;
            assert_eq!(frame_header(&frame[..frame.len().min(14)]), Some((header, len as u64)));
        }
        assert_eq!(frame_header(&[0x81]), None, "not yet a header");
        assert_eq!(frame_header(&[0x81, 0xfe, 0x01]), None);
        assert_eq!(frame_header(&[0x81, 0x05]), Some((2, 5)), "unmasked, as a server sends");
    }

    #[actix_rt::test]
    async fn a_header_alone_holds_no_room_for_the_payload_it_announces() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut wire = Wire::new(Box::new(server), &[], 64 * 1024);
        let announced = client_frame(Message::Text("z".repeat(60_000).into()));
        client.write_all(&announced[..100]).await.unwrap();
        let mut out = Outbound::new(&RealtimeConfig::default());
        let waited = tokio::time::timeout(Duration::from_millis(50), wire.recv(&mut out)).await;
        assert!(waited.is_err(), "the frame is not whole yet");
        assert_eq!(wire.read_buf.len(), 100);
        assert!(wire.read_buf.capacity() < 8 * 1024, "{} bytes held", wire.read_buf.capacity());
        client.write_all(&announced[100..]).await.unwrap();
        let frame = wire.recv(&mut out).await;
        assert!(matches!(frame, Some(Ok(Message::Text(t))) if t.len() == 60_000));
    }

    #[actix_rt::test]
    async fn an_oversize_frame_is_refused_before_its_payload_is_read() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut wire = Wire::new(Box::new(server), &[], 1024);
        let big = client_frame(Message::Text("y".repeat(2000).into()));
        client.write_all(&big[..16]).await.unwrap();
        let mut out = Outbound::new(&RealtimeConfig::default());
        assert!(matches!(wire.recv(&mut out).await, Some(Err(ProtocolError::Overflow))));
    }
}
