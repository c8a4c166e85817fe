//! Shared helpers for the store's integration tests: a log in a temporary folder and channels
//! with known content.

#![allow(dead_code)]

use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, MessageSource, NewChannel, NewMessage, Sid, SidPrefix, Timestamp,
};
use switchboard_store::{ChannelLog, Durability, EventLog, StoreConfig};

pub struct TempLog {
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
}

impl TempLog {
    pub fn new() -> TempLog {
        TempLog { dir: tempfile::tempdir().unwrap(), key: MasterKey::generate() }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn open(&self, snapshot_every: u64) -> EventLog {
        let mut config = StoreConfig::new(self.path());
        config.durability = Durability::Flush;
        config.snapshot_every = snapshot_every;
        EventLog::open(config, self.key.clone()).unwrap()
    }
}

pub fn sid(prefix: SidPrefix, n: u32) -> Sid {
    let mut id = [0u8; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    Sid::from_parts(prefix, id)
}

pub fn new_channel(n: u32, address: &str) -> NewChannel {
    NewChannel {
        channel_sid: sid(SidPrefix::CHANNEL, n),
        service_sid: sid(SidPrefix::SERVICE, 1),
        kind: ChannelKind::Private,
        friendly_name: Some(format!("chat {address}")),
        unique_name: Some(format!("unique-{address}")),
        attributes: format!(r#"{{"from":"{address}"}}"#),
        created_by: "system".into(),
        flex_flow_sid: Some(sid(SidPrefix::FLEX_FLOW, 1)),
        customer_address: Some(address.into()),
        long_lived: false,
        janitor_enabled: true,
    }
}

pub fn message(n: u32, author: &str, body: &str) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        message_sid: sid(SidPrefix::MESSAGE, n),
        author: author.into(),
        body: body.into(),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Customer,
        provider_message_id: Some(format!("SMprovider{n}")),
    })
}

/// Creates channel `n` with `messages` messages and waits until everything is durable.
pub fn channel_with(log: &EventLog, n: u32, address: &str, messages: u32) -> ChannelLog {
    let (mut channel, _) =
        ChannelLog::create(log, new_channel(n, address), Timestamp(1)).unwrap().unwrap();
    for i in 0..messages {
        let body = format!("message {i} of {address}");
        channel
            .execute(log, message(n * 1000 + i, address, &body), Timestamp(2 + i64::from(i)))
            .unwrap()
            .unwrap();
    }
    log.flush().unwrap();
    channel
}
