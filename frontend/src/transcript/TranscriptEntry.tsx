/** One transcript item: text as text, tool calls folded with their output. */

import type { TranscriptItem } from "./streamJson";

const TOOL_STATE_LABEL = { running: "running", ok: "done", error: "failed" } as const;

export function TranscriptEntry({ item }: { item: TranscriptItem }) {
  switch (item.kind) {
    case "session":
      return (
        <div className="tx tx-session">
          <span className="tx-tag">{item.agent}</span>
          {item.model && <span className="tx-model">{item.model}</span>}
          <span className="tx-muted">{item.detail}</span>
        </div>
      );
    case "text":
      return (
        <div className={item.error ? "tx tx-text tx-error" : "tx tx-text"} data-testid="tx-text">
          {item.text}
        </div>
      );
    case "thinking":
      return (
        <details className="tx tx-fold tx-thinking">
          <summary>Reasoning</summary>
          <div className="tx-fold-body tx-prewrap">{item.text}</div>
        </details>
      );
    case "prompt":
      return (
        <details className="tx tx-fold tx-prompt">
          <summary>Prompt ({item.text.length.toLocaleString()} characters)</summary>
          <pre className="tx-fold-body">{item.text}</pre>
        </details>
      );
    case "tool":
      return <ToolCall item={item} />;
    case "notice":
      return (
        <div className={`tx tx-notice tx-${item.level}`} role={item.level === "error" ? "alert" : undefined}>
          <strong>{item.level === "error" ? "Error" : "Warning"}:</strong> {item.text}
        </div>
      );
    case "result":
      return (
        <div className={item.ok ? "tx tx-result tx-ok" : "tx tx-result tx-failed"} data-testid="tx-result">
          <strong>{item.ok ? "Finished" : "Failed"}</strong>
          {item.stats.length > 0 && <span className="tx-muted"> · {item.stats.join(" · ")}</span>}
          {item.text && <div className="tx-prewrap">{item.text}</div>}
        </div>
      );
    case "plain":
      return <pre className="tx tx-plain">{item.text}</pre>;
    case "event":
      return (
        <details className="tx tx-fold tx-event">
          <summary>
            Event <code>{item.label}</code>
          </summary>
          <pre className="tx-fold-body">{item.json}</pre>
        </details>
      );
  }
}

function ToolCall({ item }: { item: Extract<TranscriptItem, { kind: "tool" }> }) {
  const exit = item.exitCode !== null ? ` · exit ${item.exitCode}` : "";
  return (
    <details className={`tx tx-fold tx-tool tx-tool-${item.state}`} data-testid="tx-tool">
      <summary>
        <span className="tx-tool-name">{item.name}</span>
        <code className="tx-tool-summary">{item.summary}</code>
        <span className={`tx-tool-state tx-tool-state-${item.state}`}>
          {TOOL_STATE_LABEL[item.state]}
          {exit}
        </span>
      </summary>
      <div className="tx-fold-body">
        <div className="tx-label">Input</div>
        <pre>{item.input}</pre>
        <div className="tx-label">Output</div>
        <pre>{item.output === null ? "(still running)" : item.output || "(no output)"}</pre>
      </div>
    </details>
  );
}
