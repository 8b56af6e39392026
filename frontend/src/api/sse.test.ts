import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF, EventStream, SseParser, type SseEvent, type StreamState } from "./sse";

describe("SseParser", () => {
  it("parses events split anywhere across chunks, with CRLF and multi-line data", () => {
    const parser = new SseParser();
    const text = "retry: 2000\r\n\r\n: comment\r\nid: 7\r\nevent: log\r\ndata: one\r\ndata: two\r\n\r\ndata: plain\n\n";
    const events: SseEvent[] = [];
    for (const char of text) events.push(...parser.feed(char));
    expect(events).toEqual([
      { id: "7", event: "log", data: "one\ntwo" },
      { id: null, event: "message", data: "plain" },
    ]);
    expect(parser.retryMs).toBe(2000);
  });

  it("does not dispatch a block without data", () => {
    const parser = new SseParser();
    expect(parser.feed("id: 3\nevent: x\n\n")).toEqual([]);
  });
});

describe("backoffDelay", () => {
  it("doubles from the base up to the cap", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, 2000, DEFAULT_BACKOFF));
    expect(delays).toEqual([2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

/** A response whose body the test writes to, like a server holding a stream open. */
class FakeStream {
  readonly response: Response;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly encoder = new TextEncoder();

  constructor(status = 200, body = "") {
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
    });
    this.response = {
      ok: status >= 200 && status < 300,
      status,
      statusText: "",
      headers: new Headers(),
      body: status === 200 ? stream : null,
      text: async () => body,
    } as unknown as Response;
  }

  send(text: string): void {
    this.controller.enqueue(this.encoder.encode(text));
  }

  event(id: string, event: string, data: unknown): void {
    this.send(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    this.controller.close();
  }

  fail(): void {
    this.controller.error(new TypeError("network error"));
  }
}

interface Harness {
  stream: EventStream;
  received: SseEvent[];
  states: StreamState[];
  requests: Array<Record<string, string>>;
  servers: FakeStream[];
  /** Queue what the next connection attempt gets. */
  next: Array<FakeStream | Error>;
  unauthorized: number;
}

function harness(options: { terminalEvents?: string[]; key?: () => string } = {}): Harness {
  const h: Harness = {
    stream: null as unknown as EventStream,
    received: [],
    states: [],
    requests: [],
    servers: [],
    next: [],
    unauthorized: 0,
  };
  const fetchImpl = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    h.requests.push({ ...(init?.headers as Record<string, string>) });
    const reply = h.next.shift() ?? new FakeStream();
    if (reply instanceof Error) throw reply;
    h.servers.push(reply);
    return reply.response;
  });
  h.stream = new EventStream({
    url: "/api/v1/runs/r1/stream",
    fetchImpl: fetchImpl as unknown as typeof fetch,
    onEvent: (event) => h.received.push(event),
    onState: (state) => h.states.push(state),
    terminalEvents: options.terminalEvents ?? ["done"],
    headers: (): Record<string, string> => (options.key ? { Authorization: `Bearer ${options.key()}` } : {}),
    onUnauthorized: () => (h.unauthorized += 1),
  });
  return h;
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("EventStream reconnection", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reconnects with the Last-Event-ID it saw, and delivers no event twice", async () => {
    const h = harness();
    h.stream.start();
    await flush();
    const first = h.servers[0]!;
    first.send("retry: 500\n\n");
    first.event("100-0", "log", { line: "a" });
    first.event("200-0", "log", { line: "b" });
    first.event("200-0", "status", { status: "running" });
    await flush();
    first.fail(); // connection drops
    await flush();
    expect(h.states.at(-1)).toMatchObject({ kind: "reconnecting", attempt: 1, delayMs: 500 });
    expect(h.requests).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(500);
    expect(h.requests).toHaveLength(2);
    expect(h.requests[1]!["Last-Event-ID"]).toBe("200-0");
    const second = h.servers[1]!;
    // A server that replays what was already sent (same id and data) before new events.
    second.event("200-0", "log", { line: "b" });
    second.event("200-0", "status", { status: "running" });
    second.event("300-0", "log", { line: "c" });
    second.event("300-0", "status", { status: "completed" });
    await flush();
    expect(h.received.map((e) => `${e.event}:${e.id}:${e.data}`)).toEqual([
      'log:100-0:{"line":"a"}',
      'log:200-0:{"line":"b"}',
      'status:200-0:{"status":"running"}',
      'log:300-0:{"line":"c"}',
      'status:300-0:{"status":"completed"}',
    ]);
    h.stream.close();
  });

  it("backs off exponentially while the server is unreachable, and resets after events", async () => {
    const h = harness();
    h.next.push(new TypeError("refused"), new TypeError("refused"), new TypeError("refused"));
    h.stream.start();
    await flush();
    const delays = () => h.states.filter((s) => s.kind === "reconnecting").map((s) => (s.kind === "reconnecting" ? s.delayMs : 0));
    expect(delays()).toEqual([1000]);
    await vi.advanceTimersByTimeAsync(999);
    expect(h.requests).toHaveLength(1); // not before the delay
    await vi.advanceTimersByTimeAsync(1);
    expect(h.requests).toHaveLength(2);
    expect(delays()).toEqual([1000, 2000]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(delays()).toEqual([1000, 2000, 4000]);
    await vi.advanceTimersByTimeAsync(4000);
    expect(h.requests).toHaveLength(4);
    expect(h.states.at(-1)).toMatchObject({ kind: "live" });
    h.servers[0]!.event("1", "message", { n: 1 });
    await flush();
    h.servers[0]!.end();
    await flush();
    expect(delays().at(-1)).toBe(1000); // back to the first delay
    h.stream.close();
  });

  it("retries server errors (503) but gives up on a missing resource (404)", async () => {
    const h = harness();
    h.next.push(new FakeStream(503, '{"error":{"code":"unavailable","message":"busy"}}'));
    h.next.push(new FakeStream(404, '{"error":{"code":"not_found","message":"run r1 not found"}}'));
    h.stream.start();
    await flush();
    expect(h.states.at(-1)).toMatchObject({ kind: "reconnecting", reason: expect.stringContaining("busy") });
    await vi.advanceTimersByTimeAsync(1000);
    const last = h.states.at(-1)!;
    expect(last.kind).toBe("failed");
    expect(last.kind === "failed" && last.error.code).toBe("not_found");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.requests).toHaveLength(2);
  });

  it("stops at the terminal event and does not reconnect", async () => {
    const h = harness();
    h.stream.start();
    await flush();
    h.servers[0]!.event("5-0", "done", { status: "completed" });
    await flush();
    h.servers[0]!.event("6-0", "log", { late: true });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.received.map((e) => e.event)).toEqual(["done"]);
    expect(h.states.at(-1)).toEqual({ kind: "ended" });
    expect(h.requests).toHaveLength(1);
  });

  it("waits for a key after 401, then reconnects with it and the last event id", async () => {
    let key = "wrong";
    const h = harness({ key: () => key });
    h.stream.lastEventId = "42";
    h.next.push(new FakeStream(401, '{"error":{"code":"unauthorized","message":"missing or wrong API key"}}'));
    h.stream.start();
    await flush();
    expect(h.unauthorized).toBe(1);
    expect(h.states.at(-1)).toMatchObject({ kind: "failed" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.requests).toHaveLength(1);
    key = "right";
    h.stream.reconnectNow();
    await flush();
    expect(h.requests[1]).toMatchObject({ Authorization: "Bearer right", "Last-Event-ID": "42" });
    expect(h.states.at(-1)).toMatchObject({ kind: "live" });
    h.stream.close();
  });

  it("reports heartbeats on the live state without delivering them twice or deduping them", async () => {
    const h = harness();
    h.stream.start();
    await flush();
    h.servers[0]!.send('event: heartbeat\ndata: {"ts":1}\n\nevent: heartbeat\ndata: {"ts":1}\n\n');
    await flush();
    expect(h.received.map((e) => e.event)).toEqual(["heartbeat", "heartbeat"]);
    const live = h.states.at(-1);
    expect(live?.kind === "live" && live.lastHeartbeat).not.toBeNull();
    h.stream.close();
  });

  it("closing stops everything, including a pending reconnect", async () => {
    const h = harness();
    h.next.push(new TypeError("refused"));
    h.stream.start();
    await flush();
    h.stream.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.requests).toHaveLength(1);
  });
});
