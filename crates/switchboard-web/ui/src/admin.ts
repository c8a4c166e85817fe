// The admin view: Chat services; Flex flows (create, edit, delete, enable, long-lived, janitor,
// a web flow's widget settings with a "try it" link); TaskRouter workspaces, queues and workflows (expressions
// checked as they are typed, by /console/expressions, TaskRouter's own parsers); people and
// roles; API keys (made with the secret shown once, revoked); audit (a channel's events, the
// integrity check); the daemon's health. It calls the REST
// routes themselves: a signed-in admin's session stands for the account there, with the CSRF
// token on every change. Text from the server is only ever rendered as text.

import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Fields, getJson, getText, reason, send } from "./http";
import { STRINGS } from "./strings";

type Section = "services" | "flows" | "routing" | "keys" | "people" | "audit" | "health";
const SECTIONS: Section[] = ["services", "flows", "routing", "keys", "people", "audit", "health"];

interface Props {
  csrf: string;
  say: (text: string) => void;
}

/** Runs a change; says what came of it. */
async function change(props: Props, method: string, path: string, fields: Fields, done: string): Promise<any> {
  try {
    const made = await send<any>(method, path, props.csrf, fields);
    props.say(done);
    return made;
  } catch (error) {
    props.say(STRINGS.refused(reason(error)));
    return null;
  }
}

/** A list fetched from `path` (under `key`), fetched again whenever `version` moves. */
function useList<T>(path: string | null, key: string, version: number): T[] {
  const [items, setItems] = useState<T[]>([]);
  useEffect(() => {
    if (path) getJson<Record<string, T[]>>(path).then((got) => setItems(got[key] ?? [])).catch(() => setItems([]));
  }, [path, version]);
  return items;
}

function Input(props: { id: string; label: string; value: string; set: (v: string) => void; invalid?: boolean; described?: string; area?: boolean }) {
  return h("div", { class: "row" }, [
    h("label", { for: props.id }, props.label),
    h(props.area ? "textarea" : "input", {
      id: props.id,
      value: props.value,
      rows: props.area ? 5 : undefined,
      "aria-invalid": props.invalid ? "true" : undefined,
      "aria-describedby": props.described,
      onInput: (e: Event) => props.set((e.target as HTMLInputElement).value),
    }),
  ]);
}

function Choice(props: { id: string; label: string; value: string; set: (v: string) => void; options: [string, string][] }) {
  return h("div", { class: "row" }, [
    h("label", { for: props.id }, props.label),
    h("select", { id: props.id, value: props.value, onChange: (e: Event) => props.set((e.target as HTMLSelectElement).value) },
      props.options.map(([value, text]) => h("option", { value }, text))),
  ]);
}

function Services(props: Props) {
  const [version, bump] = useState(0);
  const services = useList<any>("/chat/v2/Services", "services", version);
  const [name, setName] = useState("");
  const create = async (e: Event) => {
    e.preventDefault();
    if (await change(props, "POST", "/chat/v2/Services", { FriendlyName: name }, STRINGS.created)) bump(version + 1);
  };
  return h("div", null, [
    h("ul", { class: "list", id: "service-list" }, services.map((s) => h("li", null, [h("span", { class: "name" }, s.friendly_name), " ", h("code", null, s.sid)]))),
    h("form", { onSubmit: create, "aria-label": STRINGS.newService }, [h(Input, { id: "service-name", label: STRINGS.friendlyName, value: name, set: setName }), h("button", { type: "submit" }, STRINGS.create)]),
  ]);
}

