//! A fixed amount of append work, for counting instructions (`valgrind --tool=callgrind`), which
//! repeat under foreign load where timings do not: `writers` threads each create a channel and
//! append `appends` messages to it one at a time, waiting for each to be durable, like
//! `switchboard-bench log --part appends` does for a fixed time.
//!
//! `cargo build --release -p switchboard-store --example fixed_appends`, then
//! `valgrind --tool=callgrind target/release/examples/fixed_appends 16 200`.

use std::sync::Arc;

use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, MessageSource, NewChannel, NewMessage, Sid, SidPrefix, Timestamp,
};
use switchboard_store::{ChannelLog, Durability, EventLog, StoreConfig};

fn sid(prefix: SidPrefix, n: u64) -> Sid {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    Sid::from_parts(prefix, id)
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let (writers, appends) =
        (args.first().copied().unwrap_or(16), args.get(1).copied().unwrap_or(200));
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("data"));
    // Instructions, not the disk, are what this counts.
    config.durability = Durability::Flush;
    let log = Arc::new(EventLog::open(config, MasterKey::generate()).unwrap());
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let new = NewChannel {
                    channel_sid: sid(SidPrefix::CHANNEL, w),
                    service_sid: sid(SidPrefix::SERVICE, 1),
                    kind: ChannelKind::Private,
                    friendly_name: None,
                    unique_name: None,
                    attributes: "{}".into(),
                    created_by: "system".into(),
                    flex_flow_sid: None,
                    customer_address: None,
                    long_lived: false,
                    janitor_enabled: false,
                    carried_provider_messages: Vec::new(),
                };
                let (mut channel, _) =
                    ChannelLog::create(&log, new, Timestamp(0)).unwrap().unwrap();
                for n in 0..appends {
                    let post = ChannelCommand::PostMessage(NewMessage {
                        author: "+14155550100".into(),
                        body: format!("{n:08} {}", "x".repeat(291)),
                        attributes: "{}".into(),
                        media: None,
                        source: MessageSource::Customer,
                        provider_message_id: None,
                    });
                    let done =
                        channel.execute(&log, post, Timestamp(1 + n as i64)).unwrap().unwrap();
                    log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    Arc::try_unwrap(log).map_err(|_| "still shared").unwrap().close().unwrap();
    println!("{} appends", writers * appends);
}
