import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { TranscriptEntry } from "./TranscriptEntry";
import {
  looksLikeJsonLines,
  parseTranscript,
  TranscriptBuilder,
  unwrapShell,
  type TranscriptItem,
} from "./streamJson";

/** The real CLIs' stdout samples that the Python parsers are tested with too. */
const FIXTURES = resolve(__dirname, "../../../tests/fixtures/agents") + "/";

function fixture(name: string): string {
  return readFileSync(FIXTURES + name, "utf8");
}

function kinds(items: TranscriptItem[]): string[] {
  return items.map((i) => i.kind);
}

function renderAll(items: TranscriptItem[]) {
  return render(
    <div>
      {items.map((item) => (
        <TranscriptEntry key={item.key} item={item} />
      ))}
    </div>,
  );
}

afterEach(cleanup);

describe("stream-json transcript, per CLI sample", () => {
  it("has an expectation for every sample file", () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".jsonl")).sort();
    expect(files).toEqual([
      "claude_error.jsonl",
      "claude_plain.jsonl",
      "claude_tool.jsonl",
      "codex_error.jsonl",
      "codex_plain.jsonl",
      "codex_tool.jsonl",
      "codex_warning.jsonl",
      "gemini_error.jsonl",
      "gemini_plain.jsonl",
      "gemini_tool.jsonl",
    ]);
  });

  it.each(["claude_plain.jsonl", "codex_plain.jsonl", "gemini_plain.jsonl"])(
    "%s: shows the answer as text and a successful result, no raw JSON",
    (name) => {
      const items = parseTranscript(fixture(name));
      expect(kinds(items)).toEqual(["session", ...(name.startsWith("gemini") ? ["prompt"] : []), "text", "result"]);
      const view = renderAll(items);
      expect(screen.getByTestId("tx-text").textContent).toBe("The answer is 42.");
      expect(screen.getByTestId("tx-result").textContent).toMatch(/^Finished/);
      expect(view.container.textContent).not.toContain('"type"');
    },
  );

  it.each(["claude_tool.jsonl", "codex_tool.jsonl", "gemini_tool.jsonl"])(
    "%s: folds the tool call with its command and result",
    (name) => {
      const items = parseTranscript(fixture(name));
      const tools = items.filter((i) => i.kind === "tool");
      expect(tools).toHaveLength(1);
      const tool = tools[0]!;
      expect(tool.kind === "tool" && tool.state).toBe("ok");
      expect(tool.kind === "tool" && tool.summary).toMatch(/^touch \/tmp\/capture\/DONE/);
      renderAll(items);
      const folded = screen.getByTestId("tx-tool");
      expect(folded.tagName).toBe("DETAILS");
      expect(folded.hasAttribute("open")).toBe(false);
      expect(folded.querySelector("summary")!.textContent).toContain("touch /tmp/capture/DONE");
      expect(folded.querySelector("summary")!.textContent).toContain("done");
      const texts = screen.getAllByTestId("tx-text").map((e) => e.textContent);
      expect(texts.at(-1)).toMatch(/The answer is 42\.$/);
    },
  );

  it("claude_error: shows the API error once, as a failure", () => {
    const items = parseTranscript(fixture("claude_error.jsonl"));
    expect(kinds(items)).toEqual(["session", "text", "result"]);
    const [, text, result] = items;
    expect(text).toMatchObject({ kind: "text", error: true });
    expect(result).toMatchObject({ kind: "result", ok: false, text: "" });
    renderAll(items);
    expect(screen.getByTestId("tx-result").textContent).toMatch(/^Failed/);
    expect(screen.getByTestId("tx-text").className).toContain("tx-error");
  });

  it("codex_error: shows the error and a failed turn", () => {
    const items = parseTranscript(fixture("codex_error.jsonl"));
    expect(kinds(items)).toEqual(["session", "notice", "result"]);
    expect(items[1]).toMatchObject({ level: "error", text: expect.stringContaining("does not exist") });
    expect(items[2]).toMatchObject({ ok: false, text: "" }); // the same message is not repeated
    renderAll(items);
    expect(screen.getByRole("alert").textContent).toContain("gpt-5.5");
  });

  it("codex_warning: an error item is a warning and the answer still shows", () => {
    const items = parseTranscript(fixture("codex_warning.jsonl"));
    expect(kinds(items)).toEqual(["session", "notice", "text", "result"]);
    expect(items[1]).toMatchObject({ level: "warning" });
  });

  it("gemini_error: shows the API error in a failed result", () => {
    const items = parseTranscript(fixture("gemini_error.jsonl"));
    expect(kinds(items)).toEqual(["session", "prompt", "result"]);
    expect(items[2]).toMatchObject({ ok: false, text: expect.stringContaining("API key not valid") });
  });

  it("gemini deltas join into one text block", () => {
    const items = parseTranscript(fixture("gemini_tool.jsonl"));
    const texts = items.filter((i) => i.kind === "text").map((i) => (i.kind === "text" ? i.text : ""));
    expect(texts).toEqual(["I'll create the DONE file.", "The answer is 42."]);
  });
});

describe("TranscriptBuilder, live", () => {
  it("fills in a tool call when its result arrives later, with a new items array", () => {
    const lines = fixture("claude_tool.jsonl").split("\n");
    const builder = new TranscriptBuilder();
    builder.pushLines(lines.slice(0, 3));
    const before = builder.items;
    const tool = before.find((i) => i.kind === "tool");
    expect(tool).toMatchObject({ state: "running", output: null });
    builder.push(lines[3]!);
    const after = builder.items;
    expect(after).not.toBe(before);
    expect(after.find((i) => i.kind === "tool")).toMatchObject({ state: "ok" });
    expect(builder.items).toBe(after); // unchanged: same array
  });

  it("keeps plain text (REST agents) as text, joining lines", () => {
    const items = parseTranscript("Hello\nworld\n");
    expect(items).toEqual([{ kind: "plain", key: "i1", text: "Hello\nworld\n" }]);
  });

  it("shows an unknown JSON event folded, not lost", () => {
    const items = parseTranscript('{"type":"something.new","x":1}');
    expect(items[0]).toMatchObject({ kind: "event", label: "something.new" });
  });

  it("shows a line cut in the middle of JSON as plain text", () => {
    expect(parseTranscript('{"type":"assistant","mess')[0]).toMatchObject({ kind: "plain" });
  });

  it("merges the fake agent's one-message-per-line output into one block", () => {
    const line = (n: number) =>
      JSON.stringify({ type: "assistant", message: { content: [{ type: "text", text: `line ${n} of 3\n` }] } });
    const items = parseTranscript([1, 2, 3].map(line).join("\n"));
    expect(items).toEqual([{ kind: "text", key: "i1", text: "line 1 of 3\nline 2 of 3\nline 3 of 3\n", error: false }]);
  });
});

describe("helpers", () => {
  it("unwraps codex's shell wrapper", () => {
    expect(unwrapShell("/bin/bash -lc 'touch /tmp/x'")).toBe("touch /tmp/x");
    expect(unwrapShell("/bin/bash -lc 'echo '\\''hi'\\'''")).toBe("echo 'hi'");
    expect(unwrapShell("ls -l")).toBe("ls -l");
  });

  it("detects JSON lines", () => {
    expect(looksLikeJsonLines(fixture("codex_plain.jsonl").split("\n"))).toBe(true);
    expect(looksLikeJsonLines(["plain words", "more"])).toBe(false);
    expect(looksLikeJsonLines([])).toBe(false);
  });
});
