//! kill -9 in the middle of a burst of webhooks: after a restart, every webhook that was answered
//! 200 is in the log, and the log verifies.

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
    let replay = run(switchboard().args(["replay", "--data-dir"]).arg(&data));
    let stored: std::collections::HashSet<String> = replay
        .assert_ok()
        .lines()
        .iter()
        .filter_map(|l| l["fields"]["provider_message_id"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<_> = acknowledged.iter().filter(|sid| !stored.contains(*sid)).collect();
    assert!(lost.is_empty(), "{} acknowledged webhooks lost, e.g. {:?}", lost.len(), lost.first());

    // And the daemon comes back with everything.
    let daemon = Daemon::start(daemon_command(&data));
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 8);
}
