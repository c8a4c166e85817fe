//! Studio flows (`FW…`, each with all its revisions) and their executions (`FN…`), every stream
//! of both kinds in memory and changed through the one stream runtime (`Streams`). A flow's
//! change is decided under the kinds' writer, where the rules spanning flows (how many are kept)
//! are checked; an execution's commands carry the compiled revision it is pinned to, compiled
//! once per revision and shared.
//!
//! The runner (`consumer/studio_trigger.rs`) starts an execution on a channel's first message
//! and gives it the customer's replies; every durable change of an execution wakes the consumer
//! that carries out its requests (`consumer/studio_requests.rs`); the engine's ticker fires the
//! replies' timeouts ([`StudioFlowDirectory::due_replies`]). The REST surface reads executions
//! and their steps, ends and deletes them.
//!
//! Only open executions are held in memory (active ones, and ended ones until their last
//! requests are carried out); the others are read from the log when asked for. Three listings
//! beside the log (`EventLog::listing`) find them without reading every execution: a flow's
//! executions by creation time (the REST list, paged), the open ones (what a start loads), and
//! a channel's (its latest, once it is no longer held). Entries are put before an execution's
//! first append and taken out after its change is durable, so a listing may name an execution
//! that never started (skipped when read), never miss one. A folder written before the
//! listings is read whole once, to fill them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use switchboard_domain::{Recorded, Sid, SidPrefix, Timestamp};
use switchboard_store::{EventLog, FlushTicket, Listed, ReplayRecord};
use switchboard_studio::{
    validate_json, ExecutionCommand, ExecutionEvent, ExecutionInput, ExecutionRejection,
    ExecutionState, FlowStatus, Limits, StudioFlowCommand, StudioFlowRejection, StudioFlowState,
    ValidDefinition,
};

use crate::ids::new_sid;
use crate::streams::Streams;
use crate::EngineError;

/// The most Studio flows kept (deleted ones do not count): each is held in memory with every
/// revision, so a stranger with credentials cannot grow the daemon without bound.
pub const MAX_STUDIO_FLOWS: usize = 1000;
/// The most revisions one flow keeps, and the most bytes of definitions they may hold together.
/// Revisions are never dropped (an execution runs the revision it started on to its end), so a
/// flow past either limit is refused further revisions: make a new flow.
pub const MAX_REVISIONS: usize = 1000;
pub const MAX_REVISION_BYTES: usize = 16 << 20;

/// A flow change's outcome: the flow after it, or why it was refused.
pub type StudioFlowChange = Result<Result<StudioFlowState, StudioFlowRejection>, EngineError>;
/// An execution change's outcome: the execution after it, or why it was refused.
pub type ExecutionChange = Result<Result<ExecutionState, ExecutionRefusal>, EngineError>;

/// Why an execution was not started or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionRefusal {
    #[error("the Studio flow does not exist")]
    FlowNotFound,
    #[error("the Studio flow has no published revision")]
    NotPublished,
    #[error(transparent)]
    Rejected(#[from] ExecutionRejection),
}

/// What starts an execution: the trigger's event and context, as the runner gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionStart {
    /// The trigger's transition: `incomingMessage` for a customer's message.
    pub trigger_event: String,
    /// Studio's `trigger` context (`{"message": {"Body", "From", "ChannelSid", …}}`).
    pub trigger: Value,
    /// `flow.data`: the parameters of the start.
    pub data: Value,
    /// `flow.channel.address`: the address the customer wrote to.
    pub flow_address: String,
    pub limits: Limits,
    /// The execution's SID when the caller derives it (the runner: from the message that
    /// started it, so a start repeated after a crash is refused); a fresh one when `None`.
    pub execution_sid: Option<Sid>,
}

/// One step of an execution as Studio lists it: the transition into a widget.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub sid: Sid,
    /// The event that led to the step (`incomingMessage`, `sent`, `match`, …).
    pub event: String,
    pub transitioned_from: String,
    /// The widget entered.
    pub widget: String,
    pub widget_type: String,
    /// The widget's output as the step left it (`widgets.NAME`), `{}` when it has none.
    pub context: Value,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

#[derive(Debug)]
pub struct StudioFlowDirectory {
    flows: Streams<StudioFlowState>,
    executions: Streams<ExecutionState>,
    /// Compiled revisions by (flow, revision), shared by their executions.
    compiled: Mutex<HashMap<(Sid, u32), Arc<ValidDefinition>>>,
    /// The active execution of each channel that has one (one at a time), from their triggers.
    by_channel: Mutex<HashMap<Sid, Sid>>,
    /// The channel of each execution held that a channel's message started: read from its
    /// context once, not parsed again at each of its changes and requests.
    channels: Mutex<HashMap<Sid, Sid>>,
    /// Told of every durable change of an execution (its requests' consumer).
    dispatcher: OnceLock<crate::consumer::Wakes>,
}

