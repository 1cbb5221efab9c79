"""Fixtures for tests against the deployed protocol on a real anvil (see helpers.py)."""

from tests.chain.helpers import chain_snapshot, deployer, operator, protocol, w3

__all__ = ["chain_snapshot", "deployer", "operator", "protocol", "w3"]
