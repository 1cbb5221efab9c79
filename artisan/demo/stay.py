"""The demo once its stages have run: the services run as the long-lived processes they are,
the dashboard and the API are served, and a trickle of executions keeps the live views moving
until Ctrl-C (or SIGTERM), when every process the demo started is stopped.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.table import Table

from artisan.demo.state import DemoState, check
from artisan.demo.traffic import Chain, Traffic
from artisan.executor.client import ExecutorClient
from artisan.testing.services import Services, free_port

EXAMPLES = (
    ("the latest executions, with their model and cost",
     "{ executions(first: 3, orderBy: blockNumber, orderDirection: desc)"
     " { id modelId cost priority } }"),
    ("the models curators value most",
     "{ topModels(by: CURATION, first: 3) { modelId score model { owner pricingKind } } }"),
    ("how far behind each part of the system is",
     "{ health { block indexedBlock nodeHead projectionLagBlocks outboxPending"
     " outboxBroadcast } }"),
)  # fmt: skip


@dataclass(frozen=True)
class StayOptions:
    api_port: int = 8700
    executor_port: int = 8600
    trickle_s: float = 2.0  # seconds between the trickle's executions (0: none)
    ready_file: Path | None = None  # where to write the URLs once ready (JSON)
    start_timeout_s: float = 120.0


def _environment(state: DemoState, deployment_file: Path) -> dict[str, str]:
    settings, d = state.env.settings, state.protocol.deployment
    return {
        "ARTISAN_DATABASE_URL": state.env.db.url,
        "ARTISAN_RPC_URL": state.env.rpc_url,
        "ARTISAN_DEPLOYMENT_FILE": str(deployment_file),
        "ARTISAN_DATA_DIR": str(settings.data_dir),
        "ARTISAN_CHAIN_ID": str(d.chain_id),
        "ARTISAN_DEV": "1",
        "ARTISAN_FINALITY_DEPTH": "2",
        "ARTISAN_OPERATOR_KEY": "0x" + bytes(state.operator.account.key).hex(),
    }


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    def _handle(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}


def stay_up(state: DemoState, deployment_file: Path, options: StayOptions, t0: float) -> None:
    """Run the services, print where to look, trickle executions until stopped."""
    console = state.console
    stop = threading.Event()
    previous = _stop_on_signals(stop)
    api_port, executor_port = free_port(options.api_port), free_port(options.executor_port)
    services = Services(_environment(state, deployment_file),
                        state.env.settings.data_dir / "demo-logs")  # fmt: skip
    api = f"http://127.0.0.1:{api_port}"
    executor = f"http://127.0.0.1:{executor_port}"
    try:
        console.print("[bold cyan]The services start as long-running processes[/bold cyan]")
        services.start("indexer", "index", "--json", "--poll-interval", "0.25")
        services.start("projections", "projections", "run", "--follow", "--interval", "1")
        services.start("api", "api", "serve", "--port", str(api_port))
        services.start("executor", "executor", "serve", "--port", str(executor_port), "--cpu")
        services.wait_http(f"{executor}/healthz", options.start_timeout_s)
        services.wait_http(f"{api}/ready", options.start_timeout_s)
        for s in services.started:
            console.print(f"  {s.name:<12} pid {s.process.pid:<8} log {s.log_path}")
        _examples(state, api)
        took = time.monotonic() - t0
        console.print(f"[bold green]ready in {took:.1f} s[/bold green]: dashboard {api}/ ·"
                      f" GraphQL {api}/graphql · executor {executor}")  # fmt: skip
        if options.ready_file is not None:
            options.ready_file.write_text(json.dumps({
                "dashboard": f"{api}/", "graphql": f"{api}/graphql", "executor": executor,
                "ready_s": round(took, 1),
                "pids": {s.name: s.process.pid for s in services.started},
            }))  # fmt: skip
        console.print("  a trickle of executions keeps the live views moving; Ctrl-C stops it all")
        _trickle(state, services, executor, options.trickle_s, stop)
    finally:
        ended = services.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if ended:
        console.print("  stopped: " + ", ".join(f"{n} (exit {c})" for n, c in ended.items()))
    check(all(code == 0 for code in ended.values()),
          f"every service stopped cleanly on SIGTERM: {ended}")  # fmt: skip


def _examples(state: DemoState, api: str) -> None:
    """Three queries a newcomer can paste into GraphiQL, with the answers they get now."""
    with httpx.Client(base_url=api, timeout=30) as http:
        for what, query in EXAMPLES:
            body = http.post("/graphql", json={"query": query}).json()
            check("errors" not in body, f"example query answered: {body.get('errors')}")
            table = Table(title=what, title_justify="left", show_header=False)
            table.add_column("query", overflow="fold")
            table.add_row(query)
            table.add_row(json.dumps(body["data"], indent=None)[:600])
            state.console.print(table)


def _trickle(
    state: DemoState, services: Services, executor: str, every: float, stop: threading.Event
) -> None:
    d = state.protocol.deployment
    client = ExecutorClient.connect(executor, chain_id=d.chain_id, ledger=d.ledger)
    traffic = Traffic(client, (state.models["wide"], state.models["narrow"]), seed=1000)
    chains = [Chain(state.actors["user1"]), Chain(state.actors["user2"])]
    n = 0
    try:
        while not stop.wait(every if every > 0 else 3600):
            services.check()
            traffic.step(chains[n % 2], n)
            n += 1
            if n % 10 == 0:
                state.console.print(f"  trickle: {n} executions since ready")
    finally:
        client.http.close()
    state.console.print(f"  stopping after {n} trickled executions")