impl StudioFlowDirectory {
    pub fn load(log: Arc<EventLog>) -> Result<StudioFlowDirectory, EngineError> {
        if !log.listing_filled(BY_FLOW)? {
            fill_listings(&log)?;
        }
        let open: Vec<Listed> = log.listing(OPEN, None, false).collect::<Result<_, _>>()?;
        let executions = Streams::load_listed(
            Arc::clone(&log),
            crate::memory::studio_execution,
            open.iter().map(|entry| entry.member),
        )?;
        let directory = StudioFlowDirectory {
            flows: Streams::load(log)?,
            executions,
            compiled: Mutex::new(HashMap::new()),
            by_channel: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            dispatcher: OnceLock::new(),
        };
        let held: Vec<_> = directory.executions.read().values().cloned().collect();
        for execution in &held {
            directory.track(execution);
            directory.settle(execution)?;
        }
        Ok(directory)
    }

    pub(crate) fn set_dispatcher(&self, dispatcher: crate::consumer::Wakes) {
        let _ = self.dispatcher.set(dispatcher);
    }

    /// Keeps the channel's entry in step with `execution`: an active execution is its channel's
    /// (only a start makes one), and one that ended leaves.
    fn track(&self, execution: &ExecutionState) {
        let Some(sid) = execution.sid else { return };
        let Some(channel) = self.channel_of_held(sid, execution) else { return };
        let mut by_channel = self.by_channel.lock().unwrap_or_else(|e| e.into_inner());
        if execution.is_active() {
            by_channel.insert(channel, sid);
        } else if by_channel.get(&channel) == Some(&sid) {
            by_channel.remove(&channel);
        }
    }

