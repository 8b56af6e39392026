import { describe, expect, it } from "vitest";
import type { BusMessage } from "../api/types";
import { matchesFilter, threadRows, typeCounts } from "./threads";

function msg(id: string, parents: string[] = [], type = "USER"): BusMessage {
  return {
    msg_id: id,
    ts: "2026-01-01T00:00:00Z",
    type,
    project_id: "p",
    task_id: "",
    run_id: "",
    parents: parents.map((p) => ({ msg_id: p, kind: "", meta: {} })),
    links: [],
    meta: {},
    body: id,
  };
}

describe("threadRows", () => {
  it("nests replies under their parent, in order", () => {
    const rows = threadRows([msg("a"), msg("b"), msg("a1", ["a"]), msg("a1x", ["a1"]), msg("a2", ["a"])]);
    expect(rows.map((r) => [r.message.msg_id, r.depth, r.replyCount])).toEqual([
      ["a", 0, 2],
      ["a1", 1, 1],
      ["a1x", 2, 0],
      ["a2", 1, 0],
      ["b", 0, 0],
    ]);
  });

  it("shows a reply to a message that is not shown (filtered, or unknown) as a thread", () => {
    const rows = threadRows([msg("r", ["gone"])]);
    expect(rows).toEqual([expect.objectContaining({ depth: 0, parentId: null })]);
  });

  it("does not lose messages whose parents form a cycle", () => {
    const rows = threadRows([msg("x", ["y"]), msg("y", ["x"])]);
    expect(rows.map((r) => r.message.msg_id).sort()).toEqual(["x", "y"]);
  });
});

describe("filters", () => {
  it("can hide the runner's run events", () => {
    expect(matchesFilter(msg("a", [], "RUN_START"), { kind: "no-run-events" })).toBe(false);
    expect(matchesFilter(msg("a", [], "FACT"), { kind: "no-run-events" })).toBe(true);
    expect(matchesFilter(msg("a", [], "FACT"), { kind: "type", type: "USER" })).toBe(false);
  });

  it("counts types, most frequent first", () => {
    expect(typeCounts([msg("a"), msg("b", [], "FACT"), msg("c")])).toEqual([
      ["USER", 2],
      ["FACT", 1],
    ]);
  });
});
