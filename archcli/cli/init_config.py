from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from .app import app, init_app
from ._util import user_errors


class Optimize(str, Enum):
    """What the generated config trades for: speed and size, or accuracy."""

    efficiency = "efficiency"
    accuracy = "accuracy"


@app.command("init-config")
@user_errors
def init_config_cli(
    output_file: Path = typer.Argument(..., metavar="OUTPUT_FILE", help="Where to write the config ('-' for stdout)", allow_dash=True),
    pipeline: str = typer.Option("tagger", "--pipeline", "-p", help="Comma-separated components, e.g. tok2vec,tagger"),
    optimize: Optimize = typer.Option(Optimize.efficiency, "--optimize", "-o", help="efficiency or accuracy",
                                      case_sensitive=False),
    gpu: bool = typer.Option(False, "--gpu", "-G", help="Settings for training on a GPU"),
    lang: str = typer.Option("en", "--lang", "-l"),
    vectors: Optional[str] = typer.Option(None, "--vectors", "-V", help="Vectors file for accuracy configs"),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite an existing file"),
    pretraining: bool = typer.Option(False, "--pretraining", "-pt", help="Add a [pretraining] block for `archcli pretrain`"),
) -> None:
    """Write a complete training config for the given components."""
    from ..init_config import init_config_text

    names = [name.strip() for name in pipeline.split(",") if name.strip()]
    text = init_config_text(names, optimize=optimize.value, gpu=gpu, lang=lang, vectors=vectors, pretraining=pretraining)
    if str(output_file) == "-":
        print(text)
        return
    if output_file.exists() and not force:
        from ..errors import ArchcliError

        raise ArchcliError("file exists; pass --force to overwrite", where=str(output_file))
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output_file.write_text(text, encoding="utf8")
    msg.good(f"Saved config to {output_file}")
    # Command lines are echoed unwrapped, so they can be copied (wasabi wraps at 80 columns).
    typer.echo(f"Train it with:\n    archcli train {output_file} --output out --paths.train TRAIN --paths.dev DEV")
    if pretraining:
        typer.echo(f"Pretrain its tok2vec with:\n    archcli pretrain {output_file} pretrain_out "
                   "--paths.raw_text TEXTS.jsonl")


init_app.command("config")(init_config_cli)