    /// The channel of `execution` (whose SID is `sid`), remembered while it is held.
    fn channel_of_held(&self, sid: Sid, execution: &ExecutionState) -> Option<Sid> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(&sid) {
            return Some(*channel);
        }
        let channel = channel_of(execution)?;
        channels.insert(sid, channel);
        Some(channel)
    }

    /// The channel whose message started execution `sid`, and the flow it runs, from memory
    /// while it is held; `None` for an execution no channel started (or not held).
    pub(crate) fn origin_held(&self, sid: Sid) -> Option<(Sid, Sid)> {
        let flow = self.executions.read().get(&sid)?.flow_sid?;
        let channel = *self.channels.lock().unwrap_or_else(|e| e.into_inner()).get(&sid)?;
        Some((channel, flow))
    }

    /// The friendly name of flow `sid`, if it exists (a copy of the name alone).
    pub fn friendly_name(&self, sid: Sid) -> Option<String> {
        self.flows.read().get(&sid).filter(|f| f.is_live()).map(|f| f.friendly_name.clone())
    }

    /// After a durable change of `execution`: its channel's entry, its listings, and its
    /// requests' consumer woken for what it recorded (`recorded`, handed over with the wake).
    fn changed(
        &self,
        execution: &ExecutionState,
        recorded: crate::consumer::Recent,
    ) -> Result<(), EngineError> {
        self.track(execution);
        if execution.deleted {
            for (list, entry) in listed(execution) {
                if list == BY_FLOW {
                    self.executions.log().listing_remove(list, entry)?;
                }
            }
        }
        let (Some(sid), Some(dispatcher)) = (execution.sid, self.dispatcher.get()) else {
            return Ok(());
        };
        // One record per event: the stream is durable below the events it folded.
        let wake = crate::consumer::Wake::execution_changed(sid, execution.events_applied);
        dispatcher.do_send(crate::consumer::Wake { recent: Some(recorded), ..wake });
        Ok(())
    }

    /// Lets an ended execution go once its requests are carried out (its requests' consumer
    /// calls this after each run): out of the open listing and out of memory.
    pub(crate) fn settle(&self, execution: &ExecutionState) -> Result<(), EngineError> {
        let Some(sid) = execution.sid.filter(|_| !execution.is_active()) else { return Ok(()) };
        let carried_out = crate::consumer::studio_requests_cursor(self.executions.log(), sid)?;
        if carried_out < execution.events_applied {
            return Ok(());
        }
        for (list, entry) in listed(execution) {
            if list == OPEN {
                self.executions.log().listing_remove(list, entry)?;
            }
        }
        self.executions.forget(sid);
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).remove(&sid);
        Ok(())
    }

    /// [`StudioFlowDirectory::settle`] of execution `sid` as it is now, if it is held.
    pub(crate) fn settle_held(&self, sid: Sid) -> Result<(), EngineError> {
        let held = self.executions.read().get(&sid).cloned();
        held.map_or(Ok(()), |execution| self.settle(&execution))
    }

    /// The latest execution `channel`'s messages started (deleted or ended ones too), if any:
    /// the active one from memory, else the newest its listing names, read from the log.
    pub fn latest_in_channel(&self, channel: Sid) -> Option<ExecutionState> {
        if let Some(active) = self.active_in_channel(channel) {
            return Some(active);
        }
        let log = self.executions.log();
        for entry in log.listing(BY_CHANNEL, Some(channel), true) {
            let Ok(entry) = entry else { return None };
            let Ok(Some(execution)) = self.executions.fetch(entry.member) else { continue };
            if listed_at(&execution) == Some(entry.order) {
                return Some(execution);
            }
        }
        None
    }

    /// The execution active in `channel`, if any.
    pub fn active_in_channel(&self, channel: Sid) -> Option<ExecutionState> {
        let sid = *self.by_channel.lock().unwrap_or_else(|e| e.into_inner()).get(&channel)?;
        self.executions.read().get(&sid).filter(|e| e.is_active()).cloned()
    }

    /// The active executions whose reply is due at `now`, for the engine's ticker.
    pub fn due_replies(&self, now: Timestamp) -> Vec<Sid> {
        let executions = self.executions.read();
        let due = executions.values().filter(|e| e.is_active());
        due.filter(|e| e.reply_deadline().is_some_and(|d| d <= now)).filter_map(|e| e.sid).collect()
    }

    /// Every execution held (the open ones) with the number of events it holds, for the
    /// start's resumption of requests left undone.
    pub(crate) fn execution_heads(&self) -> Vec<(Sid, u64)> {
        self.executions.read().iter().map(|(sid, e)| (*sid, e.events_applied)).collect()
    }

    /// How many executions are held in memory, and the bytes they hold (`memory.rs`).
    pub fn executions_held(&self) -> usize {
        self.executions.read().iter().count()
    }

    pub fn executions_footprint(&self) -> usize {
        self.executions.held()
    }

    /// A flow that exists and is not deleted.
    pub fn get(&self, sid: Sid) -> Option<StudioFlowState> {
        self.flows.read().get(&sid).filter(|f| f.is_live()).cloned()
    }

    /// Every flow that exists, oldest first.
    pub fn list(&self) -> Vec<StudioFlowState> {
        let mut all: Vec<_> = self.flows.read().values().filter(|f| f.is_live()).cloned().collect();
        all.sort_by_key(|f| (f.date_created, f.sid));
        all
    }

    /// Makes a flow (revision 1) from Studio's JSON, validated by the domain.
    pub async fn create(
        &self,
        friendly_name: String,
        status: FlowStatus,
        definition: String,
        commit_message: Option<String>,
        at: Timestamp,
    ) -> StudioFlowChange {
        let flow_sid = new_sid(SidPrefix::STUDIO_FLOW);
        let command = StudioFlowCommand::Create {
            flow_sid,
            friendly_name,
            status,
            definition,
            commit_message,
        };
        let written = {
            let mut writer = self.flows.writer();
            if writer.read().values().filter(|f| f.is_live()).count() >= MAX_STUDIO_FLOWS {
                return Ok(Err(StudioFlowRejection::Invalid(
                    "there are 1000 Studio flows already, the most kept: delete one first",
                )));
            }
            writer.execute(flow_sid, vec![command], at)
        };
        self.flows.durable(written).await
    }

    /// Changes flow `sid` (`StudioFlowCommand::Update`): a new revision when its definition or
    /// status changes, refused past the revisions a flow keeps.
    pub async fn update(
        &self,
        sid: Sid,
        update: StudioFlowCommand,
        at: Timestamp,
    ) -> StudioFlowChange {
        let written = {
            let mut writer = self.flows.writer();
            let state = writer.state(sid);
            if !state.is_live() {
                return Ok(Err(StudioFlowRejection::NotFound));
            }
            let kept: usize = state.revisions.iter().map(|r| r.definition.len()).sum();
            let adds = match &update {
                StudioFlowCommand::Update { definition: Some(d), .. } => d.len(),
                _ => state.latest().map_or(0, |r| r.definition.len()),
            };
            if state.revisions.len() >= MAX_REVISIONS || kept + adds > MAX_REVISION_BYTES {
                return Ok(Err(StudioFlowRejection::Invalid(
                    "the flow keeps 1000 revisions or 16 MiB of definitions already, the most \
                     kept: make a new flow",
                )));
            }
            writer.execute(sid, vec![update], at)
        };
        self.flows.durable(written).await
    }

    /// Deletes flow `sid` and ends its active executions (the runner must not continue them).
    pub async fn delete(&self, sid: Sid, at: Timestamp) -> StudioFlowChange {
        let written = self.flows.execute(sid, vec![StudioFlowCommand::Delete], at);
        let deleted = self.flows.durable(written).await?;
        if deleted.is_ok() {
            let active: Vec<_> = self
                .executions
                .read()
                .values()
                .filter(|e| e.is_active() && e.flow_sid == Some(sid))
                .cloned()
                .collect();
            for execution in active {
                let Some(execution_sid) = execution.sid else { continue };
                self.execute(execution_sid, ExecutionInput::End, at).await?.ok();
            }
        }
        Ok(deleted)
    }

    /// Revision `revision` of flow `sid` (a deleted flow's too), compiled once and shared.
    pub fn definition(&self, sid: Sid, revision: u32) -> Option<Arc<ValidDefinition>> {
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = compiled.get(&(sid, revision)) {
            return Some(Arc::clone(found));
        }
        let text = self.flows.read().get(&sid)?.revision(revision)?.definition.clone();
        // A stored revision passed validation when it was committed.
        let valid = Arc::new(validate_json(&text).ok()?);
        compiled.insert((sid, revision), Arc::clone(&valid));
        Some(valid)
    }

    /// An execution that was started and not deleted, from memory or the log.
    pub fn execution(&self, sid: Sid) -> Result<Option<ExecutionState>, EngineError> {
        Ok(self.executions.fetch(sid)?.filter(ExecutionState::is_shown))
    }

    /// A page of flow `flow`'s executions that are shown, newest first, created within
    /// `from..=to`: the `skip` first are passed over and at most `take` are read (from memory or
    /// the log); `true` with them when more follow. The listing's keys alone say which
    /// executions the page holds.
    pub fn executions_page(
        &self,
        flow: Sid,
        (from, to): (Option<Timestamp>, Option<Timestamp>),
        skip: usize,
        take: usize,
    ) -> Result<(Vec<ExecutionState>, bool), EngineError> {
        let log = self.executions.log();
        let within = |order: u64| {
            let at = i64::try_from(order).unwrap_or(i64::MAX);
            from.is_none_or(|f| at >= f.0) && to.is_none_or(|t| at <= t.0)
        };
        let mut page = Vec::new();
        let mut passed = 0;
        for entry in log.listing(BY_FLOW, Some(flow), true) {
            let entry = entry?;
            if !within(entry.order) {
                continue;
            }
            if passed < skip {
                passed += 1;
                continue;
            }
            let Some(execution) = self.execution(entry.member)? else { continue };
            if listed_at(&execution) != Some(entry.order) {
                continue; // Put for a start that was refused: not this execution's entry.
            }
            if page.len() == take {
                return Ok((page, true));
            }
            page.push(execution);
        }
        Ok((page, false))
    }

    /// Starts an execution of flow `flow`'s newest published revision: what the runner calls
    /// on a channel's first message.
    pub async fn start_execution(
        &self,
        flow: Sid,
        start: ExecutionStart,
        at: Timestamp,
    ) -> ExecutionChange {
        let Some(state) = self.get(flow) else { return Ok(Err(ExecutionRefusal::FlowNotFound)) };
        let Some(revision) = state.live_revision().map(|r| r.revision) else {
            return Ok(Err(ExecutionRefusal::NotPublished));
        };
        let definition = self.definition(flow, revision).ok_or_else(|| {
            EngineError::Internal(format!("revision {revision} of {flow} does not compile"))
        })?;
        let execution_sid =
            start.execution_sid.unwrap_or_else(|| new_sid(SidPrefix::STUDIO_EXECUTION));
        let channel = start.trigger.pointer("/message/ChannelSid").and_then(Value::as_str);
        let channel = channel.and_then(|text| Sid::parse_with(text, SidPrefix::CHANNEL).ok());
        let input = ExecutionInput::Start {
            execution_sid,
            flow_sid: flow,
            revision,
            trigger_event: start.trigger_event,
            trigger: start.trigger,
            data: start.data,
            flow_address: start.flow_address,
            limits: start.limits,
        };
        let command = ExecutionCommand { definition, at, input };
        // Listed before the first append, so a durable execution is never missing from them;
        // taken out again when nothing was started.
        let entries = listings_of(execution_sid, flow, channel, at, true);
        let log = self.executions.log();
        for (list, entry) in &entries {
            log.listing_put(*list, *entry)?;
        }
        let written = self.write(execution_sid, command, at);
        if !matches!(written, Ok(Ok(_))) {
            for (list, entry) in &entries {
                log.listing_remove(*list, *entry)?;
            }
        }
        self.durable(written).await
    }

    /// Runs `command` on execution `sid`, keeping the records it appends (what the log holds:
    /// each event with the change's time and cause) for the consumer of its requests.
    fn write(&self, sid: Sid, command: ExecutionCommand, at: Timestamp) -> Written {
        let cause = crate::cause::current();
        let logged = self.executions.writer().run(sid, vec![command], at, (false, None))?;
        Ok(logged.map(|logged| {
            let records =
                logged.events.into_iter().map(|e| Recorded::caused(at, e, cause.clone())).collect();
            let recorded = crate::consumer::Recent::execution(logged.first_seq, records);
            (logged.after, logged.ticket, recorded)
        }))
    }

    /// Waits for an execution's change to be durable, then tells who follows executions.
    async fn durable(&self, written: Written) -> ExecutionChange {
        let (execution, ticket, recorded) = match written? {
            Ok(done) => done,
            Err(rejection) => return Ok(Err(rejection.into())),
        };
        if let Some(ticket) = ticket {
            self.executions.log().wait_durable(ticket).await?;
        }
        self.changed(&execution, recorded)?;
        Ok(Ok(execution))
    }

    /// Gives execution `sid` what happened (`End`, `Delete`, and the runner's inputs).
    pub async fn execute(&self, sid: Sid, input: ExecutionInput, at: Timestamp) -> ExecutionChange {
        let Some(state) = self.executions.fetch(sid)? else {
            return Ok(Err(ExecutionRejection::NotFound.into()));
        };
        let (Some(flow), revision) = (state.flow_sid, state.revision) else {
            return Ok(Err(ExecutionRejection::NotFound.into()));
        };
        let Some(definition) = self.definition(flow, revision) else {
            return Ok(Err(ExecutionRefusal::FlowNotFound));
        };
        let command = ExecutionCommand { definition, at, input };
        let written = self.write(sid, command, at);
        self.durable(written).await
    }

    /// The steps of execution `sid`, oldest first, read from its durable events.
    pub async fn steps(&self, sid: Sid) -> Result<Vec<StepView>, EngineError> {
        let log = self.executions.log();
        let head = log.next_seq(sid)?;
        log.wait_durable(log.ticket()).await?;
        let mut steps: Vec<StepView> = Vec::new();
        for record in log.read::<Recorded<ExecutionEvent>>(sid, 0) {
            let ReplayRecord::Event { seq, event, .. } = record? else { continue };
            if seq >= head {
                break;
            }
            step_fold(&mut steps, event.at, event.event);
        }
        Ok(steps)
    }
}

