/** Whether a live stream is connected: live, reconnecting (in how long), ended, failed. */

import type { StreamState } from "../api/sse";
import { formatClock } from "./format";

export function StreamIndicator({ state, label = "live" }: { state: StreamState | null; label?: string }) {
  if (state === null) return null;
  let text: string;
  let tone: string;
  let title: string;
  switch (state.kind) {
    case "connecting":
      text = "connecting…";
      tone = "pending";
      title = "Connecting to the server";
      break;
    case "live":
      text = label;
      tone = "live";
      title = state.lastHeartbeat
        ? `Connected; last heartbeat ${formatClock(new Date(state.lastHeartbeat).toISOString())}`
        : `Connected since ${formatClock(new Date(state.since).toISOString())}`;
      break;
    case "reconnecting":
      text = `disconnected — retrying in ${Math.ceil(state.delayMs / 1000)} s`;
      tone = "down";
      title = state.reason;
      break;
    case "ended":
      text = "complete";
      tone = "ended";
      title = "The stream is complete";
      break;
    case "failed":
      text = "disconnected";
      tone = "down";
      title = state.error.describe();
      break;
  }
  return (
    <span className={`stream stream-${tone}`} title={title} role="status" data-stream-state={state.kind}>
      <span className="stream-dot" aria-hidden="true" />
      {text}
      {state.kind === "failed" && <span className="visually-hidden">: {state.error.describe()}</span>}
    </span>
  );
}
