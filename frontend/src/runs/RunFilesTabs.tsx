/** The contents of a run's tabs: output.md, stdout (readable or raw), stderr, prompt, run-info. */

import { lazy, Suspense, useState } from "react";
import type { RunFileName } from "../api/endpoints";
import type { RunDetail } from "../api/types";
import { useApp } from "../app/context";
import type { RunTab } from "../app/routing";
import { useResource } from "../app/useResource";
import { looksLikeJsonLines } from "../transcript/streamJson";
import { TranscriptView } from "../transcript/TranscriptView";
import { ErrorText } from "../widgets/ErrorText";
import { formatBytes, formatDateTime, formatRayNode } from "../widgets/format";
import { formatCost } from "../widgets/usage";
import { LogView } from "./LogView";
import type { RunOutput } from "./useRunOutput";

// The markdown renderer is most of a bundle's weight: loaded when output.md is shown.
const MarkdownView = lazy(() => import("../widgets/Markdown").then((m) => ({ default: m.MarkdownView })));

export function RunFilesTabs({ tab, run, output }: { tab: RunTab; run: RunDetail; output: RunOutput }) {
  switch (tab) {
    case "output":
      return <OutputTab run={run} output={output} />;
    case "stdout":
      return <StdoutTab output={output} />;
    case "stderr":
      return (
        <>
          <SkippedNote bytes={output.skipped.stderr} />
          <LogView lines={output.stderr} version={output.version} label="Agent stderr" empty={emptyText(output, "stderr")} />
        </>
      );
    case "prompt":
      return <FileText run={run} name="prompt" />;
    case "info":
      return <RunInfoTab run={run} />;
  }
}

function emptyText(output: RunOutput, what: string): string {
  if (output.stream?.kind === "connecting") return "Connecting…";
  return output.done ? `No ${what}.` : `Nothing on ${what} yet.`;
}

function SkippedNote({ bytes }: { bytes: number }) {
  if (bytes <= 0) return null;
  return <p className="muted pane-note">The first {formatBytes(bytes)} are not shown (very large file).</p>;
}

/** output.md once the run has written it; while it runs, the live agent output. */
function OutputTab({ run, output }: { run: RunDetail; output: RunOutput }) {
  const running = run.status === "running" && !output.done;
  const size = run.files["output.md"];
  if (running && size === undefined) {
    return (
      <>
        <p className="muted pane-note">
          The final answer is written to <code>output.md</code> when the run ends. Live agent output:
        </p>
        <Readable output={output} />
      </>
    );
  }
  if (size === undefined) {
    return <p className="muted pane-empty">This run left no output.md.</p>;
  }
  return <FileText run={run} name="output.md" markdown />;
}

function Readable({ output }: { output: RunOutput }) {
  return <TranscriptView items={output.transcript} empty={emptyText(output, "stdout")} />;
}

function StdoutTab({ output }: { output: RunOutput }) {
  const json = looksLikeJsonLines(output.stdout.slice(0, 10));
  const [raw, setRaw] = useState<boolean | null>(null);
  const showRaw = raw ?? !json;
  return (
    <>
      <div className="pane-toolbar">
        <SkippedNote bytes={output.skipped.stdout} />
        <label className="toggle">
          <input type="checkbox" checked={showRaw} onChange={(e) => setRaw(e.target.checked)} /> Raw JSON lines
        </label>
      </div>
      {showRaw ? (
        <LogView lines={output.stdout} version={output.version} label="Agent stdout" empty={emptyText(output, "stdout")} />
      ) : (
        <Readable output={output} />
      )}
    </>
  );
}

