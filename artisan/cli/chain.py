"""`artisan node` and `artisan deploy`: a local dev chain, and the one command that deploys."""

from __future__ import annotations

import typer

from artisan.cli.common import console, fail, json_line, settings_or_exit, stop_on_sigterm
from artisan.errors import ArtisanError


def deploy() -> None:
    """Deploy the protocol to ARTISAN_RPC_URL and record it in the deployment file."""
    from artisan.chain.protocol import deploy as deploy_protocol
    from artisan.chain.signer import Signer, connect

    settings = settings_or_exit()
    if not settings.rpc_url:
        console.print("[red]ARTISAN_RPC_URL is not set: `artisan node` starts a local chain[/red]")
        raise typer.Exit(2)
    try:
        w3 = connect(settings.rpc_url, wait_s=settings.deploy_wait_s)
        deployer = Signer.from_key(w3, settings.key("deployer"))
        operator = Signer.from_key(w3, settings.key("operator"))
        protocol = deploy_protocol(deployer, settings.artifacts_dir, operators=(operator.address,))
        protocol.deployment.save(settings.deployment_file)
    except ArtisanError as exc:
        raise fail(exc) from exc
    json_line(protocol.deployment.addresses())


def node(port: int = typer.Option(8545, help="port to listen on")) -> None:
    """Run a local anvil dev chain in the foreground (Ctrl-C stops it)."""
    import time

    from artisan.chain.anvil import start_anvil

    settings = settings_or_exit()
    stop_on_sigterm()  # SIGTERM, as Ctrl-C: anvil is stopped, its port freed
    with start_anvil(settings.anvil_bin, chain_id=settings.chain_id, port=port,
                     block_time=settings.anvil_block_time) as anvil:  # fmt: skip
        console.print(f"anvil listening on {anvil.rpc_url} (chain id {anvil.chain_id})")
        try:
            while anvil.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
