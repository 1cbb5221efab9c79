"""New-head signals: ``eth_subscribe newHeads`` over a websocket wakes the follower at once.

Only a wake-up: the follower still reads everything over HTTP, and still polls at its
interval, so a dropped subscription costs latency, never data. The socket is read on a thread
of its own, which reconnects (with a growing pause) after the node drops it.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from artisan.chain.errors import NodeError
from artisan.config import redact_url


class NewHeads:
    """A ``HeadSignal``: subscribes to ``newHeads`` on ``ws_url``; ``wait`` returns on a block.

    Raises ``NodeError`` at once if the first subscription fails (no websocket, or a node that
    offers no subscriptions): the caller then polls.
    """

    def __init__(self, ws_url: str, *, open_timeout: float = 5.0, max_pause: float = 5.0) -> None:
        self.ws_url = ws_url
        self._open_timeout = open_timeout
        self._max_pause = max_pause
        self._announced = threading.Event()
        self._closed = threading.Event()
        self._subscribed = threading.Event()
        self._error: NodeError | None = None
        self._socket: ClientConnection | None = None
        self._thread = threading.Thread(target=self._run, name="indexer-new-heads", daemon=True)
        self._thread.start()
        self._subscribed.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def wait(self, timeout: float) -> bool:
        announced = self._announced.wait(timeout)
        self._announced.clear()
        return announced

    def close(self) -> None:
        self._closed.set()
        while self._thread.is_alive():
            socket = self._socket
            if socket is not None:
                socket.close()
            self._thread.join(0.05)

    def __enter__(self) -> NewHeads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        pause = 0.1
        while not self._closed.is_set():
            try:
                with connect(self.ws_url, open_timeout=self._open_timeout, max_size=None) as socket:
                    self._subscribe(socket)
                    self._socket = socket
                    self._subscribed.set()
                    pause = 0.1
                    for message in socket:
                        if self._closed.is_set():
                            break
                        text = message if isinstance(message, str) else message.decode()
                        if '"eth_subscription"' in text:
                            self._announced.set()
            except (OSError, TimeoutError, WebSocketException, NodeError) as exc:
                if not self._subscribed.is_set():  # the first attempt: report and give up
                    self._error = NodeError(
                        "eth_subscribe",
                        None,
                        f"cannot open a websocket to {redact_url(self.ws_url)}: {exc}",
                    )
                    self._subscribed.set()
                    return
            finally:
                self._socket = None
            self._closed.wait(pause)
            pause = min(self._max_pause, pause * 2)

    def _subscribe(self, socket: ClientConnection) -> None:
        request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
        socket.send(orjson.dumps(request).decode())
        try:
            reply: Any = orjson.loads(socket.recv(timeout=self._open_timeout))
        except orjson.JSONDecodeError as exc:
            raise NodeError("eth_subscribe", None, f"a reply that is not JSON: {exc}") from exc
        if not isinstance(reply, dict) or "result" not in reply:
            raise NodeError(
                "eth_subscribe", None, f"no newHeads subscription offered: {reply!r:.200}"
            )
