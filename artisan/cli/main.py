"""The `artisan` command line: one Typer app, one Settings object built at start-up.

Each command group lives in a module of its own (``artisan.cli.<group>``), which imports only
``artisan.cli.common`` of this package and its services lazily, inside its commands: so
``artisan --help`` stays quick, and no module of the package imports this one.
"""

from __future__ import annotations

import faulthandler
import signal

import typer

from artisan.cli.account import account, escrow_app
from artisan.cli.api import api_app
from artisan.cli.audit import audit_command
from artisan.cli.chain import deploy, node
from artisan.cli.db import db_app
from artisan.cli.demo import demo
from artisan.cli.emit import emit_command
from artisan.cli.executions import executions_app
from artisan.cli.executor import executor_app
from artisan.cli.index import index_command
from artisan.cli.lineage import lineage_command
from artisan.cli.models import models_app
from artisan.cli.projections import projections_app
from artisan.cli.report import report_app
from artisan.cli.run import run
from artisan.cli.status import status_command
from artisan.cli.verify import verify_command

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="The auditable metering, settlement and indexing engine for on-chain AI inference.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"artisan {version('artisan')}")
        raise typer.Exit


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """The auditable metering, settlement and indexing engine for on-chain AI inference."""


app.command("demo")(demo)
app.command("deploy")(deploy)
app.command("node")(node)
app.command("index")(index_command)
app.command("emit")(emit_command)
app.command("verify")(verify_command)
app.command("lineage")(lineage_command)
app.command("audit")(audit_command)
app.command("account")(account)
app.command("run")(run)
app.command("status")(status_command)
app.add_typer(escrow_app, name="escrow")
app.add_typer(executions_app, name="executions")
app.add_typer(api_app, name="api")
app.add_typer(report_app, name="report")
app.add_typer(executor_app, name="executor")
app.add_typer(models_app, name="models")
app.add_typer(projections_app, name="projections")
app.add_typer(db_app, name="db")


def main() -> None:
    # `kill -USR1 PID` writes every thread's stack to a hung service's stderr (its log).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app()


if __name__ == "__main__":
    main()
