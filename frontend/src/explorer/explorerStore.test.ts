import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConductorApi } from "../api/endpoints";
import type { RunList, RunSummary, TaskList } from "../api/types";
import { ExplorerStore, runsAgreeWithTasks } from "./explorerStore";

function run(runId: string, status: string, extra: Partial<RunSummary> = {}): RunSummary {
  return {
    run_id: runId,
    project_id: "proj",
    task_id: "task",
    parent_run_id: "",
    previous_run_id: "",
    agent: "claude",
    status,
    start_time: "2026-01-01T00:00:00Z",
    end_time: "",
    exit_code: -1,
    pid: 1,
    process_ownership: "managed",
    error_summary: "",
    backend_model: "",
    host: "",
    ...extra,
  };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function fakeApi(runs: () => Promise<RunList>) {
  const tasks: TaskList = { tasks: [], total: 0, offset: 0, limit: null };
  const api = {
    projects: vi.fn(async () => ({ projects: [{ project_id: "proj", task_count: 1, run_count: 1, running_runs: 1, last_activity: null }] })),
    tasks: vi.fn(async () => tasks),
    projectRuns: vi.fn(runs),
  };
  return { api, store: new ExplorerStore(api as unknown as ConductorApi) };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("ExplorerStore", () => {
  afterEach(() => vi.useRealTimers());

  it("applies run events one by one, without reloading the project", async () => {
    const { api, store } = fakeApi(async () => ({ runs: [run("r1", "running")], total: 1, offset: 0, limit: null }));
    await store.loadProject("proj");
    const before = store.getSnapshot().byProject.get("proj")!;
    store.applyRun(run("r1", "completed"));
    store.applyRun(run("r2", "running", { previous_run_id: "r1" }));
    await flush();
    const after = store.getSnapshot().byProject.get("proj")!;
    expect(after).not.toBe(before);
    expect(after.runs!.get("r1")!.status).toBe("completed");
    expect(store.tree("proj")![0]!.runs.map((n) => [n.run.run_id, n.iteration])).toEqual([
      ["r1", 1],
      ["r2", 2],
    ]);
    expect(api.projectRuns).toHaveBeenCalledTimes(1);
    store.applyRun({ run_id: "r2", status: "deleted" });
    await flush();
    expect(store.getSnapshot().byProject.get("proj")!.runs!.has("r2")).toBe(false);
    store.dispose();
  });

  it("keeps an event that arrives while the project loads (the list read before it)", async () => {
    const list = deferred<RunList>();
    const { store } = fakeApi(() => list.promise);
    const loading = store.loadProject("proj");
    store.applyRun(run("r1", "completed"));
    await flush();
    list.resolve({ runs: [run("r1", "running")], total: 1, offset: 0, limit: null });
    await loading;
    expect(store.getSnapshot().byProject.get("proj")!.runs!.get("r1")!.status).toBe("completed");
    store.dispose();
  });

  it("caches the tree until the project's runs change", async () => {
    const { store } = fakeApi(async () => ({ runs: [run("r1", "completed")], total: 1, offset: 0, limit: null }));
    await store.loadProject("proj");
    const tree = store.tree("proj");
    expect(store.tree("proj")).toBe(tree);
    store.toggle("p:proj");
    expect(store.tree("proj")).toBe(tree);
    store.applyRun(run("r1", "failed"));
    await flush();
    expect(store.tree("proj")).not.toBe(tree);
    store.dispose();
  });
});

describe("runsAgreeWithTasks", () => {
  const task = (status: string, runCount: number, last: string | null, lastStatus: string | null) => ({
    project_id: "proj",
    task_id: "task",
    status,
    done: false,
    run_count: runCount,
    last_run_id: last,
    last_run_status: lastStatus,
    last_activity: null,
    queue_position: null,
    depends_on: [],
    waiting_for: [],
  });

  it("notices runs that a missed event left behind", () => {
    const runs = new Map([
      ["r1", run("r1", "completed")],
      ["c1", run("c1", "running", { parent_run_id: "r1" })],
    ]);
    expect(runsAgreeWithTasks(runs, [task("running", 2, "r1", "completed")])).toBe(true);
    // The task is over, yet a run is held as running: its end was missed.
    expect(runsAgreeWithTasks(runs, [task("completed", 2, "r1", "completed")])).toBe(false);
    // A run the server counts is missing here.
    expect(runsAgreeWithTasks(runs, [task("running", 3, "r2", "running")])).toBe(false);
    expect(runsAgreeWithTasks(runs, [task("running", 2, "r1", "failed")])).toBe(false);
  });

  it("reloads the runs when a task refresh shows they cannot be right", async () => {
    let calls = 0;
    const { api, store } = fakeApi(async () => {
      calls += 1;
      return { runs: [run("r1", calls === 1 ? "running" : "completed")], total: 1, offset: 0, limit: null };
    });
    await store.loadProject("proj");
    api.tasks.mockResolvedValue({ tasks: [task("completed", 1, "r1", "completed")], total: 1, offset: 0, limit: null });
    vi.useFakeTimers();
    store.refreshTasksSoon("proj", 0);
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(2);
    expect(store.getSnapshot().byProject.get("proj")!.runs!.get("r1")!.status).toBe("completed");
    store.dispose();
  });
});