/// A change of an execution as [`StudioFlowDirectory::write`] made it: the state after, the
/// ticket of its append (none when it appended nothing), the records appended.
type Written = Result<
    Result<(ExecutionState, Option<FlushTicket>, crate::consumer::Recent), ExecutionRejection>,
    EngineError,
>;

/// The listings (`EventLog::listing`): a flow's executions, newest first; the open ones (under
/// their flow); a channel's (under the channel). Each ordered by the creation time in ms.
const BY_FLOW: u8 = 1;
const OPEN: u8 = 2;
const BY_CHANNEL: u8 = 3;

/// The entries an execution has in the listings when it is shown (`BY_FLOW`), open (`OPEN`),
/// and started by a channel's message (`BY_CHANNEL`).
fn listings_of(
    execution: Sid,
    flow: Sid,
    channel: Option<Sid>,
    created: Timestamp,
    open: bool,
) -> Vec<(u8, Listed)> {
    let order = u64::try_from(created.0).unwrap_or(0);
    let entry = |scope| Listed { scope, order, member: execution };
    let mut entries = vec![(BY_FLOW, entry(flow))];
    if open {
        entries.push((OPEN, entry(flow)));
    }
    entries.extend(channel.map(|channel| (BY_CHANNEL, entry(channel))));
    entries
}

