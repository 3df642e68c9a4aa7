"""The `archcli` command line: one module per command, thin over the Python API."""
from . import debug_model, evaluate, info, init_config, pretrain, train  # noqa: F401
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
