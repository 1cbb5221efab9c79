"""Reaching the chain: ``jsonrpc`` (the one fast transport, errors translated once into
``errors``), ``transactions`` (recorded-before-broadcast transactions: fees, replacements),
``signer`` (web3 signing for one-off transactions and deploys), ``ledger_reads`` (the
executor's admission reads), ``abi`` (codecs), ``contracts``, ``protocol``, ``actions``,
``codec``, ``anvil`` (the dev chain)."""
