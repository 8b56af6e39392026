/** Token and cost figures as people read them (runs, task and project totals). */

import type { RunUsage, UsageTotal } from "../api/types";

export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  if (usd > 0 && usd < 0.00005) return "<$0.0001";
  return usd >= 1 || usd === 0 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

export function formatTokenCount(tokens: number | null | undefined): string {
  if (tokens === null || tokens === undefined) return "?";
  if (tokens < 1000) return String(tokens);
  if (tokens < 1_000_000) {
    const thousands = tokens / 1000;
    return `${thousands < 10 ? Number(thousands.toFixed(1)) : Math.round(thousands)}k`;
  }
  return `${Number((tokens / 1_000_000).toFixed(1))}M`;
}

export interface UsageFacts {
  /** e.g. "$0.0123"; null when no cost is known */
  cost: string | null;
  /** e.g. "1.2k in (1k cached) · 50 out"; null when no token count is known */
  tokens: string | null;
  /** for a total that not every run contributed to, e.g. "2 of 3 runs reported usage" */
  partial: string | null;
}

/** What to show of a run's usage or a total over `runCount` runs; null when nothing is known. */
export function usageFacts(usage: RunUsage | UsageTotal | null | undefined, runCount?: number): UsageFacts | null {
  if (!usage) return null;
  const { input_tokens: input, output_tokens: output, cached_input_tokens: cached, cost_usd: cost } = usage;
  if (input === null && output === null && cached === null && cost === null) return null;
  const parts: string[] = [];
  if (input !== null) parts.push(`${formatTokenCount(input)} in${cached ? ` (${formatTokenCount(cached)} cached)` : ""}`);
  if (output !== null) parts.push(`${formatTokenCount(output)} out`);
  const runs = "runs" in usage ? usage.runs : undefined;
  const partial =
    runs !== undefined && runCount !== undefined && runs < runCount ? `${runs} of ${runCount} runs reported usage` : null;
  return { cost: cost === null ? null : formatCost(cost), tokens: parts.length ? parts.join(" · ") : null, partial };
}
