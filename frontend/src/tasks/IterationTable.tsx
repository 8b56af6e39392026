/** A task's runs in loop order, children indented under the run that spawned them. */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import { useApp, useExplorer } from "../app/context";
import { navigate } from "../app/routing";
import type { RunNode } from "../tree/runTree";
import { formatClock } from "../widgets/format";
import { RunDuration } from "../widgets/RunDuration";
import { StatusBadge } from "../widgets/StatusBadge";
import { formatCost } from "../widgets/usage";

const ROW_HEIGHT = 34;

interface IterationRow {
  node: RunNode;
  depth: number;
}

function flatten(nodes: RunNode[], depth = 0, out: IterationRow[] = []): IterationRow[] {
  for (const node of nodes) {
    out.push({ node, depth });
    flatten(node.children, depth + 1, out);
  }
  return out;
}

export function IterationTable({ projectId, taskId }: { projectId: string; taskId: string }) {
  const { explorer } = useApp();
  const state = useExplorer().byProject.get(projectId);
  const tree = explorer.tree(projectId); // cached per change of the project's runs
  const rows = useMemo(() => flatten(tree?.find((t) => t.task.task_id === taskId)?.runs ?? []), [tree, taskId]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });

  if (!tree) return <p className="muted">{state?.error ?? "Loading…"}</p>;
  if (rows.length === 0) return <p className="muted">No runs yet.</p>;

  return (
    <div className="iterations" role="list" aria-label="Runs of this task">
      <div className="iteration-head" aria-hidden="true">
        <span>Run</span>
        <span>Status</span>
        <span>Agent</span>
        <span>Started</span>
        <span>Duration</span>
        <span>Exit</span>
        <span>Cost</span>
      </div>
      <div ref={scrollRef} className="iteration-scroll" style={{ maxHeight: Math.min(rows.length, 10) * ROW_HEIGHT + 2 }}>
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const { node, depth } = rows[item.index]!;
            const run = node.run;
            return (
              <button
                key={run.run_id}
                type="button"
                role="listitem"
                className="iteration-row"
                style={{ transform: `translateY(${item.start}px)`, height: ROW_HEIGHT }}
                title={run.run_id}
                onClick={() => navigate({ view: "run", projectId, taskId, runId: run.run_id, tab: "output" })}
              >
                <span style={{ paddingLeft: depth * 14 }}>
                  {depth > 0 ? "↳ child" : `#${node.iteration}`}
                  {node.orphan && " ⚠"}
                </span>
                <span>
                  <StatusBadge status={run.status} compact />
                </span>
                <span>{run.agent}</span>
                <span>{formatClock(run.start_time)}</span>
                <span>
                  <RunDuration run={run} />
                </span>
                <span>{run.status === "running" ? "—" : run.exit_code}</span>
                <span className="usage-cost">{formatCost(run.usage?.cost_usd)}</span>
              </button>
            );
          })}
        </div>
      </div>
    </div>
  );
}
