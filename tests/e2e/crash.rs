//! kill -9 in the middle of a burst of webhooks: after a restart, every webhook that was answered
//! 200 is in the log, the log verifies, and the daemon lists every message of it, in order, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::api::daemon_command;
use crate::support::{run, switchboard, Daemon};

#[test]
fn every_acknowledged_webhook_survives_kill_9() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(daemon_command(&data));
    let (service, _) = daemon.sms_flow(false);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let base = daemon.base_url.clone();
    let senders: Vec<_> = (0..8)
        .map(|writer| {
            let acknowledged = Arc::clone(&acknowledged);
            let stop = Arc::clone(&stop);
            let base = base.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let from = format!("+1415555{:04}", 4000 + writer);
                    let sid = format!("SM{writer:04x}{i:028x}");
                    let url = format!("{base}/webhooks/twilio");
                    let params = [
                        ("From", from.as_str()),
                        ("To", crate::support::api::OUR_NUMBER),
                        ("Body", "burst"),
                        ("MessageSid", sid.as_str()),
                    ];
                    let signature = crate::support::api::twilio_signature(
                        crate::support::api::AUTH_TOKEN,
                        &url,
                        &params,
                    );
                    match ureq::post(&url)
                        .set("X-Twilio-Signature", &signature)
                        .timeout(Duration::from_secs(5))
                        .send_form(&params)
                    {
                        Ok(response) if response.status() == 200 => {
                            acknowledged.lock().unwrap().push(sid)
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let mut daemon = daemon;
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 50, "the burst got going ({} acknowledged)", acknowledged.len());
    drop(daemon);

    let verify = run(switchboard().args(["verify", "--data-dir"]).arg(&data));
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);

    // The daemon comes back (its own recovery first) with every message read through its
    // positions; then the log itself is compared.
    let daemon = Daemon::start(daemon_command(&data));
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 8);
    let listed: Vec<(String, Vec<u64>)> = channels
        .iter()
        .map(|c| c["sid"].as_str().unwrap().to_owned())
        .map(|channel| {
            let indices = listed_indices(&daemon, &service, &channel);
            (channel, indices)
        })
        .collect();
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);

    let replay = run(switchboard().args(["replay", "--data-dir"]).arg(&data));
    let lines = replay.assert_ok().lines();
    let stored: std::collections::HashSet<String> = lines
        .iter()
        .filter_map(|l| l["fields"]["provider_message_id"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<_> = acknowledged.iter().filter(|sid| !stored.contains(*sid)).collect();
    assert!(lost.is_empty(), "{} acknowledged webhooks lost, e.g. {:?}", lost.len(), lost.first());
    let mut logged: std::collections::BTreeMap<String, u64> = Default::default();
    for line in lines.iter().filter(|l| l["type"] == "message_added") {
        *logged.entry(line["channel_sid"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    for (channel, indices) in listed {
        let expected: Vec<u64> = (0..logged[&channel]).collect();
        assert_eq!(indices, expected, "every logged message of {channel}, in order, once");
    }
}

/// The indices of a channel's messages as the REST list shows them, page after page.
fn listed_indices(daemon: &Daemon, service: &str, channel: &str) -> Vec<u64> {
    let mut indices = Vec::new();
    for page in 0.. {
        let path = format!(
            "/chat/v2/Services/{service}/Channels/{channel}/Messages?PageSize=100&Page={page}"
        );
        let list = daemon.get(&path);
        assert_eq!(list.status, 200, "{}", list.body);
        let list = list.json();
        for message in list["messages"].as_array().unwrap() {
            assert_eq!(message["body"], "burst");
            indices.push(message["index"].as_u64().unwrap());
        }
        if list["meta"]["next_page_url"].is_null() {
            return indices;
        }
    }
    unreachable!("pages end")
}
