/**
 * An SSE connection for as long as a component shows it. Reconnects itself (see
 * EventStream); after a 401 it waits for the user's API key and then resumes.
 */

import { useEffect, useRef, useState } from "react";
import { EventStream, type SseEvent, type StreamState } from "../api/sse";
import { useApp } from "./context";

export interface EventStreamHookOptions {
  /** Resume point of the first connection. */
  lastEventId?: string | null;
  terminalEvents?: readonly string[];
  /** Called each time the stream becomes live (connected, or connected again). */
  onLive?: () => void;
}

export function useEventStream(
  url: string | null,
  /** Gets the url of the connection the event came from (views that change stream can ignore stale events). */
  onEvent: (event: SseEvent, url: string) => void,
  options: EventStreamHookOptions = {},
): StreamState | null {
  const { keys } = useApp();
  const [state, setState] = useState<StreamState | null>(null);
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    if (url === null) {
      setState(null);
      return;
    }
    let previousKind: StreamState["kind"] | null = null;
    const stream = new EventStream({
      url,
      lastEventId: optionsRef.current.lastEventId ?? null,
      terminalEvents: optionsRef.current.terminalEvents,
      headers: () => keys.authHeaders(),
      onUnauthorized: () => keys.reportUnauthorized(),
      onEvent: (event) => onEventRef.current(event, url),
      onState: (next) => {
        const becameLive = next.kind === "live" && previousKind !== "live";
        previousKind = next.kind;
        setState(next);
        if (becameLive) optionsRef.current.onLive?.();
      },
    });
    stream.start();
    let hadKey = keys.get();
    const unsubscribe = keys.subscribe(() => {
      const key = keys.get();
      const current = stream.currentState;
      if (key !== hadKey && current.kind === "failed" && current.error.status === 401) stream.reconnectNow();
      hadKey = key;
    });
    return () => {
      unsubscribe();
      stream.close();
    };
  }, [url, keys]);

  return state;
}
