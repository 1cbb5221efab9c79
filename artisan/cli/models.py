"""`artisan models`: pin an ONNX file in the asset store and register it on chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artisan.chain.actions import ModelSpec
from artisan.domain.types import ZERO_ADDRESS, Access, PricingKind, normalize_address
from artisan.errors import ArtisanError, DomainError

models_app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def parse_pricing(text: str) -> tuple[PricingKind, int, tuple[int, ...], tuple[int, ...]]:
    """``fixed:PRICE`` or ``tiered:T0=P0,T1=P1,...`` (prices in wei, thresholds are prior
    execution counts) as (kind, fixed price, thresholds, prices)."""
    kind, _, rest = text.partition(":")
    try:
        if kind == "fixed":
            return PricingKind.FIXED, int(rest), (), ()
        if kind == "tiered":
            pairs = [item.split("=", 1) for item in rest.split(",") if item]
            if not pairs or any(len(p) != 2 for p in pairs):
                raise ValueError("tiers are THRESHOLD=PRICE pairs")
            return (
                PricingKind.TIERED,
                0,
                tuple(int(t) for t, _ in pairs),
                tuple(int(p) for _, p in pairs),
            )
    except ValueError as exc:
        raise DomainError(f"--pricing {text!r}: {exc}") from exc
    raise DomainError(f"--pricing {text!r}: expected fixed:PRICE or tiered:T0=P0,T1=P1,...")


def parse_dao(text: str | None) -> tuple[str, int]:
    """``ADDR:BPS`` as (treasury, share in bps); none: no DAO."""
    if not text:
        return ZERO_ADDRESS, 0
    treasury, _, bps = text.rpartition(":")
    try:
        return normalize_address(treasury, "--dao address"), int(bps)
    except ValueError as exc:
        raise DomainError(f"--dao {text!r}: expected ADDR:BPS") from exc


def model_spec(
    digest: bytes,
    *,
    pricing: str,
    access: str,
    remix_of: int,
    size_class: int,
    remix_share: int,
    dao: str | None,
) -> ModelSpec:
    """The registration of a pinned model file, from the command's options."""
    kind, fixed, thresholds, prices = parse_pricing(pricing)
    if access not in ("public", "allowlist"):
        raise DomainError(f"--access must be public or allowlist, got {access!r}")
    treasury, dao_bps = parse_dao(dao)
    return ModelSpec(
        cid_digest=digest,
        size_class=size_class,
        access=Access.PUBLIC if access == "public" else Access.ALLOWLIST,
        parent_id=remix_of,
        remix_share_bps=remix_share,
        dao_treasury=treasury,
        dao_share_bps=dao_bps,
        pricing_kind=kind,
        fixed_price=fixed,
        thresholds=thresholds,
        prices=prices,
    )


@models_app.command("register")
def register(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the .onnx model file")],
    pricing: str = typer.Option(..., help="fixed:PRICE or tiered:T0=P0,T1=P1,... (wei)"),
    access: str = typer.Option("public", help="public or allowlist"),
    remix_of: int = typer.Option(0, help="the parent model's id (0: an original)"),
    size_class: int = typer.Option(0, help="0..3, selects the ledger's unit rate"),
    remix_share: int = typer.Option(0, help="bps a remix of this model pays up to it"),
    dao: str | None = typer.Option(None, help="ADDR:BPS, a DAO treasury and its share"),
    owner_key: str | None = typer.Option(None, help="owner's private key (default: deployer)"),
    max_output_mb: float = typer.Option(256.0, min=0.001, help="this executor's cap on one output"),
    max_run_s: float = typer.Option(30.0, min=0.001, help="this executor's cap on one run"),
) -> None:
    """Pin FILE in the asset store (it must load in ONNX Runtime) and register it on chain."""
    from artisan.chain.actions import register_model
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import attach
    from artisan.chain.signer import Signer, connect
    from artisan.cli.common import console, json_line, settings_or_exit
    from artisan.executor.assets import AssetStore, address
    from artisan.executor.model_limits import ModelLimits, save_limits
    from artisan.executor.sessions import check_model

    settings = settings_or_exit()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: `artisan node` starts a local chain[/red]")
        raise typer.Exit(2)
    try:
        data = file.read_bytes()
        check_model(data)  # before anything is stored or registered: it loads, or it is refused
        spec = model_spec(
            address(data).digest, pricing=pricing, access=access, remix_of=remix_of,
            size_class=size_class, remix_share=remix_share, dao=dao,
        )  # fmt: skip
        w3 = connect(settings.rpc_url)
        protocol = attach(w3, Deployment.load(settings.deployment_file), settings.artifacts_dir)
        owner = Signer.from_key(w3, owner_key or settings.key("deployer"))
        limits = ModelLimits(int(max_output_mb * 2**20), int(max_run_s * 1e6))
        store = AssetStore(settings.data_dir / "assets")
        asset = store.put(data)
        save_limits(store.root, asset.cid, limits)
        model_id = register_model(owner, protocol, spec)
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    json_line({"modelId": model_id, "cid": asset.cid, "owner": owner.address})
