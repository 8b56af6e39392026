/**
 * What the explorer tree shows: the projects, and for each opened project its tasks
 * and all its runs. Runs are updated one by one from the all-runs event stream (no
 * reload per event); task and project summaries (statuses the server derives: DONE,
 * loop alive, queue) are re-read in the background, at most every so often, after
 * runs change, and every few seconds while a task is active.
 */

import { describeError, isAbort } from "../api/client";
import type { ConductorApi } from "../api/endpoints";
import type { ProjectSummary, RunSummary, TaskSummary } from "../api/types";
import { buildProjectTree, type TaskNode } from "../tree/runTree";

export interface ProjectState {
  tasks: ReadonlyMap<string, TaskSummary> | null;
  runs: ReadonlyMap<string, RunSummary> | null;
  loading: boolean;
  error: string | null;
}

export interface ExplorerSnapshot {
  projects: ProjectSummary[] | null;
  projectsError: string | null;
  byProject: ReadonlyMap<string, ProjectState>;
  expanded: ReadonlySet<string>;
}

const TASK_REFRESH_DELAY_MS = 300;
const ACTIVE_POLL_MS = 3000;
const PROJECTS_REFRESH_DELAY_MS = 1000;
const ACTIVE_TASK = new Set(["running", "queued"]);

type Listener = () => void;

export class ExplorerStore {
  private snapshot: ExplorerSnapshot = {
    projects: null,
    projectsError: null,
    byProject: new Map(),
    expanded: new Set(),
  };
  private readonly listeners = new Set<Listener>();
  private readonly trees = new WeakMap<ProjectState, TaskNode[]>();
  private readonly taskTimers = new Map<string, { timer: ReturnType<typeof setTimeout>; due: number }>();
  private projectsTimer: ReturnType<typeof setTimeout> | null = null;
  private pending: RunSummary[] = [];
  /** Run events that arrived while a project was loading: replayed over what it read. */
  private readonly duringLoad = new Map<string, RunSummary[]>();
  private readonly loadsInFlight = new Map<string, number>();
  private flushQueued = false;
  private disposed = false;

  constructor(private readonly api: ConductorApi) {}

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ExplorerSnapshot => this.snapshot;

  dispose(): void {
    this.disposed = true;
    for (const { timer } of this.taskTimers.values()) clearTimeout(timer);
    this.taskTimers.clear();
    if (this.projectsTimer) clearTimeout(this.projectsTimer);
  }

  /** The project's tasks with their run forests (cached per state). */
  tree(projectId: string): TaskNode[] | null {
    const state = this.snapshot.byProject.get(projectId);
    if (!state?.tasks || !state.runs) return null;
    let tree = this.trees.get(state);
    if (!tree) {
      tree = buildProjectTree(projectId, state.tasks.values(), state.runs.values());
      this.trees.set(state, tree);
    }
    return tree;
  }

  run(projectId: string, runId: string): RunSummary | undefined {
    return this.snapshot.byProject.get(projectId)?.runs?.get(runId);
  }

  // -- loading -----------------------------------------------------------------------

  async loadProjects(): Promise<void> {
    try {
      const { projects } = await this.api.projects();
      this.update({ projects, projectsError: null });
    } catch (error) {
      if (!isAbort(error)) this.update({ projectsError: describeError(error) });
    }
  }

