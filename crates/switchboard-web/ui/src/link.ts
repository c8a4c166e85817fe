// The console's WebSocket: a token from /console/token (the session cookie asks for it), sent in
// the first frame (never in the URL, which ends up in logs); a ping every ping interval; on any
// close a new token and a new socket, resuming each channel from the last `seq` held and the
// worker's streams from theirs (docs/api.md, "WebSockets"). Actions carry an `id` and are
// answered by `ack` or `error`.

export type Frame = { type: string; [key: string]: any };

export class Link {
  private socket?: WebSocket;
  private nextId = 1;
  private answers = new Map<number, { ok: (f: Frame) => void; fail: (f: Frame) => void }>();
  private pinger?: number;
  private stopped = false;
  /** The highest `seq` received per channel (chat) and per TaskRouter stream (worker). */
  readonly channelSeqs: Record<string, number> = {};
  readonly streamSeqs: Record<string, number> = {};

  constructor(
    private onFrame: (frame: Frame) => void,
    private onOnline: (online: boolean) => void,
  ) {}

  /** A fresh access token (for the socket, and for media, which take one as a bearer). */
  async token(): Promise<string> {
    const answer = await fetch("/console/token", { credentials: "same-origin" });
    if (answer.status === 401) location.reload();
    if (!answer.ok) throw new Error("no token: " + answer.status);
    return ((await answer.json()) as { token: string }).token;
  }

  async open(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = await this.token();
    } catch {
      return this.later();
    }
    const socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
    this.socket = socket;
    socket.onopen = () => {
      const resume = Object.keys(this.channelSeqs).map((channel_sid) => ({ channel_sid, seq: this.channelSeqs[channel_sid] }));
      socket.send(JSON.stringify({ type: "auth", token, resume }));
    };
    socket.onmessage = (event) => this.received(JSON.parse(String(event.data)) as Frame);
    socket.onclose = () => {
      window.clearInterval(this.pinger);
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.onOnline(false);
      for (const answer of this.answers.values()) answer.fail({ type: "error", message: "disconnected" });
      this.answers.clear();
      this.later();
    };
  }

  stop(): void {
    this.stopped = true;
    this.socket?.close();
  }

  private later(): void {
    window.setTimeout(() => this.open(), 1000);
  }

  private received(frame: Frame): void {
    if (frame.type === "ready") {
      this.onOnline(true);
      this.send({ type: "worker_resume", after: this.streamSeqs });
      const every = Number(frame.ping_interval_ms) || 20000;
      this.pinger = window.setInterval(() => this.send({ type: "ping" }), every);
    }
    if ((frame.type === "ack" || frame.type === "error") && typeof frame.id === "number") {
      const answer = this.answers.get(frame.id);
      this.answers.delete(frame.id);
      if (answer) (frame.type === "ack" ? answer.ok : answer.fail)(frame);
      return;
    }
    if (frame.type === "taskrouter_event") {
      const held = this.streamSeqs[frame.stream_sid];
      // A replayed event this socket already had changes nothing.
      if (held !== undefined && frame.seq <= held) return;
      this.streamSeqs[frame.stream_sid] = frame.seq;
    } else if (typeof frame.channel_sid === "string" && typeof frame.seq === "number") {
      const held = this.channelSeqs[frame.channel_sid];
      if (held !== undefined && frame.seq <= held) return;
      this.channelSeqs[frame.channel_sid] = frame.seq;
    }
    this.onFrame(frame);
  }

  send(frame: Frame): boolean {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Sends an action; resolves with its `ack`, rejects with its `error` (or a lost socket). */
  request(frame: Frame): Promise<Frame> {
    const id = this.nextId++;
    return new Promise((ok, fail) => {
      if (!this.send({ ...frame, id })) return fail({ type: "error", message: "offline" });
      this.answers.set(id, { ok, fail });
    });
  }
}
