"""The audit: everything `artisan verify` needs to check the read side against the chain.

``chain_reads`` re-reads the chain without the event store (logs decoded afresh, the ledger's
own balances, the distributor's epochs); ``costs`` recomputes every execution's cost and
settlement with the metering rule; ``digest`` fingerprints each projection's tables (ours, and
an in-memory twin's); ``verify`` folds the re-read events into the twins and lists every
mismatch.
"""
