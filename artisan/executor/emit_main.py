"""Run the emitter as a process: ``python -m artisan.executor.emit_main --ledger 0x...``.

The database, node and operator key come from the Settings (``ARTISAN_DATABASE_URL``,
``ARTISAN_RPC_URL``, ``ARTISAN_OPERATOR_KEY``, or the flags below). ``--crash-at POINT``
kills the process with SIGKILL at a named point of the first batch (after it is persisted,
or after it is broadcast): the crash tests use it, and it reads nothing from the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from artisan.config import load_settings
from artisan.executor.emit_config import EmitterConfig
from artisan.executor.emitter import CRASH_POINTS, Emitter, wait_idle
from artisan.storage.database import open_database


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m artisan.executor.emit_main", description=__doc__)
    p.add_argument("--ledger", required=True, help="ExecutionLedger address")
    p.add_argument("--rpc-url", help="overrides ARTISAN_RPC_URL")
    p.add_argument("--database-url", help="overrides ARTISAN_DATABASE_URL")
    p.add_argument("--until-idle", action="store_true", help="exit once nothing is left")
    p.add_argument("--timeout", type=float, default=300.0, help="with --until-idle, seconds")
    p.add_argument("--crash-at", choices=CRASH_POINTS, help="SIGKILL itself at this point")
    d = EmitterConfig()
    p.add_argument("--max-items", type=int, default=d.max_items)
    p.add_argument("--max-wait", type=float, default=d.max_wait)
    p.add_argument("--max-in-flight", type=int, default=d.max_in_flight)
    p.add_argument("--confirmations", type=int, default=d.confirmations)
    p.add_argument("--replace-after", type=float, default=d.replace_after)
    p.add_argument("--rebroadcast-after", type=float, default=d.rebroadcast_after)
    p.add_argument("--start-block", type=int, default=d.start_block)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    overrides = {
        k: v for k, v in (("rpc_url", args.rpc_url), ("database_url", args.database_url)) if v
    }
    settings = load_settings(**overrides)
    if not settings.rpc_url:
        print("emit_main: no node: set ARTISAN_RPC_URL or pass --rpc-url", file=sys.stderr)
        return 2
    config = EmitterConfig(
        max_items=args.max_items,
        max_wait=args.max_wait,
        max_in_flight=args.max_in_flight,
        confirmations=args.confirmations,
        replace_after=args.replace_after,
        rebroadcast_after=args.rebroadcast_after,
        start_block=args.start_block,
    )

    def crash(point: str) -> None:
        if point == args.crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    db = open_database(settings)
    try:
        with Emitter(
            db,
            settings.rpc_url,
            settings.operator_key,
            chain_id=settings.chain_id,
            ledger=args.ledger,
            config=config,
            hook=crash,
        ) as emitter:
            if args.until_idle:
                wait_idle(emitter, args.timeout)
            else:
                emitter.run()
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