function FlowRow(props: Props & { flow: any; changed: () => void; services: any[]; workflows: any[] }) {
  const { flow } = props;
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const toggle = (field: string, on: boolean) =>
    change(props, "POST", `/flex/v1/FlexFlows/${flow.sid}`, { [field]: String(on) }, STRINGS.saved).then(props.changed);
  const box = (field: string, label: string, on: boolean) =>
    h("label", { class: "check" }, [h("input", { type: "checkbox", checked: on, "data-flow-field": field, onChange: () => toggle(field, !on) }), " ", label]);
  const remove = async () => {
    // A deletion answers 204 with no body: only null is a refusal.
    if ((await change(props, "DELETE", `/flex/v1/FlexFlows/${flow.sid}`, {}, STRINGS.deleted)) !== null) props.changed();
    else setDeleting(false);
  };
  return h("li", { class: "offer", "data-flow": flow.friendly_name }, [
    h("div", { class: "line" }, [h("span", { class: "name" }, flow.friendly_name), h("span", { class: "badge" }, flow.channel_type), h("code", null, flow.sid)]),
    h("div", { class: "tools" }, [
      box("Enabled", STRINGS.enabled, flow.enabled),
      box("LongLived", STRINGS.longLived, flow.long_lived),
      box("JanitorEnabled", STRINGS.janitor, flow.janitor_enabled),
      h("button", { type: "button", class: "secondary edit", "aria-expanded": editing ? "true" : "false", onClick: () => setEditing(!editing) }, STRINGS.edit),
      deleting
        ? h("button", { type: "button", class: "danger confirm-delete", onClick: remove }, STRINGS.reallyDelete(flow.friendly_name))
        : h("button", { type: "button", class: "secondary delete", onClick: () => setDeleting(true) }, STRINGS.delete),
    ]),
    editing ? h(FlowEditor, { ...props, done: () => (setEditing(false), props.changed()) }) : null,
    flow.channel_type === "web" ? h(WidgetSettings, { ...props }) : null,
  ]);
}

/** A flow's own fields: its name, contact identity, Chat service and workflow. */
function FlowEditor(props: Props & { flow: any; done: () => void; services: any[]; workflows: any[] }) {
  const { flow } = props;
  const [form, setForm] = useState({
    name: flow.friendly_name ?? "",
    contact: flow.contact_identity ?? "",
    service: flow.chat_service_sid ?? "",
    workflow: flow.integration?.workflow_sid ?? "",
  });
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  const id = (field: string) => `flow-${field}-${flow.sid}`;
  const save = async (e: Event) => {
    e.preventDefault();
    const workflow = props.workflows.find((w) => w.sid === form.workflow);
    const fields: Fields = {
      FriendlyName: form.name,
      ContactIdentity: flow.channel_type === "web" ? undefined : form.contact,
      ChatServiceSid: form.service || undefined,
      "Integration.WorkspaceSid": workflow ? workflow.workspace_sid : undefined,
      "Integration.WorkflowSid": workflow ? workflow.sid : undefined,
    };
    if (await change(props, "POST", `/flex/v1/FlexFlows/${flow.sid}`, fields, STRINGS.saved)) props.done();
  };
  return h("form", { onSubmit: save, "aria-label": STRINGS.editFlow(flow.friendly_name), class: "grid-form flow-editor" }, [
    h(Input, { id: id("name"), label: STRINGS.friendlyName, value: form.name, set: set("name") }),
    flow.channel_type === "web" ? null : h(Input, { id: id("contact"), label: STRINGS.contactIdentity, value: form.contact, set: set("contact") }),
    h(Choice, { id: id("service"), label: STRINGS.chatService, value: form.service, set: set("service"), options: props.services.map((s): [string, string] => [s.sid, s.friendly_name]) }),
    h(Choice, { id: id("workflow"), label: STRINGS.workflow, value: form.workflow, set: set("workflow"), options: [["", STRINGS.unchanged], ...props.workflows.map((w): [string, string] => [w.sid, w.friendly_name])] }),
    h("button", { type: "submit" }, STRINGS.save),
  ]);
}

/** The lines of `text`, trimmed, empty ones left out. */
function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** `text` as JSON, or the reason it is not. */
function parsed(text: string): { value?: unknown; fault?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { fault: reason(error) };
  }
}

