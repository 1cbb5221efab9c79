"""The splits of one execution's cost, as the ledger credits them (docs/PROTOCOL.md).

``settle`` returns the credits in the order the ledger emits its ``Settlement`` events:
OPERATOR, TREASURY, DAO, CREATOR, then one REMIX_ANCESTOR per ancestor going up. Zero
credits are left out, as the ledger leaves them out; two credits to one account stay
separate. The treasury takes the rounding remainder, so the credits always sum to cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from artisan.domain.types import (
    BPS,
    MAX_REMIX_DEPTH,
    ModelTerms,
    Rates,
    SettlementRole,
    normalize_address,
    require_uint,
)
from artisan.errors import DomainError


@dataclass(frozen=True, slots=True)
class Credit:
    """One ``Settlement``: ``amount`` wei owed to ``recipient`` (lowercase hex) as ``role``."""

    recipient: str
    role: SettlementRole
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipient", normalize_address(self.recipient, "recipient"))
        try:
            object.__setattr__(self, "role", SettlementRole(self.role))
        except ValueError:
            raise DomainError(f"role must be a SettlementRole, got {self.role}") from None
        require_uint(self.amount, 256, "amount")
        if self.amount == 0:
            raise DomainError("amount must be > 0: the ledger emits no zero credit")


def settle(
    cost: int,
    rates: Rates,
    model_id: int,
    models: Mapping[int, ModelTerms],
    *,
    operator: str,
    treasury: str,
) -> tuple[Credit, ...]:
    """Split ``cost`` of executing ``model_id`` into credits, in the ledger's emission order.

    ``operator`` is the account that recorded the batch and ``treasury`` the ledger's
    treasury: neither is part of ``Rates``. ``models`` must hold the executed model and
    every ancestor on its remix chain.
    """
    require_uint(cost, 256, "cost")
    operator = normalize_address(operator, "operator")
    treasury = normalize_address(treasury, "treasury")
    model = _terms(models, model_id)

    operator_cut = cost * rates.operator_bps // BPS
    creator_side = cost * (BPS - rates.operator_bps - rates.treasury_bps) // BPS
    treasury_cut = cost - operator_cut - creator_side
    dao_cut = creator_side * model.dao_share_bps // BPS
    amount = creator_side - dao_cut

    owed: list[tuple[str, SettlementRole, int]] = [
        (operator, SettlementRole.OPERATOR, operator_cut),
        (treasury, SettlementRole.TREASURY, treasury_cut),
        (model.dao_treasury, SettlementRole.DAO, dao_cut),
    ]
    role = SettlementRole.CREATOR
    seen = {model_id}
    while model.parent_id != 0:
        if model.parent_id in seen or len(seen) > MAX_REMIX_DEPTH:
            # The registry caps depth at 8, so a longer or cyclic chain is bad input.
            raise DomainError(f"remix chain of model {model_id} is cyclic or deeper than 8")
        seen.add(model.parent_id)
        parent = _terms(models, model.parent_id)
        up = amount * parent.remix_share_bps // BPS
        owed.append((model.owner, role, amount - up))
        amount, model, role = up, parent, SettlementRole.REMIX_ANCESTOR
    owed.append((model.owner, role, amount))

    return tuple(Credit(who, what, value) for who, what, value in owed if value > 0)


def _terms(models: Mapping[int, ModelTerms], model_id: int) -> ModelTerms:
    try:
        return models[model_id]
    except KeyError:
        raise DomainError(f"unknown model {model_id}") from None
