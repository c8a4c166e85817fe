//! Studio executions written into a stopped daemon's folder through the actors'
//! `StudioFlowDirectory`, as the runner writes them but started by no channel (their trigger
//! names none), so the daemon carries out none of their requests: the REST surface reads, ends
//! and deletes them as they were written.

use std::sync::Arc;

use serde_json::json;
use switchboard_actors::{Clock, ExecutionStart, StudioFlowDirectory, SystemClock};
use switchboard_domain::{Sid, SidPrefix};
use switchboard_studio::{ExecutionInput, Limits};

use super::Folder;

/// Starts an execution of `flow` (its newest published revision) for a customer `from` who
/// wrote "hi", then gives it each of `replies`; returns the execution's SID.
pub fn run_execution(folder: &Folder, flow: &str, from: &str, replies: &[&str]) -> String {
    let flow = Sid::parse_with(flow, SidPrefix::STUDIO_FLOW).unwrap();
    let log = Arc::new(folder.open());
    let studio = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sid = runtime.block_on(async {
        let start = ExecutionStart {
            trigger_event: "incomingMessage".into(),
            trigger: json!({"message": {"Body": "hi", "From": from, "MessageSid": "IM1",
                                        "ChannelAttributes": {"from": "Ada"}}}),
            data: json!({}),
            flow_address: "+15005550006".into(),
            limits: Limits::default(),
            execution_sid: None,
        };
        let started = studio.start_execution(flow, start, SystemClock.now()).await.unwrap();
        let sid = started.unwrap().sid.unwrap();
        for reply in replies {
            let input =
                ExecutionInput::Reply { body: (*reply).into(), from: from.into(), message: None };
            studio.execute(sid, input, SystemClock.now()).await.unwrap().unwrap();
        }
        sid
    });
    drop(studio);
    let Ok(log) = Arc::try_unwrap(log) else { panic!("the directory still holds the log") };
    log.close().unwrap();
    sid.to_string()
}
