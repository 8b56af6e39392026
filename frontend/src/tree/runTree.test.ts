import { describe, expect, it } from "vitest";
import type { RunSummary, TaskSummary } from "../api/types";
import { buildProjectTree, buildRunForest, walkForest, type RunNode } from "./runTree";
import { pathToRun, projectRowId, runRowId, taskRowId, treeRows } from "./treeRows";

let clock = 0;

function run(runId: string, links: Partial<RunSummary> = {}): RunSummary {
  clock += 1;
  return {
    run_id: runId,
    project_id: "proj",
    task_id: "task",
    parent_run_id: "",
    previous_run_id: "",
    agent: "claude",
    status: "completed",
    start_time: new Date(Date.UTC(2026, 0, 1, 0, 0, clock)).toISOString(),
    end_time: "",
    exit_code: 0,
    pid: 0,
    process_ownership: "managed",
    error_summary: "",
    backend_model: "",
    host: "",
    ...links,
  };
}

function task(taskId: string, lastActivity: string | null): TaskSummary {
  return {
    project_id: "proj",
    task_id: taskId,
    status: "completed",
    done: true,
    run_count: 0,
    last_run_id: null,
    last_run_status: null,
    last_activity: lastActivity,
    queue_position: null,
    depends_on: [],
    waiting_for: [],
  };
}

/** The forest as nested [id, iteration, orphan?, children] for readable expectations. */
function shape(nodes: RunNode[]): unknown[] {
  return nodes.map((n) => {
    const head: unknown[] = [n.run.run_id, n.iteration];
    if (n.orphan) head.push(n.orphan);
    if (n.children.length) head.push(shape(n.children));
    return head;
  });
}

