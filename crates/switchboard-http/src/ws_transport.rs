//! A WebSocket's way out: a queue bounded in frames and bytes, handed to the socket as fast as it
//! takes them, and the settings of the heartbeat.
//!
//! The connection never waits on its peer to queue a frame: a reader that falls so far behind
//! that its queue is full is closed (1013) rather than let the server buffer for it, and comes
//! back with `resume`, since every event frame carries its channel's `seq`. Beyond this queue the
//! connection holds at most one chunk of encoded frames being written (`ws/wire.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use actix_http::ws::{CloseReason, Message};

/// How each WebSocket is served (the `ws_*` settings of `switchboard serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealtimeConfig {
    /// The most frames waiting to be written to one socket.
    pub queue_frames: usize,
    /// The most bytes of frames waiting to be written to one socket (a single frame larger than
    /// this is still let through an empty queue).
    pub queue_bytes: usize,
    /// How often the server pings each peer.
    pub ping_interval: Duration,
    /// A peer that sends nothing (not even a pong) for this long is dropped.
    pub ping_timeout: Duration,
    /// How long after a worker's last TaskRouter socket closed it is set to the `Offline`
    /// activity, unless a socket of its opens again meanwhile; zero never does.
    pub worker_offline_grace: Duration,
}

pub const DEFAULT_QUEUE_FRAMES: usize = 256;
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024;
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_WORKER_OFFLINE_GRACE: Duration = Duration::from_secs(60);

impl Default for RealtimeConfig {
    fn default() -> RealtimeConfig {
        RealtimeConfig {
            queue_frames: DEFAULT_QUEUE_FRAMES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            worker_offline_grace: DEFAULT_WORKER_OFFLINE_GRACE,
        }
    }
}

/// How long a peer has to answer the server's close frame when the daemon stops, or to see its
/// own close answered, before the connection is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The queue was full: the frame was not queued, and the peer is too slow to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Frames waiting to be handed to the socket.
#[derive(Debug)]
pub struct Outbound {
    frames: VecDeque<Message>,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
}

impl Outbound {
    pub fn new(config: &RealtimeConfig) -> Outbound {
        Outbound {
            frames: VecDeque::new(),
            bytes: 0,
            max_frames: config.queue_frames.max(1),
            max_bytes: config.queue_bytes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether a text frame of `len` bytes fits now. An empty queue takes any one frame, so that
    /// no frame is undeliverable.
    pub fn has_room_for(&self, len: usize) -> bool {
        self.frames.is_empty()
            || (self.frames.len() < self.max_frames && self.bytes + len <= self.max_bytes)
    }

    /// Queues a text frame, or says the queue is full.
    pub fn push_text(&mut self, mut text: String) -> Result<(), Full> {
        if !self.has_room_for(text.len()) {
            return Err(Full);
        }
        // A serializer's buffer grows by doubling: as queued, a frame would hold up to twice the
        // bytes counted against the bound.
        text.shrink_to_fit();
        self.bytes += text.len();
        self.frames.push_back(Message::Text(text.into()));
        Ok(())
    }

    /// Queues a control frame (a ping or a pong, at most 125 bytes) whatever the queue holds,
    /// but at most one of each kind: a pong still waiting takes the newer ping's payload (RFC
    /// 6455 5.5.3 lets only the latest ping be answered), so that a peer pinging without
    /// reading grows nothing here.
    pub fn push_control(&mut self, frame: Message) {
        let same_kind = |queued: &Message| {
            matches!(
                (queued, &frame),
                (Message::Ping(_), Message::Ping(_)) | (Message::Pong(_), Message::Pong(_))
            )
        };
        match self.frames.iter_mut().find(|queued| same_kind(queued)) {
            Some(queued) => *queued = frame,
            None => self.frames.push_back(frame),
        }
    }

    /// Forgets everything queued (the peer will resume from the log) and queues the close frame.
    pub fn replace_with_close(&mut self, reason: Option<CloseReason>) {
        self.frames.clear();
        self.bytes = 0;
        self.frames.push_back(Message::Close(reason));
    }

    /// Queues the close frame after what is queued.
    pub fn push_close(&mut self, reason: Option<CloseReason>) {
        self.frames.push_back(Message::Close(reason));
    }

    /// The next frame to write, no longer counted against the bound.
    pub fn pop(&mut self) -> Option<Message> {
        let frame = self.frames.pop_front()?;
        if let Message::Text(text) = &frame {
            self.bytes -= text.len();
        }
        if self.frames.is_empty() {
            // A burst's queue goes with it: an idle socket keeps none.
            self.frames = VecDeque::new();
        }
        Some(frame)
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.frames.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(frames: usize, bytes: usize) -> RealtimeConfig {
        RealtimeConfig { queue_frames: frames, queue_bytes: bytes, ..RealtimeConfig::default() }
    }

    #[test]
    fn the_queue_is_bounded_in_frames_and_in_bytes() {
        let mut by_frames = Outbound::new(&config(2, 1000));
        assert_eq!(by_frames.push_text("a".repeat(10)), Ok(()));
        assert_eq!(by_frames.push_text("b".repeat(10)), Ok(()));
        assert_eq!(by_frames.push_text("c".into()), Err(Full));
        assert_eq!(by_frames.len(), (2, 20));
        let mut by_bytes = Outbound::new(&config(100, 25));
        assert_eq!(by_bytes.push_text("a".repeat(20)), Ok(()));
        assert_eq!(by_bytes.push_text("b".repeat(6)), Err(Full));
        assert_eq!(by_bytes.push_text("b".repeat(5)), Ok(()));
        assert_eq!(by_bytes.len(), (2, 25));
    }

    #[test]
    fn an_empty_queue_takes_one_frame_of_any_size() {
        let mut queue = Outbound::new(&config(10, 16));
        assert_eq!(queue.push_text("x".repeat(100)), Ok(()));
        assert_eq!(queue.push_text("y".into()), Err(Full));
    }

    #[test]
    fn control_frames_pass_a_full_queue_and_a_close_replaces_what_waits() {
        let mut queue = Outbound::new(&config(1, 16));
        queue.push_text("event".into()).unwrap();
        queue.push_control(Message::Ping(Default::default()));
        assert_eq!(queue.len(), (2, 5));
        queue.replace_with_close(None);
        assert_eq!(queue.len(), (1, 0));
        assert!(matches!(queue.frames.front(), Some(Message::Close(None))));
    }

    #[test]
    fn a_peer_pinging_without_reading_keeps_one_pong_waiting_with_its_latest_payload() {
        let mut queue = Outbound::new(&config(1, 16));
        queue.push_control(Message::Ping(Default::default()));
        for n in 0..10_000u32 {
            queue.push_control(Message::Pong(n.to_be_bytes().to_vec().into()));
        }
        assert_eq!(queue.len(), (2, 0), "one ping of ours and one pong");
        assert!(matches!(queue.pop(), Some(Message::Ping(_))));
        let latest = 9_999u32.to_be_bytes();
        assert!(matches!(queue.pop(), Some(Message::Pong(bytes)) if bytes[..] == latest));
    }
}
