/**
 * Server-sent events over `fetch`, so that the API key travels in a header
 * (EventSource cannot set headers) and `Last-Event-ID` is under our control.
 *
 * `EventStream` reconnects after a dropped connection with exponential backoff,
 * resuming from the last event id it saw; events it has already delivered (same
 * name, id and data — a server replaying after a resume) are not delivered again.
 * A named terminal event (`done`) ends the stream for good.
 */

import { ApiError, errorFrom, isAbort } from "./client";

export interface SseEvent {
  /** The `id:` of this event; null when it had none. */
  id: string | null;
  event: string;
  data: string;
}

/** Incremental parser of the text/event-stream format (WHATWG HTML §9.2). */
export class SseParser {
  /** The last `retry:` value the server sent, in ms. */
  retryMs: number | null = null;
  private buffer = "";
  private data: string[] = [];
  private eventName = "";
  private eventId: string | null = null;
  private sawId = false;

  /** Feed a decoded chunk; returns the events it completed. */
  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      if (cr < 0 && lf < 0) break;
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A lone CR at the very end may be the first half of CRLF: wait for more.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      const event = this.line(this.buffer.slice(start, end));
      if (event) events.push(event);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.eventName = value;
        break;
      case "id":
        if (!value.includes("\0")) {
          this.eventId = value;
          this.sawId = true;
        }
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  private dispatch(): SseEvent | null {
    const hadData = this.data.length > 0;
    const event: SseEvent = {
      id: this.sawId ? this.eventId : null,
      event: this.eventName || "message",
      data: this.data.join("\n"),
    };
    this.data = [];
    this.eventName = "";
    this.eventId = null;
    this.sawId = false;
    return hadData ? event : null;
  }
}

export type StreamState =
  | { kind: "connecting"; attempt: number }
  | { kind: "live"; since: number; lastHeartbeat: number | null }
  | { kind: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { kind: "ended" }
  | { kind: "failed"; error: ApiError };

export interface BackoffPolicy {
  /** First delay when the server sent no `retry:`. */
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, factor: 2 };

/** Delay before reconnect attempt `attempt` (1-based). */
export function backoffDelay(attempt: number, baseMs: number, policy: BackoffPolicy): number {
  const exponent = Math.max(0, attempt - 1);
  return Math.min(policy.maxMs, Math.round(baseMs * policy.factor ** exponent));
}

export interface EventStreamOptions {
  url: string;
  onEvent: (event: SseEvent) => void;
  onState?: (state: StreamState) => void;
  /** Extra request headers, read at every (re)connect (the API key may change). */
  headers?: () => Record<string, string>;
  /** Resume point for the first connection. */
  lastEventId?: string | null;
  /** Events after which the stream is complete: no reconnect. */
  terminalEvents?: readonly string[];
  /** Called when the server answers 401; the stream waits for `reconnectNow()`. */
  onUnauthorized?: () => void;
  backoff?: BackoffPolicy;
  fetchImpl?: typeof fetch;
}

const DEDUP_LIMIT = 20_000;

export class EventStream {
  /** The id of the last event received: sent as Last-Event-ID when reconnecting. */
  lastEventId: string | null;
  private readonly options: EventStreamOptions;
  private readonly policy: BackoffPolicy;
  private readonly seen = new Set<string>();
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private closed = false;
  private retryMs: number | null = null;
  private state: StreamState = { kind: "connecting", attempt: 0 };

  constructor(options: EventStreamOptions) {
    this.options = options;
    this.policy = options.backoff ?? DEFAULT_BACKOFF;
    this.lastEventId = options.lastEventId ?? null;
  }

  start(): this {
    void this.connect();
    return this;
  }

  /** Stop for good (component unmounted, view changed). */
  close(): void {
    this.closed = true;
    this.clearTimer();
    this.controller?.abort();
    this.controller = null;
  }

  /** Reconnect at once (after a new API key, or when the user asks). */
  reconnectNow(): void {
    if (this.closed) return;
    this.clearTimer();
    this.controller?.abort();
    this.attempt = 0;
    void this.connect();
  }

  get currentState(): StreamState {
    return this.state;
  }

  private setState(state: StreamState): void {
    this.state = state;
    this.options.onState?.(state);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const controller = new AbortController();
    this.controller = controller;
    this.setState({ kind: "connecting", attempt: this.attempt });
    const headers: Record<string, string> = {
      Accept: "text/event-stream",
      "Cache-Control": "no-cache",
      ...(this.options.headers?.() ?? {}),
    };
    if (this.lastEventId !== null) headers["Last-Event-ID"] = this.lastEventId;
    const fetchImpl = this.options.fetchImpl ?? ((...args) => fetch(...args));
    let delivered = false;
    try {
      const response = await fetchImpl(this.options.url, { headers, signal: controller.signal });
      if (!response.ok) {
        const error = await errorFrom(response);
        if (response.status === 401) {
          this.options.onUnauthorized?.();
          this.setState({ kind: "failed", error });
          return;
        }
        if (!isRetryable(response.status)) {
          this.setState({ kind: "failed", error });
          return;
        }
        this.scheduleReconnect(error.describe());
        return;
      }
      if (!response.body) throw new Error("the response has no body");
      const live: StreamState = { kind: "live", since: Date.now(), lastHeartbeat: null };
      this.setState(live);
      const parser = new SseParser();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const events = parser.feed(decoder.decode(value, { stream: true }));
        if (parser.retryMs !== null) this.retryMs = parser.retryMs;
        for (const event of events) {
          if (this.closed || controller.signal.aborted) return;
          delivered = true;
          if (event.id !== null) this.lastEventId = event.id;
          if (event.event === "heartbeat") {
            this.setState({ ...live, lastHeartbeat: Date.now() });
          }
          if (this.isDuplicate(event)) continue;
          this.options.onEvent(event);
          if (this.options.terminalEvents?.includes(event.event)) {
            this.closed = true;
            controller.abort();
            this.setState({ kind: "ended" });
            return;
          }
        }
      }
      if (delivered) this.attempt = 0;
      this.scheduleReconnect("the server closed the stream");
    } catch (error) {
      if (this.closed || controller.signal.aborted || isAbort(error)) return;
      if (delivered) this.attempt = 0;
      this.scheduleReconnect(error instanceof Error ? error.message : String(error));
    }
  }

  private scheduleReconnect(reason: string): void {
    if (this.closed) return;
    this.attempt += 1;
    const base = this.retryMs ?? this.policy.initialMs;
    const delayMs = backoffDelay(this.attempt, base, this.policy);
    this.setState({ kind: "reconnecting", attempt: this.attempt, delayMs, reason });
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delayMs);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Remembers events with an id; true for one already delivered. */
  private isDuplicate(event: SseEvent): boolean {
    if (event.id === null) return false;
    const key = `${event.event}\n${event.id}\n${hashText(event.data)}`;
    if (this.seen.has(key)) return true;
    this.seen.add(key);
    if (this.seen.size > DEDUP_LIMIT) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return false;
  }
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** FNV-1a, 32-bit: enough to tell two events with the same id apart. */
export function hashText(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(36) + ":" + text.length.toString(36);
}
