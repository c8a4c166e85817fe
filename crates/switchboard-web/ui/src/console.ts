// The agent console (served at /console): signing in and out, setting a password from a
// one-time link, who you are, and the views the role opens (#agent, #supervisor, #admin: agent.ts,
// supervisor.ts, admin.ts; a view the role may not open says so). It talks to the daemon's
// /console endpoints, and the admin view to the REST routes with the session; the session
// is an HttpOnly cookie it never sees, and every call that changes something carries the CSRF
// token the sign-in returned (header X-CSRF-Token). Text is only ever rendered as text (Preact).

import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { AdminView } from "./admin";
import { AgentView } from "./agent";
import { SupervisorView } from "./supervisor";
import { STRINGS } from "./strings";

interface Person {
  sid: string;
  username: string;
  role: string;
}
interface SignedIn {
  person: Person;
  csrf_token: string;
}
type View =
  | { kind: "loading" }
  | { kind: "signIn"; notice?: string }
  | { kind: "setPassword"; token: string }
  | { kind: "signedIn"; who: SignedIn };

const LINK = "#set-password=";

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(path, { credentials: "same-origin", ...init });
}

function post(path: string, body?: unknown, csrf?: string): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  return call(path, { method: "POST", headers, body: body === undefined ? "" : JSON.stringify(body) });
}

function failure(status: number): string {
  if (status === 401) return STRINGS.wrong;
  if (status === 429) return STRINGS.tooMany;
  return STRINGS.failed;
}

function Field(props: { id: string; label: string; type: string; auto: string; value: string; set: (v: string) => void }) {
  return h("div", { class: "row" }, [
    h("label", { for: props.id }, props.label),
    h("input", {
      id: props.id,
      name: props.id,
      type: props.type,
      autocomplete: props.auto,
      required: true,
      value: props.value,
      onInput: (e: Event) => props.set((e.target as HTMLInputElement).value),
    }),
  ]);
}

function Problem(props: { text: string }) {
  return h("p", { class: "error", role: "alert", "aria-live": "assertive" }, props.text);
}

function SignInForm(props: { notice?: string; done: (who: SignedIn) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setProblem("");
    try {
      const answer = await post("/console/login", { username, password });
      if (answer.ok) props.done(await answer.json());
      else setProblem(failure(answer.status));
    } catch {
      setProblem(STRINGS.failed);
    }
    setBusy(false);
  };
  return h("form", { id: "sign-in", onSubmit: submit, "aria-labelledby": "sign-in-title" }, [
    h("h2", { id: "sign-in-title" }, STRINGS.signIn),
    props.notice ? h("p", { class: "notice", role: "status" }, props.notice) : null,
    h(Field, { id: "username", label: STRINGS.username, type: "text", auto: "username", value: username, set: setUsername }),
    h(Field, { id: "password", label: STRINGS.password, type: "password", auto: "current-password", value: password, set: setPassword }),
    h(Problem, { text: problem }),
    h("button", { type: "submit", disabled: busy }, STRINGS.signIn),
  ]);
}

function SetPasswordForm(props: { token: string; done: () => void }) {
  const [first, setFirst] = useState("");
  const [second, setSecond] = useState("");
  const [problem, setProblem] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    if (first !== second) return setProblem(STRINGS.mismatch);
    const answer = await post("/console/password", { token: props.token, password: first });
    if (answer.ok) return props.done();
    if (answer.status === 400) setProblem(((await answer.json()) as { message: string }).message);
    else setProblem(answer.status === 401 ? STRINGS.linkInvalid : failure(answer.status));
  };
  return h("form", { id: "set-password", onSubmit: submit, "aria-labelledby": "set-password-title" }, [
    h("h2", { id: "set-password-title" }, STRINGS.setPassword),
    h(Field, { id: "new-password", label: STRINGS.newPassword, type: "password", auto: "new-password", value: first, set: setFirst }),
    h(Field, { id: "repeat-password", label: STRINGS.repeatPassword, type: "password", auto: "new-password", value: second, set: setSecond }),
    h(Problem, { text: problem }),
    h("button", { type: "submit" }, STRINGS.setPassword),
  ]);
}