function WidgetSettings(props: Props & { flow: any }) {
  const [settings, setSettings] = useState<any>(null);
  const [form, setForm] = useState({ greeting: "", origins: "", color: "", position: "", fields: "", strings: "", secret: "" });
  const show = (s: any) => {
    setSettings(s);
    setForm({
      greeting: s.greeting ?? "",
      origins: (s.allowed_origins ?? []).join("\n"),
      color: s.theme?.color ?? "",
      position: s.theme?.position ?? "",
      fields: JSON.stringify(s.fields ?? [], null, 1),
      strings: JSON.stringify(s.strings ?? {}, null, 1),
      secret: "",
    });
  };
  useEffect(() => {
    getJson<any>(`/webchat/v1/Flows/${props.flow.sid}`).then(show).catch(() => setSettings(null));
  }, [props.flow.sid]);
  if (!settings) return null;
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  const id = (field: string) => `${field}-${props.flow.sid}`;
  const fieldsFault = parsed(form.fields).fault ?? "";
  const stringsFault = parsed(form.strings).fault ?? "";
  const save = async (e: Event) => {
    e.preventDefault();
    // The theme's other keys (font, radius) are kept as they are.
    const theme = { ...settings.theme, color: form.color || undefined, position: form.position || undefined };
    const origins = lines(form.origins);
    const saved = await change(props, "POST", `/webchat/v1/Flows/${props.flow.sid}`, {
      Greeting: form.greeting,
      AllowedOrigins: origins.length ? origins : [""],
      Theme: JSON.stringify(theme),
      Fields: form.fields,
      Strings: form.strings,
      IdentitySecret: form.secret || undefined,
    }, STRINGS.saved);
    if (saved) show(saved);
  };
  return h("details", { class: "widget-settings" }, [
    h("summary", null, STRINGS.widgetSettings),
    h("form", { onSubmit: save, "aria-label": STRINGS.widgetSettings }, [
      h(Input, { id: id("greeting"), label: STRINGS.greeting, value: form.greeting, set: set("greeting") }),
      h(Input, { id: id("origins"), label: STRINGS.allowedOrigins, value: form.origins, set: set("origins"), area: true }),
      h(Input, { id: id("color"), label: STRINGS.themeColor, value: form.color, set: set("color") }),
      h(Choice, { id: id("position"), label: STRINGS.launcherPosition, value: form.position, set: set("position"), options: [["", STRINGS.unchanged], ["right", STRINGS.right], ["left", STRINGS.left]] }),
      h(Input, { id: id("fields"), label: STRINGS.preEngagementFields, value: form.fields, set: set("fields"), area: true, invalid: !!fieldsFault, described: id("fields-check") }),
      h(Verdict, { id: id("fields-check"), text: fieldsFault }),
      h(Input, { id: id("strings"), label: STRINGS.widgetStrings, value: form.strings, set: set("strings"), area: true, invalid: !!stringsFault, described: id("strings-check") }),
      h(Verdict, { id: id("strings-check"), text: stringsFault }),
      h(Input, { id: id("secret"), label: settings.identity_verification ? STRINGS.identitySecretSet : STRINGS.identitySecret, value: form.secret, set: set("secret") }),
      h("div", { class: "tools" }, [
        h("button", { type: "submit", class: "secondary", disabled: !!(fieldsFault || stringsFault) }, STRINGS.save),
        h("a", { href: `/webchat/v1/chat.html?flow=${encodeURIComponent(props.flow.sid)}`, target: "_blank", rel: "noopener", class: "try" }, STRINGS.tryIt),
      ]),
    ]),
  ]);
}

