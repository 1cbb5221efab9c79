"""Fixtures of the executor tests: a store under a temp dir, small real models in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from artisan.executor.assets import AssetStore
from artisan.executor.sessions import SessionCache
from artisan.testing import onnx_models as models
from tests.chain.helpers import chain_snapshot, deployer, operator, protocol, w3
from tests.executor.api_helpers import api, mlp_model

__all__ = ["api", "chain_snapshot", "deployer", "mlp_model", "operator", "protocol", "w3"]


@pytest.fixture
def store(tmp_path: Path) -> AssetStore:
    return AssetStore(tmp_path / "assets")


@pytest.fixture
def sessions(store: AssetStore) -> SessionCache:
    return SessionCache(store)


@pytest.fixture
def mlp_cid(store: AssetStore) -> str:
    """An MLP 8 -> 16 -> 4 with a dynamic batch axis."""
    return store.put(models.mlp(8, [16], 4, seed=7)).cid


@pytest.fixture
def affine_cid(store: AssetStore) -> str:
    """Two inputs: x float32 [batch, 3] and offset int64 [batch, 1]."""
    return store.put(models.affine_with_offset(3, 2, seed=3)).cid
