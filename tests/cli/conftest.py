"""Chain fixtures for the command-line tests (see tests/chain/helpers.py)."""

from tests.chain.helpers import chain_snapshot, deployer, operator, protocol, w3

__all__ = ["chain_snapshot", "deployer", "operator", "protocol", "w3"]
