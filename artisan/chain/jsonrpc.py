"""Raw JSON-RPC over httpx, parsed with orjson, batched: the transport of the processes that
sign and reconcile their own transactions (the emitter, the reward publisher).

Receipts of large batches hold thousands of logs; web3's formatters would spend more time on
them than the node spends executing the batch, so these read plain JSON. Transport failures
become ``NodeUnavailable`` (a ``TransientChainError``), error objects ``NodeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from artisan.chain.errors import NodeError, NodeUnavailable

Call = tuple[str, Sequence[Any]]


class JsonRpc:
    """A JSON-RPC endpoint over HTTP, one keep-alive connection."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._next_id = 0

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, *params: Any) -> Any:
        """One call's result; an error object raises ``NodeError``."""
        return self._unwrap(method, self._post(self._body(method, params)))

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Several calls in one request; results in call order, the first error raises."""
        if not calls:
            return []
        answers = self._post([self._body(m, p) for m, p in calls])
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise NodeUnavailable(f"a batch of {len(calls)} calls got a malformed answer")
        by_id = {a.get("id"): a for a in answers}
        first = self._next_id - len(calls) + 1
        return [self._unwrap(m, by_id.get(first + i, {})) for i, (m, _) in enumerate(calls)]

    def _body(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        self._next_id += 1
        return {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": list(params)}

    def _post(self, body: Any) -> Any:
        try:
            response = self._http.post(
                self.url,
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise NodeUnavailable(f"cannot reach the node at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise NodeUnavailable(f"the node at {self.url} answered HTTP {response.status_code}")
        return orjson.loads(response.content)

    @staticmethod
    def _unwrap(method: str, answer: Any) -> Any:
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise NodeUnavailable(f"{method}: malformed answer {answer!r:.200}")
        if "error" in answer:
            err = answer["error"] or {}
            code = err.get("code") if isinstance(err, dict) else None
            message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            raise NodeError(method, code if isinstance(code, int) else None, message)
        return answer["result"]
