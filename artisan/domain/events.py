# ruff: noqa: E501 (signatures are long strings)
"""The protocol's contract events, typed: generated from the ABIs, do not edit.

``scripts/gen_events.py`` writes this file from ``build/contracts/*.json``; ``--check`` (run by
the tests) fails when it is stale. Each ``<Event>`` TypedDict is an event's arguments as the
event store keeps them (``artisan.chain.abi.values``): integers as decimal strings, addresses
and byte strings as lowercase 0x-hex, booleans as booleans, structs as objects, arrays as
lists. ``SIGNATURES`` gives each event's canonical signature (its topic is the keccak of it),
``FIELDS`` its argument names in ABI order.
"""

from __future__ import annotations

from typing import TypedDict


class MeterStruct(TypedDict):
    """The ``Meter`` struct."""

    inputUnits: str
    gpuMicros: str
    latencyMicros: str
    storageBytes: str
    concurrentLoad: str


class RatesStruct(TypedDict):
    """The ``Rates`` struct."""

    unitRate: list[str]
    gpuRate: str
    latencyRate: str
    storageRate: str
    priorityBps: list[str]
    loadBpsPerUnit: str
    loadCapacity: str
    maxLoadBps: str
    operatorBps: str
    treasuryBps: str


class AccessGranted(TypedDict):
    """``AccessGranted(uint256,address)``"""

    modelId: str
    account: str


class AccessRevoked(TypedDict):
    """``AccessRevoked(uint256,address)``"""

    modelId: str
    account: str


class AccessSet(TypedDict):
    """``AccessSet(uint256,uint8)``"""

    modelId: str
    access: str


class Approval(TypedDict):
    """``Approval(address,address,uint256)``"""

    owner: str
    spender: str
    value: str


class Claimed(TypedDict):
    """``Claimed(uint256,address,uint256)``"""

    epoch: str
    account: str
    amount: str


class DaoSet(TypedDict):
    """``DaoSet(uint256,address,uint16)``"""

    modelId: str
    daoTreasury: str
    daoShareBps: str


class Deposited(TypedDict):
    """``Deposited(address,uint256)``"""

    user: str
    amount: str


class EIP712DomainChanged(TypedDict):
    """``EIP712DomainChanged()``"""


class EpochPublished(TypedDict):
    """``EpochPublished(uint256,uint64,uint64,uint256,bytes32)``"""

    epoch: str
    fromBlock: str
    toBlock: str
    total: str
    root: str


class EscrowWithdrawn(TypedDict):
    """``EscrowWithdrawn(address,uint256)``"""

    user: str
    amount: str


class ExecutionRejected(TypedDict):
    """``ExecutionRejected(bytes32,address,uint256,address,uint8)``"""

    executionId: str
    user: str
    modelId: str
    operator: str
    reason: str


class InferenceExecuted(TypedDict):
    """``InferenceExecuted(bytes32,uint256,address,address,bytes32,bytes32,bytes32,uint8,(uint64,uint64,uint64,uint64,uint32),uint256,uint32)``"""

    executionId: str
    modelId: str
    user: str
    operator: str
    inputDigest: str
    outputDigest: str
    paramsHash: str
    priority: str
    meter: MeterStruct
    cost: str
    ratesVersion: str


class KindSet(TypedDict):
    """``KindSet(uint256,uint8)``"""

    modelId: str
    kind: str


class LicenseSet(TypedDict):
    """``LicenseSet(uint256,bool,uint16)``"""

    modelId: str
    remixAllowed: bool
    remixShareBps: str


class ModelRegistered(TypedDict):
    """``ModelRegistered(uint256,bytes32,address,uint64,uint8,uint8)``"""

    modelId: str
    cid: str
    owner: str
    parentId: str
    sizeClass: str
    depth: str


# ``ModelTransferred(uint256,address,address)``
ModelTransferred = TypedDict("ModelTransferred", {"modelId": str, "from": str, "to": str})


class PricingSet(TypedDict):
    """``PricingSet(uint256,uint8,uint128,uint64[],uint128[])``"""

    modelId: str
    pricingKind: str
    fixedPrice: str
    thresholds: list[str]
    prices: list[str]


class Rated(TypedDict):
    """``Rated(bytes32,address,uint256,uint8)``"""

    executionId: str
    user: str
    modelId: str
    rating: str


class RatesSet(TypedDict):
    """``RatesSet(uint32,(uint64[4],uint64,uint64,uint64,uint16[4],uint32,uint32,uint32,uint16,uint16))``"""

    version: str
    rates: RatesStruct


class RoleAdminChanged(TypedDict):
    """``RoleAdminChanged(bytes32,bytes32,bytes32)``"""

    role: str
    previousAdminRole: str
    newAdminRole: str


class RoleGranted(TypedDict):
    """``RoleGranted(bytes32,address,address)``"""

    role: str
    account: str
    sender: str


class RoleRevoked(TypedDict):
    """``RoleRevoked(bytes32,address,address)``"""

    role: str
    account: str
    sender: str


class Settlement(TypedDict):
    """``Settlement(bytes32,address,uint8,uint256)``"""

    executionId: str
    recipient: str
    role: str
    amount: str


class Signaled(TypedDict):
    """``Signaled(uint256,address,uint8,bytes32,uint8,uint256)``"""

    signalId: str
    curator: str
    targetKind: str
    target: str
    kind: str
    amount: str


# ``Transfer(address,address,uint256)``
Transfer = TypedDict("Transfer", {"from": str, "to": str, "value": str})


class TreasurySet(TypedDict):
    """``TreasurySet(address)``"""

    treasury: str


class Unsignaled(TypedDict):
    """``Unsignaled(uint256,address,uint256)``"""

    signalId: str
    curator: str
    amount: str