/** A run's file; with ``markdown``, rendered, and its source a click away. */
function FileText({ run, name, markdown = false }: { run: RunDetail; name: RunFileName; markdown?: boolean }) {
  const { api } = useApp();
  const [source, setSource] = useState(false);
  const size = run.files[name === "prompt" ? "prompt.md" : name];
  const file = useResource(`${run.project_id}/${run.task_id}/${run.run_id}/${name}@${size ?? "none"}`, (signal) =>
    api.runFile(run.project_id, run.task_id, run.run_id, name, signal),
  );
  if (file.error) return <ErrorText error={file.error} title={`Could not read ${name}`} />;
  if (!file.data) return <p className="muted pane-empty">Loading…</p>;
  const rendered = markdown && !source && file.data.content !== "";
  return (
    <div className="file-view">
      {(markdown || file.data.truncated) && (
        <div className="pane-toolbar">
          {file.data.truncated && (
            <p className="muted pane-note">
              Showing the last {formatBytes(file.data.content.length)} of {formatBytes(file.data.size)}.
            </p>
          )}
          {markdown && (
            <label className="toggle">
              <input type="checkbox" checked={source} onChange={(e) => setSource(e.target.checked)} /> Markdown source
            </label>
          )}
        </div>
      )}
      {rendered ? (
        <Suspense fallback={<p className="muted pane-empty">Loading…</p>}>
          <MarkdownView text={file.data.content} label={name} />
        </Suspense>
      ) : (
        <pre className="file-text" tabIndex={0} aria-label={name}>
          {file.data.content || "(empty)"}
        </pre>
      )}
    </div>
  );
}

/** The usage figures of run-info.yaml, each where known. */
function usageFields(run: RunDetail): Array<[string, string]> {
  const usage = run.usage;
  if (!usage) return [];
  const fields: Array<[string, string]> = [];
  for (const name of ["input_tokens", "output_tokens", "cached_input_tokens"] as const) {
    const value = usage[name];
    if (value !== null) fields.push([`usage.${name}`, value.toLocaleString("en-US")]);
  }
  if (usage.cost_usd !== null) fields.push(["usage.cost_usd", `${formatCost(usage.cost_usd)} (${usage.cost_usd})`]);
  return fields;
}

function RunInfoTab({ run }: { run: RunDetail }) {
  const { api } = useApp();
  const raw = useResource(`${run.run_id}/info@${run.status}/${run.end_time}`, (signal) => api.runInfo(run.run_id, signal));
  const fields: Array<[string, string]> = [
    ["run_id", run.run_id],
    ["status", run.status],
    ["agent", run.agent],
    ["agent_version", run.agent_version],
    ["backend_model", run.backend_model],
    ["start_time", formatDateTime(run.start_time)],
    ["end_time", run.end_time ? formatDateTime(run.end_time) : "—"],
    ["exit_code", String(run.exit_code)],
    ["pid", String(run.pid)],
    ["process_ownership", run.process_ownership],
    ["host", run.host],
    ["ray_node", formatRayNode(run.ray_node_name, run.ray_node_id)],
    ["ray_worker_id", run.ray_worker_id ?? ""],
    ["ray_job_id", run.ray_job_id ?? ""],
    ["run_dir", run.run_dir],
    ["cwd", run.cwd],
    ["commandline", run.commandline],
    ["heartbeat_time", run.heartbeat_time ? formatDateTime(run.heartbeat_time) : "—"],
    ...usageFields(run),
  ];
  return (
    <div className="file-view">
      <dl className="info-grid">
        {fields
          .filter(([, value]) => value !== "")
          .map(([name, value]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd className="mono">{value}</dd>
            </div>
          ))}
        <div>
          <dt>files</dt>
          <dd className="mono">
            {Object.entries(run.files)
              .map(([name, bytes]) => `${name} (${formatBytes(bytes)})`)
              .join(", ")}
          </dd>
        </div>
      </dl>
      <h3 className="section-title">run-info.yaml</h3>
      <ErrorText error={raw.error} title="Could not read run-info.yaml" />
      <pre className="file-text">{raw.data ?? (raw.loading ? "Loading…" : "")}</pre>
    </div>
  );
}
