// The agent view: availability, incoming reservations (accept, reject, time left), "my
// conversations" (badges, unread counts, waiting time) and the open conversation (history paged
// back from the newest, customer details and the task's attributes, reply, typing both ways,
// delivery failures with a retry, read receipts, wrap-up and complete). Live state comes from the
// WebSocket (link.ts): TaskRouter events for the worker, chat events for its channels; history
// and the workspace's activities from /console/agent and /console/conversations. Bodies are only
// ever rendered as text.

import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { HISTORY_PAGE } from "./http";
import { Frame, Link } from "./link";
import { STRINGS } from "./strings";

interface Activity {
  sid: string;
  friendly_name: string;
  available: boolean;
}
interface Target {
  sid: string;
  friendly_name: string;
  available: boolean | null;
}
interface AgentInfo {
  now_ms: number;
  queues: Target[];
  agents: Target[];
  activities: Activity[];
  reservation_timeouts: { workflow_sid: string; task_reservation_timeout: number }[];
}
interface Task {
  sid: string;
  attributes: string;
  assignment_status: string;
  workflow_sid: string | null;
  date_created: string;
}
interface Reservation {
  sid: string;
  reservation_status: string;
  date_created: string;
}
interface Work {
  task: Task;
  reservation?: Reservation;
  attrs: Record<string, any>;
}
interface Message {
  index: number;
  author: string;
  body: string;
  date: string;
  media?: { sid: string; filename?: string | null; content_type: string } | null;
  status?: string | null;
  error?: { code: string; message: string } | null;
  /** Of an earlier interaction of a long-lived channel (the server says, from its clock). */
  earlier?: boolean;
}
interface Member {
  sid?: string;
  identity: string;
  last_consumed_message_index: number | null;
}
interface Detail {
  sid: string;
  service_sid: string;
  friendly_name: string | null;
  attributes: Record<string, any>;
  customer_address: string | null;
  /** Whether a web customer has the chat open; `null` for other customers, or where the service
   * keeps no reachability. */
  customer_online: boolean | null;
  interaction_started: string | null;
  messages_count: number;
  members: Member[];
}
interface Conversation {
  channel: string;
  detail?: Detail;
  messages: Map<number, Message>;
  nextPage: number;
  hasMore: boolean;
  loading: boolean;
  unread: number;
  typingUntil: number;
  waitingSince?: number;
  customerHorizon: number;
  /** Whether the customer has the chat open, from the conversation and `user_updated` frames;
   * `null`: nothing is shown (not a web customer, or no reachability kept). */
  customerOnline: boolean | null;
}

const CLOSED = ["rejected", "timeout", "canceled", "rescinded", "completed"];

