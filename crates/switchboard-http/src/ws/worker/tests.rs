//! Unit tests of a worker socket's frames: the event envelope, Twilio's error shape, the
//! answers, and the client frames a worker sends.

use std::sync::Arc;

use switchboard_domain::Timestamp;
use switchboard_routing::events::{ResourceType, RouterEvent};
use switchboard_routing::task::TaskState;

use super::*;
use crate::ws::ClientFrame;

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

fn reservation_created() -> FeedItem {
    FeedItem {
        stream_sid: sid(SidPrefix::TASK, 1),
        seq: 2,
        at: Timestamp::from_millis(1_700_000_000_000),
        event: RouterEvent {
            event_type: "reservation.created",
            resource_type: ResourceType::Reservation,
            resource_sid: sid(SidPrefix::RESERVATION, 3),
            description: "A task is assigned to a worker".into(),
            task_sid: Some(sid(SidPrefix::TASK, 1)),
            reservation_sid: Some(sid(SidPrefix::RESERVATION, 3)),
            worker_sid: Some(sid(SidPrefix::WORKER, 4)),
        },
        subject: Subject::Task(Arc::new(TaskState::default())),
    }
}

#[test]
fn an_events_envelope_names_it_its_stream_and_its_place() {
    let frame = envelope(&reservation_created());
    assert_eq!(frame["type"], "taskrouter_event");
    assert_eq!(frame["event_type"], "reservation.created");
    assert_eq!(frame["stream_sid"], sid(SidPrefix::TASK, 1).to_string());
    assert_eq!(frame["seq"], 2);
    assert_eq!(frame["resource_type"], "Reservation");
    assert_eq!(frame["resource_sid"], sid(SidPrefix::RESERVATION, 3).to_string());
    assert_eq!(frame["reservation_sid"], sid(SidPrefix::RESERVATION, 3).to_string());
    assert_eq!(frame["worker_sid"], sid(SidPrefix::WORKER, 4).to_string());
    assert_eq!(frame["description"], "A task is assigned to a worker");
    assert_eq!(frame["timestamp"], "2023-11-14T22:13:20Z");
}

#[test]
fn errors_are_in_twilios_shape_and_carry_the_actions_id() {
    let frame = error_frame(&ApiError::not_found("/x"), Some(json!("a1")));
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["id"], "a1");
    assert_eq!(frame["code"], 20404);
    assert_eq!(frame["status"], 404);
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(frame["more_info"].as_str().is_some_and(|m| m.contains("20404")));
    let ack = ack_frame("worker", json!({"sid": "WK1"}), None);
    assert_eq!(ack, json!({"type": "ack", "worker": {"sid": "WK1"}}));
}

#[test]
fn only_the_four_answers_of_the_rest_api_are_taken() {
    assert_eq!(answer_of("accepted").unwrap(), ReservationAnswer::Accepted);
    assert_eq!(answer_of("rejected").unwrap(), ReservationAnswer::Rejected);
    assert_eq!(answer_of("wrapping").unwrap(), ReservationAnswer::Wrapping);
    assert_eq!(answer_of("completed").unwrap(), ReservationAnswer::Completed);
    assert_eq!(answer_of("timeout").unwrap_err().code(), 20001);
}

#[test]
fn a_workers_frames_parse_and_are_not_chat() {
    let update: ClientFrame = serde_json::from_str(
        r#"{"type":"reservation_update","task_sid":"WT1","reservation_sid":"WR1","status":"accepted","id":7}"#,
    )
    .unwrap();
    assert!(!update.is_chat());
    let activity: ClientFrame =
        serde_json::from_str(r#"{"type":"worker_update","activity_sid":"WA1"}"#).unwrap();
    assert!(!activity.is_chat());
    let resume: ClientFrame =
        serde_json::from_str(r#"{"type":"worker_resume","after":{"WT1":3}}"#).unwrap();
    let ClientFrame::WorkerResume { after } = &resume else { panic!("{resume:?}") };
    assert_eq!(after.get("WT1"), Some(&3));
    let chat: ClientFrame = serde_json::from_str(r#"{"type":"join","channel_sid":"CH1"}"#).unwrap();
    assert!(chat.is_chat());
}

#[test]
fn a_token_without_chat_reaches_no_channel_and_so_no_medium() {
    let peer = |chat: bool| Peer {
        identity: "alice".into(),
        expires_at_secs: 0,
        service_sid: None,
        channel_sid: None,
        chat,
        worker: None,
    };
    let channel = sid(SidPrefix::CHANNEL, 1);
    assert!(peer(true).reaches(channel, Some(sid(SidPrefix::SERVICE, 1))));
    assert!(!peer(false).reaches(channel, Some(sid(SidPrefix::SERVICE, 1))));
    assert!(!peer(false).reaches(channel, None));
}
