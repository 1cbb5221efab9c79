"""The indexer: protocol contract logs into the append-only Postgres event store.

    source = JsonRpcSource(settings.rpc_url)               # or FakeChainSource in tests
    with Indexer(db, source, chain_id, [ContractAbi(address, abi), ...],
                 finality_depth=64, start_block=0) as indexer:
        indexer.backfill()                                  # fetch-ahead pipeline, then steps
        indexer.follow(stop_event, poll_interval=1.0,       # live, until stop_event is set
                       heads=NewHeads(ws_url))              # optional websocket wake-ups

Modules: ``source`` (the ChainSource and HeadSignal protocols, raw log type), ``rpc`` (JSON-RPC
over httpx), ``heads`` (newHeads over websocket), ``fake_chain`` (a scripted chain for tests),
``abi_values``, ``static_codegen`` and ``decoder`` (logs to rows), ``gc_pause`` (bulk work
without the cyclic collector), ``fetch`` (one consistent range), ``reorg`` (common ancestor),
``ranges`` and ``retry`` (adaptive ranges, backoff), ``pipeline`` (fetching ahead),
``indexer`` (the loop), ``errors``. Live mode: ``service`` (APScheduler jobs: catch-up,
``pruning``, metrics; ``build_scheduler`` for every service's jobs), ``target`` (what to
follow, from the settings), ``throughput`` (rates and ETA for progress reports), ``metrics``.
Storage lives in ``artisan.storage.event_store``; the command is ``artisan index``
(``artisan.cli.index``).
"""
