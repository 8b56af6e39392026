"""A task's budget: what all its runs together may cost, and how many tokens they may use.

The task's total covers every run in the task: the loop's own runs and the child runs
agents start in it. Tokens are input plus output; cached input tokens are already part
of the input (``storage.usage``), so they count once, as the model read them (their
lower price shows in the cost). The cost is the sum of the runs' ``cost_usd``; a run
whose cost is not known (an agent that reports none and has no ``pricing``, or a run
cut off before its final event) counts as $0, and is named wherever the budget speaks.

A budget is reached when the total is at or over a limit; the loop then starts no
further run. Usage is known only when a run ends (the CLIs report it in their last
event), so a run is never cut off by its own spending, only by the end of another run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, get_args

from conductor_loop.config.models import BudgetAction, DefaultsConfig
from conductor_loop.storage.runinfo import STATUS_RUNNING, RunInfo

BUDGET_EXCEEDED = "BUDGET_EXCEEDED"  # the bus message type
ACTION_FINISH_RUN = "finish_run"  # running runs go on to their end (the default)
ACTION_STOP_RUN = "stop_run"  # running runs are stopped, as a user's stop would
BUDGET_ACTIONS: tuple[str, ...] = get_args(BudgetAction)
EXIT_BUDGET = 3  # ``run-agent task`` when its budget stopped it
REASON_PREFIX = "budget exceeded"


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits a task runs under; None: no limit of that kind."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None
    action: str = ACTION_FINISH_RUN

    @classmethod
    def of(
        cls,
        defaults: DefaultsConfig,
        *,
        max_cost_usd: float | None = None,
        max_tokens: int | None = None,
        action: str | None = None,
    ) -> Budget:
        """The task's own settings (None: not given) over the config's defaults; a limit
        of 0 is no limit, so ``--max-cost 0`` lifts a default budget for one task."""
        cost = defaults.max_cost_usd if max_cost_usd is None else max_cost_usd
        tokens = defaults.max_tokens if max_tokens is None else max_tokens
        return cls(cost or None, tokens or None, action or defaults.budget_action)

    @property
    def limited(self) -> bool:
        return self.max_cost_usd is not None or self.max_tokens is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "max_cost_usd": self.max_cost_usd,
            "max_tokens": self.max_tokens,
            "action": self.action,
        }

    @classmethod
    def from_json(cls, data: Any) -> Budget | None:
        """From ``to_json``'s mapping; a value that makes no sense is left out."""
        if not isinstance(data, dict):
            return None
        cost = _positive(data.get("max_cost_usd"))
        tokens = _positive(data.get("max_tokens"))
        action = data.get("action")
        return cls(
            cost,
            int(tokens) if tokens is not None and tokens.is_integer() else None,
            action if action in BUDGET_ACTIONS else ACTION_FINISH_RUN,
        )


@dataclass(frozen=True, slots=True)
class Spent:
    """What a task's runs have used so far, as far as it is known."""

    cost_usd: float = 0.0
    tokens: int = 0
    unknown_cost: tuple[str, ...] = ()  # ended runs whose cost is not known (counted $0)


def spent(runs: Iterable[RunInfo]) -> Spent:
    """The total of ``runs`` (a task's runs, running ones included: they add nothing)."""
    cost = 0.0
    tokens = 0
    unknown: list[str] = []
    for info in runs:
        usage = info.usage
        if usage is not None:
            tokens += (usage.input_tokens or 0) + (usage.output_tokens or 0)
            cost += usage.cost_usd or 0.0
        cost_unknown = usage is None or usage.cost_usd is None
        # A run's own figures arrive at its end; a run whose agent never started cost nothing.
        if cost_unknown and info.status != STATUS_RUNNING and (usage is not None or info.pid):
            unknown.append(info.run_id)
    # Costs are sums of prices with many decimals: compare what people would write.
    return Spent(round(cost, 9), tokens, tuple(unknown))


def crossing_run(budget: Budget, runs: Iterable[RunInfo]) -> str:
    """The run whose end brought the total to the budget ("" if it is not reached)."""
    ended = sorted((r for r in runs if r.status != STATUS_RUNNING), key=lambda r: r.end_time)
    for count in range(1, len(ended) + 1):
        if BudgetState(budget, spent(ended[:count])).exceeded:
            return ended[count - 1].run_id
    return ""


@dataclass(frozen=True, slots=True)
class BudgetState:
    budget: Budget
    spent: Spent

    @property
    def cost_exceeded(self) -> bool:
        limit = self.budget.max_cost_usd
        return limit is not None and self.spent.cost_usd >= limit

    @property
    def tokens_exceeded(self) -> bool:
        limit = self.budget.max_tokens
        return limit is not None and self.spent.tokens >= limit

    @property
    def exceeded(self) -> bool:
        return self.cost_exceeded or self.tokens_exceeded

    def key(self) -> str:
        """Which limits were crossed: one BUDGET_EXCEEDED message per distinct key."""
        return f"max_cost_usd={self.budget.max_cost_usd} max_tokens={self.budget.max_tokens}"

    def reason(self) -> str:
        """``budget exceeded: …`` with the figures of each limit reached."""
        parts = []
        if self.cost_exceeded:
            parts.append(
                f"cost ${dollars(self.spent.cost_usd)} of ${dollars(self.budget.max_cost_usd)}"
            )
        if self.tokens_exceeded:
            parts.append(f"{self.spent.tokens:,} tokens of {self.budget.max_tokens:,}")
        text = f"{REASON_PREFIX}: " + ", ".join(parts or ["no limit reached"])
        unknown = self.spent.unknown_cost
        if unknown and self.budget.max_cost_usd is not None:
            runs = "run" if len(unknown) == 1 else "runs"
            names = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
            text += f" ({len(unknown)} {runs} without a known cost counted as $0: {names})"
        return text

    def figures(self) -> dict[str, Any]:
        """The budget as the API shows it (a limit is null when there is none)."""
        return {
            "max_cost_usd": self.budget.max_cost_usd,
            "max_tokens": self.budget.max_tokens,
            "action": self.budget.action,
            "spent_cost_usd": self.spent.cost_usd,
            "spent_tokens": self.spent.tokens,
            "unknown_cost_runs": len(self.spent.unknown_cost),
            "exceeded": self.exceeded,
        }

    def meta(self) -> dict[str, str]:
        """The figures for a bus message's meta (strings; a missing limit is "")."""
        return {key: _meta_text(value) for key, value in self.figures().items()}


def _meta_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _positive(value: Any) -> float | None:
    """A limit read back from JSON: a finite number over 0, else None (no limit)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def dollars(amount: float | None) -> str:
    """At least cents, more digits only where they say something ($0.0042, $1.25)."""
    amount = amount or 0.0
    text = f"{amount:.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
