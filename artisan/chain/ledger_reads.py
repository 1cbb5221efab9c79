"""What an executor reads from the chain before it runs a request.

Two kinds of reads. Model terms, allowlist grants and rates change rarely and are cached by
the caller, so they go through web3's ABI decoding. A user's nonce bit, escrow and usage count
are read for every request, so they go as one raw JSON-RPC batch of ``eth_call``s with
hand-encoded calldata, over the standard library's ``http.client``: web3 spends ~6 ms of CPU
per call here and httpx (``chain.jsonrpc``) ~0.8 ms per request, this path ~0.15 ms for all
three. It is the one measured exception to ``chain.jsonrpc``, and shares its error
translation: transport failures are ``NodeUnavailable``, error objects ``translate``d.

Connections are pooled, not kept per thread: a request takes an idle keep-alive connection
(or opens one), and gives it back; ``close`` closes every one. A per-thread connection would
stay open after its thread is recycled, one more per burst of requests.
"""

from __future__ import annotations

import http.client
import itertools
import queue
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from web3 import Web3
from web3.exceptions import Web3Exception

from artisan.chain.codec import rates_from_tuple, terms_from_chain
from artisan.chain.errors import NodeUnavailable
from artisan.chain.jsonrpc import no_code, shaped, translate
from artisan.chain.protocol import Protocol
from artisan.config import redact_url
from artisan.domain.hashing import keccak
from artisan.domain.types import Access, ModelTerms, Rates
from artisan.errors import ChainError

_NONCE_USED = keccak(b"nonceUsed(address,uint256)")[:4]
_ESCROW_OF = keccak(b"escrowOf(address)")[:4]
_USAGE_COUNT = keccak(b"usageCount(uint256,address)")[:4]


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model as the registry holds it: the file digest, who may run it, and its terms."""

    model_id: int
    cid_digest: bytes
    access: Access
    terms: ModelTerms


@dataclass(frozen=True, slots=True)
class Account:
    """A user's state on the ledger that a request depends on."""

    nonce_used: bool
    escrow: int
    usage_count: int  # prior executions of the request's model by this user


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _uint(result: Any, call: str) -> int:
    """An ``eth_call``'s answer as the uint256 it encodes; a node that answers anything but hex
    data (a number, null, a cut word) is a node that failed, never a crash of the request."""
    if isinstance(result, str) and result.startswith("0x") and 2 < len(result) <= 66:
        try:
            return int(result, 16)
        except ValueError:
            pass
    raise NodeUnavailable(f"eth_call {call}: the node answered {result!r:.80}, not one uint256")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