function Flows(props: Props) {
  const [version, bump] = useState(0);
  const flows = useList<any>("/flex/v1/FlexFlows", "flex_flows", version);
  const services = useList<any>("/chat/v2/Services", "services", 0);
  const workspaces = useList<any>("/taskrouter/v1/Workspaces", "workspaces", 0);
  const [form, setForm] = useState({ name: "", type: "web", contact: "", service: "", workflow: "" });
  const workflows = useList<any>(workspaces[0] ? `/taskrouter/v1/Workspaces/${workspaces[0].sid}/Workflows` : null, "workflows", version);
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  const create = async (e: Event) => {
    e.preventDefault();
    const fields: Fields = {
      FriendlyName: form.name,
      ChatServiceSid: form.service || services[0]?.sid,
      ChannelType: form.type,
      ContactIdentity: form.contact || undefined,
      IntegrationType: "task",
      Enabled: "true",
      "Integration.WorkspaceSid": form.workflow ? workspaces[0]?.sid : undefined,
      "Integration.WorkflowSid": form.workflow || undefined,
    };
    if (await change(props, "POST", "/flex/v1/FlexFlows", fields, STRINGS.created)) {
      setForm({ ...form, name: "", contact: "" });
      bump(version + 1);
    }
  };
  const types: [string, string][] = ["web", "sms", "whatsapp", "facebook", "custom"].map((t) => [t, t]);
  return h("div", null, [
    h("ul", { class: "list", id: "flow-list" }, flows.map((f) => h(FlowRow, { ...props, flow: f, changed: () => bump(version + 1), services, workflows }))),
    h("form", { onSubmit: create, "aria-label": STRINGS.newFlow, class: "grid-form" }, [
      h(Input, { id: "flow-name", label: STRINGS.friendlyName, value: form.name, set: set("name") }),
      h(Choice, { id: "flow-type", label: STRINGS.channelType, value: form.type, set: set("type"), options: types }),
      h(Input, { id: "flow-contact", label: STRINGS.contactIdentity, value: form.contact, set: set("contact") }),
      h(Choice, { id: "flow-service", label: STRINGS.chatService, value: form.service, set: set("service"), options: services.map((s): [string, string] => [s.sid, s.friendly_name]) }),
      h(Choice, { id: "flow-workflow", label: STRINGS.workflow, value: form.workflow, set: set("workflow"), options: [["", STRINGS.defaultWorkflow], ...workflows.map((w): [string, string] => [w.sid, w.friendly_name])] }),
      h("button", { type: "submit" }, STRINGS.create),
    ]),
  ]);
}

/** The verdict on `text` as TaskRouter parses it, asked as it is typed ("" while unchecked). */
function useCheck(csrf: string, kind: string, text: string): string {
  const [verdict, setVerdict] = useState("");
  useEffect(() => {
    if (!text.trim()) return setVerdict("");
    const timer = setTimeout(() => {
      send<{ valid: boolean; message: string | null }>("POST", "/console/expressions", csrf, undefined, { Kind: kind, Text: text })
        .then((check) => setVerdict(check.valid ? "" : check.message ?? STRINGS.invalid))
        .catch((error) => setVerdict(reason(error)));
    }, 200);
    return () => clearTimeout(timer);
  }, [kind, text]);
  return verdict;
}

function Verdict(props: { id: string; text: string }) {
  return h("p", { id: props.id, class: "error", role: "status", "aria-live": "polite" }, props.text ? STRINGS.invalidBecause(props.text) : "");
}