/// The entries `execution` has (or had) in the listings.
fn listed(execution: &ExecutionState) -> Vec<(u8, Listed)> {
    let (Some(sid), Some(flow)) = (execution.sid, execution.flow_sid) else { return Vec::new() };
    listings_of(sid, flow, channel_of(execution), execution.date_created, true)
}

/// The order an execution's entries have: its creation time in ms.
fn listed_at(execution: &ExecutionState) -> Option<u64> {
    execution.sid.and(u64::try_from(execution.date_created.0).ok())
}

/// Fills the listings from every execution of the log, once, for a folder written before them.
fn fill_listings(log: &EventLog) -> Result<(), EngineError> {
    let mut filled = 0usize;
    for stream in log.streams() {
        let stream = stream?;
        if stream.prefix() != SidPrefix::STUDIO_EXECUTION {
            continue;
        }
        let loaded = switchboard_store::StreamLog::<ExecutionState>::load(log, stream)?;
        let execution = loaded.state();
        let (Some(sid), Some(flow)) = (execution.sid, execution.flow_sid) else { continue };
        // Ended ones are open until the start settles them (their requests may be undone).
        let entries = listings_of(sid, flow, channel_of(execution), execution.date_created, true);
        for (list, entry) in entries {
            if list != BY_FLOW || execution.is_shown() {
                log.listing_put(list, entry)?;
            }
        }
        filled += 1;
    }
    log.mark_listing_filled(BY_FLOW)?;
    if filled > 0 {
        tracing::info!(executions = filled, "Studio executions listed (once, for this folder)");
    }
    Ok(())
}

/// The channel an execution runs in: its trigger's `ChannelSid` (none for an execution that
/// was not started by a channel's message).
pub(crate) fn channel_of(execution: &ExecutionState) -> Option<Sid> {
    let context = execution.context();
    let text = context.pointer("/trigger/message/ChannelSid")?.as_str()?;
    Sid::parse_with(text, SidPrefix::CHANNEL).ok()
}

