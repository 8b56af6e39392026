/**
 * Agent stdout (JSON lines from `claude --output-format stream-json`, `codex exec
 * --json`, `gemini --output-format stream-json`; plain text from the REST agents) as
 * a readable transcript: assistant text, reasoning, tool calls with their results,
 * warnings and the final result. Lines arrive one at a time (live output), so the
 * builder is incremental: a tool result updates the call it answers.
 *
 * Event shapes follow the samples in tests/fixtures/agents/*.jsonl.
 */

export type AgentFlavor = "claude" | "codex" | "gemini";

export type ToolState = "running" | "ok" | "error";

export type TranscriptItem =
  | { kind: "session"; key: string; agent: AgentFlavor; model: string | null; detail: string }
  | { kind: "text"; key: string; text: string; error: boolean }
  | { kind: "thinking"; key: string; text: string }
  | { kind: "prompt"; key: string; text: string }
  | {
      kind: "tool";
      key: string;
      toolId: string;
      name: string;
      /** One line saying what the call does (a command, a file path). */
      summary: string;
      input: string;
      state: ToolState;
      output: string | null;
      exitCode: number | null;
    }
  | { kind: "notice"; key: string; level: "warning" | "error"; text: string }
  | { kind: "result"; key: string; ok: boolean; text: string; stats: string[] }
  | { kind: "plain"; key: string; text: string }
  | { kind: "event"; key: string; label: string; json: string };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function pretty(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `/bin/bash -lc 'cmd'` → `cmd` (how codex reports shell commands). */
export function unwrapShell(command: string): string {
  const match = /^\/bin\/(?:ba)?sh -lc (.*)$/s.exec(command);
  if (!match) return command;
  const quoted = match[1]!;
  if (/^'.*'$/s.test(quoted)) return quoted.slice(1, -1).replace(/'\\''/g, "'");
  if (/^".*"$/s.test(quoted)) return quoted.slice(1, -1);
  return quoted;
}

/** One line about what a tool call does, from its input. */
export function toolSummary(input: unknown): string {
  if (!isObject(input)) return typeof input === "string" ? input : "";
  for (const field of ["command", "file_path", "path", "pattern", "url", "query", "description", "prompt"]) {
    const value = input[field];
    if (typeof value === "string" && value.trim()) return value.split("\n")[0]!.slice(0, 300);
  }
  const text = JSON.stringify(input);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds % 60)} s`;
}

function textOfContent(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (isObject(part) ? (str(part.text) ?? str(part.content) ?? "") : String(part)))
      .join("");
  }
  return content === undefined || content === null ? "" : pretty(content);
}

export class TranscriptBuilder {
  private list: TranscriptItem[] = [];
  private readonly toolIndex = new Map<string, number>();
  private counter = 0;
  private changed = false;
  /** Text item that the next gemini delta / plain line may extend. */
  private openText: "delta" | "text" | "plain" | null = null;
  flavor: AgentFlavor | null = null;

  /** The items so far; a new array after every change (React compares identity). */
  get items(): TranscriptItem[] {
    if (this.changed) {
      this.list = [...this.list];
      this.changed = false;
    }
    return this.list;
  }

  pushLines(lines: Iterable<string>): void {
    for (const line of lines) this.push(line);
  }

  push(line: string): void {
    const trimmed = line.trim();
    if (!trimmed) {
      if (this.openText === "plain") this.extendLast("\n");
      return;
    }
    let event: unknown = undefined;
    if (trimmed.startsWith("{")) {
      try {
        event = JSON.parse(trimmed);
      } catch {
        event = undefined;
      }
    }
    if (!isObject(event) || typeof event.type !== "string") {
      this.plain(line);
      return;
    }
    try {
      this.handle(event, event.type);
    } catch {
      this.add({ kind: "event", key: this.key(), label: event.type, json: pretty(event) });
    }
  }

  private key(): string {
    this.counter += 1;
    return `i${this.counter}`;
  }

  private add(item: TranscriptItem): void {
    this.list.push(item);
    this.changed = true;
    this.openText = null;
  }

  private replace(index: number, item: TranscriptItem): void {
    this.list[index] = item;
    this.changed = true;
  }

  private extendLast(more: string): void {
    const last = this.list.at(-1);
    if (last && (last.kind === "text" || last.kind === "plain")) {
      this.replace(this.list.length - 1, { ...last, text: last.text + more });
    }
  }

  private plain(line: string): void {
    if (this.openText === "plain") {
      this.extendLast(`\n${line}`);
      return;
    }
    this.add({ kind: "plain", key: this.key(), text: line });
    this.openText = "plain";
  }

  /** Assistant text; consecutive pieces are one block (deltas join without a break). */
  private text(text: string, { delta = false, error = false } = {}): void {
    const last = this.list.at(-1);
    if (!error && last?.kind === "text" && !last.error && this.openText !== null && this.openText !== "plain") {
      const joiner = delta || last.text.endsWith("\n") || last.text === "" ? "" : "\n";
      this.replace(this.list.length - 1, { ...last, text: last.text + joiner + text });
      this.openText = delta ? "delta" : "text";
      return;
    }
    this.add({ kind: "text", key: this.key(), text, error });
    this.openText = error ? null : delta ? "delta" : "text";
  }

  private toolCall(toolId: string, name: string, input: unknown, summary?: string): void {
    const item: TranscriptItem = {
      kind: "tool",
      key: this.key(),
      toolId,
      name,
      summary: summary ?? toolSummary(input),
      input: typeof input === "string" ? input : pretty(input),
      state: "running",
      output: null,
      exitCode: null,
    };
    this.add(item);
    if (toolId) this.toolIndex.set(toolId, this.list.length - 1);
  }

  /** Completes the call with this id; returns false if there was none. */
  private toolResult(toolId: string, state: ToolState, output: string, exitCode: number | null = null): boolean {
    const index = this.toolIndex.get(toolId);
    const item = index === undefined ? undefined : this.list[index];
    if (index === undefined || item?.kind !== "tool") return false;
    this.replace(index, { ...item, state, output, exitCode });
    return true;
  }

  private handle(event: Json, type: string): void {
    switch (type) {
      // ---- claude
      case "system":
        if (event.subtype === "init") {
          this.flavor = "claude";
          const tools = Array.isArray(event.tools) ? event.tools.length : 0;
          const version = str(event.claude_code_version);
          const parts = [version ? `Claude Code ${version}` : "Claude Code", str(event.cwd), tools ? `${tools} tools` : null];
          this.add({ kind: "session", key: this.key(), agent: "claude", model: str(event.model), detail: parts.filter(Boolean).join(" · ") });
        } else {
          this.unknown(event, `system ${str(event.subtype) ?? ""}`.trim());
        }
        return;
      case "assistant":
        this.claudeAssistant(event);
        return;
      case "user":
        this.claudeUser(event);
        return;
      case "result":
        if ("subtype" in event || "is_error" in event) this.claudeResult(event);
        else this.geminiResult(event);
        return;
      // ---- codex
      case "thread.started":
        this.flavor = "codex";
        this.add({ kind: "session", key: this.key(), agent: "codex", model: null, detail: `Codex thread ${str(event.thread_id) ?? ""}`.trim() });
        return;
      case "turn.started":
        return;
      case "item.started":
      case "item.updated":
      case "item.completed":
        this.codexItem(event, type);
        return;
      case "turn.completed":
        this.add({ kind: "result", key: this.key(), ok: true, text: "", stats: usageStats(event.usage) });
        return;
      case "turn.failed": {
        const error = (isObject(event.error) ? str(event.error.message) : null) ?? "the turn failed";
        // codex sends the same message as an `error` event just before: say it once.
        const last = this.list.at(-1);
        const repeated = last?.kind === "notice" && last.text === error;
        this.add({ kind: "result", key: this.key(), ok: false, text: repeated ? "" : error, stats: [] });
        return;
      }
      case "error":
        this.add({ kind: "notice", key: this.key(), level: "error", text: str(event.message) ?? pretty(event) });
        return;
      // ---- gemini
      case "init":
        this.flavor = "gemini";
        this.add({ kind: "session", key: this.key(), agent: "gemini", model: str(event.model), detail: "Gemini CLI" });
        return;
      case "message":
        this.geminiMessage(event);
        return;
      case "tool_use":
        this.toolCall(str(event.tool_id) ?? "", str(event.tool_name) ?? "tool", event.parameters);
        return;
      case "tool_result": {
        const ok = event.status === "success";
        const error = isObject(event.error) ? str(event.error.message) : null;
        const output = [str(event.output) ?? "", error ?? ""].filter(Boolean).join("\n");
        if (!this.toolResult(str(event.tool_id) ?? "", ok ? "ok" : "error", output)) {
          this.add({ kind: "notice", key: this.key(), level: ok ? "warning" : "error", text: `tool result without a call: ${output}` });
        }
        return;
      }
      default:
        this.unknown(event, type);
    }
  }

  private unknown(event: Json, label: string): void {
    this.add({ kind: "event", key: this.key(), label, json: pretty(event) });
  }

  private claudeAssistant(event: Json): void {
    const message = isObject(event.message) ? event.message : {};
    const content = Array.isArray(message.content) ? message.content : [];
    const isError = typeof event.error === "string" && event.error !== "";
    for (const block of content) {
      if (!isObject(block)) continue;
      switch (block.type) {
        case "text":
          this.text(str(block.text) ?? "", { error: isError });
          break;
        case "thinking":
        case "redacted_thinking":
          this.add({ kind: "thinking", key: this.key(), text: str(block.thinking) ?? "(redacted)" });
          break;
        case "tool_use":
        case "server_tool_use":
          this.toolCall(str(block.id) ?? "", str(block.name) ?? "tool", block.input);
          break;
        default:
          this.unknown(block, `assistant ${str(block.type) ?? "block"}`);
      }
    }
  }

  private claudeUser(event: Json): void {
    const message = isObject(event.message) ? event.message : {};
    const content = message.content;
    if (typeof content === "string") {
      this.add({ kind: "prompt", key: this.key(), text: content });
      return;
    }
    if (!Array.isArray(content)) return;
    for (const block of content) {
      if (!isObject(block)) continue;
      if (block.type === "tool_result") {
        const output = textOfContent(block.content);
        const state: ToolState = block.is_error === true ? "error" : "ok";
        if (!this.toolResult(str(block.tool_use_id) ?? "", state, output)) {
          this.add({ kind: "notice", key: this.key(), level: "warning", text: `tool result without a call: ${output}` });
        }
      } else if (block.type === "text") {
        this.add({ kind: "prompt", key: this.key(), text: str(block.text) ?? "" });
      }
    }
  }

  private claudeResult(event: Json): void {
    const stats: string[] = [];
    const duration = num(event.duration_ms);
    if (duration !== null) stats.push(formatDuration(duration));
    const turns = num(event.num_turns);
    if (turns !== null) stats.push(`${turns} turn${turns === 1 ? "" : "s"}`);
    stats.push(...usageStats(event.usage));
    const cost = num(event.total_cost_usd);
    if (cost) stats.push(`$${cost.toFixed(4)}`);
    const ok = event.is_error !== true;
    const text = str(event.result) ?? "";
    // The result repeats the last text block: show only its numbers, unless it says more.
    const last = this.list.at(-1);
    const repeated = last?.kind === "text" && last.text.trim() === text.trim();
    this.add({ kind: "result", key: this.key(), ok, text: ok || repeated ? "" : text, stats });
  }

  private codexItem(event: Json, type: string): void {
    const item = isObject(event.item) ? event.item : {};
    const id = str(item.id) ?? "";
    const itemType = str(item.type) ?? "item";
    const completed = type === "item.completed";
    switch (itemType) {
      case "agent_message":
        if (completed) this.text(str(item.text) ?? "");
        return;
      case "reasoning":
        if (completed) this.add({ kind: "thinking", key: this.key(), text: str(item.text) ?? "" });
        return;
      case "command_execution": {
        const command = str(item.command) ?? "";
        if (!this.toolIndex.has(id)) this.toolCall(id, "shell", command, unwrapShell(command));
        if (completed || item.status === "completed" || item.status === "failed") {
          const exitCode = num(item.exit_code);
          const ok = item.status !== "failed" && (exitCode === null || exitCode === 0);
          this.toolResult(id, ok ? "ok" : "error", str(item.aggregated_output) ?? "", exitCode);
        }
        return;
      }
      case "file_change": {
        const changes = Array.isArray(item.changes) ? item.changes : [];
        const paths = changes.map((c) => (isObject(c) ? `${str(c.kind) ?? ""} ${str(c.path) ?? ""}`.trim() : "")).filter(Boolean);
        if (!this.toolIndex.has(id)) this.toolCall(id, "file change", item, paths.join(", ") || "files");
        if (completed) this.toolResult(id, item.status === "failed" ? "error" : "ok", paths.join("\n"));
        return;
      }
      case "mcp_tool_call": {
        const name = [str(item.server), str(item.tool)].filter(Boolean).join(".") || "mcp";
        if (!this.toolIndex.has(id)) this.toolCall(id, name, item.arguments ?? item);
        if (completed) {
          const failed = item.status === "failed" || item.error !== undefined && item.error !== null;
          this.toolResult(id, failed ? "error" : "ok", pretty(item.result ?? item.error ?? ""));
        }
        return;
      }
      case "web_search":
        if (!this.toolIndex.has(id)) this.toolCall(id, "web search", item, str(item.query) ?? "");
        if (completed) this.toolResult(id, "ok", "");
        return;
      case "error":
        if (completed) this.add({ kind: "notice", key: this.key(), level: "warning", text: str(item.message) ?? pretty(item) });
        return;
      default:
        if (completed) this.unknown(item, `codex ${itemType}`);
    }
  }

  private geminiMessage(event: Json): void {
    const content = textOfContent(event.content);
    if (event.role === "user") {
      this.add({ kind: "prompt", key: this.key(), text: content });
      return;
    }
    this.text(content, { delta: event.delta === true });
  }

  private geminiResult(event: Json): void {
    const ok = event.status === "success";
    const stats: string[] = [];
    const s = isObject(event.stats) ? event.stats : {};
    const duration = num(s.duration_ms);
    if (duration !== null) stats.push(formatDuration(duration));
    const tools = num(s.tool_calls);
    if (tools) stats.push(`${tools} tool call${tools === 1 ? "" : "s"}`);
    const input = num(s.input_tokens);
    const output = num(s.output_tokens);
    if (input !== null || output !== null) stats.push(`${input ?? 0} in / ${output ?? 0} out tokens`);
    const error = isObject(event.error) ? str(event.error.message) : null;
    this.add({ kind: "result", key: this.key(), ok, text: ok ? "" : (error ?? "the run failed"), stats });
  }
}

function usageStats(usage: unknown): string[] {
  if (!isObject(usage)) return [];
  const input = num(usage.input_tokens);
  const output = num(usage.output_tokens);
  if (input === null && output === null) return [];
  return [`${input ?? 0} in / ${output ?? 0} out tokens`];
}

/** Whether stdout looks like JSON lines (then it is shown as a transcript by default). */
export function looksLikeJsonLines(lines: readonly string[]): boolean {
  let checked = 0;
  let json = 0;
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    checked += 1;
    if (trimmed.startsWith("{") && trimmed.endsWith("}")) json += 1;
    if (checked >= 5) break;
  }
  return checked > 0 && json * 2 >= checked;
}

export function parseTranscript(text: string): TranscriptItem[] {
  const builder = new TranscriptBuilder();
  builder.pushLines(text.split("\n"));
  return builder.items;
}