class LedgerViews:
    """Reads of the registry and the ledger of one deployment."""

    def __init__(self, protocol: Protocol, rpc_url: str, *, timeout: float = 10.0) -> None:
        self.protocol = protocol
        self.chain_id = protocol.deployment.chain_id
        self.ledger_address = protocol.deployment.ledger.lower()
        self._url = rpc_url
        self._timeout = timeout
        parts = urlsplit(rpc_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"the executor reads the chain over http(s), not {rpc_url!r}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = parts.path or "/"
        # Idle keep-alive connections (http.client's are not thread-safe: one user at a time).
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue()
        self._closed = False
        self._ids = itertools.count(1)  # next() on a count is atomic under the GIL
        self._registry = protocol.registry
        self._ledger = protocol.ledger

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def model(self, model_id: int) -> RegisteredModel | None:
        """The registered model, or None if no model has this id."""
        try:
            raw = self._registry.functions.getModel(model_id).call()
            if int(str(raw[1]), 16) == 0:  # the registry's "no such model": a zero owner
                return None
            tiers = self._registry.functions.tiers(model_id).call()
        except Web3Exception as exc:
            raise ChainError(f"cannot read model {model_id} from the registry: {exc}") from exc
        return RegisteredModel(
            model_id=model_id,
            cid_digest=bytes(raw[0]),
            access=Access(int(raw[4])),
            terms=terms_from_chain(raw, tiers),
        )

    def model_count(self) -> int:
        """How many models the registry holds (ids are 1..count)."""
        try:
            return int(self._registry.functions.modelCount().call())
        except Web3Exception as exc:
            raise ChainError(f"cannot read the registry's model count: {exc}") from exc

    def has_access(self, model_id: int, user: str) -> bool:
        """Whether the registry lets ``user`` run an ALLOWLIST model (owner or granted)."""
        try:
            return bool(
                self._registry.functions.hasAccess(model_id, Web3.to_checksum_address(user)).call()
            )
        except Web3Exception as exc:
            raise ChainError(f"cannot read access to model {model_id}: {exc}") from exc

    def rates(self) -> tuple[int, Rates]:
        """The current rates version and its rates."""
        try:
            version = int(self._ledger.functions.ratesVersion().call())
            return version, rates_from_tuple(self._ledger.functions.ratesAt(version).call())
        except Web3Exception as exc:
            raise ChainError(f"cannot read the ledger's rates: {exc}") from exc

    def account(self, user: str, nonce: int, model_id: int) -> Account:
        """The user's nonce bit, escrow and usage count of the model, in one round trip."""
        user_word = _address_word(user)
        nonce_used, escrow, usage = self._batch(
            [
                ("eth_call", [self._call(_NONCE_USED + user_word + _word(nonce)), "latest"]),
                ("eth_call", [self._call(_ESCROW_OF + user_word), "latest"]),
                ("eth_call", [self._call(_USAGE_COUNT + _word(model_id) + user_word), "latest"]),
            ]
        )
        return Account(
            nonce_used=_uint(nonce_used, "nonceUsed") != 0,
            escrow=_uint(escrow, "escrowOf"),
            usage_count=_uint(usage, "usageCount"),
        )

    def has_code(self, address: str) -> bool:
        """Whether ``address`` is a contract (an EIP-1271 wallet can only be checked on chain)."""
        (code,) = self._batch([("eth_getCode", [address, "latest"])])
        # A garbled answer is the node failing, never "not a contract" (which would judge a
        # wallet's signature as an EOA's).
        return not no_code(shaped("eth_getCode", code))

    def _call(self, data: bytes) -> dict[str, str]:
        return {"to": self.ledger_address, "data": "0x" + data.hex()}

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        first = next(self._ids)
        # Reserve one id per call so concurrent batches never share ids.
        ids = [first, *(next(self._ids) for _ in calls[1:])]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        payload = self._post(orjson.dumps(body))
        try:
            answers = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise NodeUnavailable(f"the node answered a batch with no JSON: {exc}") from exc
        if not isinstance(answers, list):
            raise NodeUnavailable(f"the node answered a batch with {answers!r:.200}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i, (method, _) in zip(ids, calls, strict=True):
            answer = by_id.get(i)
            if answer is None or ("error" not in answer and "result" not in answer):
                raise NodeUnavailable(f"{method}: no answer in its batch")
            if "error" in answer:
                raise translate(answer["error"], method)
            results.append(answer["result"])
        return results

    def _connection(self) -> http.client.HTTPConnection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            return kind(self._host, self._port, timeout=self._timeout)

    def _release(self, connection: http.client.HTTPConnection) -> None:
        if self._closed:
            connection.close()
        else:
            self._idle.put(connection)

    def idle_connections(self) -> int:
        """How many keep-alive connections wait for a request (for tests and metrics)."""
        return self._idle.qsize()

    def _post(self, body: bytes) -> bytes:
        # A kept-alive connection the node has closed fails on first use: reconnect once.
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", self._path, body, {"content-type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if attempt == 2:
                    raise NodeUnavailable(
                        f"cannot reach the node at {redact_url(self._url)}: {exc}"
                    ) from exc
                continue
            self._release(connection)
            if response.status != 200:
                raise NodeUnavailable(
                    f"the node at {redact_url(self._url)} answered HTTP {response.status}"
                )
            return payload
        raise AssertionError("unreachable")
