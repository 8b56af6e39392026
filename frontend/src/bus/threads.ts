/**
 * Bus messages as threads: a message whose `parents` name a message that is shown
 * is a reply and sits under it; everything else starts a thread. Threads are in the
 * order of their first message, replies in time order under their parent.
 */

import type { BusMessage } from "../api/types";

export interface MessageRow {
  message: BusMessage;
  depth: number;
  /** The parent this row is shown under (null: starts a thread). */
  parentId: string | null;
  replyCount: number;
}

export const RUN_EVENT_TYPES = new Set(["RUN_START", "RUN_STOP", "RUN_CRASH"]);

export type TypeFilter = { kind: "all" } | { kind: "no-run-events" } | { kind: "type"; type: string };

export function matchesFilter(message: BusMessage, filter: TypeFilter): boolean {
  switch (filter.kind) {
    case "all":
      return true;
    case "no-run-events":
      return !RUN_EVENT_TYPES.has(message.type);
    case "type":
      return message.type === filter.type;
  }
}

export function threadRows(messages: readonly BusMessage[]): MessageRow[] {
  const shown = new Set(messages.map((m) => m.msg_id));
  const replies = new Map<string, BusMessage[]>();
  const roots: BusMessage[] = [];
  const parentOf = new Map<string, string>();
  for (const message of messages) {
    const parent = message.parents.find((p) => p.msg_id !== message.msg_id && shown.has(p.msg_id))?.msg_id;
    if (parent) {
      parentOf.set(message.msg_id, parent);
      let list = replies.get(parent);
      if (!list) replies.set(parent, (list = []));
      list.push(message);
    } else {
      roots.push(message);
    }
  }
  const rows: MessageRow[] = [];
  const placed = new Set<string>();
  const place = (root: BusMessage) => {
    const stack: Array<[BusMessage, number]> = [[root, 0]];
    while (stack.length > 0) {
      const [message, depth] = stack.pop()!;
      if (placed.has(message.msg_id)) continue;
      placed.add(message.msg_id);
      const children = replies.get(message.msg_id) ?? [];
      rows.push({ message, depth, parentId: parentOf.get(message.msg_id) ?? null, replyCount: children.length });
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, depth + 1]);
    }
  };
  for (const root of roots) place(root);
  // Replies whose parents form a cycle are never reached from a root: show them flat.
  for (const message of messages) if (!placed.has(message.msg_id)) place(message);
  return rows;
}

/** Message types present, most frequent first (for the filter). */
export function typeCounts(messages: readonly BusMessage[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(m.type, (counts.get(m.type) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}
