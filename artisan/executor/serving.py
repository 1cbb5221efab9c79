"""An ASGI app served by uvicorn on a background thread: real HTTP for the demo and tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from artisan.executor.errors import ExecutorError


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    start_timeout: float = 10.0,
    stop_timeout: float = 20.0,
    grace: int | None = 10,
    lifespan: bool = False,
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (port 0: a free port).
    ``lifespan``: run the app's startup and shutdown (the GraphQL API opens its pool there).
    ``grace``: how long a stop waits for open requests and websockets before it cancels them
    (None: as long as they take). A server that has not stopped ``stop_timeout`` seconds after
    the block ends is an error."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            lifespan="on" if lifespan else "off",
                            timeout_graceful_shutdown=grace)  # fmt: skip
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only on the main thread, so a thread leaves them be.
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ExecutorError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(stop_timeout)
        if thread.is_alive():
            raise ExecutorError(f"uvicorn on {host}:{bound} did not stop within {stop_timeout} s")
