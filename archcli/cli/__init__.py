"""The `archcli` command line: one module per command, thin over the Python API."""
from . import debug_model, evaluate, info, init_config, init_kb, plot, pretrain, render, train  # noqa: F401
from .app import app


def main() -> None:
    """The `archcli` entry point: colours only on a terminal (and never with NO_COLOR set)."""
    import os
    import sys

    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        os.environ.setdefault("ANSI_COLORS_DISABLED", "1")  # wasabi printers made from now on
        from wasabi import msg

        msg.show_color = False
    app()


__all__ = ["app", "main"]
