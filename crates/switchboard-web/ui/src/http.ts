// How the supervisor and admin views call the daemon: same-origin requests carrying the session
// cookie, and on every change the session's CSRF token (header X-CSRF-Token). Forms go as
// application/x-www-form-urlencoded, as the REST routes take them (repeated keys for lists).

/** How many messages a conversation's history loads at a time, newest first (the issue asks for 50;
 * the daemon's console routes take up to 100). */
export const HISTORY_PAGE = 50;

export type Fields = Record<string, string | string[] | undefined>;

/** A refusal in Twilio's error shape (or the status alone). */
export class Refused extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The body of a success (JSON when it is `application/json`, else text), or a `Refused`. */
async function answer<T>(response: Response): Promise<T> {
  if (response.ok) {
    const type = response.headers.get("content-type") ?? "";
    return (type.startsWith("application/json") ? response.json() : response.text()) as Promise<T>;
  }
  let message = `${response.status}`;
  try {
    message = ((await response.json()) as { message?: string }).message ?? message;
  } catch {
    // Not JSON: the status says it.
  }
  throw new Refused(response.status, message);
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: "same-origin" }));
}

export async function getText(path: string): Promise<string> {
  return answer<string>(await fetch(path, { credentials: "same-origin", headers: { Accept: "*/*" } }));
}

function encode(fields: Fields): string {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) body.append(key, one);
  }
  return body.toString();
}

export async function send<T>(method: string, path: string, csrf: string, fields?: Fields, json?: unknown): Promise<T> {
  const headers: Record<string, string> = { "X-CSRF-Token": csrf };
  let body: string | undefined;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (fields !== undefined) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = encode(fields);
  }
  return answer<T>(await fetch(path, { method, credentials: "same-origin", headers, body }));
}

/** The message of a failed call, for a live region. */
export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
