/** Posting to the bus: a type, a body, and the message it replies to (if any). */

import { useState, type FormEvent } from "react";
import { describeError } from "../api/client";
import type { BusScope } from "../api/endpoints";
import type { BusMessage } from "../api/types";
import { useApp } from "../app/context";
import { ErrorText } from "../widgets/ErrorText";

const POST_TYPES = ["USER", "QUESTION", "INFO", "FACT", "DECISION", "PROGRESS", "ERROR"];

export function MessageComposer({
  scope,
  replyTo,
  onCancelReply,
  onPosted,
}: {
  scope: BusScope;
  replyTo: BusMessage | null;
  onCancelReply: () => void;
  onPosted: (message: BusMessage) => void;
}) {
  const { api } = useApp();
  const [type, setType] = useState("USER");
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    if (!body.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      const posted = await api.postMessage(scope, {
        type,
        body,
        ...(replyTo ? { parents: [replyTo.msg_id] } : {}),
      });
      onPosted(posted);
      setBody("");
      onCancelReply();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="composer" onSubmit={submit} aria-label="Post a message">
      {replyTo && (
        <div className="composer-reply">
          Replying to <strong>{replyTo.type}</strong> <span className="muted">{replyTo.body.slice(0, 60)}</span>
          <button type="button" className="button-quiet" onClick={onCancelReply} aria-label="Cancel reply">
            ×
          </button>
        </div>
      )}
      <ErrorText error={error} title="Not posted" />
      <div className="composer-row">
        <select aria-label="Message type" value={type} onChange={(e) => setType(e.target.value)}>
          {POST_TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <textarea
          aria-label="Message"
          placeholder={scope.taskId ? "Message to the task's agents…" : "Message to the project…"}
          rows={2}
          value={body}
          onChange={(e) => setBody(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void submit();
          }}
        />
        <button type="submit" className="button-primary" disabled={busy || !body.trim()} title="Post (Ctrl+Enter)">
          {busy ? "Posting…" : "Post"}
        </button>
      </div>
    </form>
  );
}
