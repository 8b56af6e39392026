/** Times, durations and sizes as people read them. */

import type { RunSummary } from "../api/types";

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso || iso.startsWith("0001-")) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${(ms / 1000).toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** How long a run took, or has been running until `now`. */
export function runDurationMs(run: Pick<RunSummary, "start_time" | "end_time" | "status">, now: number): number | null {
  const start = parseTime(run.start_time);
  if (start === null) return null;
  const end = parseTime(run.end_time);
  if (end !== null) return end - start;
  return run.status === "running" ? now - start : null;
}

export function formatClock(iso: string | null | undefined): string {
  const ms = parseTime(iso);
  if (ms === null) return "—";
  const date = new Date(ms);
  const today = new Date();
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${time}`;
}

export function formatDateTime(iso: string | null | undefined): string {
  const ms = parseTime(iso);
  return ms === null ? "—" : new Date(ms).toLocaleString(undefined, { hour12: false });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatAgo(iso: string | null | undefined, now: number): string {
  const ms = parseTime(iso);
  if (ms === null) return "never";
  const delta = now - ms;
  if (delta < 5000) return "just now";
  const seconds = Math.floor(delta / 1000);
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/** Where the Ray executor placed a run: the node's host name and the start of its id;
 * "" for a run outside Ray (neither is set, or an older server sent neither). */
export function formatRayNode(name: string | undefined, id: string | undefined): string {
  const shortId = id ? (id.length > 12 ? `${id.slice(0, 12)}…` : id) : "";
  if (name && shortId) return `${name} (node ${shortId})`;
  return name || (shortId ? `node ${shortId}` : "");
}
