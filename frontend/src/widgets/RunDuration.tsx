import type { RunSummary } from "../api/types";
import { formatDuration, runDurationMs } from "./format";
import { useNow } from "./useNow";

/** How long a run took; ticks while it runs. */
export function RunDuration({ run }: { run: Pick<RunSummary, "start_time" | "end_time" | "status"> }) {
  const now = useNow(run.status === "running");
  const ms = runDurationMs(run, now);
  return <span className="duration">{ms === null ? "—" : formatDuration(ms)}</span>;
}