/** The views each role opens, the first by default (the server's `permits` decides what the
 * endpoints allow; this only picks what to show). */
const VIEWS: Record<string, string[]> = {
  agent: ["agent"],
  supervisor: ["agent", "supervisor"],
  admin: ["supervisor", "admin"],
};

function useHash(): string {
  const [hash, setHash] = useState(location.hash.slice(1));
  useEffect(() => {
    const moved = () => setHash(location.hash.slice(1));
    addEventListener("hashchange", moved);
    return () => removeEventListener("hashchange", moved);
  }, []);
  return hash;
}

function RoleView(props: { view: string; person: Person; csrf: string }) {
  if (!(VIEWS[props.person.role] ?? []).includes(props.view)) {
    return h("p", { id: "not-for-role", class: "error", role: "alert" }, STRINGS.notForRole(props.person.role));
  }
  if (props.view === "supervisor") return h(SupervisorView, { csrf: props.csrf });
  if (props.view === "admin") return h(AdminView, { csrf: props.csrf });
  return h(AgentView, { identity: props.person.username, csrf: props.csrf });
}

function Who(props: { who: SignedIn; out: () => void }) {
  const { person, csrf_token } = props.who;
  const leave = async (path: string) => {
    await post(path, undefined, csrf_token);
    props.out();
  };
  const who = h("section", { id: "who", class: "who", "aria-labelledby": "who-title" }, [
    h("h2", { id: "who-title" }, [STRINGS.signedInAs, " ", h("span", { id: "who-name" }, person.username)]),
    h("p", null, [STRINGS.role, ": ", h("span", { id: "who-role", class: "role" }, person.role)]),
    h("div", { class: "tools" }, [
      h("button", { type: "button", id: "sign-out", onClick: () => leave("/console/logout") }, STRINGS.signOut),
      h("button", { type: "button", id: "sign-out-everywhere", onClick: () => leave("/console/logout-everywhere") }, STRINGS.signOutEverywhere),
    ]),
  ]);
  const views = VIEWS[person.role] ?? [];
  const hash = useHash();
  const view = hash || views[0] || "";
  const nav = h("nav", { class: "tabs", "aria-label": STRINGS.consoleViews }, views.map((v) =>
    h("a", { href: `#${v}`, class: v === view ? "tab open" : "tab", "aria-current": v === view ? "page" : undefined }, STRINGS.views[v]),
  ));
  return h("div", null, [who, views.length > 1 ? nav : null, view ? h(RoleView, { view, person, csrf: csrf_token }) : null]);
}

function App() {
  const [view, setView] = useState<View>({ kind: "loading" });
  useEffect(() => {
    if (location.hash.startsWith(LINK)) {
      const token = location.hash.slice(LINK.length);
      // The secret leaves the address bar (and the history) at once.
      history.replaceState(null, "", location.pathname);
      setView({ kind: "setPassword", token });
      return;
    }
    call("/console/me")
      .then(async (answer) => setView(answer.ok ? { kind: "signedIn", who: await answer.json() } : { kind: "signIn" }))
      .catch(() => setView({ kind: "signIn" }));
  }, []);
  const body =
    view.kind === "loading"
      ? h("p", { role: "status" }, STRINGS.loading)
      : view.kind === "setPassword"
        ? h(SetPasswordForm, { token: view.token, done: () => setView({ kind: "signIn", notice: STRINGS.passwordSet }) })
        : view.kind === "signedIn"
          ? h(Who, { who: view.who, out: () => setView({ kind: "signIn" }) })
          : h(SignInForm, { notice: view.notice, done: (who) => setView({ kind: "signedIn", who }) });
  const wide = view.kind === "signedIn" && (VIEWS[view.who.person.role] ?? []).length > 0;
  return h("div", { class: "console" }, [h("header", null, h("h1", null, STRINGS.title)), h("main", { id: "main", class: wide ? "wide" : undefined }, body)]);
}

render(h(App, null), document.getElementById("console")!);
