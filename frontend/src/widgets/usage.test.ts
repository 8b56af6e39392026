import { describe, expect, it } from "vitest";
import { formatCost, formatTokenCount, usageFacts } from "./usage";

describe("formatCost", () => {
  it("shows cents for a dollar or more, four decimals below, and a dash when unknown", () => {
    expect(formatCost(12.345)).toBe("$12.35");
    expect(formatCost(1)).toBe("$1.00");
    expect(formatCost(0.0123)).toBe("$0.0123");
    expect(formatCost(0.000175)).toBe("$0.0002");
    expect(formatCost(0)).toBe("$0.00");
    expect(formatCost(0.00001)).toBe("<$0.0001");
    expect(formatCost(null)).toBe("—");
    expect(formatCost(undefined)).toBe("—");
  });
});

describe("formatTokenCount", () => {
  it("abbreviates thousands and millions", () => {
    expect(formatTokenCount(999)).toBe("999");
    expect(formatTokenCount(1200)).toBe("1.2k");
    expect(formatTokenCount(45_600)).toBe("46k");
    expect(formatTokenCount(2_500_000)).toBe("2.5M");
    expect(formatTokenCount(null)).toBe("?");
  });
});

describe("usageFacts", () => {
  it("gives cost and tokens of a run, with the cached part of the input", () => {
    const facts = usageFacts({ input_tokens: 1200, output_tokens: 50, cached_input_tokens: 1000, cost_usd: 0.0123 });
    expect(facts).toEqual({ cost: "$0.0123", tokens: "1.2k in (1k cached) · 50 out", partial: null });
  });

  it("leaves out what is unknown, and says nothing when nothing is known", () => {
    expect(usageFacts({ input_tokens: 100, output_tokens: 10, cached_input_tokens: null, cost_usd: null })).toEqual({
      cost: null,
      tokens: "100 in · 10 out",
      partial: null,
    });
    expect(usageFacts(null)).toBeNull();
    expect(usageFacts(undefined)).toBeNull();
    expect(usageFacts({ input_tokens: null, output_tokens: null, cached_input_tokens: null, cost_usd: null })).toBeNull();
  });

  it("says when a total covers only some of the runs", () => {
    const total = { input_tokens: 10, output_tokens: 2, cached_input_tokens: 0, cost_usd: 1.5, runs: 2 };
    expect(usageFacts(total, 3)).toEqual({ cost: "$1.50", tokens: "10 in · 2 out", partial: "2 of 3 runs reported usage" });
    expect(usageFacts(total, 2)?.partial).toBeNull();
    expect(usageFacts({ ...total, input_tokens: null, output_tokens: null, cost_usd: null, cached_input_tokens: null, runs: 0 }, 4)).toBeNull();
  });
});
