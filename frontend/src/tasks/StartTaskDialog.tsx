/** Start a task: project, task id (suggested from the prompt), agent, prompt. */

import { useId, useState, type FormEvent } from "react";
import { describeError } from "../api/client";
import type { ServerStatus, TaskCreate, TaskCreated } from "../api/types";
import { useApp, useExplorer } from "../app/context";
import { ErrorText } from "../widgets/ErrorText";
import { Modal } from "../widgets/Modal";
import { parseLimit } from "./budget";
import { idProblem, suggestTaskId } from "./taskId";

export function StartTaskDialog({
  status,
  initialProject,
  onClose,
  onStarted,
}: {
  status: ServerStatus | null;
  initialProject: string | null;
  onClose: () => void;
  onStarted: (created: TaskCreated) => void;
}) {
  const { api } = useApp();
  const snapshot = useExplorer();
  const listId = useId();
  const [projectId, setProjectId] = useState(initialProject ?? "");
  const [prompt, setPrompt] = useState("");
  const [taskId, setTaskId] = useState<string | null>(null); // null: follow the suggestion
  const [suggestedAt, setSuggestedAt] = useState(() => new Date());
  const agents = status?.agents ?? [];
  const [agent, setAgent] = useState(status?.default_agent ?? agents[0] ?? "");
  const [maxRestarts, setMaxRestarts] = useState("");
  const [maxCost, setMaxCost] = useState("");
  const [maxTokens, setMaxTokens] = useState("");
  const [stopRuns, setStopRuns] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const effectiveTaskId = taskId ?? suggestTaskId(prompt, suggestedAt);
  const cost = parseLimit(maxCost, "Max cost", false);
  const tokens = parseLimit(maxTokens, "Max tokens", true);
  const problem =
    idProblem(projectId, "Project") ??
    idProblem(effectiveTaskId, "Task id") ??
    (prompt.trim() ? null : "The prompt is required") ??
    cost.problem ??
    tokens.problem ??
    null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    const request: TaskCreate = { project_id: projectId.trim(), task_id: effectiveTaskId.trim(), prompt };
    if (agent) request.agent_type = agent;
    if (maxRestarts.trim()) request.max_restarts = Number(maxRestarts);
    if (cost.value !== undefined) request.max_cost_usd = cost.value;
    if (tokens.value !== undefined) request.max_tokens = tokens.value;
    if (stopRuns) request.budget_action = "stop_run";
    try {
      onStarted(await api.createTask(request));
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Modal title="Start a task" onClose={onClose} wide>
      <form className="form" onSubmit={submit} aria-label="Start a task">
        <div className="form-row">
          <label className="field">
            <span>Project</span>
            <input
              name="project"
              list={listId}
              value={projectId}
              onChange={(e) => setProjectId(e.target.value)}
              placeholder="my-project"
              required
              data-autofocus={initialProject ? undefined : true}
            />
            <datalist id={listId}>
              {snapshot.projects?.map((p) => <option key={p.project_id} value={p.project_id} />)}
            </datalist>
          </label>
          <label className="field">
            <span>Agent</span>
            <select name="agent" value={agent} onChange={(e) => setAgent(e.target.value)} disabled={agents.length === 0}>
              {agents.length === 0 && <option value="">none configured</option>}
              {agents.map((name) => (
                <option key={name} value={name}>
                  {name}
                  {name === status?.default_agent ? " (default)" : ""}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label className="field">
          <span>Task id</span>
          <div className="input-with-button">
            <input
              name="task_id"
              value={effectiveTaskId}
              onChange={(e) => setTaskId(e.target.value)}
              spellCheck={false}
              className="mono"
            />
            <button
              type="button"
              onClick={() => {
                setSuggestedAt(new Date());
                setTaskId(null);
              }}
              title="Suggest an id from the time and the prompt"
            >
              Suggest
            </button>
          </div>
        </label>
        <label className="field">
          <span>Prompt (TASK.md)</span>
          <textarea
            name="prompt"
            rows={10}
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            placeholder="What the agent should do. It is restarted until it creates the DONE file."
            required
            data-autofocus={initialProject ? true : undefined}
          />
        </label>
        <div className="form-row form-row-3">
          <label className="field">
            <span>Max restarts (optional)</span>
            <input
              name="max_restarts"
              type="number"
              min={0}
              value={maxRestarts}
              onChange={(e) => setMaxRestarts(e.target.value)}
              placeholder="server default"
            />
          </label>
          <label className="field">
            <span>Max cost, USD (optional)</span>
            <input
              name="max_cost_usd"
              inputMode="decimal"
              value={maxCost}
              onChange={(e) => setMaxCost(e.target.value)}
              placeholder="server default"
              aria-invalid={cost.problem ? true : undefined}
              title="Budget over all the task's runs; 0 = none"
            />
          </label>
          <label className="field">
            <span>Max tokens (optional)</span>
            <input
              name="max_tokens"
              inputMode="numeric"
              value={maxTokens}
              onChange={(e) => setMaxTokens(e.target.value)}
              placeholder="server default"
              aria-invalid={tokens.problem ? true : undefined}
              title="Input + output tokens over all the task's runs; 0 = none"
            />
          </label>
        </div>
        <label className="field-check">
          <input type="checkbox" name="stop_runs" checked={stopRuns} onChange={(e) => setStopRuns(e.target.checked)} />
          <span>When the budget is reached, also stop the runs still going (else they finish)</span>
        </label>
        {agents.length === 0 && status && (
          <p className="error-text">The server has no agents configured (the <code>agents:</code> section of its config).</p>
        )}
        <ErrorText error={error} title="Not started" />
        <div className="modal-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={busy}>
            {busy ? "Starting…" : "Start task"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
