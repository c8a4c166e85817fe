//! Reading messages costs the messages read, not the channel's history: pages, fetches by SID
//! and posts open only their own records, counted by the log, and survive a reopen.

use std::sync::Arc;

use switchboard_actors::{Engine, EngineConfig, MessageView, SystemClock};
use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelEvent, ChannelKind, DeliveryStatus, MessageSource, NewChannel,
    NewMessage, ProviderError, Recorded, Sid, SidPrefix, Timestamp,
};
use switchboard_store::{Durability, EventLog, IndexChanges, StoreConfig};

fn open(dir: &std::path::Path, key: &MasterKey) -> (Arc<EventLog>, Engine) {
    let mut store = StoreConfig::new(dir.join("data"));
    store.durability = Durability::Flush;
    let log = Arc::new(EventLog::open(store, key.clone()).unwrap());
    let engine =
        Engine::start(Arc::clone(&log), Arc::new(SystemClock), EngineConfig::default()).unwrap();
    (log, engine)
}

fn new_message(body: &str) -> NewMessage {
    NewMessage {
        author: "agent".into(),
        body: body.into(),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Api,
        provider_message_id: None,
    }
}

async fn channel_with(engine: &Engine, messages: u64) -> (Sid, Vec<Sid>) {
    let channel = switchboard_actors::new_sid(SidPrefix::CHANNEL);
    let new = NewChannel {
        channel_sid: channel,
        service_sid: switchboard_actors::new_sid(SidPrefix::SERVICE),
        kind: ChannelKind::Private,
        friendly_name: None,
        unique_name: None,
        attributes: "{}".into(),
        created_by: "test".into(),
        flex_flow_sid: None,
        customer_address: None,
        long_lived: true,
        janitor_enabled: false,
        carried_provider_messages: Vec::new(),
    };
    engine.channels().execute(channel, vec![ChannelCommand::Create(new)]).await.unwrap().unwrap();
    let mut sids = Vec::new();
    for i in 0..messages {
        let command = ChannelCommand::PostMessage(new_message(&format!("m{i}")));
        let executed = engine.channels().execute(channel, vec![command]).await.unwrap().unwrap();
        sids.push(MessageView::from_executed(&executed).unwrap().sid);
    }
    (channel, sids)
}

async fn edit(
    engine: &Engine,
    channel: Sid,
    index: u64,
    body: Option<&str>,
    attributes: Option<&str>,
) {
    let command = ChannelCommand::EditMessage {
        index,
        body: body.map(str::to_owned),
        attributes: attributes.map(str::to_owned),
        edited_by: Some(format!("editor{index}")),
    };
    engine.channels().execute(channel, vec![command]).await.unwrap().unwrap();
}

fn bodies(page: &[MessageView]) -> Vec<(u64, &str)> {
    page.iter().map(|m| (m.index, m.body.as_str())).collect()
}

