/** A task's budget as people read it, and the new-task dialog's budget fields. */

import type { TaskBudget } from "../api/types";

/** Dollars with at least cents, and more digits only for small amounts ($0.0042). */
export function formatUsd(amount: number): string {
  if (!Number.isFinite(amount)) return "—";
  const digits = amount !== 0 && Math.abs(amount) < 0.1 ? 4 : 2;
  return `$${amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: digits })}`;
}

export function formatTokens(count: number): string {
  return count.toLocaleString("en-US");
}

export interface BudgetView {
  /** "$0.75 of $0.60"; null when the task has no cost limit */
  cost: string | null;
  /** "4,500 of 2,500"; null when the task has no token limit */
  tokens: string | null;
  /** a note when runs of unknown cost were counted as $0 against a cost limit */
  note: string | null;
  /** which limit the spending has reached (the loop starts no further run) */
  costReached: boolean;
  tokensReached: boolean;
  exceeded: boolean;
}

/** What the task view shows of a budget; null when the task has none. */
export function describeBudget(budget: TaskBudget | null | undefined): BudgetView | null {
  if (!budget || (budget.max_cost_usd === null && budget.max_tokens === null)) return null;
  const unknown = budget.unknown_cost_runs;
  const { max_cost_usd: maxCost, max_tokens: maxTokens } = budget;
  return {
    cost: budget.max_cost_usd === null ? null : `${formatUsd(budget.spent_cost_usd)} of ${formatUsd(budget.max_cost_usd)}`,
    tokens: budget.max_tokens === null ? null : `${formatTokens(budget.spent_tokens)} of ${formatTokens(budget.max_tokens)}`,
    note:
      budget.max_cost_usd !== null && unknown > 0
        ? `${unknown} run${unknown === 1 ? "" : "s"} of unknown cost counted as $0`
        : null,
    costReached: maxCost !== null && budget.spent_cost_usd >= maxCost,
    tokensReached: maxTokens !== null && budget.spent_tokens >= maxTokens,
    exceeded: budget.exceeded,
  };
}

/**
 * A budget field of the new-task dialog: `{ value }` (undefined when left empty: the
 * server's default applies) or `{ problem }` naming the field.
 */
export function parseLimit(text: string, label: string, whole: boolean): { value?: number; problem?: string } {
  const trimmed = text.trim().replace(/^\$/, "");
  if (!trimmed) return {};
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value < 0) return { problem: `${label} must be a number, 0 or more` };
  if (whole && !Number.isInteger(value)) return { problem: `${label} must be a whole number` };
  return { value };
}
