"""Fan-out of change notifications to the SSE clients that care about them.

One watcher thread observes the runs root; it calls ``notify_threadsafe`` with keys
such as ``run:<run_id>`` or ``bus:<path>``. Each SSE client holds one ``Subscription``
(an ``asyncio.Event`` registered under its keys) and, when woken, reads what is new
from disk itself. Nothing per client lives outside its subscription, so a disconnect
releases everything by unsubscribing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import TracebackType


class Subscription:
    __slots__ = ("_event", "_hub", "keys")

    def __init__(self, hub: Hub, keys: tuple[str, ...]) -> None:
        self._hub = hub
        self._event = asyncio.Event()
        self.keys = keys

    def _wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a notification (True) or ``timeout`` seconds (False)."""
        if not self._event.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._event.wait()
            except TimeoutError:
                return False
        self._event.clear()
        return True

    @property
    def closed(self) -> bool:
        return self._hub.closed

    def close(self) -> None:
        self._hub._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Hub:
    """Subscriptions by key; all methods but ``notify_threadsafe`` run on the event loop."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.count = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, keys: Iterable[str]) -> Subscription:
        sub = Subscription(self, tuple(keys))
        for key in sub.keys:
            self._by_key.setdefault(key, set()).add(sub)
        self.count += 1
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        removed = False
        for key in sub.keys:
            subs = self._by_key.get(key)
            if subs is not None and sub in subs:
                subs.discard(sub)
                removed = True
                if not subs:
                    del self._by_key[key]
        if removed:
            self.count -= 1

    def notify(self, keys: Iterable[str]) -> None:
        for key in keys:
            for sub in self._by_key.get(key, ()):
                sub._wake()

    def notify_threadsafe(self, keys: Iterable[str]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        wanted = [k for k in keys if k in self._by_key]
        if wanted:
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile (shutdown)
                loop.call_soon_threadsafe(self.notify, wanted)

    def close(self) -> None:
        """Wake every subscriber for good: streams end (server shutdown)."""
        self.closed = True
        for subs in list(self._by_key.values()):
            for sub in list(subs):
                sub._wake()

    def close_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.close)
