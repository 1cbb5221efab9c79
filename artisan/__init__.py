"""Artisan: auditable metering, settlement and indexing for on-chain AI inference."""

__version__ = "0.1.0"
