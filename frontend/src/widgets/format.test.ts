import { describe, expect, it } from "vitest";

import { formatAgo, formatDuration, formatRayNode } from "./format";

describe("formatAgo", () => {
  const now = Date.parse("2026-01-02T12:00:00Z");
  const before = (ms: number) => new Date(now - ms).toISOString();

  it("always says the unit", () => {
    expect(formatAgo(before(7_400), now)).toBe("7 s ago");
    expect(formatAgo(before(42_000), now)).toBe("42 s ago");
    expect(formatAgo(before(3 * 60_000 + 5_000), now)).toBe("3m ago");
    expect(formatAgo(before(2 * 3_600_000 + 60_000), now)).toBe("2h ago");
    expect(formatAgo(before(3 * 86_400_000), now)).toBe("3d ago");
  });

  it("says just now and never", () => {
    expect(formatAgo(before(1_000), now)).toBe("just now");
    expect(formatAgo(null, now)).toBe("never");
    expect(formatAgo("0001-01-01T00:00:00Z", now)).toBe("never");
  });

  it("leaves durations as they were", () => {
    expect(formatDuration(7_400)).toBe("7.4 s");
  });
});

describe("formatRayNode", () => {
  it("names the node a Ray executor placed the run on, and nothing outside Ray", () => {
    const id = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978879";
    expect(formatRayNode("worker-1", id)).toBe("worker-1 (node 5f1e2d3c4b5a…)");
    expect(formatRayNode("", "abc")).toBe("node abc");
    expect(formatRayNode("worker-1", undefined)).toBe("worker-1");
    expect(formatRayNode("", "")).toBe("");
    expect(formatRayNode(undefined, undefined)).toBe("");
  });
});
