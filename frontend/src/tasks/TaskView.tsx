/** One task: status, stop / resume / delete, its prompt, its iterations, its bus. */

import { useState } from "react";
import type { TaskDetail } from "../api/types";
import { useApp, useExplorer } from "../app/context";
import { RouteLink } from "../app/RouteLink";
import { navigate } from "../app/routing";
import { useResource } from "../app/useResource";
import { BusPanel } from "../bus/BusPanel";
import { ConfirmDialog } from "../widgets/ConfirmDialog";
import { ErrorText } from "../widgets/ErrorText";
import { formatDateTime } from "../widgets/format";
import { StatusBadge } from "../widgets/StatusBadge";
import { usageFacts } from "../widgets/usage";
import { describeBudget } from "./budget";
import { IterationTable } from "./IterationTable";

type TaskAction = "stop" | "resume" | "delete";

export function TaskView({ projectId, taskId }: { projectId: string; taskId: string }) {
  const { api } = useApp();
  const snapshot = useExplorer();
  const summary = snapshot.byProject.get(projectId)?.tasks?.get(taskId);
  // Re-read the detail whenever the summary the tree shows has changed.
  const version = summary ? `${summary.status}|${summary.run_count}|${summary.last_run_status}|${summary.done}` : "";
  const task = useResource(`${projectId}/${taskId}@${version}`, (signal) => api.task(projectId, taskId, signal));
  const prompt = useResource(`${projectId}/${taskId}/TASK.md`, (signal) => api.taskFile(projectId, taskId, signal));
  const detail = task.data;

  return (
    <div className="view-with-bus">
      <section className="view task-view" aria-labelledby="task-title">
        <header className="view-header">
          <nav className="breadcrumbs" aria-label="Breadcrumbs">
            <RouteLink to={{ view: "project", projectId }}>{projectId}</RouteLink>
          </nav>
          <div className="view-title-row">
            <h1 id="task-title" className="view-title">
              Task <span className="mono">{taskId}</span>
            </h1>
            {detail && <StatusBadge status={detail.status} />}
            {detail?.budget?.exceeded && (
              <span className="badge badge-failed" data-testid="budget-exceeded">
                budget exceeded
              </span>
            )}
            {detail && <TaskActions task={detail} onChanged={task.reload} />}
          </div>
          {detail && <TaskFacts task={detail} />}
        </header>
        <ErrorText error={task.error} title="Could not load the task" />
        {!detail && task.loading && <p className="muted">Loading…</p>}
        <details className="task-prompt" open>
          <summary>
            <h2 className="section-title">TASK.md</h2>
          </summary>
          <ErrorText error={prompt.error} title="Could not read TASK.md" />
          <pre className="file-text task-prompt-text">{prompt.data?.content ?? (prompt.loading ? "Loading…" : "")}</pre>
        </details>
        <h2 className="section-title">Iterations and child runs</h2>
        <IterationTable projectId={projectId} taskId={taskId} />
      </section>
      <BusPanel scope={{ projectId, taskId }} />
    </div>
  );
}

