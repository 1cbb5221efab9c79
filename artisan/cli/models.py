"""`artisan models`: register ONNX models (pinned in this machine's asset store), list and
show what the registry holds, write a sample model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from artisan.chain.actions import ModelSpec
from artisan.domain.types import ZERO_ADDRESS, Access, PricingKind, normalize_address
from artisan.errors import ArtisanError, DomainError

if TYPE_CHECKING:
    from artisan.chain.ledger_reads import LedgerViews, RegisteredModel

models_app = typer.Typer(
    no_args_is_help=True, add_completion=False,
    help="Register ONNX models; list and show what is registered.",
)  # fmt: skip


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
    owner_key_file: Annotated[
        Path | None,
        typer.Option(help="a file holding the owner's private key (default: the deployer's key)"),
    ] = None,
    max_output_mb: float = typer.Option(256.0, min=0.001, help="this executor's cap on one output"),
    max_run_s: float = typer.Option(30.0, min=0.001, help="this executor's cap on one run"),
) -> None:
    """Pin FILE in the asset store (it must load in ONNX Runtime) and register it on chain."""
    from artisan.chain.actions import register_model
    from artisan.chain.contracts import Deployment
    from artisan.chain.protocol import attach
    from artisan.chain.signer import Signer, connect
    from artisan.cli.common import console, json_line, settings_or_exit
    from artisan.config import key_from_file
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
        owner_key = (
            settings.key("deployer") if owner_key_file is None
            else key_from_file(owner_key_file, "--owner-key-file", settings.dev)
        )  # fmt: skip
        owner = Signer.from_key(w3, owner_key)
        limits = ModelLimits(int(max_output_mb * 2**20), int(max_run_s * 1e6))
        store = AssetStore(settings.data_dir / "assets")
        asset = store.put(data)
        save_limits(store.root, asset.cid, limits)
        model_id = register_model(owner, protocol, spec)
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    json_line({"modelId": model_id, "cid": asset.cid, "owner": owner.address})


def _registry_reads() -> tuple[LedgerViews, int]:
    """The deployment's registry reads (``LedgerViews``) and how many models it holds."""
    from artisan.chain.contracts import Deployment
    from artisan.chain.ledger_reads import LedgerViews
    from artisan.chain.protocol import attach
    from artisan.chain.signer import connect
    from artisan.cli.common import console, settings_or_exit

    settings = settings_or_exit()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: the registry is read from a node[/red]")
        raise typer.Exit(2)
    protocol = attach(connect(settings.rpc_url), Deployment.load(settings.deployment_file),
                      settings.artifacts_dir)  # fmt: skip
    views = LedgerViews(protocol, settings.rpc_url)
    return views, views.model_count()


def _model_json(model: RegisteredModel) -> dict[str, object]:
    from artisan.executor.assets import cid_of

    t = model.terms
    return {
        "modelId": model.model_id, "cid": cid_of(model.cid_digest), "owner": t.owner,
        "access": model.access.name.lower(), "sizeClass": t.size_class,
        "parentId": t.parent_id, "pricing": t.pricing_kind.name.lower(),
        "fixedPrice": str(t.fixed_price), "thresholds": [str(x) for x in t.thresholds],
        "prices": [str(x) for x in t.prices], "remixShareBps": t.remix_share_bps,
        "daoTreasury": t.dao_treasury, "daoShareBps": t.dao_share_bps,
    }  # fmt: skip


@models_app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """Every registered model: id, CID, owner, access and price."""
    from rich.table import Table

    from artisan.cli.common import console, fail, json_line

    try:
        views, count = _registry_reads()
        found = [m for m in (views.model(i) for i in range(1, count + 1)) if m is not None]
        views.close()
    except ArtisanError as exc:
        raise fail(exc) from exc
    if as_json:
        for model in found:
            json_line(_model_json(model))
        return
    table = Table("id", "CID", "owner", "access", "price (wei per run, before metering)")
    for model in found:
        t = model.terms
        price = (str(t.fixed_price) if t.pricing_kind is PricingKind.FIXED
                 else ", ".join(f"from {n}: {p}" for n, p in zip(t.thresholds, t.prices,
                                                                 strict=True)))  # fmt: skip
        cid = str(_model_json(model)["cid"])
        table.add_row(str(model.model_id), cid, t.owner, model.access.name.lower(), price)
    console.print(table)
    console.print(f"{len(found)} models")


@models_app.command("show")
def show_model(model_id: int = typer.Argument(..., help="the model's id")) -> None:
    """One registered model's terms, as JSON."""
    from artisan.cli.common import console, fail, json_line

    try:
        views, _count = _registry_reads()
        model = views.model(model_id)
        views.close()
    except ArtisanError as exc:
        raise fail(exc) from exc
    if model is None:
        console.print(f"[red]no model {model_id} is registered[/red]")
        raise typer.Exit(1)
    json_line(_model_json(model))


@models_app.command("sample")
def sample(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="where to write the .onnx file")],
) -> None:
    """Write a small sample model: row sums, float32 [batch, n] -> [batch, 1]."""
    from artisan.cli.common import console
    from artisan.executor.provider_probe import row_sum

    path.write_bytes(row_sum())
    console.print(f"wrote {path}: y = sum(x, axis=1), x float32 [batch, n]")
