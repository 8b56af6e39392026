/**
 * A message bus, live: the last messages, then each new one as it is appended
 * (the bus stream; resumes after a drop with Last-Event-ID = the last msg_id).
 * Messages are kept by msg_id, so one that arrives twice (posted here and then
 * streamed back, or replayed after a rotation) is shown once.
 */

import { useCallback, useEffect, useRef, useState } from "react";
import { busPath, type BusScope } from "../api/endpoints";
import type { SseEvent, StreamState } from "../api/sse";
import type { BusMessage } from "../api/types";
import { useApp } from "../app/context";
import { useEventStream } from "../app/useEventStream";

export const BUS_TAIL = 1000;

export interface BusMessages {
  messages: readonly BusMessage[];
  stream: StreamState | null;
  /** Show a message we just posted without waiting for the stream. */
  addLocal: (message: BusMessage) => void;
}

export function useBusMessages(scope: BusScope): BusMessages {
  const { api } = useApp();
  const url = api.client.url(`${busPath(scope)}/stream`, { tail: BUS_TAIL });
  const store = useRef<{ url: string; ids: Set<string>; list: BusMessage[] }>({ url, ids: new Set(), list: [] });
  const [messages, setMessages] = useState<readonly BusMessage[]>([]);
  const frame = useRef<number | null>(null);

  if (store.current.url !== url) store.current = { url, ids: new Set(), list: [] };
  useEffect(() => setMessages([]), [url]);
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  const publish = useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setMessages([...store.current.list]);
    });
  }, []);

  const add = useCallback(
    (message: BusMessage) => {
      const target = store.current;
      if (target.ids.has(message.msg_id)) return;
      target.ids.add(message.msg_id);
      target.list.push(message);
      publish();
    },
    [publish],
  );

  const onEvent = useCallback(
    (event: SseEvent, from: string) => {
      if (event.event !== "message" || from !== store.current.url) return;
      add(JSON.parse(event.data) as BusMessage);
    },
    [add],
  );

  const stream = useEventStream(url, onEvent);
  return { messages, stream, addLocal: add };
}
