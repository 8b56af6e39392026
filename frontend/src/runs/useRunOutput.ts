/**
 * A run's stdout and stderr, line by line, from the run's event stream: the whole
 * file so far, then each new line as the agent writes it, then `done`. The same
 * stream serves finished runs (it replays and ends at once). For very large files
 * only the last few MB are read: the stream is started at that byte offset (event
 * ids are byte offsets) and the first, partial line is dropped.
 *
 * Lines are collected in place and published at most once per animation frame, so a
 * fast agent does not re-render the view per line.
 */

import { useCallback, useEffect, useRef, useState } from "react";
import type { SseEvent, StreamState } from "../api/sse";
import type { LogEventData, RunDetail, RunStatusEventData } from "../api/types";
import { runStreamPath } from "../api/endpoints";
import { useApp } from "../app/context";
import { useEventStream } from "../app/useEventStream";
import { useFrameBatch } from "../app/useFrameBatch";
import { TranscriptBuilder, type TranscriptItem } from "../transcript/streamJson";

export const TAIL_BYTES = 4 * 1024 * 1024;

export interface RunOutput {
  stdout: readonly string[];
  stderr: readonly string[];
  transcript: TranscriptItem[];
  /** Bytes at the start of each file that were not read (very large files). */
  skipped: { stdout: number; stderr: number };
  /** The latest `status`/`done` event. */
  status: RunStatusEventData | null;
  done: boolean;
  stream: StreamState | null;
  /** Bumps whenever lines were added. */
  version: number;
}

interface Collected {
  /** The stream these lines come from. */
  url: string;
  stdout: string[];
  stderr: string[];
  dropFirst: { stdout: boolean; stderr: boolean };
  transcript: TranscriptBuilder;
}

function startOffsets(detail: RunDetail): { stdout: number; stderr: number } {
  const stdout = detail.files["agent-stdout.txt"] ?? 0;
  const stderr = detail.files["agent-stderr.txt"] ?? 0;
  return { stdout: Math.max(0, stdout - TAIL_BYTES), stderr: Math.max(0, stderr - TAIL_BYTES) };
}

export function useRunOutput(detail: RunDetail | null, onDone?: (status: RunStatusEventData) => void): RunOutput {
  const { api } = useApp();
  const runKey = detail ? `${detail.project_id}/${detail.task_id}/${detail.run_id}` : null;
  const collected = useRef<Collected | null>(null);
  const [skipped, setSkipped] = useState({ stdout: 0, stderr: 0 });
  const [lastEventId, setLastEventId] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<RunStatusEventData | null>(null);
  const [done, setDone] = useState(false);
  const onDoneRef = useRef(onDone);
  onDoneRef.current = onDone;

  // A new run: start over (offsets from the sizes the detail reported).
  const [streamUrl, setStreamUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!detail || !runKey) {
      collected.current = null;
      setStreamUrl(null);
      return;
    }
    const url = api.client.url(runStreamPath(detail.project_id, detail.task_id, detail.run_id));
    const offsets = startOffsets(detail);
    collected.current = {
      url,
      stdout: [],
      stderr: [],
      dropFirst: { stdout: offsets.stdout > 0, stderr: offsets.stderr > 0 },
      transcript: new TranscriptBuilder(),
    };
    setSkipped(offsets);
    setLastEventId(offsets.stdout > 0 || offsets.stderr > 0 ? `${offsets.stdout}-${offsets.stderr}` : null);
    setStatus(null);
    setDone(false);
    setVersion((v) => v + 1);
    setStreamUrl(url);
    // Only the run's identity restarts the stream, not its changing details.
  }, [runKey]);

  const publish = useFrameBatch(() => setVersion((v) => v + 1));

  const onEvent = useCallback(
    (event: SseEvent, url: string) => {
      const target = collected.current;
      if (!target || target.url !== url) return;
      if (event.event === "log") {
        const data = JSON.parse(event.data) as LogEventData;
        const stream = data.stream === "stderr" ? "stderr" : "stdout";
        if (target.dropFirst[stream]) {
          target.dropFirst[stream] = false;
          return;
        }
        target[stream].push(data.line);
        if (stream === "stdout") target.transcript.push(data.line);
        publish();
      } else if (event.event === "status" || event.event === "done") {
        const data = JSON.parse(event.data) as RunStatusEventData;
        setStatus(data);
        if (event.event === "done") {
          setDone(true);
          onDoneRef.current?.(data);
        }
      }
    },
    [publish],
  );

  const stream = useEventStream(streamUrl, onEvent, { lastEventId, terminalEvents: ["done"] });

  const current = collected.current;
  return {
    stdout: current?.stdout ?? [],
    stderr: current?.stderr ?? [],
    transcript: current?.transcript.items ?? [],
    skipped,
    status,
    done,
    stream,
    version,
  };
}