function TaskFacts({ task }: { task: TaskDetail }) {
  const usage = usageFacts(task.usage, task.run_count);
  const budget = describeBudget(task.budget);
  return (
    <dl className="facts">
      <div>
        <dt>Runs</dt>
        <dd>{task.run_count}</dd>
      </div>
      {usage?.cost && (
        <div>
          <dt>Cost</dt>
          <dd className="usage-cost" title={usage.partial ?? undefined}>
            {usage.cost}
            {usage.partial && <span className="muted"> *</span>}
          </dd>
        </div>
      )}
      {usage?.tokens && (
        <div>
          <dt>Tokens</dt>
          <dd className="usage-tokens" title={usage.partial ?? undefined}>
            {usage.tokens}
          </dd>
        </div>
      )}
      <div>
        <dt>DONE</dt>
        <dd>{task.done ? "yes" : "no"}</dd>
      </div>
      <div>
        <dt>Last activity</dt>
        <dd>{formatDateTime(task.last_activity)}</dd>
      </div>
      {task.queue_position !== null && (
        <div>
          <dt>Queue position</dt>
          <dd>{task.queue_position}</dd>
        </div>
      )}
      {task.depends_on.length > 0 && (
        <div>
          <dt>Depends on</dt>
          <dd className="mono">{task.depends_on.join(", ")}</dd>
        </div>
      )}
      {task.waiting_for.length > 0 && (
        <div>
          <dt>Waiting for</dt>
          <dd className="mono">{task.waiting_for.join(", ")}</dd>
        </div>
      )}
      {task.stop_requested && (
        <div>
          <dt>Stop</dt>
          <dd>requested</dd>
        </div>
      )}
      {task.stop_reason && (
        <div>
          <dt>Stop reason</dt>
          <dd data-testid="stop-reason">{task.stop_reason}</dd>
        </div>
      )}
      {budget?.cost && (
        <div>
          <dt>Cost budget</dt>
          <dd data-testid="budget-cost" className={budget.costReached ? "budget-over" : undefined}>
            {budget.cost}
            {budget.note && <span className="muted"> ({budget.note})</span>}
          </dd>
        </div>
      )}
      {budget?.tokens && (
        <div>
          <dt>Token budget</dt>
          <dd data-testid="budget-tokens" className={budget.tokensReached ? "budget-over" : undefined}>
            {budget.tokens}
          </dd>
        </div>
      )}
      <div>
        <dt>Directory</dt>
        <dd className="mono">{task.task_dir}</dd>
      </div>
    </dl>
  );
}

function TaskActions({ task, onChanged }: { task: TaskDetail; onChanged: () => void }) {
  const { api, notices, explorer } = useApp();
  const [confirm, setConfirm] = useState<TaskAction | null>(null);
  const active = task.status === "running" || task.status === "queued";
  const { project_id: projectId, task_id: taskId } = task;
  const after = () => {
    onChanged();
    explorer.refreshTasksSoon(projectId, 0);
  };
  return (
    <div className="view-actions">
      {active && (
        <button type="button" className="button-danger" onClick={() => setConfirm("stop")}>
          Stop task
        </button>
      )}
      {!active && (
        <button type="button" onClick={() => setConfirm("resume")}>
          Resume
        </button>
      )}
      {!active && (
        <button type="button" onClick={() => setConfirm("delete")}>
          Delete task
        </button>
      )}
      {confirm === "stop" && (
        <ConfirmDialog
          title={`Stop task ${taskId}?`}
          confirmLabel="Stop task"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            const result = await api.stopTask(projectId, taskId);
            notices.info(`Task ${taskId}: ${result.detail || result.status}`);
            after();
          }}
        >
          <p>Its running runs are stopped and its loop does not start another iteration. Resume starts it again.</p>
        </ConfirmDialog>
      )}
      {confirm === "resume" && (
        <ConfirmDialog
          title={`Resume task ${taskId}?`}
          confirmLabel="Resume"
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            const result = await api.resumeTask(projectId, taskId);
            notices.info(`Task ${taskId} ${result.status}`);
            after();
            if (result.run_id) navigate({ view: "run", projectId, taskId, runId: result.run_id, tab: "output" });
          }}
        >
          <p>
            {task.done ? "The DONE marker is removed and the" : "The"} loop starts again with the same TASK.md, prefixed with
            “Continue working on the following”.
          </p>
          {task.budget?.exceeded && (
            <p>
              Its budget is spent and still applies: the loop stops again before starting a run. Raise it with{" "}
              <code>run-agent task resume --max-cost …</code> or <code>--max-tokens …</code>.
            </p>
          )}
        </ConfirmDialog>
      )}
      {confirm === "delete" && (
        <ConfirmDialog
          title={`Delete task ${taskId}?`}
          confirmLabel="Delete task"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await api.deleteTask(projectId, taskId);
            explorer.forgetTask(projectId, taskId);
            notices.info(`Deleted task ${taskId}`);
            navigate({ view: "project", projectId });
          }}
        >
          <p>
            The task directory <code>{task.task_dir}</code> with all {task.run_count} runs and the task's message bus is
            removed from disk. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