function Routing(props: Props) {
  const [version, bump] = useState(0);
  const workspaces = useList<any>("/taskrouter/v1/Workspaces", "workspaces", version);
  const [chosen, setChosen] = useState("");
  const workspace = chosen || workspaces[0]?.sid || "";
  const base = workspace ? `/taskrouter/v1/Workspaces/${workspace}` : null;
  const queues = useList<any>(base && `${base}/TaskQueues`, "task_queues", version);
  const workflows = useList<any>(base && `${base}/Workflows`, "workflows", version);
  const [queue, setQueue] = useState({ name: "", target: "" });
  const [flow, setFlow] = useState({ name: "", configuration: "" });
  const targetFault = useCheck(props.csrf, "expression", queue.target);
  const configurationFault = useCheck(props.csrf, "workflow", flow.configuration);
  const made = async (path: string, fields: Fields) => {
    if (await change(props, "POST", `${base}/${path}`, fields, STRINGS.created)) bump(version + 1);
  };
  const addQueue = (e: Event) => (e.preventDefault(), made("TaskQueues", { FriendlyName: queue.name, TargetWorkers: queue.target || undefined }));
  const addWorkflow = (e: Event) => (e.preventDefault(), made("Workflows", { FriendlyName: flow.name, Configuration: flow.configuration }));
  return h("div", null, [
    h(Choice, { id: "workspace", label: STRINGS.workspace, value: workspace, set: setChosen, options: workspaces.map((w): [string, string] => [w.sid, w.friendly_name]) }),
    h("h3", null, STRINGS.queues),
    h("ul", { class: "list", id: "queue-list" }, queues.map((q) => h("li", null, [h("span", { class: "name" }, q.friendly_name), " ", h("code", null, q.sid), " ", h("span", { class: "muted" }, q.target_workers ?? "")]))),
    h("form", { onSubmit: addQueue, "aria-label": STRINGS.newQueue }, [
      h(Input, { id: "queue-name", label: STRINGS.friendlyName, value: queue.name, set: (v) => setQueue({ ...queue, name: v }) }),
      h(Input, { id: "queue-target", label: STRINGS.targetWorkers, value: queue.target, set: (v) => setQueue({ ...queue, target: v }), invalid: !!targetFault, described: "queue-target-check" }),
      h(Verdict, { id: "queue-target-check", text: targetFault }),
      h("button", { type: "submit", disabled: !!targetFault }, STRINGS.create),
    ]),
    h("h3", null, STRINGS.workflows),
    h("ul", { class: "list", id: "workflow-list" }, workflows.map((w) => h("li", null, [h("span", { class: "name" }, w.friendly_name), " ", h("code", null, w.sid)]))),
    h("form", { onSubmit: addWorkflow, "aria-label": STRINGS.newWorkflow }, [
      h(Input, { id: "workflow-name", label: STRINGS.friendlyName, value: flow.name, set: (v) => setFlow({ ...flow, name: v }) }),
      h(Input, { id: "workflow-configuration", label: STRINGS.configuration, value: flow.configuration, set: (v) => setFlow({ ...flow, configuration: v }), invalid: !!configurationFault, described: "workflow-check", area: true }),
      h(Verdict, { id: "workflow-check", text: configurationFault }),
      h("button", { type: "submit", disabled: !!configurationFault }, STRINGS.create),
    ]),
  ]);
}

function Keys(props: Props) {
  const [version, bump] = useState(0);
  const keys = useList<any>("/console/api-keys", "keys", version);
  const [made, setMade] = useState<{ sid: string; secret: string } | null>(null);
  const create = async () => {
    const key = await change(props, "POST", "/console/api-keys", {}, STRINGS.created);
    if (key) (setMade(key), bump(version + 1));
  };
  const revoke = (sid: string) => change(props, "DELETE", `/console/api-keys/${sid}`, {}, STRINGS.revoked).then(() => bump(version + 1));
  return h("div", null, [
    h("ul", { class: "list", id: "key-list" }, keys.map((k) => h("li", { class: "line", "data-key": k.sid }, [
      h("code", null, k.sid),
      k.signs_console_tokens ? h("span", { class: "muted" }, STRINGS.signsConsoleTokens) : null,
      h("button", { type: "button", class: "secondary", "aria-label": STRINGS.revokeKey(k.sid), onClick: () => revoke(k.sid) }, STRINGS.revoke),
    ]))),
    h("button", { type: "button", id: "new-key", onClick: create }, STRINGS.newKey),
    made ? h("p", { class: "notice", id: "new-key-secret" }, [STRINGS.secretShownOnce(made.sid), " ", h("code", null, made.secret)]) : null,
  ]);
}

function People(props: Props) {
  const [version, bump] = useState(0);
  const people = useList<any>("/admin/v1/People", "people", version);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("agent");
  const [link, setLink] = useState("");
  const roles: [string, string][] = ["agent", "supervisor", "admin"].map((r) => [r, r]);
  const add = async (e: Event) => {
    e.preventDefault();
    const made = await change(props, "POST", "/admin/v1/People", { Username: username, Role: role }, STRINGS.created);
    if (made) (setLink(made.set_password_url ?? ""), bump(version + 1));
  };
  const setRoleOf = (sid: string, to: string) => change(props, "POST", `/admin/v1/People/${sid}`, { Role: to }, STRINGS.saved).then(() => bump(version + 1));
  return h("div", null, [
    h("ul", { class: "list", id: "people-list" }, people.map((p) => h("li", { class: "line" }, [
      h("span", { class: "name" }, p.username),
      h(Choice, { id: `role-${p.sid}`, label: STRINGS.roleOf(p.username), value: p.role, set: (to) => setRoleOf(p.sid, to), options: roles }),
    ]))),
    h("form", { onSubmit: add, "aria-label": STRINGS.newPerson }, [
      h(Input, { id: "person-name", label: STRINGS.username, value: username, set: setUsername }),
      h(Choice, { id: "person-role", label: STRINGS.role, value: role, set: setRole, options: roles }),
      h("button", { type: "submit" }, STRINGS.create),
    ]),
    link ? h("p", { class: "notice", id: "set-password-link" }, [STRINGS.shownOnce, " ", h("code", null, link)]) : null,
  ]);
}

