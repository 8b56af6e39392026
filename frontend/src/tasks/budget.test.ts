import { describe, expect, it } from "vitest";
import type { TaskBudget } from "../api/types";
import { describeBudget, formatTokens, formatUsd, parseLimit } from "./budget";

const BUDGET: TaskBudget = {
  max_cost_usd: 0.6,
  max_tokens: null,
  action: "finish_run",
  spent_cost_usd: 0.75,
  spent_tokens: 4500,
  unknown_cost_runs: 0,
  exceeded: true,
};

describe("budget formatting", () => {
  it("shows dollars with cents, and more digits for small amounts", () => {
    expect(formatUsd(0.6)).toBe("$0.60");
    expect(formatUsd(1234.5)).toBe("$1,234.50");
    expect(formatUsd(0.00423)).toBe("$0.0042");
    expect(formatUsd(0)).toBe("$0.00");
    expect(formatTokens(1234567)).toBe("1,234,567");
  });

  it("describes spent against each limit the task has", () => {
    expect(describeBudget(BUDGET)).toEqual({
      cost: "$0.75 of $0.60",
      tokens: null,
      note: null,
      costReached: true,
      tokensReached: false,
      exceeded: true,
    });
    const tokens = { ...BUDGET, max_cost_usd: null, max_tokens: 10000, exceeded: false, unknown_cost_runs: 2 };
    expect(describeBudget(tokens)).toEqual({
      cost: null,
      tokens: "4,500 of 10,000",
      note: null,
      costReached: false,
      tokensReached: false,
      exceeded: false,
    });
  });

  it("says when runs of unknown cost were counted as $0", () => {
    expect(describeBudget({ ...BUDGET, unknown_cost_runs: 1 })?.note).toBe("1 run of unknown cost counted as $0");
    expect(describeBudget({ ...BUDGET, unknown_cost_runs: 3 })?.note).toBe("3 runs of unknown cost counted as $0");
  });

  it("has nothing to show without a limit", () => {
    expect(describeBudget({ ...BUDGET, max_cost_usd: null })).toBeNull();
    expect(describeBudget(undefined)).toBeNull();
  });
});

describe("budget fields of the new-task dialog", () => {
  it("leaves an empty field to the server's default", () => {
    expect(parseLimit("  ", "Max cost", false)).toEqual({});
  });

  it("reads dollars and whole token counts", () => {
    expect(parseLimit("$2.50", "Max cost", false)).toEqual({ value: 2.5 });
    expect(parseLimit("0", "Max tokens", true)).toEqual({ value: 0 });
    expect(parseLimit("100000", "Max tokens", true)).toEqual({ value: 100000 });
  });

  it("names the field of a bad value", () => {
    expect(parseLimit("-1", "Max cost", false).problem).toBe("Max cost must be a number, 0 or more");
    expect(parseLimit("lots", "Max cost", false).problem).toBe("Max cost must be a number, 0 or more");
    expect(parseLimit("1.5", "Max tokens", true).problem).toBe("Max tokens must be a whole number");
  });
});
