"""`b24-1c schema`, `sandbox`, `demo` and `version`: helpers around the connector, not part of a sync."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from connector import __version__
from connector.cli.common import EXIT_CONFIG, app, err, exits, out


@app.command(epilog=exits(0, c0="printed (or written to --output)"))
def schema(
    output: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
) -> None:
    """Print the JSON Schema of mapping files (editors use it to autocomplete mappings/*.yaml)."""
    from connector.mapping.schema import json_schema

    text = json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


SANDBOX_MISSING = (
    "the sandbox is a separate package (b24-1c-sandbox) and is not installed here. "
    "From a source checkout: `pip install ./sandbox` (or `make demo`, which installs both)."
)


def _sandbox_module(name: str) -> Any:
    """The sandbox is optional and never a static import of the product (its wheel ships no emulator code)."""
    import importlib

    try:
        return importlib.import_module(f"b24_1c_sandbox.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "b24_1c_sandbox":
            err.print(f"[red]{SANDBOX_MISSING}[/red]", markup=True, highlight=False)
            raise typer.Exit(EXIT_CONFIG) from None
        raise


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> None:
    """Run the Bitrix24 and 1C emulators in the foreground (needs the b24-1c-sandbox package; --help lists options)."""
    cli = _sandbox_module("cli")
    raise typer.Exit(cli.main(list(ctx.args), prog="b24-1c sandbox"))


@app.command(
    epilog=exits(
        0,
        1,
        2,
        c0="Bitrix24 ended up holding exactly the posted 1C orders, once each",
        c1="the demo's final comparison found a difference (it says which)",
        c2="the b24-1c-sandbox package is not installed",
    )
)
def demo(
    orders: Annotated[int, typer.Option(help="orders to generate since 2017")] = 600,
    seed: Annotated[int, typer.Option(help="dataset seed")] = 7,
) -> None:
    """Run everything end to end against the sandbox and print what happened (needs b24-1c-sandbox)."""
    raise typer.Exit(_sandbox_module("demo").run_demo(out, orders, seed))


@app.command(epilog=exits(0))
def version() -> None:
    """Print the version."""
    out.print(f"b24-1c {__version__}")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"b24-1c {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Options before the command."""