class WithdrawalDelaySet(TypedDict):
    """``WithdrawalDelaySet(uint64)``"""

    delay: str


class WithdrawalRequested(TypedDict):
    """``WithdrawalRequested(address,uint256,uint64)``"""

    user: str
    amount: str
    unlockAt: str


class Withdrawn(TypedDict):
    """``Withdrawn(address,uint256)``"""

    account: str
    amount: str


SIGNATURES: dict[str, str] = {
    "AccessGranted": "AccessGranted(uint256,address)",
    "AccessRevoked": "AccessRevoked(uint256,address)",
    "AccessSet": "AccessSet(uint256,uint8)",
    "Approval": "Approval(address,address,uint256)",
    "Claimed": "Claimed(uint256,address,uint256)",
    "DaoSet": "DaoSet(uint256,address,uint16)",
    "Deposited": "Deposited(address,uint256)",
    "EIP712DomainChanged": "EIP712DomainChanged()",
    "EpochPublished": "EpochPublished(uint256,uint64,uint64,uint256,bytes32)",
    "EscrowWithdrawn": "EscrowWithdrawn(address,uint256)",
    "ExecutionRejected": "ExecutionRejected(bytes32,address,uint256,address,uint8)",
    "InferenceExecuted": "InferenceExecuted(bytes32,uint256,address,address,bytes32,bytes32,bytes32,uint8,(uint64,uint64,uint64,uint64,uint32),uint256,uint32)",
    "KindSet": "KindSet(uint256,uint8)",
    "LicenseSet": "LicenseSet(uint256,bool,uint16)",
    "ModelRegistered": "ModelRegistered(uint256,bytes32,address,uint64,uint8,uint8)",
    "ModelTransferred": "ModelTransferred(uint256,address,address)",
    "PricingSet": "PricingSet(uint256,uint8,uint128,uint64[],uint128[])",
    "Rated": "Rated(bytes32,address,uint256,uint8)",
    "RatesSet": "RatesSet(uint32,(uint64[4],uint64,uint64,uint64,uint16[4],uint32,uint32,uint32,uint16,uint16))",
    "RoleAdminChanged": "RoleAdminChanged(bytes32,bytes32,bytes32)",
    "RoleGranted": "RoleGranted(bytes32,address,address)",
    "RoleRevoked": "RoleRevoked(bytes32,address,address)",
    "Settlement": "Settlement(bytes32,address,uint8,uint256)",
    "Signaled": "Signaled(uint256,address,uint8,bytes32,uint8,uint256)",
    "Transfer": "Transfer(address,address,uint256)",
    "TreasurySet": "TreasurySet(address)",
    "Unsignaled": "Unsignaled(uint256,address,uint256)",
    "WithdrawalDelaySet": "WithdrawalDelaySet(uint64)",
    "WithdrawalRequested": "WithdrawalRequested(address,uint256,uint64)",
    "Withdrawn": "Withdrawn(address,uint256)",
}

FIELDS: dict[str, tuple[str, ...]] = {
    "AccessGranted": (
        "modelId",
        "account",
    ),
    "AccessRevoked": (
        "modelId",
        "account",
    ),
    "AccessSet": (
        "modelId",
        "access",
    ),
    "Approval": (
        "owner",
        "spender",
        "value",
    ),
    "Claimed": (
        "epoch",
        "account",
        "amount",
    ),
    "DaoSet": (
        "modelId",
        "daoTreasury",
        "daoShareBps",
    ),
    "Deposited": (
        "user",
        "amount",
    ),
    "EIP712DomainChanged": (),
    "EpochPublished": (
        "epoch",
        "fromBlock",
        "toBlock",
        "total",
        "root",
    ),
    "EscrowWithdrawn": (
        "user",
        "amount",
    ),
    "ExecutionRejected": (
        "executionId",
        "user",
        "modelId",
        "operator",
        "reason",
    ),
    "InferenceExecuted": (
        "executionId",
        "modelId",
        "user",
        "operator",
        "inputDigest",
        "outputDigest",
        "paramsHash",
        "priority",
        "meter",
        "cost",
        "ratesVersion",
    ),
    "KindSet": (
        "modelId",
        "kind",
    ),
    "LicenseSet": (
        "modelId",
        "remixAllowed",
        "remixShareBps",
    ),
    "ModelRegistered": (
        "modelId",
        "cid",
        "owner",
        "parentId",
        "sizeClass",
        "depth",
    ),
    "ModelTransferred": (
        "modelId",
        "from",
        "to",
    ),
    "PricingSet": (
        "modelId",
        "pricingKind",
        "fixedPrice",
        "thresholds",
        "prices",
    ),
    "Rated": (
        "executionId",
        "user",
        "modelId",
        "rating",
    ),
    "RatesSet": (
        "version",
        "rates",
    ),
    "RoleAdminChanged": (
        "role",
        "previousAdminRole",
        "newAdminRole",
    ),
    "RoleGranted": (
        "role",
        "account",
        "sender",
    ),
    "RoleRevoked": (
        "role",
        "account",
        "sender",
    ),
    "Settlement": (
        "executionId",
        "recipient",
        "role",
        "amount",
    ),
    "Signaled": (
        "signalId",
        "curator",
        "targetKind",
        "target",
        "kind",
        "amount",
    ),
    "Transfer": (
        "from",
        "to",
        "value",
    ),
    "TreasurySet": ("treasury",),
    "Unsignaled": (
        "signalId",
        "curator",
        "amount",
    ),
    "WithdrawalDelaySet": ("delay",),
    "WithdrawalRequested": (
        "user",
        "amount",
        "unlockAt",
    ),
    "Withdrawn": (
        "account",
        "amount",
    ),
}
