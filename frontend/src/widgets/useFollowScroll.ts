/**
 * "Follow" for live lists: while the view is scrolled to the end it stays there as
 * content arrives; scrolling up (the user reading back) stops that until the user
 * scrolls back to the end or asks to jump there.
 */

import { useCallback, useLayoutEffect, useRef, useState, type RefObject } from "react";

const AT_END_SLACK_PX = 24;

export interface FollowScroll {
  following: boolean;
  onScroll: () => void;
  /** Scroll to the end and follow again. */
  jumpToEnd: () => void;
}

export function useFollowScroll(
  scrollRef: RefObject<HTMLElement | null>,
  /** Changes when content was added. */
  contentVersion: unknown,
  scrollToEnd: () => void,
  initiallyFollowing = true,
): FollowScroll {
  const [following, setFollowing] = useState(initiallyFollowing);
  const followingRef = useRef(initiallyFollowing);
  const lastTop = useRef(0);
  const scrollToEndRef = useRef(scrollToEnd);
  scrollToEndRef.current = scrollToEnd;

  const setFollow = useCallback((value: boolean) => {
    if (followingRef.current === value) return;
    followingRef.current = value;
    setFollowing(value);
  }, []);

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight <= AT_END_SLACK_PX;
    // Only a move up is the user's doing; content growing below never turns follow off.
    if (atEnd) setFollow(true);
    else if (el.scrollTop < lastTop.current - 2) setFollow(false);
    lastTop.current = el.scrollTop;
  }, [scrollRef, setFollow]);

  useLayoutEffect(() => {
    if (followingRef.current) scrollToEndRef.current();
  }, [contentVersion]);

  const jumpToEnd = useCallback(() => {
    setFollow(true);
    scrollToEndRef.current();
  }, [setFollow]);

  return { following, onScroll, jumpToEnd };
}
