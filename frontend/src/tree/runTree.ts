/**
 * Runs as a tree: a run spawned by another (`parent_run_id`) sits under it; the
 * iterations of one Ralph loop (`previous_run_id`) follow each other at the same
 * level, numbered. Runs whose parent or previous run is gone (deleted, another task)
 * are kept at the top and marked, never dropped; cycles in the links cannot hang it.
 */

import type { RunSummary, TaskSummary } from "../api/types";

export type OrphanReason = "parent-missing" | "previous-missing" | "cycle";

export interface RunNode {
  run: RunSummary;
  /** Position in its restart chain: 1 for the first iteration. */
  iteration: number;
  /** Runs it spawned (their own chains in order). */
  children: RunNode[];
  orphan: OrphanReason | null;
}

export interface TaskNode {
  task: TaskSummary;
  runs: RunNode[];
  runCount: number;
}

const ROOT = "\0root";

function byStart(a: RunSummary, b: RunSummary): number {
  const at = a.start_time || "";
  const bt = b.start_time || "";
  if (at !== bt) return at < bt ? -1 : 1;
  return a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0;
}

/** The forest of one task's runs (or any set of runs), roots in start order. */
export function buildRunForest(runs: Iterable<RunSummary>): RunNode[] {
  const byId = new Map<string, RunSummary>();
  for (const run of runs) byId.set(run.run_id, run);

  const levelOf = new Map<string, RunSummary[]>();
  const orphanOf = new Map<string, OrphanReason>();
  for (const run of byId.values()) {
    const parent = run.parent_run_id;
    let key = ROOT;
    if (parent && parent !== run.run_id && byId.has(parent)) key = parent;
    else if (parent) orphanOf.set(run.run_id, "parent-missing");
    let members = levelOf.get(key);
    if (!members) levelOf.set(key, (members = []));
    members.push(run);
  }

  const visited = new Set<string>();

  const buildLevel = (members: RunSummary[]): RunNode[] => {
    const ids = new Set(members.map((r) => r.run_id));
    const successors = new Map<string, RunSummary[]>();
    const heads: RunSummary[] = [];
    for (const run of members) {
      const previous = run.previous_run_id;
      if (previous && previous !== run.run_id && ids.has(previous)) {
        let next = successors.get(previous);
        if (!next) successors.set(previous, (next = []));
        next.push(run);
      } else {
        heads.push(run);
        if (previous && !byId.has(previous) && !orphanOf.has(run.run_id)) {
          orphanOf.set(run.run_id, "previous-missing");
        }
      }
    }
    for (const next of successors.values()) next.sort(byStart);
    heads.sort(byStart);

    const level: RunNode[] = [];
    const walk = (head: RunSummary): void => {
      const stack: Array<[RunSummary, number]> = [[head, 1]];
      while (stack.length > 0) {
        const [run, iteration] = stack.pop()!;
        if (visited.has(run.run_id)) continue;
        visited.add(run.run_id);
        const node: RunNode = {
          run,
          iteration,
          children: [],
          orphan: orphanOf.get(run.run_id) ?? null,
        };
        level.push(node);
        const spawned = levelOf.get(run.run_id);
        if (spawned) node.children = buildLevel(spawned);
        const next = successors.get(run.run_id);
        if (next) for (let i = next.length - 1; i >= 0; i--) stack.push([next[i]!, iteration + 1]);
      }
    };
    for (const head of heads) walk(head);
    // Members only reachable through a previous_run_id cycle: start at the earliest.
    const left = members.filter((r) => !visited.has(r.run_id)).sort(byStart);
    for (const run of left) {
      if (visited.has(run.run_id)) continue;
      orphanOf.set(run.run_id, "cycle");
      walk(run);
    }
    return level;
  };

  const forest = buildLevel(levelOf.get(ROOT) ?? []);
  // Runs only reachable through a parent_run_id cycle.
  const stranded = [...byId.values()].filter((r) => !visited.has(r.run_id)).sort(byStart);
  for (const run of stranded) {
    if (visited.has(run.run_id)) continue;
    orphanOf.set(run.run_id, "cycle");
    forest.push(...buildLevel([run]));
  }
  return forest;
}

/** Latest activity first; tasks with no activity last, by id. */
function byActivity(a: TaskSummary, b: TaskSummary): number {
  const at = a.last_activity ?? "";
  const bt = b.last_activity ?? "";
  if (at !== bt) return at > bt ? -1 : 1;
  return a.task_id < b.task_id ? -1 : a.task_id > b.task_id ? 1 : 0;
}

/** A placeholder for a task whose runs arrived before the task list mentioned it. */
function taskFromRuns(projectId: string, taskId: string, runs: RunSummary[]): TaskSummary {
  const last = [...runs].sort(byStart).at(-1);
  return {
    project_id: projectId,
    task_id: taskId,
    status: last?.status === "running" ? "running" : (last?.status ?? "idle"),
    done: false,
    run_count: runs.length,
    last_run_id: last?.run_id ?? null,
    last_run_status: last?.status ?? null,
    last_activity: last ? last.end_time || last.start_time : null,
    queue_position: null,
    depends_on: [],
    waiting_for: [],
  };
}

/** A project's tasks, each with its run forest. */
export function buildProjectTree(
  projectId: string,
  tasks: Iterable<TaskSummary>,
  runs: Iterable<RunSummary>,
): TaskNode[] {
  const runsByTask = new Map<string, RunSummary[]>();
  for (const run of runs) {
    let list = runsByTask.get(run.task_id);
    if (!list) runsByTask.set(run.task_id, (list = []));
    list.push(run);
  }
  const taskById = new Map<string, TaskSummary>();
  for (const task of tasks) taskById.set(task.task_id, task);
  for (const [taskId, taskRuns] of runsByTask) {
    if (!taskById.has(taskId)) taskById.set(taskId, taskFromRuns(projectId, taskId, taskRuns));
  }
  return [...taskById.values()].sort(byActivity).map((task) => {
    const taskRuns = runsByTask.get(task.task_id) ?? [];
    return { task, runs: buildRunForest(taskRuns), runCount: taskRuns.length };
  });
}

/** Every node of a forest, depth first (for counting and searching). */
export function* walkForest(forest: RunNode[]): Generator<RunNode> {
  const stack = [...forest].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    yield node;
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
}
