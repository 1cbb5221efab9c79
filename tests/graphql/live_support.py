"""A graphql-transport-ws client for the subscription tests (the websockets package's own
synchronous client, speaking the protocol's few messages)."""

from __future__ import annotations

from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"


class Subscriber:
    """One websocket connection: ``subscribe`` sends a subscription, ``next`` waits for a
    message of it."""

    def __init__(self, base_url: str, origin: str | None = None) -> None:
        url = base_url.replace("http://", "ws://") + "/graphql"
        headers = {"Origin": origin} if origin else None
        options: dict[str, Any] = {"subprotocols": [PROTOCOL], "additional_headers": headers,
                                   "open_timeout": 10, "legacy": True}  # fmt: skip
        self.ws: ClientConnection = connect(
            url,
            **options,
        )
        self.ws.send(orjson.dumps({"type": "connection_init"}).decode())
        ack = orjson.loads(self.ws.recv(timeout=10))
        assert ack["type"] == "connection_ack", ack
        self.ids = 0

    def subscribe(self, query: str, **variables: Any) -> str:
        self.ids += 1
        key = str(self.ids)
        payload = {"query": query, "variables": variables}
        self.ws.send(orjson.dumps({"id": key, "type": "subscribe", "payload": payload}).decode())
        return key

    def next(self, timeout: float = 15.0) -> dict[str, Any]:
        """The next message about a subscription (``next``, ``error`` or ``complete``)."""
        while True:
            message: dict[str, Any] = orjson.loads(self.ws.recv(timeout=timeout))
            if message["type"] == "ping":
                self.ws.send(orjson.dumps({"type": "pong"}).decode())
                continue
            return message

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