#[actix_rt::test]
async fn a_page_opens_its_own_records_and_shows_edits_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let (log, engine) = open(dir.path(), &key);
    let (channel, sids) = channel_with(&engine, 400).await;
    edit(&engine, channel, 5, Some("five, edited"), None).await;
    edit(&engine, channel, 5, None, Some(r#"{"late":true}"#)).await;
    edit(&engine, channel, 6, None, Some(r#"{"a":1}"#)).await;
    engine
        .channels()
        .execute(channel, vec![ChannelCommand::RemoveMessage { index: 7 }])
        .await
        .unwrap()
        .unwrap();
    let state = engine.channels().state(channel).await.unwrap().unwrap();

    let before = log.records_opened();
    let page = engine.messages().page(&state, 3, 6, false).unwrap();
    let opened = log.records_opened() - before;
    assert_eq!(
        bodies(&page),
        vec![(3, "m3"), (4, "m4"), (5, "five, edited"), (6, "m6"), (8, "m8"), (9, "m9")]
    );
    // Six added records, the body edit and the later attributes edit of 5, the edit of 6.
    assert_eq!(opened, 9, "a page of 6 in a channel of 400 opens its own records only");
    let five = &page[2];
    assert!(five.was_edited);
    assert_eq!(five.attributes, r#"{"late":true}"#);
    assert_eq!(five.last_updated_by.as_deref(), Some("editor5"));
    assert!(!page[3].was_edited, "an attributes edit is not a body edit");
    assert_eq!(page[3].attributes, r#"{"a":1}"#);

    let newest = engine.messages().page(&state, 0, 3, true).unwrap();
    assert_eq!(bodies(&newest), vec![(399, "m399"), (398, "m398"), (397, "m397")]);
    let last = engine.messages().page(&state, 396, 10, true).unwrap();
    assert_eq!(bodies(&last), vec![(2, "m2"), (1, "m1"), (0, "m0")], "7 is gone, so 3 are left");

    let before = log.records_opened();
    let found = engine.messages().by_sid(&state, sids[250]).unwrap().unwrap();
    assert_eq!((found.index, found.body.as_str()), (250, "m250"));
    assert_eq!(found.sid, Sid::message_of(channel, 250), "a SID says where its message is");
    assert_eq!(log.records_opened() - before, 1);
    assert_eq!(engine.messages().by_sid(&state, sids[7]).unwrap(), None, "removed");
    let (_, others) = channel_with(&engine, 10).await;
    assert_eq!(engine.messages().by_sid(&state, others[8]).unwrap(), None, "not that channel's");
    let past = Sid::message_of(channel, 400);
    assert_eq!(engine.messages().by_sid(&state, past).unwrap(), None, "not given out yet");

    // A post's answer comes from what it stored.
    let message = new_message("fresh");
    let before = log.records_opened();
    let executed = engine
        .channels()
        .execute(channel, vec![ChannelCommand::PostMessage(message)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.records_opened() - before, 0);
    let view = MessageView::from_executed(&executed).unwrap();
    assert_eq!((view.index, view.body.as_str()), (400, "fresh"));
    assert_eq!(view.sid, Sid::message_of(channel, 400));
}

#[actix_rt::test]
async fn a_restarted_engine_reads_the_same_and_reindex_places_messages_again() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let (log, engine) = open(dir.path(), &key);
    let (channel, _) = channel_with(&engine, 30).await;
    edit(&engine, channel, 2, Some("two, edited"), None).await;
    engine.operations().hibernate_all().await;
    let engine =
        Engine::start(Arc::clone(&log), Arc::new(SystemClock), EngineConfig::default()).unwrap();
    let state = engine.channels().state(channel).await.unwrap().unwrap();
    let page = engine.messages().page(&state, 0, 4, false).unwrap();
    assert_eq!(bodies(&page), vec![(0, "m0"), (1, "m1"), (2, "two, edited"), (3, "m3")]);
    switchboard_store::reindex(&log, &mut |_| {}).unwrap();
    let again = engine.messages().page(&state, 0, 4, false).unwrap();
    assert_eq!(again, page);
}

#[actix_rt::test]
async fn a_delivery_the_state_no_longer_keeps_is_read_from_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (log, engine) = open(dir.path(), &MasterKey::generate());
    let total = switchboard_domain::DELIVERIES_KEPT as u64 + 10;
    let (channel, _) = channel_with(&engine, total).await;
    for index in 0..total {
        let sent = ChannelCommand::RecordSent {
            index,
            provider_message_id: Some(format!("SM{index}")),
            requested_at: engine.now(),
        };
        let status =
            if index == 2 { DeliveryStatus::Undelivered } else { DeliveryStatus::Delivered };
        let error =
            (index == 2).then(|| ProviderError { code: "30003".into(), message: "gone".into() });
        let reported = ChannelCommand::RecordDelivery { index, status, error };
        engine.channels().execute(channel, vec![sent, reported]).await.unwrap().unwrap();
    }
    let state = engine.channels().state(channel).await.unwrap().unwrap();
    assert_eq!(state.deliveries.len(), switchboard_domain::DELIVERIES_KEPT, "bounded");
    assert!(!state.deliveries.contains_key(&2), "settled, out of the state");
    let before = log.records_opened();
    let page = engine.messages().page(&state, 1, 2, false).unwrap();
    assert_eq!(log.records_opened() - before, 4, "each message's added and delivery records");
    let delivery = |view: &MessageView| view.delivery.clone().map(|d| (d.status, d.error));
    assert_eq!(delivery(&page[0]), Some((DeliveryStatus::Delivered, None)));
    let gone = Some(ProviderError { code: "30003".into(), message: "gone".into() });
    assert_eq!(delivery(&page[1]), Some((DeliveryStatus::Undelivered, gone)));
}

#[actix_rt::test]
async fn a_message_stored_with_a_drawn_sid_is_found_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let (log, engine) = open(dir.path(), &key);
    let (channel, sids) = channel_with(&engine, 2).await;
    engine.operations().hibernate_all().await;
    drop(engine);
    // As a build before derived SIDs stored it: a message whose SID was drawn, with its entry.
    let drawn = switchboard_actors::new_sid(SidPrefix::MESSAGE);
    let added = ChannelEvent::MessageAdded {
        message_sid: drawn,
        index: 2,
        author: "agent".into(),
        body: "drawn".into(),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Api,
        provider_message_id: None,
    };
    let index = IndexChanges { put: added.index_entries(channel), delete: Vec::new() };
    let next = log.head(channel).unwrap().next_seq;
    let appended = log.append(channel, next, &[Recorded::new(Timestamp(5), added)], &index);
    log.wait_durable_blocking(appended.unwrap().ticket).unwrap();

    let engine =
        Engine::start(Arc::clone(&log), Arc::new(SystemClock), EngineConfig::default()).unwrap();
    let state = engine.channels().state(channel).await.unwrap().unwrap();
    let found = engine.messages().by_sid(&state, drawn).unwrap().unwrap();
    assert_eq!((found.index, found.body.as_str()), (2, "drawn"));
    let derived = engine.messages().by_sid(&state, sids[1]).unwrap().unwrap();
    assert_eq!(derived.body, "m1");
    let stray = Sid::message_of(channel, 2);
    assert_eq!(engine.messages().by_sid(&state, stray).unwrap(), None, "index 2 has another SID");
}