function parse(text: string): Record<string, any> {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

/** The badge of a task's `channelType`, as the daemon names channel types (Messenger's is
 * `facebook`, Flex's name); one it does not know is Custom. */
export function badge(kind: string | undefined): string {
  // Own keys only: a `channelType` such as "toString" is no badge.
  const known = kind !== undefined && Object.prototype.hasOwnProperty.call(STRINGS.badges, kind);
  return known ? STRINGS.badges[kind] : STRINGS.badges.custom;
}

function since(ms: number, now: number): string {
  const seconds = Math.max(0, Math.floor((now - ms) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

/** The agent's live state, changed by frames and actions; the view re-renders on `changed`. */
class Desk {
  works = new Map<string, Work>();
  conversations = new Map<string, Conversation>();
  activitySid = "";
  online = false;
  problem = "";
  notice = "";
  info?: AgentInfo;
  skew = 0;
  link: Link;

  constructor(
    public identity: string,
    private csrf: string,
    private changed: () => void,
  ) {
    this.link = new Link(
      (frame) => this.frame(frame),
      (online) => {
        // Back after a drop: what changed meanwhile, reachability turned off included.
        if (online && !this.online) this.conversations.forEach((c) => c.detail && this.refreshPresence(c.channel));
        this.online = online;
        this.changed();
      },
    );
  }

  async start(): Promise<void> {
    await this.refresh();
    await this.link.open();
  }

  /** The workspace's activities, queues and agents (their availability changes). */
  async refresh(): Promise<void> {
    const answer = await fetch("/console/agent", { credentials: "same-origin" });
    if (answer.ok) {
      this.info = (await answer.json()) as AgentInfo;
      this.skew = this.info.now_ms - Date.now();
    }
    this.changed();
  }

  /** Flex's transfer (a new task for the target); cold also wraps the agent's task up. */
  async transfer(work: Work, to: string, mode: string): Promise<boolean> {
    this.problem = "";
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": this.csrf };
    const body = JSON.stringify({ TaskSid: work.task.sid, To: to, Mode: mode });
    const answer = await fetch("/console/transfers", { method: "POST", credentials: "same-origin", headers, body });
    if (!answer.ok) {
      const refusal = (await answer.json().catch(() => ({}))) as { message?: string };
      this.problem = STRINGS.refused(refusal.message || STRINGS.failed);
    } else {
      this.notice = STRINGS.transferred;
    }
    this.changed();
    return answer.ok;
  }

  now(): number {
    return Date.now() + this.skew;
  }

  pending(): Work[] {
    return [...this.works.values()].filter((w) => w.reservation?.reservation_status === "pending");
  }

  mine(): Work[] {
    return [...this.works.values()].filter(
      (w) => ["accepted", "wrapping"].includes(w.reservation?.reservation_status || "") && w.attrs.channelSid,
    );
  }

  timeLeft(work: Work): number {
    const timeout = this.info?.reservation_timeouts.find((t) => t.workflow_sid === work.task.workflow_sid);
    const seconds = timeout ? timeout.task_reservation_timeout : 120;
    const created = Date.parse(work.reservation?.date_created || work.task.date_created);
    return Math.max(0, Math.round((created + seconds * 1000 - this.now()) / 1000));
  }

  private frame(frame: Frame): void {
    if (frame.type === "ready" && frame.worker) this.activitySid = frame.worker.activity_sid || "";
    else if (frame.type === "taskrouter_event") this.taskRouter(frame);
    else if (frame.type === "message_added") this.added(frame);
    else if (frame.type === "delivery_status_changed") this.delivery(frame);
    else if (frame.type === "typing") this.typing(frame);
    else if (frame.type === "read_horizon_updated") this.horizon(frame);
    else if (frame.type === "attributes_updated") this.attributes(frame);
    else if (frame.type === "channel_deactivated") this.status(frame.channel_sid, "INACTIVE");
    else if (frame.type === "channel_reactivated") this.status(frame.channel_sid, "ACTIVE");
    else if (frame.type === "user_updated") this.reachability(frame);
    this.changed();
  }

  private taskRouter(frame: Frame): void {
    if (frame.worker) this.activitySid = frame.worker.activity_sid || "";
    const task = frame.task as Task | undefined;
    if (!task) return;
    const work = this.works.get(task.sid) || { task, attrs: {} };
    work.task = task;
    work.attrs = parse(task.attributes);
    if (frame.reservation) work.reservation = frame.reservation as Reservation;
    const ended = CLOSED.includes(work.reservation?.reservation_status || "") || ["canceled", "completed"].includes(task.assignment_status);
    if (ended) {
      this.works.delete(task.sid);
      const channel = work.attrs.channelSid as string | undefined;
      // Another task of the agent's may hold the same channel (a transfer came back to them).
      if (channel && !this.mine().some((w) => w.attrs.channelSid === channel)) {
        this.conversations.delete(channel);
        delete this.link.channelSeqs[channel];
      }
      return;
    }
    this.works.set(task.sid, work);
    const channel = work.attrs.channelSid as string | undefined;
    const accepted = ["accepted", "wrapping"].includes(work.reservation?.reservation_status || "");
    if (channel && accepted && !this.conversations.has(channel)) {
      this.conversations.set(channel, {
        channel,
        messages: new Map(),
        nextPage: 0,
        hasMore: true,
        loading: false,
        unread: 0,
        typingUntil: 0,
        waitingSince: Date.parse(task.date_created),
        customerHorizon: -1,
        customerOnline: null,
      });
      this.loadDetail(channel, 0);
    }
  }

  /** The conversation's channel and customer; the agent joins just after accepting, so a 404
   * right then is retried. */
  async loadDetail(channel: string, attempt: number): Promise<void> {
    const answer = await fetch(`/console/conversations/${channel}`, { credentials: "same-origin" });
    const conversation = this.conversations.get(channel);
    if (!conversation) return;
    if (!answer.ok) {
      if (attempt < 20) window.setTimeout(() => this.loadDetail(channel, attempt + 1), 250);
      return;
    }
    const detail = (await answer.json()) as Detail;
    conversation.detail = detail;
    const me = detail.members.find((m) => m.identity === this.identity);
    const horizon = me?.last_consumed_message_index ?? -1;
    conversation.unread = Math.max(conversation.unread, detail.messages_count - 1 - horizon);
    const customer = detail.members.find((m) => m.identity === detail.customer_address);
    conversation.customerHorizon = customer?.last_consumed_message_index ?? -1;
    conversation.customerOnline = detail.customer_online;
    await this.loadPage(channel);
  }

  /** The customer's reachability as the conversation says it now. */
  private async refreshPresence(channel: string): Promise<void> {
    const answer = await fetch(`/console/conversations/${channel}`, { credentials: "same-origin" });
    const conversation = this.conversations.get(channel);
    if (!answer.ok || !conversation) return;
    conversation.customerOnline = ((await answer.json()) as Detail).customer_online;
    this.changed();
  }

  /** The next page back of the history (page 0 is the newest). */
  async loadPage(channel: string): Promise<void> {
    const conversation = this.conversations.get(channel);
    if (!conversation || conversation.loading || !conversation.hasMore) return;
    conversation.loading = true;
    this.changed();
    const path = `/console/conversations/${channel}/messages?PageSize=${HISTORY_PAGE}&Page=${conversation.nextPage}`;
    try {
      const answer = await fetch(path, { credentials: "same-origin" });
      if (answer.ok) {
        const page = (await answer.json()) as { messages: any[]; has_more: boolean; earlier_interactions: number[] };
        for (const m of page.messages) {
          if (conversation.messages.has(m.index)) continue;
          conversation.messages.set(m.index, {
            index: m.index,
            author: m.from,
            body: m.body,
            date: m.date_created,
            media: m.media,
            status: m.delivery_status,
            error: m.delivery_error,
            earlier: page.earlier_interactions.includes(m.index),
          });
        }
        if (conversation.nextPage === 0) this.settleWaiting(conversation);
        conversation.nextPage += 1;
        conversation.hasMore = page.has_more;
      }
    } finally {
      conversation.loading = false;
      this.changed();
    }
  }

  /** Waiting since the oldest customer message after the agent's last one (none: not waiting). */
  private settleWaiting(conversation: Conversation): void {
    const sorted = [...conversation.messages.values()].sort((a, b) => a.index - b.index);
    let since: number | undefined;
    for (const m of sorted) {
      if (m.author === this.identity) since = undefined;
      else if (since === undefined) since = Date.parse(m.date);
    }
    conversation.waitingSince = since;
  }

  private added(frame: Frame): void {
    const conversation = this.conversations.get(frame.channel_sid);
    if (!conversation) return;
    conversation.messages.set(frame.index, {
      index: frame.index,
      author: frame.author,
      body: frame.body,
      date: frame.timestamp,
      media: frame.media,
    });
    if (frame.author === this.identity) {
      conversation.waitingSince = undefined;
    } else {
      conversation.typingUntil = 0;
      if (conversation.waitingSince === undefined) conversation.waitingSince = Date.parse(frame.timestamp);
      conversation.unread += 1;
    }
  }

  private delivery(frame: Frame): void {
    const message = this.conversations.get(frame.channel_sid)?.messages.get(frame.index);
    if (!message) return;
    message.status = frame.status;
    message.error = frame.error;
  }

  private typing(frame: Frame): void {
    const conversation = this.conversations.get(frame.channel_sid);
    if (!conversation || frame.identity === this.identity) return;
    conversation.typingUntil = Date.now() + 5000;
    window.setTimeout(() => this.changed(), 5100);
  }

  private horizon(frame: Frame): void {
    const conversation = this.conversations.get(frame.channel_sid);
    const customer = conversation?.detail?.members.find((m) => m.identity === conversation.detail?.customer_address);
    if (!conversation || !customer || customer.sid !== frame.member_sid) return;
    conversation.customerHorizon = frame.last_consumed_index ?? -1;
  }

  /** A user's reachability changed: a web customer's, in the conversations where it is shown. */
  private reachability(frame: Frame): void {
    if (typeof frame.is_online !== "boolean") return;
    for (const conversation of this.conversations.values()) {
      const detail = conversation.detail;
      const theirs = detail && detail.customer_address === frame.identity && detail.service_sid === frame.service_sid;
      if (theirs && conversation.customerOnline !== null) conversation.customerOnline = frame.is_online;
    }
  }

  private attributes(frame: Frame): void {
    const detail = this.conversations.get(frame.channel_sid)?.detail;
    if (detail) detail.attributes = parse(frame.attributes);
  }

  /** The interaction ended (wrap-up) or began again: the channel's `status` attribute. */
  private status(channel: string, status: string): void {
    const detail = this.conversations.get(channel)?.detail;
    if (detail) detail.attributes = { ...detail.attributes, status };
  }

  /** Uploads `file` to the channel (the Media API, with the token as a bearer): its SID. */
  async upload(channel: string, file: File): Promise<string | undefined> {
    const service = this.conversations.get(channel)?.detail?.service_sid;
    if (!service) return undefined;
    const query = `ChannelSid=${channel}&Filename=${encodeURIComponent(file.name)}`;
    try {
      const headers = { Authorization: "Bearer " + (await this.link.token()), "Content-Type": file.type || "application/octet-stream" };
      const answer = await fetch(`/chat/v2/Services/${service}/Media?${query}`, { method: "POST", headers, body: file });
      const made = (await answer.json()) as { sid?: string; message?: string };
      if (answer.ok && made.sid) return made.sid;
      this.problem = STRINGS.refused(made.message || STRINGS.uploadFailed);
    } catch {
      this.problem = STRINGS.uploadFailed;
    }
    this.changed();
    return undefined;
  }

  /** A medium's bytes as a URL of this page (a blob), fetched with the token. */
  async mediaUrl(channel: string, media: string): Promise<string | undefined> {
    const service = this.conversations.get(channel)?.detail?.service_sid;
    if (!service) return undefined;
    const headers = { Authorization: "Bearer " + (await this.link.token()) };
    const answer = await fetch(`/chat/v2/Services/${service}/Media/${media}/Content`, { headers });
    if (!answer.ok) return undefined;
    return URL.createObjectURL(await answer.blob());
  }

  /** The agent has seen everything in `channel`. */
  read(channel: string): void {
    const conversation = this.conversations.get(channel);
    if (!conversation || conversation.unread === 0 || conversation.messages.size === 0) return;
    const last = Math.max(...conversation.messages.keys());
    conversation.unread = 0;
    this.link.send({ type: "consumed", channel_sid: channel, index: last });
  }

  async act(frame: Frame): Promise<Frame | undefined> {
    this.problem = "";
    this.notice = "";
    try {
      return await this.link.request(frame);
    } catch (error) {
      this.problem = STRINGS.refused(String((error as Frame).message || STRINGS.failed));
      this.changed();
      return undefined;
    }
  }

  answer(work: Work, status: string): Promise<Frame | undefined> {
    const reservation = work.reservation;
    if (!reservation) return Promise.resolve(undefined);
    return this.act({ type: "reservation_update", task_sid: work.task.sid, reservation_sid: reservation.sid, status });
  }

  async setActivity(sid: string): Promise<void> {
    const ack = await this.act({ type: "worker_update", activity_sid: sid });
    if (ack?.worker) this.activitySid = ack.worker.activity_sid;
    this.changed();
  }
}

function Incoming(props: { desk: Desk }) {
  const { desk } = props;
  const pending = desk.pending();
  return h("section", { "aria-labelledby": "incoming-title", class: "panel" }, [
    h("h2", { id: "incoming-title" }, STRINGS.incoming),
    pending.length === 0
      ? h("p", { class: "muted" }, STRINGS.noIncoming)
      : h(
          "ul",
          { class: "list", id: "incoming" },
          pending.map((work) =>
            h("li", { key: work.task.sid, class: "offer" }, [
              h("div", { class: "line" }, [
                h("span", { class: "name" }, String(work.attrs.name || work.attrs.from || work.task.sid)),
                h("span", { class: `badge ${work.attrs.channelType || "custom"}` }, badge(work.attrs.channelType)),
              ]),
              h("div", { class: "muted time-left" }, STRINGS.timeLeft(desk.timeLeft(work))),
              h("div", { class: "tools" }, [
                h("button", { type: "button", class: "accept", "aria-keyshortcuts": "Alt+A", onClick: () => desk.answer(work, "accepted") }, STRINGS.accept),
                h("button", { type: "button", class: "secondary reject", "aria-keyshortcuts": "Alt+X", onClick: () => desk.answer(work, "rejected") }, STRINGS.reject),
              ]),
            ]),
          ),
        ),
  ]);
}

function Conversations(props: { desk: Desk; open: string; choose: (channel: string) => void }) {
  const { desk } = props;
  const mine = desk.mine();
  const now = desk.now();
  return h("nav", { "aria-labelledby": "mine-title", class: "panel" }, [
    h("h2", { id: "mine-title" }, STRINGS.myConversations),
    mine.length === 0
      ? h("p", { class: "muted" }, STRINGS.noConversations)
      : h(
          "ul",
          { class: "list", id: "conversations" },
          mine.map((work, at) => {
            const channel = work.attrs.channelSid as string;
            const conversation = desk.conversations.get(channel);
            const name = conversation?.detail?.friendly_name || work.attrs.name || work.attrs.from || channel;
            return h("li", { key: channel }, [
              h(
                "button",
                {
                  type: "button",
                  class: "conversation" + (props.open === channel ? " open" : ""),
                  "aria-current": props.open === channel ? "true" : undefined,
                  "aria-keyshortcuts": at < 9 ? `Alt+${at + 1}` : undefined,
                  "data-channel": channel,
                  onClick: () => props.choose(channel),
                },
                [
                  h("span", { class: "line" }, [
                    h("span", { class: "name" }, String(name)),
                    h("span", { class: `badge ${work.attrs.channelType || "custom"}` }, badge(work.attrs.channelType)),
                  ]),
                  h("span", { class: "line muted" }, [
                    conversation && conversation.customerOnline !== null ? Presence({ online: conversation.customerOnline }) : null,
                    conversation && conversation.unread > 0 ? h("span", { class: "unread" }, STRINGS.unread(conversation.unread)) : null,
                    conversation?.waitingSince !== undefined ? h("span", { class: "waiting" }, STRINGS.waiting(since(conversation.waitingSince, now))) : null,
                    work.reservation?.reservation_status === "wrapping" ? h("span", { class: "wrapping" }, STRINGS.wrappingUp) : null,
                  ]),
                ],
              ),
            ]);
          }),
        ),
  ]);
}

/** A web customer's chat open or not, in words (the dot only repeats them). */
function Presence(props: { online: boolean }) {
  return h("span", { class: "presence " + (props.online ? "online" : "away") }, props.online ? STRINGS.customerOnline : STRINGS.customerOffline);
}

const INLINE = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** An attachment: named, opened on request (its bytes need the token); images shown inline,
 * anything else saved as a download. */
function Attachment(props: { desk: Desk; channel: string; media: NonNullable<Message["media"]> }) {
  const { desk, channel, media } = props;
  const [url, setUrl] = useState("");
  const name = media.filename || media.content_type;
  const open = async () => {
    const made = await desk.mediaUrl(channel, media.sid);
    if (!made) return;
    if (INLINE.includes(media.content_type)) return setUrl(made);
    const link = document.createElement("a");
    link.href = made;
    link.download = name;
    link.click();
  };
  if (url) return h("img", { class: "media", src: url, alt: STRINGS.media(name) });
  return h("button", { type: "button", class: "secondary media", onClick: open }, STRINGS.showMedia(name));
}

/** The messages, those of earlier interactions of a long-lived channel (before its last
 * reactivation, as the server marks them) marked, with a divider where the current one begins. */
function bubbles(desk: Desk, conversation: Conversation, sorted: Message[]) {
  const started = conversation.detail?.interaction_started;
  const earlier = (m: Message) => Boolean(m.earlier);
  const items = [];
  for (const [at, message] of sorted.entries()) {
    if (at > 0 && earlier(sorted[at - 1]) && !earlier(message)) {
      items.push(h("li", { key: "divider", class: "divider" }, STRINGS.thisInteraction(started ? new Date(started).toLocaleString() : "")));
    }
    items.push(h(Bubble, { key: message.index, desk, conversation, message, earlier: earlier(message) }));
  }
  return items;
}

function Bubble(props: { desk: Desk; conversation: Conversation; message: Message; earlier: boolean }) {
  const { desk, conversation, message } = props;
  const mine = message.author === desk.identity;
  const failed = message.status === "failed" || message.status === "undelivered";
  const status = message.status ? STRINGS.delivery[message.status] || message.status : "";
  const seen = mine && !failed && message.index <= conversation.customerHorizon;
  const kind = "msg " + (mine ? "mine" : "theirs") + (failed ? " failed" : "") + (props.earlier ? " earlier" : "");
  return h("li", { class: kind, "data-index": String(message.index) }, [
    h("span", { class: "author" }, [mine ? STRINGS.you : message.author, props.earlier ? ` · ${STRINGS.earlierInteraction}` : ""]),
    h("p", { class: "body" }, message.body),
    message.media ? h(Attachment, { desk, channel: conversation.channel, media: message.media }) : null,
    mine && (status || seen)
      ? h("span", { class: "status" }, [
          seen ? STRINGS.seen : failed && message.error ? STRINGS.deliveryError(message.error.code, message.error.message) : status,
        ])
      : null,
    failed
      ? h("button", { type: "button", class: "secondary retry", onClick: () => desk.act({ type: "message", channel_sid: conversation.channel, body: message.body }) }, STRINGS.retry)
      : null,
  ]);
}

function Details(props: { conversation: Conversation; work?: Work }) {
  const detail = props.conversation.detail;
  const online = props.conversation.customerOnline;
  const attributes = detail?.attributes || {};
  const pre = attributes.pre_engagement_data;
  const rows = (record: Record<string, any> | undefined) => {
    const entries = record && typeof record === "object" ? Object.entries(record) : [];
    if (entries.length === 0) return h("p", { class: "muted" }, STRINGS.nothing);
    return h(
      "dl",
      null,
      entries.flatMap(([key, value]) => [h("dt", { key: key + "k" }, key), h("dd", { key: key + "v" }, typeof value === "string" ? value : JSON.stringify(value))]),
    );
  };
  return h("aside", { class: "panel details", "aria-labelledby": "customer-title" }, [
    h("h2", { id: "customer-title" }, STRINGS.customer),
    h("dl", { id: "customer" }, [
      h("dt", null, STRINGS.customerName),
      h("dd", null, detail?.friendly_name || ""),
      h("dt", null, STRINGS.address),
      h("dd", null, detail?.customer_address || ""),
      h("dt", null, STRINGS.channel),
      h("dd", null, badge(attributes.channel_type)),
      h("dt", null, STRINGS.status),
      h("dd", { id: "channel-status" }, String(attributes.status || "")),
      ...(online === null ? [] : [h("dt", null, STRINGS.presence), h("dd", { id: "customer-presence", "aria-live": "polite" }, Presence({ online }))]),
    ]),
    h("h3", null, STRINGS.preEngagement),
    h("div", { id: "pre-engagement" }, rows(pre)),
    h("h3", null, STRINGS.taskAttributes),
    h("div", { id: "task-attributes" }, rows(props.work?.attrs)),
  ]);
}

function Composer(props: { desk: Desk; channel: string }) {
  const { desk, channel } = props;
  const [text, setText] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const lastTyping = useRef(0);
  const send = async () => {
    const body = text.trim();
    if (!body && !file) return;
    let frame: Frame = { type: "message", channel_sid: channel, body };
    if (file) {
      const media = await desk.upload(channel, file);
      if (!media) return;
      frame = { ...frame, media_sid: media };
    }
    setText("");
    setFile(null);
    if (picker.current) picker.current.value = "";
    const ack = await desk.act(frame);
    if (!ack) setText(body);
  };
  return h("form", { class: "composer", onSubmit: (e: Event) => (e.preventDefault(), send()) }, [
    h("div", { class: "compose" }, [
      h("label", { for: "reply", class: "visually-hidden" }, STRINGS.reply),
      h("textarea", {
        id: "reply",
        rows: 2,
        value: text,
        "aria-keyshortcuts": "Alt+R",
        onInput: (e: Event) => {
          setText((e.target as HTMLTextAreaElement).value);
          if (Date.now() - lastTyping.current > 3000) {
            lastTyping.current = Date.now();
            desk.link.send({ type: "typing", channel_sid: channel });
          }
        },
        onKeyDown: (e: KeyboardEvent) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            send();
          }
        },
      }),
      h("div", { class: "attach" }, [
        h("label", { for: "attach" }, STRINGS.attach),
        h("input", { id: "attach", type: "file", ref: picker, onChange: (e: Event) => setFile((e.target as HTMLInputElement).files?.[0] || null) }),
        file ? h("span", { class: "muted", id: "attached" }, STRINGS.attached(file.name)) : null,
      ]),
    ]),
    h("button", { type: "submit", id: "send" }, STRINGS.send),
  ]);
}

function TransferForm(props: { desk: Desk; work: Work; close: () => void }) {
  const { desk, work } = props;
  const info = desk.info;
  const [to, setTo] = useState("");
  const [mode, setMode] = useState("cold");
  const first = useRef<HTMLSelectElement>(null);
  useEffect(() => {
    desk.refresh();
    first.current?.focus();
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (to && (await desk.transfer(work, to, mode))) props.close();
  };
  const option = (t: Target) =>
    h("option", { key: t.sid, value: t.sid }, t.available ? STRINGS.availableAgent(t.friendly_name) : t.friendly_name);
  const radio = (value: string, label: string) =>
    h("label", { class: "choice" }, [
      h("input", { type: "radio", name: "mode", value, checked: mode === value, onChange: () => setMode(value) }),
      " ",
      label,
    ]);
  return h("form", { id: "transfer", class: "transfer", onSubmit: submit, "aria-labelledby": "transfer-title" }, [
    h("h3", { id: "transfer-title" }, STRINGS.transfer),
    h("label", { for: "transfer-to" }, STRINGS.transferTo),
    h("select", { id: "transfer-to", ref: first, value: to, required: true, onChange: (e: Event) => setTo((e.target as HTMLSelectElement).value) }, [
      h("option", { value: "" }, ""),
      h("optgroup", { label: STRINGS.agents }, (info?.agents || []).map(option)),
      h("optgroup", { label: STRINGS.queues }, (info?.queues || []).map(option)),
    ]),
    h("fieldset", null, [h("legend", null, STRINGS.mode), radio("cold", STRINGS.cold), radio("warm", STRINGS.warm)]),
    h("div", { class: "tools" }, [
      h("button", { type: "submit" }, STRINGS.transfer),
      h("button", { type: "button", class: "secondary", onClick: props.close }, STRINGS.cancel),
    ]),
  ]);
}

function Thread(props: { desk: Desk; channel: string; transferring: boolean; setTransferring: (on: boolean) => void }) {
  const { desk, channel } = props;
  const conversation = desk.conversations.get(channel);
  const log = useRef<HTMLDivElement>(null);
  const keep = useRef<{ height: number; top: number } | null>(null);
  const sorted = conversation ? [...conversation.messages.values()].sort((a, b) => a.index - b.index) : [];
  const newest = sorted.length ? sorted[sorted.length - 1].index : -1;
  useEffect(() => {
    const element = log.current;
    if (!element) return;
    if (keep.current) {
      // An earlier page came in above: the messages in view stay where they were.
      element.scrollTop = element.scrollHeight - keep.current.height + keep.current.top;
      keep.current = null;
    } else {
      element.scrollTop = element.scrollHeight;
    }
  }, [sorted.length && sorted[0].index, newest, channel]);
  useEffect(() => desk.read(channel), [newest, channel]);
  if (!conversation) return null;
  const work = desk.mine().find((w) => w.attrs.channelSid === channel);
  const earlier = () => {
    const element = log.current;
    if (element) keep.current = { height: element.scrollHeight, top: element.scrollTop };
    desk.loadPage(channel);
  };
  const wrapping = work?.reservation?.reservation_status === "wrapping";
  const typing = conversation.typingUntil > Date.now();
  const title = conversation.detail?.friendly_name || work?.attrs.name || channel;
  return h("div", { class: "thread-and-details" }, [
    h("section", { class: "panel thread", "aria-labelledby": "thread-title" }, [
      h("div", { class: "line" }, [
        h("h2", { id: "thread-title" }, String(title)),
        h("div", { class: "tools" }, [
          wrapping
            ? null
            : h("button", { type: "button", id: "transfer-open", class: "secondary", "aria-keyshortcuts": "Alt+T", "aria-expanded": props.transferring ? "true" : "false", onClick: () => props.setTransferring(!props.transferring) }, STRINGS.transfer),
          wrapping
            ? h("button", { type: "button", id: "complete", "aria-keyshortcuts": "Alt+C", onClick: () => work && desk.answer(work, "completed") }, STRINGS.complete)
            : h("button", { type: "button", id: "wrap-up", class: "secondary", "aria-keyshortcuts": "Alt+W", onClick: () => work && desk.answer(work, "wrapping") }, STRINGS.wrapUp),
        ]),
      ]),
      props.transferring && work && !wrapping ? h(TransferForm, { desk, work, close: () => props.setTransferring(false) }) : null,
      conversation.hasMore
        ? h("button", { type: "button", class: "secondary earlier", onClick: earlier, disabled: conversation.loading }, STRINGS.earlier)
        : h("p", { class: "muted start" }, STRINGS.noEarlier),
      h(
        "div",
        {
          id: "history",
          ref: log,
          role: "log",
          "aria-live": "polite",
          "aria-label": STRINGS.history,
          tabIndex: 0,
          onScroll: (e: Event) => {
            if ((e.target as HTMLElement).scrollTop < 40 && conversation.hasMore && !conversation.loading) earlier();
          },
        },
        h("ol", { class: "messages" }, bubbles(desk, conversation, sorted)),
      ),
      h("p", { class: "typing muted", "aria-live": "polite" }, typing ? STRINGS.typing(conversation.detail?.friendly_name || STRINGS.customer) : ""),
      wrapping ? null : h(Composer, { desk, channel }),
    ]),
    h(Details, { conversation, work }),
  ]);
}

/** The shortcuts: Alt+A accept the first offer, Alt+X reject it, Alt+W wrap up, Alt+C complete,
 * Alt+T transfer, Alt+1…9 open a conversation, Alt+R go to the reply. */
function shortcut(desk: Desk, open: string, choose: (channel: string) => void, transfer: () => void, e: KeyboardEvent): void {
  if (!e.altKey || e.ctrlKey || e.metaKey) return;
  const first = desk.pending()[0];
  const work = desk.mine().find((w) => w.attrs.channelSid === open);
  const key = e.key.toLowerCase();
  const digit = Number(e.code.startsWith("Digit") ? e.code.slice(5) : NaN);
  if (key === "a" && first) desk.answer(first, "accepted");
  else if (key === "x" && first) desk.answer(first, "rejected");
  else if (key === "w" && work) desk.answer(work, "wrapping");
  else if (key === "c" && work) desk.answer(work, "completed");
  else if (key === "r") document.getElementById("reply")?.focus();
  else if (key === "t" && work) transfer();
  else if (digit >= 1 && digit <= 9 && desk.mine()[digit - 1]) choose(desk.mine()[digit - 1].attrs.channelSid);
  else return;
  e.preventDefault();
}

export function AgentView(props: { identity: string; csrf: string }) {
  const [, setTick] = useState(0);
  const [open, setOpen] = useState("");
  const [transferring, setTransferring] = useState(false);
  const desk = useRef<Desk | null>(null);
  if (!desk.current) desk.current = new Desk(props.identity, props.csrf, () => setTick((n) => n + 1));
  const d = desk.current;
  useEffect(() => {
    d.start();
    // Time left and waiting times move on by themselves.
    const clock = window.setInterval(() => setTick((n) => n + 1), 1000);
    return () => {
      window.clearInterval(clock);
      d.link.stop();
    };
  }, []);
  useEffect(() => {
    const listener = (e: KeyboardEvent) => shortcut(d, open, choose, () => setTransferring(true), e);
    document.addEventListener("keydown", listener);
    return () => document.removeEventListener("keydown", listener);
  }, [open]);
  const shown = open && d.conversations.has(open) ? open : "";
  const choose = (channel: string) => {
    setTransferring(false);
    setOpen(channel);
  };
  return h("div", { class: "agent" }, [
    h("div", { class: "bar" }, [
      h("label", { for: "activity" }, STRINGS.availability),
      h(
        "select",
        { id: "activity", value: d.activitySid, disabled: !d.online, onChange: (e: Event) => d.setActivity((e.target as HTMLSelectElement).value) },
        (d.info?.activities || []).map((a) => h("option", { key: a.sid, value: a.sid }, a.friendly_name)),
      ),
      h("span", { class: "muted", role: "status", id: "connection" }, d.online ? "" : d.info ? STRINGS.offline : STRINGS.connecting),
      h("p", { class: "error", role: "alert" }, d.problem),
      h("p", { class: "notice-line", role: "status" }, d.notice),
    ]),
    h("div", { class: "desk" }, [
      h("div", { class: "side" }, [h(Incoming, { desk: d }), h(Conversations, { desk: d, open: shown, choose })]),
      shown ? h(Thread, { desk: d, channel: shown, transferring, setTransferring }) : h("p", { class: "panel muted pick" }, STRINGS.pickConversation),
    ]),
    h("p", { class: "muted shortcuts" }, STRINGS.shortcuts),
  ]);
}
