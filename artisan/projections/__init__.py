"""Projections: read models rebuilt by replaying the event store, exactly once.

    with Runner(db, chain_id) as runner:          # one runner per chain (advisory lock)
        runner.catch_up()                         # every projection to the store's head
        ProjectionService(runner, scheduler, epochs=EpochSchedule(...)).start()
                                                  # live: on NOTIFY artisan_events and a
                                                  # schedule; closes and publishes epochs
    admin.rebuild(db, name=None)                  # empty and replay one projection, or all
    admin.status(db)                              # position, lag, pending reorg per projection

Read models (one module each, a pure fold or twin at the core): ``models`` (terms and
allowlists, versioned by block range), ``executions`` (trails with credits and ratings),
``curation`` (signals, versioned), ``distributor`` (published epochs, claims), ``balances``
(escrow and credits per account, versioned). Derived from them: ``lineage`` (a view),
``curation_scores`` and ``lineage_queries``. The runtime: ``runner`` (with ``bulk``: long
replays build reader indexes once, at the end), ``tracking``, ``positions``, ``history`` and
``versions`` (block-range history), ``tables`` (row encodings), ``jobs`` (the scheduled
jobs). ``rewards/`` closes epochs and publishes their roots. The audit of all this is
``artisan.audit``; the rules are written out in docs/REWARDS.md.
"""
