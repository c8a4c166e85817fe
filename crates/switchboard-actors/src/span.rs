//! A message to a channel actor carries the span of the work that sent it (an HTTP request's,
//! with its request id), and the actor enters that span while it handles the message: what it
//! logs for the work, on whichever arbiter it runs, names the request. `Registry::ask` wraps
//! every message so; the routers carry it in `Route`.

use actix::{Handler, Message};

use crate::channel::ChannelActor;

/// `message`, with the span it was sent from.
#[derive(Debug)]
pub(crate) struct InSpan<M> {
    message: M,
    span: tracing::Span,
}

impl<M> InSpan<M> {
    /// `message` in the current span (none outside one: then nothing is entered).
    pub(crate) fn current(message: M) -> InSpan<M> {
        InSpan { message, span: tracing::Span::current() }
    }
}

impl<M: Message> Message for InSpan<M> {
    type Result = M::Result;
}

/// A handler of `InSpan<M>` for each message `Registry::ask` sends (a blanket one over every
/// handled `M` would send the trait solver round in circles through `InSpan<InSpan<…>>`).
macro_rules! handled_in_span {
    ($($message:ty),+) => {$(
        impl Handler<InSpan<$message>> for ChannelActor {
            type Result = <ChannelActor as Handler<$message>>::Result;

            fn handle(&mut self, wrapped: InSpan<$message>, ctx: &mut Self::Context) -> Self::Result {
                let _entered = wrapped.span.enter();
                <ChannelActor as Handler<$message>>::handle(self, wrapped.message, ctx)
            }
        }
    )+};
}

handled_in_span!(crate::channel::Execute, crate::channel::GetState, crate::channel::PostForStudio);
