/** The message bus of a task or project: live, filterable, threaded, with a compose form. */

import { useMemo, useState } from "react";
import type { BusScope } from "../api/endpoints";
import type { BusMessage } from "../api/types";
import { StreamIndicator } from "../widgets/StreamIndicator";
import { ErrorText } from "../widgets/ErrorText";
import { MessageComposer } from "./MessageComposer";
import { MessageList } from "./MessageList";
import { matchesFilter, threadRows, typeCounts, type TypeFilter } from "./threads";
import { EARLIER_PAGE, useBusMessages } from "./useBusMessages";

function filterValue(filter: TypeFilter): string {
  return filter.kind === "type" ? `type:${filter.type}` : filter.kind;
}

function parseFilter(value: string): TypeFilter {
  if (value.startsWith("type:")) return { kind: "type", type: value.slice(5) };
  return value === "no-run-events" ? { kind: "no-run-events" } : { kind: "all" };
}

export function BusPanel({ scope, runId }: { scope: BusScope; runId?: string }) {
  const [level, setLevel] = useState<"task" | "project">("task");
  const effective: BusScope = scope.taskId && level === "task" ? scope : { projectId: scope.projectId };
  const bus = useBusMessages(effective);
  const [filter, setFilter] = useState<TypeFilter>({ kind: "all" });
  const [replyTo, setReplyTo] = useState<BusMessage | null>(null);

  const counts = useMemo(() => typeCounts(bus.messages), [bus.messages]);
  const rows = useMemo(() => threadRows(bus.messages.filter((m) => matchesFilter(m, filter))), [bus.messages, filter]);
  const title = effective.taskId ? "Task message bus" : "Project message bus";

  return (
    <aside className="bus-panel" aria-label={title}>
      <header className="bus-header">
        <h2 className="bus-title">{title}</h2>
        <StreamIndicator state={bus.stream} />
      </header>
      <div className="bus-controls">
        {scope.taskId && (
          <div className="segmented" role="group" aria-label="Bus">
            <button type="button" aria-pressed={level === "task"} onClick={() => setLevel("task")}>
              Task
            </button>
            <button type="button" aria-pressed={level === "project"} onClick={() => setLevel("project")}>
              Project
            </button>
          </div>
        )}
        <select aria-label="Filter by type" value={filterValue(filter)} onChange={(e) => setFilter(parseFilter(e.target.value))}>
          <option value="all">All types ({bus.messages.length})</option>
          <option value="no-run-events">Without run start/stop</option>
          {counts.map(([type, count]) => (
            <option key={type} value={`type:${type}`}>
              {type} ({count})
            </option>
          ))}
        </select>
      </div>
      {bus.hasEarlier && (
        <div className="pane-note bus-earlier">
          <button type="button" className="button-quiet" onClick={bus.loadEarlier} disabled={bus.loadingEarlier}>
            {bus.loadingEarlier ? "Loading…" : `Load ${EARLIER_PAGE} earlier messages`}
          </button>
        </div>
      )}
      <ErrorText error={bus.earlierError} title="Could not load earlier messages" />
      <MessageList rows={rows} highlightRunId={runId} onReply={setReplyTo} scope={effective} />
      <MessageComposer
        scope={effective}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        onPosted={bus.addLocal}
      />
    </aside>
  );
}
