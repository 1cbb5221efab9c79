"""Random JSON for typed variables (BigInt, Bytes, lists of them, whole filters, first/skip,
block): every answer is a refusal with a message or data, never a 5xx, never a masked
"Unexpected error."."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

QUERY = """query($u: Bytes, $c: BigInt, $ids: [Bytes!], $w: Execution_filter, $first: Int,
  $skip: Int, $b: Block_height) {
  executions(first: $first, skip: $skip, block: $b, where: $w) { id cost }
  mine: executions(first: 5, where: {user: $u, cost_lt: $c, id_in: $ids}) { id }
}"""

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["0x", "0xzz", "0x" + "ab" * 32, "1e3", "-1", "9" * 90, "\x00",
                       "0x" + "ab" * 5000]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["user", "cost_lt", "id_in", "or", "and", "number", "hash",
                         "number_gte", "model_", "_change_block"]) | st.text(max_size=6),
        inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
NAMES = ["u", "c", "ids", "w", "first", "skip", "b"]


@settings(max_examples=80, deadline=None)
@given(variables=st.dictionaries(st.sampled_from(NAMES), JSON, max_size=4))
@example(variables={"c": "9" * 90, "u": "0x" + "ab" * 5000})
@example(variables={"w": {"or": [{"cost_lt": "1e3"}, {"user": "\x00"}]}, "first": 2**70})
@example(variables={"b": {"number": -1}, "skip": -1})
@example(variables={"u": []})  # was masked as "Unexpected error." with an errorId
@example(variables={"b": [{}]})  # was masked as "Unexpected error." with an errorId
def test_random_variables_are_refused_with_a_message_or_answered(
    client: httpx.Client, variables: dict[str, Any]
) -> None:
    """Whatever the variables hold: below 500, and each error has a message that is not the
    masked server fault."""
    response = client.post("/graphql", json={"query": QUERY, "variables": variables})
    assert response.status_code < 500, response.text[:500]
    for error in response.json().get("errors") or []:
        assert error["message"] and error["message"] != "Unexpected error.", (variables, error)
        assert "errorId" not in (error.get("extensions") or {}), (variables, error)
