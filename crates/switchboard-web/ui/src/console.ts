// The agent console (served at /console): signing in and out, setting a password from a
// one-time link, who you are, and for those who answer customers the agent view (agent.ts). It talks to the daemon's /console endpoints only; the session
// is an HttpOnly cookie it never sees, and every call that changes something carries the CSRF
// token the sign-in returned (header X-CSRF-Token). Text is only ever rendered as text (Preact).

import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { AgentView } from "./agent";
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

/** Roles that answer customers (the server's `permits` decides; this only picks the view). */
const ANSWERING = ["agent", "supervisor"];

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
  if (!ANSWERING.includes(person.role)) return who;
  return h("div", null, [who, h(AgentView, { identity: person.username, csrf: csrf_token })]);
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
  const wide = view.kind === "signedIn" && ANSWERING.includes(view.who.person.role);
  return h("div", { class: "console" }, [h("header", null, h("h1", null, STRINGS.title)), h("main", { id: "main", class: wide ? "wide" : undefined }, body)]);
}

render(h(App, null), document.getElementById("console")!);
