"""Generated queries (schemathesis, over hypothesis-graphql) for every root field of the
schema, sent to the real server over HTTP: none may meet a server error. A refusal (a limit,
a bad value) is the client's to read; a masked "Unexpected error." with an errorId, or an
HTTP 5xx, is ours and fails the test.

`make test` runs a few queries per root field; ``ARTISAN_API_FUZZ_EXAMPLES`` sets how many
(`make fuzz-api` runs 200 per root field and prints how many each field got).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.graphql import nodes

EXAMPLES = int(os.environ.get("ARTISAN_API_FUZZ_EXAMPLES", "8"))

schemathesis.graphql.scalar(
    "Bytes", st.binary(max_size=40).map(lambda b: nodes.String("0x" + b.hex()))
)
schemathesis.graphql.scalar(
    "BigInt", st.integers(-(2**256), 2**257).map(lambda n: nodes.String(str(n)))
)


def test_no_generated_query_meets_a_server_error(client: httpx.Client) -> None:
    api = schemathesis.graphql.from_url(f"{client.base_url}/graphql")
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), (
            f"the schema has an operation schemathesis cannot read: {result}"
        )
        operations.append(result.ok())
    assert len(operations) >= 40, "every root field is an operation"
    sent: Counter[str] = Counter()
    for operation in operations:
        label = operation.label

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case[Any]) -> None:
            sent[label] += 1  # noqa: B023 (run before the loop moves on)
            response = case.call(timeout=30)
            assert response.status_code < 500, response.text[:500]
            for error in response.json().get("errors") or []:
                assert "errorId" not in (error.get("extensions") or {}), (case.body, error)
                assert error["message"] != "Unexpected error.", (case.body, error)

        no_server_error()
    print(f"\ngenerated queries: {len(sent)} root fields, fewest {min(sent.values())}"
          f" ({min(sent, key=sent.__getitem__)}), total {sum(sent.values())}")  # fmt: skip
    assert set(sent) == {operation.label for operation in operations}