function Audit(props: Props) {
  const [channel, setChannel] = useState("");
  const [events, setEvents] = useState<any[]>([]);
  const [report, setReport] = useState<any>(null);
  const read = async (e: Event) => {
    e.preventDefault();
    try {
      const text = await getText(`/admin/v1/Channels/${encodeURIComponent(channel.trim())}/Events?Limit=200`);
      setEvents(text.split("\n").filter(Boolean).map((line) => JSON.parse(line)));
    } catch (error) {
      props.say(STRINGS.refused(reason(error)));
    }
  };
  const check = () => getJson<any>("/console/integrity").then(setReport).catch((error) => props.say(STRINGS.refused(reason(error))));
  return h("div", null, [
    h("form", { onSubmit: read, "aria-label": STRINGS.channelEvents }, [
      h(Input, { id: "audit-channel", label: STRINGS.channelSid, value: channel, set: setChannel }),
      h("button", { type: "submit" }, STRINGS.readEvents),
    ]),
    h("ol", { class: "list events", id: "audit-events" }, events.map((ev) => h("li", null, [h("code", null, `#${ev.seq}`), " ", h("span", { class: "name" }, ev.type), " ", h("span", { class: "muted" }, ev.timestamp ?? "")]))),
    h("button", { type: "button", id: "integrity", class: "secondary", onClick: check }, STRINGS.checkIntegrity),
    report
      ? h("p", { id: "integrity-report", role: "status", class: report.clean ? "notice" : "error" },
          STRINGS.integrity(report.clean, report.streams, report.records, report.findings_total))
      : null,
    report && report.findings.length ? h("ul", { class: "list" }, report.findings.map((f: string) => h("li", null, f))) : null,
  ]);
}

function Health() {
  const [lines, setLines] = useState<[string, string][]>([]);
  useEffect(() => {
    const ask = (path: string) => fetch(path).then(async (r) => [path, `${r.status} ${await r.text()}`] as [string, string]);
    Promise.all(["/healthz", "/readyz"].map(ask)).then(setLines).catch((error) => setLines([["", reason(error)]]));
  }, []);
  return h("dl", { id: "health", class: "details" }, lines.flatMap(([path, text]) => [h("dt", null, path), h("dd", null, text)]));
}

export function AdminView(props: { csrf: string }) {
  const [section, setSection] = useState<Section>("services");
  const [note, setNote] = useState("");
  const inner: Props = { csrf: props.csrf, say: setNote };
  const body = {
    services: () => h(Services, inner),
    flows: () => h(Flows, inner),
    routing: () => h(Routing, inner),
    keys: () => h(Keys, inner),
    people: () => h(People, inner),
    audit: () => h(Audit, inner),
    health: () => h(Health, null),
  }[section]();
  return h("div", { id: "admin", class: "stack" }, [
    h("nav", { "aria-label": STRINGS.adminSections, class: "tabs" }, SECTIONS.map((s) =>
      h("button", { type: "button", class: s === section ? "tab open" : "tab", "aria-current": s === section ? "page" : undefined, "data-section": s, onClick: () => (setSection(s), setNote("")) }, STRINGS.sections[s]),
    )),
    h("p", { class: "notice-line", role: "status", "aria-live": "polite", id: "admin-note" }, note),
    h("section", { class: "panel", "aria-labelledby": "section-title" }, [h("h2", { id: "section-title" }, STRINGS.sections[section]), body]),
  ]);
}
