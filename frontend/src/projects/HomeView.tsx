/** The start page: the server's state and every project. */

import type { ServerStatus } from "../api/types";
import { useExplorer } from "../app/context";
import { RouteLink } from "../app/RouteLink";
import { navigate } from "../app/routing";
import { ErrorText } from "../widgets/ErrorText";
import { formatAgo, formatDuration } from "../widgets/format";
import { useNow } from "../widgets/useNow";

export function HomeView({ status, statusError }: { status: ServerStatus | null; statusError: string | null }) {
  const snapshot = useExplorer();
  const now = useNow(true, 10_000);
  return (
    <section className="view home-view" aria-labelledby="home-title">
      <h1 id="home-title" className="view-title">
        Conductor Loop
      </h1>
      <ErrorText error={statusError} title="Server status" />
      {status && (
        <dl className="facts">
          <div>
            <dt>Version</dt>
            <dd>{status.version}</dd>
          </div>
          <div>
            <dt>Up</dt>
            <dd>{formatDuration(status.uptime_seconds * 1000)}</dd>
          </div>
          <div>
            <dt>Active runs</dt>
            <dd>{status.active_runs}</dd>
          </div>
          <div>
            <dt>Queued tasks</dt>
            <dd>{status.queued_tasks}</dd>
          </div>
          <div>
            <dt>Agents</dt>
            <dd>{status.agents.length ? status.agents.join(", ") : "none configured"}</dd>
          </div>
          <div>
            <dt>Runs directory</dt>
            <dd className="mono">{status.runs_dir}</dd>
          </div>
        </dl>
      )}
      {status && status.running_tasks.length > 0 && (
        <>
          <h2 className="section-title">Running now</h2>
          <ul className="task-list">
            {status.running_tasks.map((t) => (
              <li key={`${t.project_id}/${t.task_id}`}>
                <button
                  type="button"
                  className="task-list-item"
                  onClick={() =>
                    navigate(
                      t.run_id
                        ? { view: "run", projectId: t.project_id, taskId: t.task_id, runId: t.run_id, tab: "output" }
                        : { view: "task", projectId: t.project_id, taskId: t.task_id },
                    )
                  }
                >
                  <span className="mono">
                    {t.project_id} / {t.task_id}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2 className="section-title">Projects</h2>
      {snapshot.projects === null && !snapshot.projectsError && <p className="muted">Loading…</p>}
      {snapshot.projects?.length === 0 && <p className="muted">No projects yet: start a task (the “New task” button).</p>}
      {snapshot.projects && snapshot.projects.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Project</th>
              <th scope="col">Tasks</th>
              <th scope="col">Runs</th>
              <th scope="col">Running</th>
              <th scope="col">Last activity</th>
            </tr>
          </thead>
          <tbody>
            {snapshot.projects.map((p) => (
              <tr key={p.project_id}>
                <td>
                  <RouteLink to={{ view: "project", projectId: p.project_id }}>{p.project_id}</RouteLink>
                </td>
                <td>{p.task_count}</td>
                <td>{p.run_count}</td>
                <td>{p.running_runs}</td>
                <td>{formatAgo(p.last_activity, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
