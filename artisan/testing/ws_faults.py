"""The fault-injecting proxy's websocket (``rpc_proxy``): a client's websocket upgrade on the
proxy's own port (so ``ws://`` + the proxy's address, as ``indexer.target`` derives it, reaches
it) is tunnelled to the node's websocket byte for byte, and a connection drawn for a fault is
dropped after the node's first few messages, the ways load balancers and nodes drop them:

- ``ws_close``: the connection reset (no close frame) where the next message was due;
- ``ws_stall``: nothing more is passed either way for up to ``ws_max_stall_s``, then a reset;
- ``ws_cut``: the next message cut in the middle of its frame, then the connection closed.

The first message of a connection (the answer to ``eth_subscribe``) always passes, so a drop
falls on a subscription that was made: the client must notice and subscribe again.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from io import BufferedIOBase

WS_KINDS = ("ws_close", "ws_stall", "ws_cut")
_DATA_OPCODES = (0x0, 0x1, 0x2)  # continuation, text, binary; the rest are control frames


@dataclass(frozen=True)
class WsDrop:
    """How one connection ends: after ``after`` data frames from the node passed intact."""

    kind: str
    after: int
    stall_s: float


class Tunnels:
    """The open tunnels' sockets (reset together when the proxy closes) and what passed."""

    def __init__(self) -> None:
        self.connections = 0
        self.frames = 0  # data frames passed from the node to clients
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open.update(sockets)

    def untrack(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(sockets)

    def passed(self) -> None:
        with self._lock:
            self.frames += 1

    def close(self) -> None:
        self.closed.set()
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            _end(s, reset=True)


def _end(s: socket.socket, *, reset: bool) -> None:
    """Close ``s`` at once: with ``reset`` an RST (SO_LINGER 0), else a FIN. ``shutdown``
    first, so that a thread blocked reading it wakes (SHUT_RD sends nothing)."""
    with contextlib.suppress(OSError):
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()


def tunnel(
    client: socket.socket,
    client_in: BufferedIOBase,
    handshake: bytes,
    node: tuple[str, int],
    drop: WsDrop | None,
    tunnels: Tunnels,
) -> None:
    """Relay one upgraded connection to ``node`` until either side ends it or ``drop`` does."""
    try:
        upstream = socket.create_connection(node, timeout=10)
    except OSError:
        return  # the node is gone: the client sees its connection closed
    upstream.settimeout(None)
    tunnels.track(client, upstream)
    reset = True
    try:
        upstream.sendall(handshake)
        pump = threading.Thread(target=_pump, args=(client_in.read1, upstream),
                                name="rpc-proxy-ws-in", daemon=True)  # fmt: skip
        pump.start()
        with upstream.makefile("rb") as node_in:
            reset = _relay(node_in, client, drop, tunnels)
    except (OSError, ValueError):
        pass  # either side went away
    finally:
        tunnels.untrack(client, upstream)
        _end(upstream, reset=reset)
        _end(client, reset=reset)


def _pump(read: Callable[[int], bytes], to: socket.socket) -> None:
    """The client's bytes to the node, as they come, until the client or the tunnel ends."""
    with contextlib.suppress(OSError, ValueError):
        while data := read(65536):
            to.sendall(data)
    _end(to, reset=False)  # the node's side ends too, which ends the relay


def _relay(node_in: BufferedIOBase, client: socket.socket, drop: WsDrop | None, t: Tunnels) -> bool:
    """The node's handshake answer, then its frames one by one, to the client; whether the
    end is a reset (a drop, or the node gone) rather than a close."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = node_in.readline()
        if not line:
            return True
        head += line
    client.sendall(head)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        return False  # refused: its body (if any) follows as it is
    data_frames = 0
    while True:
        frame = _frame(node_in)
        if frame is None:
            return False
        is_data = frame[0] & 0x0F in _DATA_OPCODES
        if is_data and drop is not None and data_frames == drop.after:
            if drop.kind == "ws_cut":
                client.sendall(frame[: max(1, len(frame) // 2)])
                return False
            if drop.kind == "ws_stall":
                t.closed.wait(drop.stall_s)
            return True
        client.sendall(frame)
        if is_data:
            data_frames += 1
            t.passed()


def _frame(src: BufferedIOBase) -> bytes | None:
    """One whole frame's bytes (RFC 6455 section 5.2), or None at the end of the stream."""
    head = src.read(2)
    if len(head) < 2:
        return None
    size, extra = head[1] & 0x7F, 4 if head[1] & 0x80 else 0  # a mask only from clients
    length = src.read({126: 2, 127: 8}.get(size, 0))
    if size >= 126:
        size = int.from_bytes(length, "big")
    rest = src.read(extra + size)
    if len(rest) < extra + size:
        return None
    return head + length + rest