/// What one event does to the list of steps: a `StepEntered` opens one, the output of its
/// widget is its context, and every later event of the step updates its date.
fn step_fold(steps: &mut Vec<StepView>, at: Timestamp, event: ExecutionEvent) {
    match event {
        ExecutionEvent::StepEntered { step_sid, name, widget_type, transitioned_from, event } => {
            steps.push(StepView {
                sid: step_sid,
                event,
                transitioned_from,
                widget: name,
                widget_type,
                context: Value::Object(Default::default()),
                date_created: at,
                date_updated: at,
            });
            return;
        }
        ExecutionEvent::WidgetOutput { name, output } => {
            if let Some(step) = steps.last_mut().filter(|s| s.widget == name) {
                step.context = serde_json::from_str(&output).unwrap_or(Value::Null);
            }
        }
        _ => {}
    }
    if let Some(step) = steps.last_mut() {
        step.date_updated = at;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchboard_crypto::MasterKey;
    use switchboard_store::{Durability, StoreConfig};
    use switchboard_studio::{ExecutionStatus, Waiting};

    use super::*;

    const GREETING: &str = include_str!("../../switchboard-studio/tests/flows/greeting_menu.json");

    fn open(dir: &std::path::Path) -> Arc<EventLog> {
        let mut config = StoreConfig::new(dir.join("data"));
        config.durability = Durability::Flush;
        Arc::new(EventLog::open(config, MasterKey::from_bytes([7; 32])).unwrap())
    }

    fn start() -> ExecutionStart {
        ExecutionStart {
            trigger_event: "incomingMessage".into(),
            trigger: json!({"message": {"Body": "hi", "From": "+15551234567",
                                        "ChannelAttributes": {"from": "Ada"}}}),
            data: Value::Null,
            flow_address: "+15005550006".into(),
            limits: Limits::default(),
            execution_sid: None,
        }
    }

    #[actix_rt::test]
    async fn a_change_hands_the_consumer_of_its_requests_the_records_the_log_holds() {
        use crate::consumer::{durable_records, Wake};
        let temp = tempfile::tempdir().unwrap();
        let studio = StudioFlowDirectory::load(open(temp.path())).unwrap();
        let at = Timestamp(1_000);
        let created =
            studio.create("Menu".into(), FlowStatus::Published, GREETING.into(), None, at);
        let flow = created.await.unwrap().unwrap().sid.unwrap();
        let execution = studio.start_execution(flow, start(), at).await.unwrap().unwrap();
        let sid = execution.sid.unwrap();
        let log = Arc::clone(studio.executions.log());
        let first = log.next_seq(sid).unwrap();
        let reply = ExecutionInput::Reply {
            body: "1".into(),
            from: "+15551234567".into(),
            message: Some(("IM1".into(), 1)),
        };
        let definition = studio.definition(flow, execution.revision).unwrap();
        let command = ExecutionCommand { definition, at: Timestamp(2_000), input: reply };
        let written = studio.write(sid, command, Timestamp(2_000)).unwrap().unwrap();
        let (after, ticket, recorded) = written;
        log.wait_durable(ticket.unwrap()).await.unwrap();
        let wake = |recent| Wake { recent, ..Wake::execution_changed(sid, after.events_applied) };
        let handed =
            durable_records::<Recorded<ExecutionEvent>>(&log, &wake(Some(recorded)), first);
        let read = durable_records::<Recorded<ExecutionEvent>>(&log, &wake(None), first);
        let handed = handed.unwrap();
        assert!(handed.len() >= 2, "the reply's step: {handed:?}");
        assert_eq!(handed, read.unwrap());
    }

    #[actix_rt::test]
    async fn an_execution_runs_its_pinned_revision_and_its_steps_are_read_from_its_events() {
        let temp = tempfile::tempdir().unwrap();
        let studio = StudioFlowDirectory::load(open(temp.path())).unwrap();
        let at = Timestamp(1_000);
        let draft = studio.create("Menu".into(), FlowStatus::Draft, GREETING.into(), None, at);
        let flow = draft.await.unwrap().unwrap().sid.unwrap();
        let refused = studio.start_execution(flow, start(), at).await.unwrap();
        assert_eq!(refused, Err(ExecutionRefusal::NotPublished), "a draft does not run");
        let publish = StudioFlowCommand::Update {
            friendly_name: None,
            status: Some(FlowStatus::Published),
            definition: None,
            commit_message: Some("go".into()),
        };
        studio.update(flow, publish, at).await.unwrap().unwrap();
        let execution = studio.start_execution(flow, start(), at).await.unwrap().unwrap();
        let sid = execution.sid.unwrap();
        assert_eq!(execution.revision, 2, "the newest published revision");
        let reply = ExecutionInput::Reply {
            body: "1".into(),
            from: "+15551234567".into(),
            message: Some(("IM1".into(), 1)),
        };
        studio.execute(sid, reply, Timestamp(2_000)).await.unwrap().unwrap();
        let steps = studio.steps(sid).await.unwrap();
        let walked: Vec<_> = steps
            .iter()
            .map(|s| (s.transitioned_from.as_str(), s.event.as_str(), s.widget.as_str()))
            .collect();
        assert_eq!(
            walked,
            [
                ("Trigger", "incomingMessage", "greet"),
                ("greet", "incomingMessage", "menu"),
                ("menu", "match", "sales")
            ]
        );
        assert_eq!(steps[0].context["inbound"]["Body"], "1", "the reply is greet's output");
        assert_eq!(steps[0].context["inbound"]["MessageSid"], "IM1");
        assert_eq!((steps[0].date_created, steps[2].date_created), (at, Timestamp(2_000)));
        let listed = |studio: &StudioFlowDirectory| {
            studio.executions_page(flow, (None, None), 0, 10).unwrap().0.len()
        };
        assert_eq!(listed(&studio), 1);
        studio.delete(flow, Timestamp(3_000)).await.unwrap().unwrap();
        let ended = studio.execution(sid).unwrap().unwrap();
        assert_eq!(ended.status, ExecutionStatus::Ended, "a deleted flow's executions end");
        let deleted = studio.execute(sid, ExecutionInput::Delete, Timestamp(4_000)).await;
        deleted.unwrap().unwrap();
        assert_eq!(studio.execution(sid).unwrap(), None);
        assert_eq!(listed(&studio), 0);
    }

    #[actix_rt::test]
    async fn a_channel_s_execution_is_found_by_its_channel_and_its_timeout_is_due_once() {
        let temp = tempfile::tempdir().unwrap();
        let log = open(temp.path());
        let studio = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
        let at = Timestamp(1_000);
        let made = studio.create("Menu".into(), FlowStatus::Published, GREETING.into(), None, at);
        let flow = made.await.unwrap().unwrap().sid.unwrap();
        let channel = Sid::from_parts(SidPrefix::CHANNEL, [4; 16]);
        let mut from_channel = start();
        from_channel.trigger["message"]["ChannelSid"] = json!(channel.to_string());
        let started = studio.start_execution(flow, from_channel, at).await.unwrap().unwrap();
        let sid = started.sid.unwrap();
        assert_eq!(studio.active_in_channel(channel).and_then(|e| e.sid), Some(sid));
        let deadline = started.reply_deadline().unwrap();
        assert!(studio.due_replies(Timestamp(deadline.0 - 1)).is_empty());
        assert_eq!(studio.due_replies(deadline), [sid]);
        studio.execute(sid, ExecutionInput::Timeout, deadline).await.unwrap().unwrap();
        assert!(studio.due_replies(deadline).is_empty(), "a timeout fires once");
        // The goodbye's outcome ends it; it stays the channel's latest, no longer active.
        let Some(Waiting::MessageOutcome { step_sid, .. }) =
            studio.execution(sid).unwrap().unwrap().waiting
        else {
            panic!("the goodbye waits for its outcome")
        };
        let outcome = ExecutionInput::MessageOutcome { step_sid, sent: true, error: None };
        studio.execute(sid, outcome, deadline).await.unwrap().unwrap();
        assert_eq!(studio.active_in_channel(channel), None);
        drop(studio);
        let again = StudioFlowDirectory::load(log).unwrap();
        assert_eq!(again.latest_in_channel(channel).and_then(|e| e.sid), Some(sid), "after a load");
    }

    /// Starts an execution of `flow` from a message of `channel` at `at`.
    async fn start_in(studio: &StudioFlowDirectory, flow: Sid, channel: Sid, at: i64) -> Sid {
        let mut from_channel = start();
        from_channel.trigger["message"]["ChannelSid"] = json!(channel.to_string());
        let started = studio.start_execution(flow, from_channel, Timestamp(at)).await;
        started.unwrap().unwrap().sid.unwrap()
    }

    #[actix_rt::test]
    async fn ended_executions_leave_memory_and_a_start_reads_only_the_open_ones() {
        let temp = tempfile::tempdir().unwrap();
        let log = open(temp.path());
        let studio = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
        let made = studio.create(
            "Menu".into(),
            FlowStatus::Published,
            GREETING.into(),
            None,
            Timestamp(1),
        );
        let flow = made.await.unwrap().unwrap().sid.unwrap();
        let channel = |n| Sid::from_parts(SidPrefix::CHANNEL, [n; 16]);
        let mut sids = Vec::new();
        for n in 1..=3u8 {
            sids.push(start_in(&studio, flow, channel(n), i64::from(n) * 1_000).await);
        }
        for sid in &sids[..2] {
            studio.execute(*sid, ExecutionInput::End, Timestamp(5_000)).await.unwrap().unwrap();
        }
        assert_eq!(studio.executions_held(), 3, "held until their requests are carried out");
        let carried_out = |sid: Sid| {
            log.set_cursor(
                crate::consumer::STUDIO_REQUESTS_CONSUMER,
                sid,
                log.next_seq(sid).unwrap(),
            )
        };
        carried_out(sids[0]).unwrap();
        assert_eq!(studio.origin_held(sids[0]), Some((channel(1), flow)));
        studio.settle_held(sids[0]).unwrap();
        studio.settle_held(sids[2]).unwrap();
        assert_eq!(studio.executions_held(), 2, "the first has gone, the active one stays");
        assert_eq!(studio.origin_held(sids[0]), None, "its channel is forgotten with it");
        assert_eq!(studio.origin_held(sids[2]), Some((channel(3), flow)));
        let first = studio.execution(sids[0]).unwrap().expect("read from the log");
        assert_eq!(first.status, ExecutionStatus::Ended);
        let page = |skip, take, within| {
            let (page, more) = studio.executions_page(flow, within, skip, take).unwrap();
            (page.into_iter().map(|e| e.sid.unwrap()).collect::<Vec<_>>(), more)
        };
        let all = (None, None);
        assert_eq!(page(0, 2, all), (vec![sids[2], sids[1]], true), "newest first");
        assert_eq!(page(2, 2, all), (vec![sids[0]], false));
        let second = (Some(Timestamp(1_500)), Some(Timestamp(2_500)));
        assert_eq!(page(0, 5, second), (vec![sids[1]], false), "by creation time");
        assert_eq!(studio.latest_in_channel(channel(1)).and_then(|e| e.sid), Some(sids[0]));
        // The second's requests are carried out while the daemon is stopped: the start reads
        // the open ones (the second and third) and settles the second, never the first.
        carried_out(sids[1]).unwrap();
        drop(studio);
        let opened = log.records_opened();
        let again = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
        let read = |sid: Sid| log.next_seq(sid).unwrap();
        assert_eq!(log.records_opened() - opened, read(flow) + read(sids[1]) + read(sids[2]));
        assert_eq!(again.executions_held(), 1);
        assert_eq!(again.active_in_channel(channel(3)).and_then(|e| e.sid), Some(sids[2]));
        assert_eq!(again.latest_in_channel(channel(1)).and_then(|e| e.sid), Some(sids[0]));
        assert_eq!(again.executions_page(flow, all, 0, 10).unwrap().0.len(), 3);
        let deleted = again.execute(sids[0], ExecutionInput::Delete, Timestamp(6_000)).await;
        deleted.unwrap().unwrap();
        assert_eq!(page_of(&again, flow), [sids[2], sids[1]], "a deleted one is no longer listed");
    }

    fn page_of(studio: &StudioFlowDirectory, flow: Sid) -> Vec<Sid> {
        let (page, _) = studio.executions_page(flow, (None, None), 0, 10).unwrap();
        page.into_iter().map(|e| e.sid.unwrap()).collect()
    }

    #[actix_rt::test]
    async fn a_folder_written_before_the_listings_is_listed_once_at_its_first_start() {
        let temp = tempfile::tempdir().unwrap();
        let log = open(temp.path());
        // Written as a build without listings did: through the streams alone.
        let flows: Streams<StudioFlowState> = Streams::load(Arc::clone(&log)).unwrap();
        let flow = Sid::from_parts(SidPrefix::STUDIO_FLOW, [1; 16]);
        let create = StudioFlowCommand::Create {
            flow_sid: flow,
            friendly_name: "Menu".into(),
            status: FlowStatus::Published,
            definition: GREETING.into(),
            commit_message: None,
        };
        flows.durable(flows.execute(flow, vec![create], Timestamp(1))).await.unwrap().unwrap();
        let executions: Streams<ExecutionState> = Streams::load(Arc::clone(&log)).unwrap();
        let execution = Sid::from_parts(SidPrefix::STUDIO_EXECUTION, [2; 16]);
        let channel = Sid::from_parts(SidPrefix::CHANNEL, [3; 16]);
        let mut trigger = start().trigger;
        trigger["message"]["ChannelSid"] = json!(channel.to_string());
        let input = ExecutionInput::Start {
            execution_sid: execution,
            flow_sid: flow,
            revision: 1,
            trigger_event: "incomingMessage".into(),
            trigger,
            data: Value::Null,
            flow_address: "+15005550006".into(),
            limits: Limits::default(),
        };
        let definition = Arc::new(validate_json(GREETING).unwrap());
        let command = ExecutionCommand { definition, at: Timestamp(2), input };
        let written = executions.execute(execution, vec![command], Timestamp(2));
        executions.durable(written).await.unwrap().unwrap();
        drop((flows, executions));
        let studio = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
        assert_eq!(studio.active_in_channel(channel).and_then(|e| e.sid), Some(execution));
        assert_eq!(page_of(&studio, flow), [execution]);
        drop(studio);
        let opened = log.records_opened();
        let again = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
        let read = log.next_seq(flow).unwrap() + log.next_seq(execution).unwrap();
        assert_eq!(log.records_opened() - opened, read, "listed once: read as an open one");
        assert_eq!(page_of(&again, flow), [execution]);
    }

    #[actix_rt::test]
    async fn revisions_past_the_bytes_kept_are_refused_before_anything_is_written() {
        let temp = tempfile::tempdir().unwrap();
        let log = open(temp.path());
        let studio = StudioFlowDirectory::load(Arc::clone(&log)).unwrap();
        let at = Timestamp(1);
        let created = studio.create("Big".into(), FlowStatus::Draft, GREETING.into(), None, at);
        let flow = created.await.unwrap().unwrap().sid.unwrap();
        // Each revision below changes the description, so each is a new one of about 1 MB.
        let padding = "x".repeat(1_000_000);
        let definition =
            |n: usize| GREETING.replace("Greeting and menu", &format!("v{n} {padding}"));
        let mut made = 1;
        let refused = loop {
            let update = StudioFlowCommand::Update {
                friendly_name: None,
                status: None,
                definition: Some(definition(made)),
                commit_message: None,
            };
            match studio.update(flow, update, at).await.unwrap() {
                Ok(_) => made += 1,
                Err(rejection) => break rejection,
            }
            assert!(made < 100, "the limit holds");
        };
        assert!(refused.to_string().contains("make a new flow"), "{refused}");
        let state = studio.get(flow).unwrap();
        let kept: usize = state.revisions.iter().map(|r| r.definition.len()).sum();
        assert!(kept <= MAX_REVISION_BYTES, "{kept}");
        assert!(kept + definition(made).len() > MAX_REVISION_BYTES, "refused only when full");
        assert_eq!(log.next_seq(flow).unwrap(), made as u64, "nothing written for the refusal");
    }
}
