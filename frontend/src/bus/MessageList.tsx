/** Bus messages as threaded rows; virtualised; follows new messages unless scrolled up. */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import type { BusScope } from "../api/endpoints";
import type { BusMessage } from "../api/types";
import { RouteLink } from "../app/RouteLink";
import { formatClock } from "../widgets/format";
import { useFollowScroll } from "../widgets/useFollowScroll";
import type { MessageRow } from "./threads";

const MAX_INDENT = 5;

export function MessageList({
  rows,
  highlightRunId,
  onReply,
  scope,
}: {
  rows: MessageRow[];
  highlightRunId?: string;
  onReply: (message: BusMessage) => void;
  scope: BusScope;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 64,
    overscan: 6,
    getItemKey: (index) => rows[index]?.message.msg_id ?? index,
  });
  const follow = useFollowScroll(scrollRef, rows, () => {
    if (rows.length > 0) virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
  });

  return (
    <div className="scroll-pane bus-list-pane">
      <div ref={scrollRef} className="bus-list" onScroll={follow.onScroll} role="log" aria-label="Messages" tabIndex={0}>
        {rows.length === 0 ? (
          <p className="muted pane-empty">No messages.</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((item) => {
              const row = rows[item.index]!;
              return (
                <div
                  key={item.key}
                  data-index={item.index}
                  ref={virtualizer.measureElement}
                  className="bus-row"
                  style={{ transform: `translateY(${item.start}px)` }}
                >
                  <MessageCard row={row} highlight={!!highlightRunId && row.message.run_id === highlightRunId} onReply={onReply} scope={scope} />
                </div>
              );
            })}
          </div>
        )}
      </div>
      {!follow.following && rows.length > 0 && (
        <button type="button" className="jump-to-end" onClick={follow.jumpToEnd}>
          ↓ Latest
        </button>
      )}
    </div>
  );
}

function MessageCard({
  row,
  highlight,
  onReply,
  scope,
}: {
  row: MessageRow;
  highlight: boolean;
  onReply: (message: BusMessage) => void;
  scope: BusScope;
}) {
  const m = row.message;
  const indent = Math.min(row.depth, MAX_INDENT);
  const runTask = m.task_id || scope.taskId;
  return (
    <article
      className={`message message-${m.type.toLowerCase()}${highlight ? " message-highlight" : ""}${row.depth ? " message-reply" : ""}`}
      style={{ marginLeft: indent * 14 }}
      aria-label={`${m.type} message`}
      data-msg-id={m.msg_id}
    >
      <header className="message-head">
        <span className={`message-type type-${m.type.toLowerCase()}`}>{m.type}</span>
        <time dateTime={m.ts} title={m.ts}>
          {formatClock(m.ts)}
        </time>
        {!scope.taskId && m.task_id && <span className="message-task mono" title="task">{m.task_id}</span>}
        {m.run_id && runTask && (
          <RouteLink
            className="message-run mono"
            title={`run ${m.run_id}`}
            to={{ view: "run", projectId: m.project_id, taskId: runTask, runId: m.run_id, tab: "output" }}
          >
            run …{m.run_id.slice(-8)}
          </RouteLink>
        )}
        <button type="button" className="button-quiet message-reply-button" onClick={() => onReply(m)}>
          Reply
        </button>
      </header>
      {m.body && <div className="message-body">{m.body}</div>}
      {m.links.length > 0 && (
        <ul className="message-links">
          {m.links.map((link) => (
            <li key={link.url}>
              {/^https?:\/\//i.test(link.url) ? (
                <a href={link.url} target="_blank" rel="noreferrer noopener">
                  {link.label || link.url}
                </a>
              ) : (
                // Only web links are clickable (a bus record could hold javascript: URLs).
                <span className="mono">{link.label ? `${link.label}: ${link.url}` : link.url}</span>
              )}
            </li>
          ))}
        </ul>
      )}
      {row.replyCount > 0 && <div className="muted message-replies">{row.replyCount} repl{row.replyCount === 1 ? "y" : "ies"}</div>}
    </article>
  );
}
