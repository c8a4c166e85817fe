//! Channel webhook delivery on a real log, against a receiver on 127.0.0.1: what gives up is a
//! dead letter under the webhook consumer's name, and the channel's later events still go out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_actors::{Engine, EngineConfig, OutboxConfig, SystemClock, WEBHOOK_CONSUMER};
use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, MessageSource, NewChannel, NewMessage, Sid, SidPrefix,
    WebhookConfig, WebhookMethod,
};
use switchboard_store::{Durability, EventLog, StoreConfig};

/// A receiver that answers each request with the next planned status (then 200) and keeps the
/// bodies it was sent.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(plan: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            let mut plan = plan.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                let status = plan.next().unwrap_or(200);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Receiver { url, bodies }
    }

    /// Every form received, as name/value pairs.
    fn forms(&self) -> Vec<Vec<(String, String)>> {
        let bodies = self.bodies.lock().unwrap().clone();
        bodies
            .iter()
            .map(|b| {
                form_urlencoded::parse(b.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .collect()
    }

    /// The `Body` of every form received.
    fn bodies(&self) -> Vec<String> {
        self.forms().iter().map(|f| param(f, "Body").unwrap_or_default()).collect()
    }
}

fn param(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn start(dir: &tempfile::TempDir) -> (Engine, Arc<EventLog>) {
    let mut store = StoreConfig::new(dir.path().join("data"));
    store.durability = Durability::Flush;
    let log = Arc::new(EventLog::open(store, MasterKey::generate()).unwrap());
    let outbox = OutboxConfig {
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        // The receiver listens on loopback, which the outbound policy refuses unless allowed.
        outbound: switchboard_actors::OutboundPolicy::from_entries(&["127.0.0.1"]).unwrap(),
        ..OutboxConfig::default()
    };
    let config = EngineConfig { outbox, ..EngineConfig::default() };
    (Engine::start(Arc::clone(&log), Arc::new(SystemClock), config).unwrap(), log)
}

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

fn post(body: &str) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: "agent".into(),
        body: body.into(),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Agent,
        provider_message_id: None,
    })
}

/// A plain Chat channel (no flow) with one webhook for `filters`; returns its SID.
async fn channel_with_webhook(
    engine: &Engine,
    url: &str,
    retry_count: u8,
    filters: &[&str],
) -> Sid {
    let channel = sid(SidPrefix::CHANNEL, 1);
    let create = ChannelCommand::Create(NewChannel {
        channel_sid: channel,
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
    });
    let config = WebhookConfig {
        url: url.into(),
        method: WebhookMethod::Post,
        filters: filters.iter().map(|f| (*f).to_owned()).collect(),
        retry_count,
    };
    let add = ChannelCommand::AddWebhook { webhook_sid: sid(SidPrefix::WEBHOOK, 1), config };
    engine.channels().execute(channel, vec![create, add]).await.unwrap().unwrap();
    channel
}

#[actix_rt::test]
async fn what_gives_up_is_a_dead_letter_and_later_events_still_go() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, log) = start(&dir);
    // Two 503s exhaust one retry; then a 400 is not retried at all.
    let receiver = Receiver::start(vec![503, 503, 400]);
    let channel = channel_with_webhook(&engine, &receiver.url, 1, &["onMessageSent"]).await;
    let first = engine.channels().execute(channel, vec![post("unlucky")]).await.unwrap().unwrap();
    let second = engine.channels().execute(channel, vec![post("refused")]).await.unwrap().unwrap();
    engine.channels().execute(channel, vec![post("delivered")]).await.unwrap().unwrap();
    let arrived = actix_rt::task::spawn_blocking(move || {
        let ok = wait_for(Duration::from_secs(10), || receiver.bodies().len() >= 4);
        (ok, receiver.bodies())
    })
    .await
    .unwrap();
    assert!(arrived.0, "{:?}", arrived.1);
    assert_eq!(arrived.1, ["unlucky", "unlucky", "refused", "delivered"]);
    let letters = log.dead_letters(WEBHOOK_CONSUMER).unwrap();
    let seqs: Vec<(Sid, u64)> = letters.iter().map(|(s, seq, _)| (*s, *seq)).collect();
    assert_eq!(seqs, [(channel, first.first_seq), (channel, second.first_seq)]);
    assert!(letters[0].2.contains("HTTP 503"), "{}", letters[0].2);
    assert!(letters[1].2.contains("HTTP 400"), "{}", letters[1].2);
    assert!(letters[0].2.contains(&sid(SidPrefix::WEBHOOK, 1).to_string()), "names the webhook");
}

#[actix_rt::test]
async fn edits_removals_and_departures_are_told_with_what_they_were_about() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _log) = start(&dir);
    let receiver = Receiver::start(Vec::new());
    let filters = ["onMessageUpdated", "onMessageRemoved", "onMemberRemoved", "onMemberUpdated"];
    let channel = channel_with_webhook(&engine, &receiver.url, 0, &filters).await;
    let member_sid = sid(SidPrefix::MEMBER, 1);
    let join = ChannelCommand::AddMember {
        member_sid,
        identity: "agent.eve".into(),
        role_sid: None,
        attributes: "{}".into(),
    };
    let edit = ChannelCommand::EditMessage {
        index: 0,
        body: Some("edited".into()),
        attributes: None,
        edited_by: Some("agent.eve".into()),
    };
    let update = ChannelCommand::UpdateMember {
        member_sid,
        role_sid: None,
        attributes: Some(r#"{"busy":true}"#.into()),
    };
    for command in [
        join,
        post("original"),
        edit,
        ChannelCommand::RemoveMessage { index: 0 },
        update,
        ChannelCommand::RemoveMember { member_sid },
    ] {
        engine.channels().execute(channel, vec![command]).await.unwrap().unwrap();
    }
    let forms = actix_rt::task::spawn_blocking(move || {
        wait_for(Duration::from_secs(10), || receiver.forms().len() >= 4);
        receiver.forms()
    })
    .await
    .unwrap();
    let types: Vec<_> = forms.iter().map(|f| param(f, "EventType").unwrap()).collect();
    assert_eq!(
        types,
        ["onMessageUpdated", "onMessageRemoved", "onMemberUpdated", "onMemberRemoved"]
    );
    let message_sid = Sid::message_of(channel, 0).to_string();
    let (edited, removed, updated, left) = (&forms[0], &forms[1], &forms[2], &forms[3]);
    assert_eq!(param(edited, "Body").as_deref(), Some("edited"), "told with the new text");
    assert_eq!(param(edited, "MessageSid"), Some(message_sid.clone()));
    assert_eq!(param(edited, "ModifiedBy").as_deref(), Some("agent.eve"));
    assert_eq!(param(edited, "From").as_deref(), Some("agent"));
    assert_eq!(param(removed, "Body").as_deref(), Some("edited"), "as it was when removed");
    assert_eq!(param(removed, "Index").as_deref(), Some("0"));
    assert_eq!(param(updated, "Attributes").as_deref(), Some(r#"{"busy":true}"#));
    assert_eq!(param(left, "MemberSid"), Some(member_sid.to_string()));
    assert_eq!(param(left, "Identity").as_deref(), Some("agent.eve"), "known from before it left");
    for form in &forms {
        assert_eq!(param(form, "ChannelSid"), Some(channel.to_string()));
        assert_eq!(param(form, "WebhookType").as_deref(), Some("webhook"));
    }
}