  /** Load (or reload) a project's tasks and runs. */
  async loadProject(projectId: string): Promise<void> {
    this.loadsInFlight.set(projectId, (this.loadsInFlight.get(projectId) ?? 0) + 1);
    if (!this.duringLoad.has(projectId)) this.duringLoad.set(projectId, []);
    this.setProject(projectId, (s) => ({ ...s, loading: true }));
    try {
      const [tasks, runs] = await Promise.all([this.api.tasks(projectId), this.api.projectRuns(projectId)]);
      const runMap = new Map(runs.runs.map((r) => [r.run_id, r]));
      // The list may predate events that came in meanwhile (a run ending): replay them.
      for (const event of this.duringLoad.get(projectId) ?? []) {
        if (event.status === "deleted") runMap.delete(event.run_id);
        else runMap.set(event.run_id, event);
      }
      this.setProject(projectId, () => ({
        tasks: new Map(tasks.tasks.map((t) => [t.task_id, t])),
        runs: runMap,
        loading: false,
        error: null,
      }));
      this.pollWhileActive(projectId);
    } catch (error) {
      this.setProject(projectId, (s) => ({ ...s, loading: false, error: describeError(error) }));
    } finally {
      const left = (this.loadsInFlight.get(projectId) ?? 1) - 1;
      if (left > 0) this.loadsInFlight.set(projectId, left);
      else {
        this.loadsInFlight.delete(projectId);
        this.duringLoad.delete(projectId);
      }
    }
  }

  ensureProject(projectId: string): void {
    const state = this.snapshot.byProject.get(projectId);
    if (!state || (!state.tasks && !state.loading)) void this.loadProject(projectId);
  }

  /**
   * When the event stream (re)connects: what it may have missed is read again. A
   * project read before the stream was live could miss a run that ended in between
   * (the stream starts with the runs running at connect time).
   */
  resync(): void {
    void this.loadProjects();
    for (const [projectId, state] of this.snapshot.byProject) {
      if (state.tasks) void this.loadProject(projectId);
    }
  }

  // -- incremental updates -----------------------------------------------------------

