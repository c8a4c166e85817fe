//! The cause of the work in progress, recorded with every channel event it appends (`Recorded`'s
//! `cause`). Where work enters, it says once what it is: the HTTP layer around each REST request
//! (a REST call, asking for service webhooks or not), `Clients::act` around each client
//! action. `Channels::execute` then reads it, however deep the call, so no handler has to pass it
//! along. Switchboard's own work (the janitor, delivery reports, media fetches) says
//! `Cause::System` where it builds its commands; work that says nothing records no cause, and
//! so, like records from before causes were kept, fires no service webhook.

use std::future::Future;

use switchboard_domain::Cause;

tokio::task_local! {
    static CURRENT: Cause;
}

/// Runs `work` as caused by `cause`: every channel event it appends through the engine records it.
pub async fn caused_by<F: Future>(cause: Cause, work: F) -> F::Output {
    CURRENT.scope(cause, work).await
}

/// The cause the work in progress runs under; `None` outside any `caused_by`.
pub fn current() -> Option<Cause> {
    CURRENT.try_with(Cause::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix::test]
    async fn a_cause_holds_for_the_work_it_wraps_only() {
        assert_eq!(current(), None);
        let inside = caused_by(Cause::Api { webhooks: true }, async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(inside, Some(Cause::Api { webhooks: true }));
        assert_eq!(current(), None);
    }
}
