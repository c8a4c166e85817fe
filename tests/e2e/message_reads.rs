//! Reading messages through the real daemon: pages in both orders around a removed message, a
//! fetch by SID, an edit, and the audit endpoint's ranges, before and after a restart. The same
//! answers the old whole-history reads gave, now from the page's own records.

use serde_json::Value;

use crate::support::api::{basic, daemon_command};
use crate::support::Daemon;

const MESSAGES: usize = 120;

fn indices(page: &Value) -> Vec<u64> {
    page["messages"].as_array().unwrap().iter().map(|m| m["index"].as_u64().unwrap()).collect()
}

/// The lines of one range of the audit endpoint, and where the next begins.
fn audit_range(daemon: &Daemon, channel: &str, query: &str) -> (Vec<u64>, Option<u64>) {
    let url = daemon.url(&format!("/admin/v1/Channels/{channel}/Events?{query}"));
    let response = ureq::get(&url).set("Authorization", &basic()).call().unwrap();
    let next = response.header("Switchboard-Next-From").map(|n| n.parse().unwrap());
    let body = response.into_string().unwrap();
    let seqs = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    (seqs, next)
}

fn check_reads(daemon: &Daemon, messages: &str, sids: &[String]) {
    // Pages of 50, oldest first: 7 is gone, so the first page ends at 50.
    let first = daemon.get(&format!("{messages}?PageSize=50")).json();
    let expected: Vec<u64> = (0..51).filter(|i| *i != 7).collect();
    assert_eq!(indices(&first), expected);
    assert!(first["meta"]["next_page_url"].is_string());
    let third = daemon.get(&format!("{messages}?PageSize=50&Page=2")).json();
    assert_eq!(indices(&third), (101..MESSAGES as u64).collect::<Vec<_>>());
    assert!(third["meta"]["next_page_url"].is_null(), "{}", third["meta"]);
    let newest = daemon.get(&format!("{messages}?PageSize=3&Order=desc")).json();
    assert_eq!(indices(&newest), vec![119, 118, 117]);
    let oldest = daemon.get(&format!("{messages}?PageSize=10&Page=11&Order=desc")).json();
    assert_eq!(indices(&oldest), vec![9, 8, 6, 5, 4, 3, 2, 1, 0], "newest first, 7 skipped");
    let edited = &first["messages"][5];
    assert_eq!(
        (edited["body"].as_str(), edited["was_edited"].as_bool()),
        (Some("five?"), Some(true))
    );
    assert_eq!(edited["last_updated_by"], "agent.bob");

    let fetched = daemon.get(&format!("{messages}/{}", sids[60])).json();
    assert_eq!((fetched["index"].as_u64(), fetched["body"].as_str()), (Some(60), Some("m60")));
    assert_eq!(daemon.get(&format!("{messages}/{}", sids[7])).status, 404, "removed");
}

#[test]
fn pages_fetches_and_audit_ranges_read_the_records_they_show() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(daemon_command(&data));
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "reads")]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels"),
        &[("FriendlyName", "long"), ("Type", "private")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let channel = created.json()["sid"].as_str().unwrap().to_owned();
    let messages = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    let mut sids = Vec::new();
    for i in 0..MESSAGES {
        let posted = daemon.post(&messages, &[("From", "agent.alice"), ("Body", &format!("m{i}"))]);
        assert_eq!(posted.status, 201, "{}", posted.body);
        let posted = posted.json();
        assert_eq!(posted["index"].as_u64(), Some(i as u64), "the answer is the message stored");
        assert_eq!(posted["body"].as_str(), Some(format!("m{i}").as_str()));
        sids.push(posted["sid"].as_str().unwrap().to_owned());
    }
    let edit = daemon
        .post(&format!("{messages}/{}", sids[5]), &[("Body", "five?"), ("From", "agent.bob")]);
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert_eq!(edit.json()["body"], "five?");
    assert_eq!(daemon.delete(&format!("{messages}/{}", sids[7])).status, 204);
    check_reads(&daemon, &messages, &sids);

    // The audit endpoint by ranges: channel created (0), 120 messages, an edit, a removal.
    let (seqs, next) = audit_range(&daemon, &channel, "From=3&Limit=5");
    assert_eq!((seqs, next), ((3..8).collect::<Vec<_>>(), Some(8)));
    let (seqs, next) = audit_range(&daemon, &channel, "From=118&Limit=10");
    assert_eq!((seqs, next), ((118..123).collect::<Vec<_>>(), None));
    let bad = daemon.get(&format!("/admin/v1/Channels/{channel}/Events?Limit=0"));
    assert_eq!(bad.status, 400, "{}", bad.body);

    // The same after a restart: the positions are on disk with the records.
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let daemon = Daemon::start(daemon_command(&data));
    check_reads(&daemon, &messages, &sids);
}
