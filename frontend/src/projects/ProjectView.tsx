/** A project: its numbers (tasks and runs by status, bus size), its active tasks, its bus. */

import type { ProjectStats, TaskSummary } from "../api/types";
import { useApp, useExplorer } from "../app/context";
import { navigate } from "../app/routing";
import { useResource } from "../app/useResource";
import { BusPanel } from "../bus/BusPanel";
import { ErrorText } from "../widgets/ErrorText";
import { formatAgo, formatBytes } from "../widgets/format";
import { StatusBadge } from "../widgets/StatusBadge";
import { formatCost, usageFacts } from "../widgets/usage";
import { useNow } from "../widgets/useNow";

const STATUS_ORDER = ["running", "queued", "completed", "failed", "stopped", "idle"];
const RECENT_TASKS = 12;

function rank(status: string): number {
  const index = STATUS_ORDER.indexOf(status);
  return index < 0 ? STATUS_ORDER.length : index;
}

function ordered(counts: Record<string, number>): Array<[string, number]> {
  return Object.entries(counts).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

export function ProjectView({ projectId }: { projectId: string }) {
  const { api } = useApp();
  const snapshot = useExplorer();
  const project = snapshot.projects?.find((p) => p.project_id === projectId);
  const version = project ? `${project.run_count}|${project.running_runs}|${project.task_count}|${project.last_activity}` : "";
  const stats = useResource(`${projectId}@${version}`, (signal) => api.projectStats(projectId, signal));
  const tasks = snapshot.byProject.get(projectId)?.tasks;

  return (
    <div className="view-with-bus">
      <section className="view project-view" aria-labelledby="project-title">
        <header className="view-header">
          <div className="view-title-row">
            <h1 id="project-title" className="view-title">
              Project <span className="mono">{projectId}</span>
            </h1>
          </div>
        </header>
        <ErrorText error={stats.error} title="Could not load the project's numbers" />
        {stats.data ? <StatsCards stats={stats.data} /> : stats.loading && <p className="muted">Loading…</p>}
        <h2 className="section-title">Recent tasks</h2>
        {tasks ? <RecentTasks tasks={[...tasks.values()]} /> : <p className="muted">Loading…</p>}
      </section>
      <BusPanel scope={{ projectId }} />
    </div>
  );
}

function StatsCards({ stats }: { stats: ProjectStats }) {
  const usage = usageFacts(stats.usage, stats.run_count);
  return (
    <div className="cards">
      <div className="card">
        <div className="card-number">{stats.task_count}</div>
        <div className="card-label">tasks</div>
        <StatusBreakdown counts={stats.tasks_by_status} total={stats.task_count} />
      </div>
      <div className="card">
        <div className="card-number">{stats.run_count}</div>
        <div className="card-label">runs</div>
        <StatusBreakdown counts={stats.runs_by_status} total={stats.run_count} />
      </div>
      {usage && (
        <div className="card project-usage">
          <div className="card-number usage-cost">{usage.cost ?? "—"}</div>
          <div className="card-label">cost{usage.cost ? "" : " (not reported)"}</div>
          {usage.tokens && <div className="usage-tokens">{usage.tokens}</div>}
          {usage.partial && <div className="muted">{usage.partial}</div>}
        </div>
      )}
      <div className="card">
        <div className="card-number">{formatBytes(stats.bus_bytes)}</div>
        <div className="card-label">project message bus</div>
        <div className="muted mono card-path" title={stats.message_bus}>
          {stats.message_bus}
        </div>
      </div>
    </div>
  );
}

function StatusBreakdown({ counts, total }: { counts: Record<string, number>; total: number }) {
  const entries = ordered(counts);
  if (total === 0) return null;
  return (
    <>
      <div className="bar" aria-hidden="true">
        {entries.map(([status, count]) => (
          <span key={status} className={`bar-part bar-${status}`} style={{ flexGrow: count }} />
        ))}
      </div>
      <ul className="breakdown">
        {entries.map(([status, count]) => (
          <li key={status}>
            <StatusBadge status={status} compact /> {count}
          </li>
        ))}
      </ul>
    </>
  );
}

function RecentTasks({ tasks }: { tasks: TaskSummary[] }) {
  const now = useNow(true, 10_000);
  const sorted = tasks
    .sort((a, b) => (b.last_activity ?? "").localeCompare(a.last_activity ?? ""))
    .slice(0, RECENT_TASKS);
  if (sorted.length === 0) return <p className="muted">No tasks yet.</p>;
  return (
    <ul className="task-list">
      {sorted.map((task) => (
        <li key={task.task_id}>
          <button
            type="button"
            className="task-list-item"
            onClick={() => navigate({ view: "task", projectId: task.project_id, taskId: task.task_id })}
          >
            <span className="mono task-list-id">{task.task_id}</span>
            <StatusBadge status={task.status} compact />
            <span className="muted">
              {task.run_count} run{task.run_count === 1 ? "" : "s"}
              {task.usage?.cost_usd != null && ` · ${formatCost(task.usage.cost_usd)}`} · {formatAgo(task.last_activity, now)}
            </span>
          </button>
        </li>
      ))}
      {tasks.length > RECENT_TASKS && (
        <li className="muted">… {tasks.length - RECENT_TASKS} more in the tree (filter by id there).</li>
      )}
    </ul>
  );
}
