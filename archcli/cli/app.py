"""The Typer app every command module registers on, plus `--version` and `archcli info`.

It lives apart from `cli/__init__.py` so command modules import it without an import cycle.
Help texts are plain text (no rich markup), so `[pretraining]`-style section names survive.
"""
import typer

from .. import __version__

app = typer.Typer(name="archcli", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Train, pretrain, evaluate and debug pipelines of spaCy v3's model architectures.")
# spaCy's spellings `init config` and `debug model` for `init-config` and `debug-model`.
init_app = typer.Typer(name="init", no_args_is_help=True, rich_markup_mode=None,
                       help="spaCy's spelling: `init config` runs init-config.")
debug_app = typer.Typer(name="debug", no_args_is_help=True, rich_markup_mode=None,
                        help="spaCy's spelling: `debug model` runs debug-model.")
app.add_typer(init_app)
app.add_typer(debug_app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"archcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print archcli's version and exit."),
) -> None:
    """Train, pretrain, evaluate and debug pipelines of spaCy v3's model architectures."""
