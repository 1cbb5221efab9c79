"""Projections: read models rebuilt by replaying the event store, exactly once.

    with Runner(db, chain_id) as runner:          # one runner per chain (advisory lock)
        runner.catch_up()                         # every projection to the store's head
        ProjectionService(runner, scheduler, epochs=EpochSchedule(...)).start()
                                                  # live: on NOTIFY artisan_events and a
                                                  # schedule; closes and publishes epochs
    admin.rebuild(db, name=None)                  # empty and replay one projection, or all
    admin.status(db)                              # position, lag, pending reorg per projection
    verify.verify(db, events, block=..., rewards=config, ledger=reader)
                                                  # mismatches, [] when all agree
    epoch_job.close_final_epochs(db, chain_id, config, finality_depth=..., publisher=...)

Projections (one module each, a pure fold or twin at the core): ``models`` (terms and
allowlists, versioned by block range), ``executions`` (trails with credits and ratings),
``curation`` (signals, versioned), ``rewards`` (published epochs, claims), ``balances``
(escrow and credits per account, versioned). Read models derived
from them: ``lineage`` (a view) and ``curation_scores``. The machinery: ``runner`` (with
``bulk``: long replays build reader indexes once, at the end), ``tracking``, ``positions``,
``history`` and ``versions`` (block-range history), ``tables`` and ``digest`` (proofs of
indexing), ``audit`` (metering rule), ``reward_rule``, ``epochs``, ``epoch_job``,
``publisher``, ``service`` (the scheduled jobs). ``synthetic`` generates realistic histories
for tests and the benchmark. The rules are written out in docs/REWARDS.md.
"""
