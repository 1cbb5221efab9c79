"""The emitter: outbox rows into ``recordBatch`` transactions, each final on chain exactly once.

A process of its own (`artisan emit`), or a thread of `artisan executor serve`. ``emitter``
is the loop (one per chain and operator key, under an advisory lock); ``batches`` its reads and
writes of the outbox tables; ``reconcile`` decides each open batch's fate from chain facts
(mined, reorged, lost, stuck, dropped) from ``outcomes`` (the ledger's logs) and, where
those do not account for a batch, receipts; ``sender`` broadcasts on a thread of its own;
``config`` and ``errors``. The transport, signing and fee bumps are ``artisan.chain``'s.
"""
