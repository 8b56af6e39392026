/** The readable transcript of agent stdout, virtualised, following the end while live. */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import { useFollowScroll } from "../widgets/useFollowScroll";
import { TranscriptEntry } from "./TranscriptEntry";
import type { TranscriptItem } from "./streamJson";

export function TranscriptView({ items, empty }: { items: TranscriptItem[]; empty: string }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 48,
    overscan: 8,
    getItemKey: (index) => items[index]?.key ?? index,
  });
  const follow = useFollowScroll(scrollRef, items, () => {
    if (items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: "end" });
  });

  return (
    <div className="scroll-pane">
      <div
        ref={scrollRef}
        className="transcript-scroll"
        onScroll={follow.onScroll}
        tabIndex={0}
        role="log"
        aria-label="Agent output"
      >
        {items.length === 0 ? (
          <p className="muted pane-empty">{empty}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((row) => (
              <div
                key={row.key}
                data-index={row.index}
                ref={virtualizer.measureElement}
                className="transcript-row"
                style={{ transform: `translateY(${row.start}px)` }}
              >
                <TranscriptEntry item={items[row.index]!} />
              </div>
            ))}
          </div>
        )}
      </div>
      {!follow.following && items.length > 0 && (
        <button type="button" className="jump-to-end" onClick={follow.jumpToEnd}>
          ↓ Follow latest
        </button>
      )}
    </div>
  );
}
