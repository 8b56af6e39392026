/**
 * Many updates, one render per animation frame: the returned `schedule()` runs `flush`
 * at the next frame, once however often it is called before then. A frame still
 * pending when the component unmounts is cancelled.
 */

import { useCallback, useEffect, useRef } from "react";

export function useFrameBatch(flush: () => void): () => void {
  const frame = useRef<number | null>(null);
  const latest = useRef(flush);
  latest.current = flush;
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );
  return useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      latest.current();
    });
  }, []);
}
