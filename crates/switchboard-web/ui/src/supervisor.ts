// The supervisor view: the workspace's queues (waiting tasks, the oldest wait), its agents
// (activity, load against capacity, time in activity) and its live conversations, polled from
// /console/supervisor every few seconds (these aggregates have no WebSocket event of their own);
// a conversation watched read-only (/console/monitor/…: the server records each opening, joins
// no channel; this view has no composer); moving a task to a queue or an agent (/console/moves).
// Bodies are only ever rendered as text.

import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getJson, HISTORY_PAGE, reason, send } from "./http";
import { STRINGS } from "./strings";

/** How often the view asks again. */
const POLL_MS = 2000;

interface QueueLoad {
  sid: string;
  friendly_name: string;
  waiting: number;
  oldest_wait_secs: number;
}
interface AgentLoad {
  sid: string;
  friendly_name: string;
  activity: string | null;
  available: boolean;
  in_activity_secs: number;
  tasks: number;
  capacity: number;
}
interface Live {
  task_sid: string;
  channel_sid: string;
  status: string;
  customer: string | null;
  queue_sid: string | null;
  agent: string | null;
  age_secs: number;
}
interface Overview {
  queues: QueueLoad[];
  agents: AgentLoad[];
  conversations: Live[];
}
interface Message {
  index: number;
  from: string;
  body: string;
  date_created: string;
}
interface Watched {
  channel: string;
  title: string;
  messages: Message[];
  page: number;
  hasMore: boolean;
}

