"""Serving from the first request: the front answers while the app is being built.

Importing FastAPI and building the routes and their schemas is most of a server's
start-up. The front (``front``: request context, guards, health and version) needs
neither, so the server listens and answers health at once while a thread imports and
builds the app. Every other request passes the guards, then waits until the app is
ready and is handed to it: nothing is refused or lost. The app's lifespan runs here once
it is built (uvicorn's own lifespan start-up completes at once) and ends when the
server shuts down. Should the server be told to stop before the app is ready, the
requests still waiting get a 503.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from conductor_loop.api.errors import send_error
from conductor_loop.api.front import Layer, wrap

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("conductor_loop.api")

HOLD_POLL = 0.01
RETRY_INTERVAL = 0.2


class StartupApp:
    """The ASGI app the server runs: ``layers`` (``front.front_layers``) in front of the
    app that ``build()`` returns, called in a thread at lifespan start-up.

    ``on_failure`` is called (on the event loop) when the app cannot be built or
    started; ``failed`` then says so, and the server should stop. ``hold`` (tests): the
    build waits until that file exists.
    """

    def __init__(
        self,
        build: Callable[[], Starlette],
        layers: list[Layer],
        *,
        hold: Path | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.app: Starlette | None = None  # set once built and started
        self.failed = False
        self.on_failure = on_failure
        self._build = build
        self._hold = hold
        self._front = wrap(self._dispatch, layers)
        self._stopping = threading.Event()  # read by the build thread
        self._ready = asyncio.Event()  # the app is started, or will never be
        self._stop = asyncio.Event()  # the app's lifespan is to end
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self._front(scope, receive, send)

    def handle_exit(self) -> None:
        """The server was told to stop (from its signal handler, on the loop's thread):
        an unfinished build is abandoned and the requests waiting for it are answered."""
        self._stopping.set()
        if self.app is None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._ready.set)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if app is None:
            await self._ready.wait()
            app = self.app
            if app is None:
                await send_error(
                    send,
                    503,
                    "unavailable",
                    "the server is stopping (or failed to start) before it was ready",
                )
                return
        await app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        self._loop = asyncio.get_running_loop()
        runner = asyncio.create_task(self._run(), name="conductor-app")
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        self._stopping.set()
        self._stop.set()
        await runner
        await send({"type": "lifespan.shutdown.complete"})

    async def _run(self) -> None:
        """Build the app, start it, serve it until shutdown, then shut it down."""
        try:
            app = await asyncio.to_thread(self._make)
        except Exception:
            log.exception("building the server's app failed")
            self._fail()
            return
        if app is None or self._stopping.is_set():  # stopped before it was built
            self._ready.set()
            return
        started = False
        try:
            async with app.router.lifespan_context(app):
                started = True
                self.app = app
                self._ready.set()
                await self._stop.wait()
        except Exception:
            if started:
                log.exception("shutting the server's app down failed")
            else:
                log.exception("starting the server's app failed")
                self._fail()

    def _make(self) -> Starlette | None:
        """In a thread: the app, or None when the server stopped first."""
        while self._hold is not None and not self._hold.exists():
            if self._stopping.wait(HOLD_POLL):
                return None
        warned = False
        while not self._stopping.is_set():
            try:
                return self._build()
            except OSError as exc:
                # Connections may hold every descriptor for a while (the connection guard
                # frees them), and an import needs one to read its file: wait and retry.
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
                if not warned:
                    log.warning("building the app: %s; retrying until descriptors are free", exc)
                    warned = True
                self._stopping.wait(RETRY_INTERVAL)
        return None

    def _fail(self) -> None:
        self.failed = True
        self._ready.set()
        if self.on_failure is not None:
            self.on_failure()
