"""ABI codecs without web3's formatters: ``decoder`` (raw logs to event rows, through
``values`` and the generated per-event decoders of ``static_codegen``; ``gc_pause`` around bulk
parsing) and ``ledger`` (``recordBatch`` calldata, and execution outcomes from its receipts)."""