  /** A run started, changed or ended (a `status` event of the all-runs stream). */
  applyRun(summary: RunSummary | { run_id: string; status: "deleted" }): void {
    this.pending.push(summary as RunSummary);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flushRuns());
    }
  }

  private flushRuns(): void {
    this.flushQueued = false;
    const batch = this.pending;
    this.pending = [];
    const current = this.snapshot.byProject;
    /** One copy of each touched project's run map, however many events it gets. */
    const copies = new Map<string, Map<string, RunSummary>>();
    const copyOf = (projectId: string): Map<string, RunSummary> | null => {
      let runs = copies.get(projectId);
      if (!runs) {
        const existing = current.get(projectId)?.runs;
        if (!existing) return null;
        copies.set(projectId, (runs = new Map(existing)));
      }
      return runs;
    };
    let unknownProject = false;
    for (const summary of batch) {
      for (const [projectId, events] of this.duringLoad) {
        if (summary.project_id === projectId || !summary.project_id) events.push(summary);
      }
      if (summary.status === "deleted" || !summary.project_id) {
        for (const [projectId, state] of current) {
          if (state.runs?.has(summary.run_id)) copyOf(projectId)?.delete(summary.run_id);
        }
        continue;
      }
      if (!this.snapshot.projects?.some((p) => p.project_id === summary.project_id)) unknownProject = true;
      copyOf(summary.project_id)?.set(summary.run_id, summary);
    }
    if (copies.size > 0) {
      const byProject = new Map(current);
      for (const [projectId, runs] of copies) byProject.set(projectId, { ...current.get(projectId)!, runs });
      this.update({ byProject });
    }
    for (const projectId of copies.keys()) this.refreshTasksSoon(projectId, TASK_REFRESH_DELAY_MS);
    if (batch.length > 0) this.refreshProjectsSoon(unknownProject ? 0 : PROJECTS_REFRESH_DELAY_MS);
  }

  /** Re-read a project's task summaries within `delayMs` (calls in between coalesce). */
  refreshTasksSoon(projectId: string, delayMs = TASK_REFRESH_DELAY_MS): void {
    if (this.disposed) return;
    const due = Date.now() + delayMs;
    const scheduled = this.taskTimers.get(projectId);
    if (scheduled) {
      if (scheduled.due <= due) return;
      clearTimeout(scheduled.timer);
    }
    const timer = setTimeout(() => {
      this.taskTimers.delete(projectId);
      void this.refreshTasks(projectId);
    }, delayMs);
    this.taskTimers.set(projectId, { timer, due });
  }

  private async refreshTasks(projectId: string): Promise<void> {
    const state = this.snapshot.byProject.get(projectId);
    if (!state?.tasks) return;
    try {
      const { tasks } = await this.api.tasks(projectId);
      this.setProject(projectId, (s) => ({ ...s, tasks: new Map(tasks.map((t) => [t.task_id, t])), error: null }));
      const runs = this.snapshot.byProject.get(projectId)?.runs;
      if (runs && !runsAgreeWithTasks(runs, tasks)) {
        // An event was missed (e.g. during a reconnect): read the runs again.
        await this.loadProject(projectId);
        return;
      }
      this.pollWhileActive(projectId);
    } catch (error) {
      this.setProject(projectId, (s) => ({ ...s, error: describeError(error) }));
    }
  }

  private pollWhileActive(projectId: string): void {
    const tasks = this.snapshot.byProject.get(projectId)?.tasks;
    if (tasks && [...tasks.values()].some((t) => ACTIVE_TASK.has(t.status))) {
      this.refreshTasksSoon(projectId, ACTIVE_POLL_MS);
    }
  }

  refreshProjectsSoon(delayMs = PROJECTS_REFRESH_DELAY_MS): void {
    if (this.disposed || this.projectsTimer) return;
    this.projectsTimer = setTimeout(() => {
      this.projectsTimer = null;
      void this.loadProjects();
    }, delayMs);
  }

  /** A task was deleted: drop it and its runs at once. */
  forgetTask(projectId: string, taskId: string): void {
    this.setProject(projectId, (s) => {
      if (!s.tasks || !s.runs) return s;
      const tasks = new Map(s.tasks);
      tasks.delete(taskId);
      const runs = new Map([...s.runs].filter(([, r]) => r.task_id !== taskId));
      return { ...s, tasks, runs };
    });
    this.refreshProjectsSoon(0);
  }

  // -- expansion ---------------------------------------------------------------------

  toggle(rowId: string): void {
    const expanded = new Set(this.snapshot.expanded);
    if (expanded.has(rowId)) expanded.delete(rowId);
    else expanded.add(rowId);
    this.update({ expanded });
  }

  setExpanded(rowId: string, open: boolean): void {
    if (this.snapshot.expanded.has(rowId) === open) return;
    this.toggle(rowId);
  }

  expand(rowIds: Iterable<string>): void {
    const expanded = new Set(this.snapshot.expanded);
    let changed = false;
    for (const id of rowIds) {
      if (!expanded.has(id)) {
        expanded.add(id);
        changed = true;
      }
    }
    if (changed) this.update({ expanded });
  }

  // -- plumbing ----------------------------------------------------------------------

  private setProject(projectId: string, change: (state: ProjectState) => ProjectState): void {
    const current = this.snapshot.byProject.get(projectId) ?? { tasks: null, runs: null, loading: false, error: null };
    const next = change(current);
    if (next === current) return;
    const byProject = new Map(this.snapshot.byProject);
    byProject.set(projectId, next);
    this.update({ byProject });
  }

  private update(change: Partial<ExplorerSnapshot>): void {
    if (this.disposed) return;
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of this.listeners) listener();
  }
}

/**
 * Whether the runs we hold can be right, given the server's task summaries: each
 * task's run count and last run status match, and no run is still "running" in a
 * task that is over.
 */
export function runsAgreeWithTasks(runs: ReadonlyMap<string, RunSummary>, tasks: readonly TaskSummary[]): boolean {
  const byTask = new Map<string, RunSummary[]>();
  for (const run of runs.values()) {
    let list = byTask.get(run.task_id);
    if (!list) byTask.set(run.task_id, (list = []));
    list.push(run);
  }
  for (const task of tasks) {
    const held = byTask.get(task.task_id) ?? [];
    if (held.length !== task.run_count) return false;
    if (task.last_run_id) {
      const last = runs.get(task.last_run_id);
      if (!last || (task.last_run_status && last.status !== task.last_run_status)) return false;
    }
    if (!ACTIVE_TASK.has(task.status) && held.some((r) => r.status === "running")) return false;
  }
  return true;
}
