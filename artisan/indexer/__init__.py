"""The indexer: protocol contract logs into the append-only Postgres event store.

    source = JsonRpcSource(settings.rpc_url)               # or FakeChainSource in tests
    with Indexer(db, source, chain_id, [ContractAbi(address, abi), ...],
                 finality_depth=64, start_block=0) as indexer:
        indexer.backfill()                                  # fetch-ahead pipeline, then steps
        indexer.follow(stop_event, poll_interval=1.0,       # live, until stop_event is set
                       heads=NewHeads(ws_url))              # optional websocket wake-ups

Modules: ``source`` (the ChainSource and HeadSignal protocols), ``rpc`` (a ChainSource over
``artisan.chain.jsonrpc``), ``heads`` (newHeads over websocket), ``fetch`` (one consistent
range), ``reorg`` (common ancestor), ``ranges`` (adaptive ranges), ``pipeline`` (fetching
ahead), ``indexer`` (the loop), ``errors``. Live mode: ``follow`` (APScheduler jobs:
catch-up, ``pruning``, metrics), ``target`` (what to follow, from the settings),
``throughput`` (rates and ETA for progress reports), ``metrics``. Logs are decoded by
``artisan.chain.abi``; retries follow ``artisan.retry``; tests use
``artisan.testing.fake_chain``.
Storage lives in ``artisan.storage.event_store``; the command is ``artisan index``
(``artisan.cli.index``).
"""