describe("buildRunForest", () => {
  it("orders a restart chain by previous_run_id and numbers the iterations", () => {
    const first = run("r1");
    const second = run("r2", { previous_run_id: "r1" });
    const third = run("r3", { previous_run_id: "r2" });
    // Given out of order, and with start times that disagree with the chain.
    third.start_time = "2020-01-01T00:00:00Z";
    expect(shape(buildRunForest([third, first, second]))).toEqual([
      ["r1", 1],
      ["r2", 2],
      ["r3", 3],
    ]);
  });

  it("nests spawned runs under their parent, each level with its own chains", () => {
    const runs = [
      run("root1"),
      run("child-a", { parent_run_id: "root1" }),
      run("child-b", { parent_run_id: "root1" }),
      run("child-a2", { parent_run_id: "root1", previous_run_id: "child-a" }),
      run("grandchild", { parent_run_id: "child-b" }),
      run("root2", { previous_run_id: "root1" }),
    ];
    expect(shape(buildRunForest(runs))).toEqual([
      [
        "root1",
        1,
        [
          ["child-a", 1],
          ["child-a2", 2],
          ["child-b", 1, [["grandchild", 1]]],
        ],
      ],
      ["root2", 2],
    ]);
  });

  it("keeps orphans at the top, marked with why", () => {
    const runs = [
      run("kept"),
      run("lost-parent", { parent_run_id: "deleted-run" }),
      run("lost-previous", { previous_run_id: "deleted-run" }),
      run("after-lost", { previous_run_id: "lost-previous" }),
    ];
    expect(shape(buildRunForest(runs))).toEqual([
      ["kept", 1],
      ["lost-parent", 1, "parent-missing"],
      ["lost-previous", 1, "previous-missing"],
      ["after-lost", 2],
    ]);
  });

  it("survives cycles in parent and previous links without losing a run", () => {
    const runs = [
      run("a", { parent_run_id: "b" }),
      run("b", { parent_run_id: "a" }),
      run("c", { previous_run_id: "d" }),
      run("d", { previous_run_id: "c" }),
      run("self", { parent_run_id: "self", previous_run_id: "self" }),
    ];
    const forest = buildRunForest(runs);
    const ids = [...walkForest(forest)].map((n) => n.run.run_id).sort();
    expect(ids).toEqual(["a", "b", "c", "d", "self"]);
    expect(forest.map((n) => n.orphan)).toContain("cycle");
  });

  it("treats a second run claiming the same previous run as a fork, not a loss", () => {
    const runs = [run("r1"), run("r2", { previous_run_id: "r1" }), run("r2b", { previous_run_id: "r1" })];
    expect(shape(buildRunForest(runs))).toEqual([
      ["r1", 1],
      ["r2", 2],
      ["r2b", 2],
    ]);
  });

  it("builds 1,000 runs (chains of 10 with children) quickly and completely", () => {
    const runs: RunSummary[] = [];
    for (let t = 0; t < 50; t++) {
      let previous = "";
      for (let i = 0; i < 10; i++) {
        const id = `t${t}-i${i}`;
        runs.push(run(id, { task_id: `task-${t}`, previous_run_id: previous }));
        runs.push(run(`${id}-child`, { task_id: `task-${t}`, parent_run_id: id }));
        previous = id;
      }
    }
    expect(runs).toHaveLength(1000);
    const started = performance.now();
    const tasks = buildProjectTree("proj", [], runs.reverse());
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(100);
    expect(tasks).toHaveLength(50);
    const first = tasks.find((t) => t.task.task_id === "task-0")!;
    expect(first.runs.map((n) => n.iteration)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(first.runs.every((n) => n.children.length === 1)).toBe(true);
    let count = 0;
    for (const t of tasks) count += [...walkForest(t.runs)].length;
    expect(count).toBe(1000);
  });

  it("handles one chain of 1,000 iterations without deep recursion", () => {
    const runs: RunSummary[] = [];
    for (let i = 0; i < 1000; i++) runs.push(run(`i${i}`, { previous_run_id: i ? `i${i - 1}` : "" }));
    const forest = buildRunForest(runs);
    expect(forest).toHaveLength(1000);
    expect(forest.at(-1)!.iteration).toBe(1000);
  });
});

describe("buildProjectTree", () => {
  it("sorts tasks by latest activity and invents tasks known only from runs", () => {
    const runs = [run("r1", { task_id: "old" }), run("r2", { task_id: "unlisted", status: "running" })];
    const tree = buildProjectTree("proj", [task("old", "2026-01-01T00:00:00Z"), task("new", "2026-02-01T00:00:00Z")], runs);
    // "unlisted" was active on 2026-01-01 after midnight (its run's start).
    expect(tree.map((t) => t.task.task_id)).toEqual(["new", "unlisted", "old"]);
    expect(tree[1]!.task.status).toBe("running");
    expect(tree[0]!.runs).toEqual([]);
  });
});

describe("treeRows", () => {
  const project = { project_id: "proj", task_count: 1, run_count: 3, running_runs: 0, last_activity: null };
  const tasks = buildProjectTree("proj", [task("task", null)], [
    run("r1"),
    run("r1-child", { parent_run_id: "r1" }),
    run("r2", { previous_run_id: "r1" }),
  ]);
  const contents = () => ({ tasks, loading: false, error: null });

  it("shows only what is expanded", () => {
    expect(treeRows([project], contents, new Set()).map((r) => r.id)).toEqual(["p:proj"]);
    const open = new Set([projectRowId("proj"), taskRowId("proj", "task")]);
    expect(treeRows([project], contents, open).map((r) => r.id)).toEqual([
      "p:proj",
      "t:proj/task",
      "r:r1",
      "r:r2",
    ]);
    open.add(runRowId("r1"));
    const rows = treeRows([project], contents, open);
    expect(rows.map((r) => [r.id, r.depth])).toEqual([
      ["p:proj", 0],
      ["t:proj/task", 1],
      ["r:r1", 2],
      ["r:r1-child", 3],
      ["r:r2", 2],
    ]);
  });

  it("shows loading and error notes for a project", () => {
    const open = new Set([projectRowId("proj")]);
    const loading = treeRows([project], () => ({ tasks: null, loading: true, error: null }), open);
    expect(loading[1]).toMatchObject({ kind: "note", text: "Loading…" });
    const failed = treeRows([project], () => ({ tasks: null, loading: false, error: "boom" }), open);
    expect(failed[1]).toMatchObject({ kind: "note", tone: "error" });
  });

  it("finds the rows to expand to reveal a nested run", () => {
    expect(pathToRun("proj", "task", "r1-child", tasks)).toEqual(["p:proj", "t:proj/task", "r:r1"]);
  });
});
