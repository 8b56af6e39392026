/**
 * Messages for the user that are not tied to one form: failed actions, errors of
 * background requests, confirmations. Errors stay until dismissed.
 */

import { useSyncExternalStore } from "react";
import { describeError } from "../api/client";

export interface Notice {
  id: number;
  tone: "error" | "info";
  text: string;
}

const INFO_LIFETIME_MS = 4000;

export class NoticeStore {
  private notices: Notice[] = [];
  private readonly listeners = new Set<() => void>();
  private counter = 0;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): Notice[] => this.notices;

  error(what: string, error: unknown): void {
    this.add("error", `${what}: ${describeError(error)}`);
  }

  info(text: string): void {
    const id = this.add("info", text);
    setTimeout(() => this.dismiss(id), INFO_LIFETIME_MS);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
    this.emit();
  }

  private add(tone: Notice["tone"], text: string): number {
    this.counter += 1;
    // The same error again replaces the old one rather than stacking up.
    this.notices = [...this.notices.filter((n) => n.text !== text), { id: this.counter, tone, text }].slice(-5);
    this.emit();
    return this.counter;
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

export function useNotices(store: NoticeStore): Notice[] {
  return useSyncExternalStore(store.subscribe, store.getSnapshot);
}
