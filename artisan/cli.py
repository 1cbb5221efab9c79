"""The `artisan` command line: one Typer app, one Settings object built at start-up."""

from __future__ import annotations

import typer
from rich.console import Console

from artisan.cli_executor import executor_app
from artisan.cli_index import index_command
from artisan.cli_models import models_app
from artisan.cli_projections import projections_app, verify_command
from artisan.config import Settings, load_settings
from artisan.errors import ArtisanError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
console = Console()


def _settings() -> Settings:
    try:
        return load_settings()
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def settings_or_exit() -> Settings:
    """The Settings, or exit 2 naming the bad key (for the sub-apps' commands)."""
    return _settings()


@app.command()
def demo() -> None:
    """Run the whole pipeline on embedded defaults, end to end, checking each stage."""
    from artisan.demo import run_demo

    try:
        run_demo(_settings(), console)
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def deploy() -> None:
    """Deploy the protocol to ARTISAN_RPC_URL and record it in the deployment file."""
    from artisan.chain.client import Signer, connect
    from artisan.chain.protocol import deploy as deploy_protocol

    settings = _settings()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: `artisan node` starts a local chain[/red]")
        raise typer.Exit(2)
    try:
        w3 = connect(settings.rpc_url)
        deployer = Signer.from_key(w3, settings.deployer_key)
        operator = Signer.from_key(w3, settings.operator_key)
        protocol = deploy_protocol(deployer, settings.artifacts_dir, operators=(operator.address,))
        protocol.deployment.save(settings.deployment_file)
    except ArtisanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print_json(data=protocol.deployment.addresses())


@app.command()
def node(port: int = typer.Option(8545, help="port to listen on")) -> None:
    """Run a local anvil dev chain in the foreground (Ctrl-C stops it)."""
    import time

    from artisan.chain.anvil import start_anvil

    settings = _settings()
    with start_anvil(settings.anvil_bin, chain_id=settings.chain_id, port=port,
                     block_time=settings.anvil_block_time) as anvil:  # fmt: skip
        console.print(f"anvil listening on {anvil.rpc_url} (chain id {anvil.chain_id})")
        try:
            while anvil.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


# Sub-apps last: their modules import this one lazily, inside their commands.
app.add_typer(executor_app, name="executor")
app.add_typer(models_app, name="models")
app.add_typer(projections_app, name="projections")
app.command("verify")(verify_command)
app.command("index")(index_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
