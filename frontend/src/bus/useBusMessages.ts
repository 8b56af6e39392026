/**
 * A message bus, live: the last messages, then each new one as it is appended
 * (the bus stream; resumes after a drop with Last-Event-ID = the last msg_id).
 * Messages are kept by msg_id, so one that arrives twice (posted here and then
 * streamed back, or replayed after a rotation) is shown once. Older messages are
 * fetched on request, a page at a time (`before` the oldest one shown).
 */

import { useCallback, useEffect, useRef, useState } from "react";
import { describeError } from "../api/client";
import { busPath, type BusScope } from "../api/endpoints";
import type { SseEvent, StreamState } from "../api/sse";
import type { BusMessage } from "../api/types";
import { useApp } from "../app/context";
import { useEventStream } from "../app/useEventStream";
import { useFrameBatch } from "../app/useFrameBatch";

export const BUS_TAIL = 1000;
export const EARLIER_PAGE = 500;

export interface BusMessages {
  messages: readonly BusMessage[];
  stream: StreamState | null;
  /** Show a message we just posted without waiting for the stream. */
  addLocal: (message: BusMessage) => void;
  /** Whether older messages may exist: the stream started with a full tail. */
  hasEarlier: boolean;
  loadingEarlier: boolean;
  earlierError: string | null;
  loadEarlier: () => void;
}

interface Store {
  url: string;
  ids: Set<string>;
  list: BusMessage[];
  /** A page back came short: the start of the bus is shown. */
  reachedStart: boolean;
}

export function useBusMessages(scope: BusScope): BusMessages {
  const { api } = useApp();
  const url = api.client.url(`${busPath(scope)}/stream`, { tail: BUS_TAIL });
  const store = useRef<Store>({ url, ids: new Set(), list: [], reachedStart: false });
  const [messages, setMessages] = useState<readonly BusMessage[]>([]);
  const [loadingEarlier, setLoadingEarlier] = useState(false);
  const [earlierError, setEarlierError] = useState<string | null>(null);

  if (store.current.url !== url) store.current = { url, ids: new Set(), list: [], reachedStart: false };
  useEffect(() => {
    setMessages([]);
    setEarlierError(null);
  }, [url]);
  const publish = useFrameBatch(() => setMessages([...store.current.list]));

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

  const loadEarlier = useCallback(() => {
    const target = store.current;
    const oldest = target.list[0];
    if (!oldest || loadingEarlier) return;
    setLoadingEarlier(true);
    setEarlierError(null);
    api
      .messagesBefore(scope, oldest.msg_id, EARLIER_PAGE)
      .then(
        (page) => {
          if (store.current !== target) return; // another bus by now
          const older = page.messages.filter((m) => !target.ids.has(m.msg_id));
          older.forEach((m) => target.ids.add(m.msg_id));
          target.list.unshift(...older);
          target.reachedStart = page.messages.length < EARLIER_PAGE;
          publish();
        },
        (error: unknown) => {
          if (store.current === target) setEarlierError(describeError(error));
        },
      )
      .finally(() => setLoadingEarlier(false));
  }, [api, scope, loadingEarlier, publish]);

  const stream = useEventStream(url, onEvent);
  const hasEarlier = messages.length >= BUS_TAIL && !store.current.reachedStart;
  return { messages, stream, addLocal: add, hasEarlier, loadingEarlier, earlierError, loadEarlier };
}
