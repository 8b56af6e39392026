/** Raw lines (stderr, or stdout as written), virtualised, following the end while live. */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import { useFollowScroll } from "../widgets/useFollowScroll";

export function LogView({
  lines,
  version,
  label,
  empty,
}: {
  lines: readonly string[];
  version: number;
  label: string;
  empty: string;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: lines.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 20,
    overscan: 30,
  });
  const follow = useFollowScroll(scrollRef, version, () => {
    if (lines.length > 0) virtualizer.scrollToIndex(lines.length - 1, { align: "end" });
  });
  const gutter = String(lines.length).length;

  return (
    <div className="scroll-pane">
      <div ref={scrollRef} className="log-scroll" onScroll={follow.onScroll} tabIndex={0} role="log" aria-label={label}>
        {lines.length === 0 ? (
          <p className="muted pane-empty">{empty}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((item) => (
              <div
                key={item.key}
                data-index={item.index}
                ref={virtualizer.measureElement}
                className="log-line"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <span className="log-number" style={{ width: `${gutter + 1}ch` }} aria-hidden="true">
                  {item.index + 1}
                </span>
                <span className="log-text">{lines[item.index]}</span>
              </div>
            ))}
          </div>
        )}
      </div>
      {!follow.following && lines.length > 0 && (
        <button type="button" className="jump-to-end" onClick={follow.jumpToEnd}>
          ↓ Follow latest
        </button>
      )}
    </div>
  );
}
