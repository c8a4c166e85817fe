//! TaskRouter's domain, pure (no I/O, no clock): what a workspace, a worker, a task and a
//! reservation are, the rules of their state machines, the expression language of queues and
//! workflows, and the matching of waiting tasks to free workers. Time comes in with commands.

pub mod events;
pub mod expression;
pub mod matching;
pub mod task;
pub mod worker;
pub mod workflow;
pub mod workspace;
