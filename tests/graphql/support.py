"""Helpers of the GraphQL tests: the seeded history and how a test asks the API."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from artisan.projections.rewards.epochs import RewardConfig
from artisan.testing.synthetic import SyntheticBlock

BLOCKS = 30
BIG = 2**256 - 1
WHALE = "0x" + "ab" * 20
REJECTED = "0x" + "ee" * 32
REWARDS = RewardConfig(genesis_block=1, epoch_length=10, default_pool=10**21)


class History:
    """The history written, kept to answer the tests independently of the projections."""

    def __init__(self, blocks: list[SyntheticBlock]) -> None:
        self.blocks = blocks

    def events(self, name: str, upto: int) -> list[dict[str, Any]]:
        return [
            {**orjson.loads(row.args_json or "{}"), "_block": row.block_number}
            for b in self.blocks if b.header.number <= upto
            for row in b.rows if row.event_name == name
        ]  # fmt: skip


def gql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    return body


def data(client: httpx.Client, query: str, **variables: Any) -> Any:
    body = gql(client, query, **variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


def error(client: httpx.Client, query: str, **variables: Any) -> str:
    body = gql(client, query, **variables)
    assert body.get("errors"), body
    message: str = body["errors"][0]["message"]
    return message


HEAD = BLOCKS + 3
