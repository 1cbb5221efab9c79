"""``audit(executionId)``: one execution audited against the chain (``artisan.audit.execution``).

The only field that reaches the node: the chain is re-read over JSON-RPC on a worker thread,
and our store's row comes from the request's snapshot, as every other field's does. An API
started without a node (``ARTISAN_RPC_URL``) refuses the field by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from artisan.audit.execution import (
    STORED_REQUEST,
    STORED_ROW,
    audit_execution,
    local_assets,
    normalize_id,
)
from artisan.audit.execution_reads import ExecutionChain
from artisan.chain.contracts import Artifact, Deployment
from artisan.errors import ArtisanError, DomainError
from artisan.executor.assets import AssetStore
from artisan.graphql import blocks
from artisan.graphql.errors import QueryError
from artisan.graphql.session import Session


@strawberry.enum(description="An audit's outcome: PASS when every check held")
class AuditVerdict(Enum):
    PASS = "PASS"
    FAIL = "FAIL"


@strawberry.type(description="One comparison an audit made")
class AuditCheck:
    name: str
    ok: bool
    detail: str


@strawberry.type(description="An execution checked against the chain alone, and our store")
class ExecutionAudit:
    executionId: str
    verdict: AuditVerdict
    reasons: list[str] = strawberry.field(description="every failed check, named")
    checks: list[AuditCheck]
    evidence: JSON = strawberry.field(
        description="what the checks read: the log, the signed request, the signer, the"
        " metering inputs, the recomputed credits, the assets, the chain's head"
    )


MAX_AUDITS_PER_REQUEST = 1  # each audit makes about a dozen JSON-RPC calls
MAX_CONCURRENT_AUDITS = 4  # audits of all requests re-reading the node at once; others wait


class Auditor:
    """What the API audits with: the node, the deployment, and the local asset store."""

    def __init__(
        self, rpc_url: str, deployment: Deployment, artifacts: dict[str, Artifact],
        assets: Path | None = None,
    ) -> None:  # fmt: skip
        self.rpc_url, self.deployment, self.artifacts = rpc_url, deployment, artifacts
        self.running = asyncio.Semaphore(MAX_CONCURRENT_AUDITS)
        self.asset_bytes = None if assets is None else local_assets(AssetStore(assets))

    def run(
        self, key: str, stored: Mapping[str, Any] | None, head: int | None,
        request: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        with ExecutionChain(self.rpc_url, self.deployment, self.artifacts) as chain:
            found = audit_execution(chain, key, stored, store_head=head,
                                    asset_bytes=self.asset_bytes,
                                    stored_request=request)  # fmt: skip
        return found.as_json()


async def audit(info: Info, executionId: str) -> ExecutionAudit:
    """The execution re-read from the chain and recomputed: signature, receipt, rates and
    terms at its log, cost, credits, assets; then our store's row compared field by field."""
    session: Session = info.context
    if session.auditor is None:
        raise QueryError("audit re-reads the chain: this API was started without a node"
                         " (set ARTISAN_RPC_URL and the deployment file)")  # fmt: skip
    session.audits += 1
    if session.audits > MAX_AUDITS_PER_REQUEST:
        raise QueryError(f"At most {MAX_AUDITS_PER_REQUEST} audit per request: each re-reads"
                         " the node (send one request per execution)")  # fmt: skip
    try:
        key = normalize_id(executionId)
    except DomainError as exc:
        raise QueryError(str(exc)) from exc
    rows = await session.rows(STORED_ROW, (key,))
    request = await session.rows(STORED_REQUEST, (key,))
    head = await blocks.head(session)
    auditor: Auditor = session.auditor
    try:
        async with auditor.running:  # at most MAX_CONCURRENT_AUDITS re-read the node at once
            found = await asyncio.to_thread(auditor.run, key, rows[0] if rows else None, head,
                                            request[0]["args"] if request else None)  # fmt: skip
    except ArtisanError as exc:
        raise QueryError(f"the audit could not read the chain: {exc}") from exc
    return ExecutionAudit(
        executionId=found["executionId"], verdict=AuditVerdict(found["verdict"]),
        reasons=found["reasons"], checks=[AuditCheck(**c) for c in found["checks"]],
        evidence=found["evidence"],
    )  # fmt: skip
