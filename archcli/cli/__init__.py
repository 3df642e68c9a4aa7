"""The `archcli` command line: one module per command, thin over the Python API."""
import typer

app = typer.Typer(name="archcli", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, pretrain, evaluate and debug pipelines of spaCy v3's model architectures.")

from . import debug_model, evaluate, init_config, pretrain, train  # noqa: E402,F401


def main() -> None:
    app()
