/** One run: what it is, its actions, and its files in tabs (live while it runs). */

import { useEffect, useState } from "react";
import type { RunDetail } from "../api/types";
import { useApp, useExplorer } from "../app/context";
import { RouteLink } from "../app/RouteLink";
import { navigate, RUN_TABS, type RunTab } from "../app/routing";
import { useResource } from "../app/useResource";
import { BusPanel } from "../bus/BusPanel";
import { ConfirmDialog } from "../widgets/ConfirmDialog";
import { ErrorText } from "../widgets/ErrorText";
import { formatDateTime } from "../widgets/format";
import { usageFacts } from "../widgets/usage";
import { RunDuration } from "../widgets/RunDuration";
import { StatusBadge } from "../widgets/StatusBadge";
import { StreamIndicator } from "../widgets/StreamIndicator";
import { Tabs } from "../widgets/Tabs";
import { RunFilesTabs } from "./RunFilesTabs";
import { useRunOutput } from "./useRunOutput";

const TAB_LABELS: Record<RunTab, string> = {
  output: "Output",
  stdout: "stdout",
  stderr: "stderr",
  prompt: "Prompt",
  info: "Run info",
};

export function RunView({ projectId, taskId, runId, tab }: { projectId: string; taskId: string; runId: string; tab: RunTab }) {
  const { api } = useApp();
  const snapshot = useExplorer();
  const summary = snapshot.byProject.get(projectId)?.runs?.get(runId);
  const key = `${projectId}/${taskId}/${runId}`;
  // Re-read the detail when the run's summary changes (it ended, was stopped).
  const detail = useResource(`${key}@${summary?.status ?? ""}|${summary?.end_time ?? ""}`, (signal) =>
    api.run(projectId, taskId, runId, signal),
  );
  const [last, setLast] = useState<RunDetail | null>(null);
  useEffect(() => {
    if (detail.data) setLast(detail.data);
  }, [detail.data]);
  const run = detail.data ?? (last?.run_id === runId ? last : null);
  const output = useRunOutput(run, () => detail.reload());
  const status = output.status?.status && run?.status === "running" ? output.status.status : (run?.status ?? summary?.status);

  if (!run) {
    return (
      <section className="view">
        <h1 className="view-title">Run {runId}</h1>
        {detail.loading ? <p className="muted">Loading…</p> : <ErrorText error={detail.error} title="Could not load the run" />}
      </section>
    );
  }

  return (
    <div className="view-with-bus">
      <section className="view run-view" aria-labelledby="run-title">
        <RunHeader run={{ ...run, status: status ?? run.status }} streamState={output.stream} />
        <ErrorText error={detail.error} title="Could not refresh the run" />
        <Tabs
          label="Run files"
          tabs={RUN_TABS.map((id) => ({ id, label: TAB_LABELS[id] }))}
          selected={tab}
          onSelect={(next) => navigate({ view: "run", projectId, taskId, runId, tab: next }, { replace: true })}
        >
          <RunFilesTabs tab={tab} run={run} output={output} />
        </Tabs>
      </section>
      <BusPanel scope={{ projectId, taskId }} runId={runId} />
    </div>
  );
}

function RunHeader({ run, streamState }: { run: RunDetail; streamState: ReturnType<typeof useRunOutput>["stream"] }) {
  const { api, notices, explorer } = useApp();
  const [confirm, setConfirm] = useState<"stop" | "delete" | null>(null);
  const running = run.status === "running";
  const usage = usageFacts(run.usage);
  const link = (runId: string) => (
    <RouteLink to={{ view: "run", projectId: run.project_id, taskId: run.task_id, runId, tab: "output" }}>{runId}</RouteLink>
  );
  return (
    <header className="view-header">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <RouteLink to={{ view: "project", projectId: run.project_id }}>{run.project_id}</RouteLink>
        <span aria-hidden="true"> / </span>
        <RouteLink to={{ view: "task", projectId: run.project_id, taskId: run.task_id }}>{run.task_id}</RouteLink>
      </nav>
      <div className="view-title-row">
        <h1 id="run-title" className="view-title">
          Run <span className="mono">{run.run_id}</span>
        </h1>
        <StatusBadge status={run.status} />
        <StreamIndicator state={streamState} />
        <div className="view-actions">
          {running ? (
            <button type="button" className="button-danger" onClick={() => setConfirm("stop")}>
              Stop run
            </button>
          ) : (
            <button type="button" onClick={() => setConfirm("delete")}>
              Delete run
            </button>
          )}
        </div>
      </div>
      <dl className="facts">
        <div>
          <dt>Agent</dt>
          <dd>
            {run.agent}
            {run.backend_model && <span className="muted"> · {run.backend_model}</span>}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatDateTime(run.start_time)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>
            <RunDuration run={run} />
          </dd>
        </div>
        <div>
          <dt>Exit code</dt>
          <dd>{run.exit_code === -1 && running ? "—" : run.exit_code}</dd>
        </div>
        {usage?.cost && (
          <div>
            <dt>Cost</dt>
            <dd className="usage-cost">{usage.cost}</dd>
          </div>
        )}
        {usage?.tokens && (
          <div>
            <dt>Tokens</dt>
            <dd className="usage-tokens">{usage.tokens}</dd>
          </div>
        )}
        {run.previous_run_id && (
          <div>
            <dt>Previous iteration</dt>
            <dd className="mono">{link(run.previous_run_id)}</dd>
          </div>
        )}
        {run.parent_run_id && (
          <div>
            <dt>Spawned by</dt>
            <dd className="mono">{link(run.parent_run_id)}</dd>
          </div>
        )}
      </dl>
      {run.error_summary && (
        <p className="error-text" role="note">
          <strong>Error: </strong>
          {run.error_summary}
        </p>
      )}
      {confirm === "stop" && (
        <ConfirmDialog
          title="Stop this run?"
          confirmLabel="Stop run"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await api.stopRun(run.project_id, run.task_id, run.run_id);
            notices.info(`Stop requested for run ${run.run_id}`);
          }}
        >
          <p>
            The agent gets SIGTERM, then SIGKILL after the grace period. The task's loop starts another iteration unless
            the task itself is stopped (Stop task on the task's page).
          </p>
        </ConfirmDialog>
      )}
      {confirm === "delete" && (
        <ConfirmDialog
          title="Delete this run?"
          confirmLabel="Delete run"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await api.deleteRun(run.project_id, run.task_id, run.run_id);
            explorer.applyRun({ run_id: run.run_id, status: "deleted" });
            notices.info(`Deleted run ${run.run_id}`);
            navigate({ view: "task", projectId: run.project_id, taskId: run.task_id });
          }}
        >
          <p>
            The run directory <code>{run.run_dir}</code> (prompt, output, logs) is removed from disk. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </header>
  );
}
