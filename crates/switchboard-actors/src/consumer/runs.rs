//! `ChannelRuns`: one run at a time per stream for a consumer of the log.
//!
//! A consumer reads a channel's log from its own cursor, so two runs of one channel at once would
//! deliver twice. A wake that arrives while its channel runs is kept, merged with any other such
//! wake (the earliest sequence wins), and runs as soon as the current run ends; channels run
//! side by side.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use switchboard_domain::Sid;

use super::Wake;

#[derive(Debug, Default)]
pub(crate) struct ChannelRuns {
    /// Present while a channel's run goes on; `Some` once it was woken again meanwhile.
    running: Arc<Mutex<HashMap<Sid, Option<Wake>>>>,
}

impl ChannelRuns {
    /// How many streams have a run going on or waiting: streams with durable events this
    /// consumer has yet to deliver (being delivered, or waiting out a retry's backoff).
    pub(crate) fn pending(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Runs `run(wake)` now, or after the channel's current run if one is going on.
    pub(crate) fn wake<F, Fut>(&self, wake: Wake, run: F)
    where
        F: Fn(Wake) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let sid = wake.stream_sid;
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(again) = running.get_mut(&sid) {
                match again {
                    Some(waiting) => waiting.merge(wake),
                    None => *again = Some(wake),
                }
                return;
            }
            running.insert(sid, None);
        }
        let running = Arc::clone(&self.running);
        actix::spawn(async move {
            let mut next = Some(wake);
            while let Some(wake) = next {
                run(wake).await;
                let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
                next = running.get_mut(&sid).and_then(Option::take);
                if next.is_none() {
                    running.remove(&sid);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    fn wake(n: u8, from_seq: u64) -> Wake {
        Wake {
            stream_sid: Sid::from_parts(switchboard_domain::SidPrefix::CHANNEL, [n; 16]),
            from_seq,
            flow_sid: None,
            service_sid: Sid::from_parts(switchboard_domain::SidPrefix::SERVICE, [1; 16]),
            consumers: super::super::Interest::default(),
            until_seq: u64::MAX,
            recent: None,
        }
    }

    #[actix::test]
    async fn a_channel_runs_once_at_a_time_and_wakes_meanwhile_merge() {
        let runs = ChannelRuns::default();
        let seen: Rc<RefCell<Vec<(u8, u64)>>> = Rc::default();
        let (gate, opened) = tokio::sync::watch::channel(false);
        let record = |seen: Rc<RefCell<Vec<(u8, u64)>>>,
                      opened: tokio::sync::watch::Receiver<bool>| {
            move |wake: Wake| {
                let (seen, mut opened) = (Rc::clone(&seen), opened.clone());
                async move {
                    seen.borrow_mut().push((wake.stream_sid.id()[0], wake.from_seq));
                    let _ = opened.wait_for(|open| *open).await;
                }
            }
        };
        runs.wake(wake(1, 5), record(Rc::clone(&seen), opened.clone()));
        // While channel 1 runs: two more wakes of it merge, another channel runs at once.
        runs.wake(wake(1, 9), record(Rc::clone(&seen), opened.clone()));
        runs.wake(wake(1, 7), record(Rc::clone(&seen), opened.clone()));
        runs.wake(wake(2, 3), record(Rc::clone(&seen), opened.clone()));
        tokio::task::yield_now().await;
        assert_eq!(*seen.borrow(), [(1, 5), (2, 3)]);
        gate.send_replace(true);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*seen.borrow(), [(1, 5), (2, 3), (1, 7)], "one merged run, from the earliest");
        assert!(runs.running.lock().unwrap().is_empty());
    }
}