export function duration(secs: number): string {
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${secs % 60}s`;
  return `${Math.floor(secs / 3600)}h ${Math.floor((secs % 3600) / 60)}m`;
}

function Table(props: { id: string; caption: string; head: string[]; rows: any[][]; empty: string }) {
  if (props.rows.length === 0) return h("p", { id: props.id, class: "muted" }, props.empty);
  return h("div", { class: "scroll" }, h("table", { id: props.id }, [
    h("caption", null, props.caption),
    h("thead", null, h("tr", null, props.head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", null, props.rows.map((r) => h("tr", null, r.map((c) => h("td", null, c))))),
  ]));
}

function MoveForm(props: { live: Live; overview: Overview; csrf: string; done: (note: string) => void }) {
  const targets = [...props.overview.queues, ...props.overview.agents];
  const [to, setTo] = useState(targets[0]?.sid ?? "");
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await send("POST", "/console/moves", props.csrf, undefined, { TaskSid: props.live.task_sid, To: to });
      props.done(STRINGS.moved);
    } catch (error) {
      props.done(STRINGS.refused(reason(error)));
    }
  };
  const id = `move-to-${props.live.task_sid}`;
  return h("form", { class: "inline", onSubmit: submit }, [
    h("label", { for: id, class: "visually-hidden" }, STRINGS.moveTo),
    h("select", { id, value: to, onChange: (e: Event) => setTo((e.target as HTMLSelectElement).value) }, [
      h("optgroup", { label: STRINGS.queues }, props.overview.queues.map((q) => h("option", { value: q.sid }, q.friendly_name))),
      h("optgroup", { label: STRINGS.agents }, props.overview.agents.map((a) => h("option", { value: a.sid }, a.friendly_name))),
    ]),
    h("button", { type: "submit", class: "secondary" }, STRINGS.move),
  ]);
}

function WatchPanel(props: { watched: Watched; more: () => void; close: () => void }) {
  const sorted = [...props.watched.messages].sort((a, b) => a.index - b.index);
  return h("section", { id: "watch", class: "panel", "aria-labelledby": "watch-title" }, [
    h("div", { class: "line" }, [
      h("h2", { id: "watch-title" }, STRINGS.watching(props.watched.title)),
      h("button", { type: "button", class: "secondary", onClick: props.close }, STRINGS.close),
    ]),
    h("p", { class: "muted", role: "note" }, STRINGS.readOnly),
    props.watched.hasMore
      ? h("button", { type: "button", class: "secondary", id: "watch-earlier", onClick: props.more }, STRINGS.earlier)
      : h("p", { class: "muted" }, STRINGS.noEarlier),
    h("ol", { class: "messages", id: "watch-messages", "aria-label": STRINGS.history }, sorted.map((m) =>
      h("li", { class: "msg" }, [h("span", { class: "author" }, m.from), h("p", { class: "body" }, m.body)]),
    )),
  ]);
}

export function SupervisorView(props: { csrf: string }) {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [note, setNote] = useState("");
  const [watched, setWatched] = useState<Watched | null>(null);
  const [moving, setMoving] = useState("");
  useEffect(() => {
    let live = true;
    const poll = () => getJson<Overview>("/console/supervisor").then((o) => live && setOverview(o)).catch((e) => live && setNote(reason(e)));
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  const page = async (current: Watched) => {
    const path = `/console/monitor/${current.channel}/messages?PageSize=${HISTORY_PAGE}&Page=${current.page}`;
    const got = await getJson<{ messages: Message[]; has_more: boolean }>(path);
    setWatched({ ...current, messages: [...current.messages, ...got.messages], page: current.page + 1, hasMore: got.has_more });
  };
  const watch = async (live: Live) => {
    try {
      const detail = await getJson<{ friendly_name: string | null }>(`/console/monitor/${live.channel_sid}`);
      await page({ channel: live.channel_sid, title: detail.friendly_name ?? live.customer ?? live.channel_sid, messages: [], page: 0, hasMore: true });
    } catch (error) {
      setNote(STRINGS.refused(reason(error)));
    }
  };
  if (!overview) return h("p", { role: "status" }, note || STRINGS.loading);
  const queueName = (sid: string | null) => overview.queues.find((q) => q.sid === sid)?.friendly_name ?? "";
  const queues = overview.queues.map((q) => [q.friendly_name, h("span", { "data-queue": q.friendly_name }, String(q.waiting)), q.waiting ? duration(q.oldest_wait_secs) : STRINGS.nothing]);
  const agents = overview.agents.map((a) => [a.friendly_name, a.activity ?? STRINGS.nothing, `${a.tasks}/${a.capacity}`, duration(a.in_activity_secs)]);
  const conversations = overview.conversations.map((c) => [
    c.customer ?? c.channel_sid,
    c.status,
    c.agent ?? STRINGS.nothing,
    queueName(c.queue_sid),
    duration(c.age_secs),
    h("div", { class: "tools" }, [
      h("button", { type: "button", class: "secondary", "data-watch": c.channel_sid, onClick: () => watch(c) }, STRINGS.watch),
      moving === c.task_sid
        ? h(MoveForm, { live: c, overview, csrf: props.csrf, done: (n: string) => (setMoving(""), setNote(n)) })
        : h("button", { type: "button", class: "secondary", "data-move": c.task_sid, onClick: () => setMoving(c.task_sid) }, STRINGS.move),
    ]),
  ]);
  return h("div", { id: "supervisor", class: "stack" }, [
    h("p", { class: "notice-line", role: "status", "aria-live": "polite" }, note),
    h("section", { class: "panel", "aria-labelledby": "queues-title" }, [
      h("h2", { id: "queues-title" }, STRINGS.queues),
      h(Table, { id: "queue-table", caption: STRINGS.queuesCaption, head: [STRINGS.queue, STRINGS.waitingTasks, STRINGS.oldestWait], rows: queues, empty: STRINGS.nothing }),
    ]),
    h("section", { class: "panel", "aria-labelledby": "agents-title" }, [
      h("h2", { id: "agents-title" }, STRINGS.agents),
      h(Table, { id: "agent-table", caption: STRINGS.agentsCaption, head: [STRINGS.agent, STRINGS.activity, STRINGS.load, STRINGS.inActivity], rows: agents, empty: STRINGS.nothing }),
    ]),
    h("section", { class: "panel", "aria-labelledby": "live-title" }, [
      h("h2", { id: "live-title" }, STRINGS.liveConversations),
      h(Table, { id: "live-table", caption: STRINGS.liveCaption, head: [STRINGS.customer, STRINGS.status, STRINGS.agent, STRINGS.queue, STRINGS.age, STRINGS.actions], rows: conversations, empty: STRINGS.noLive }),
    ]),
    watched ? h(WatchPanel, { watched, more: () => page(watched), close: () => setWatched(null) }) : null,
  ]);
}
