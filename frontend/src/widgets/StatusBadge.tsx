/** A run's or task's status as a coloured badge (colour is never the only cue: text). */

const KNOWN = new Set(["running", "completed", "failed", "stopped", "queued", "idle", "deleted"]);

export function StatusBadge({ status, compact = false }: { status: string; compact?: boolean }) {
  const tone = KNOWN.has(status) ? status : "other";
  return (
    <span className={`badge badge-${tone}${compact ? " badge-compact" : ""}`} data-status={status}>
      {tone === "running" && <span className="badge-pulse" aria-hidden="true" />}
      {status}
    </span>
  );
}
