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
    gpu: bool = typer.Option(False, "--gpu", "-G",
                             help="A transformer config, as spaCy's --gpu writes; needs --transformer DIR"),
    transformer: Optional[str] = typer.Option(None, "--transformer", "-T", metavar="DIR",
                                              help="Local Hugging Face model directory (config.json, weights, "
                                                   "tokenizer) for a transformer config"),
    lang: str = typer.Option("en", "--lang", "-l"),
    vectors: Optional[str] = typer.Option(None, "--vectors", "-V", help="Vectors file for accuracy configs"),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite an existing file"),
    pretraining: bool = typer.Option(False, "--pretraining", "-pt", help="Add a [pretraining] block for `archcli pretrain`"),
) -> None:
    """Write a complete training config for the given components."""
    from ..errors import ArchcliError
    from ..init_config import init_config_text

    if gpu and transformer is None:
        # spaCy's --gpu writes a transformer config and downloads its model; archcli never downloads.
        raise ArchcliError("a GPU config is a transformer config, and archcli loads transformers only from a local "
                           "model directory: pass --transformer DIR (a folder with config.json, weights and tokenizer "
                           "files)", where="--gpu")
    names = [name.strip() for name in pipeline.split(",") if name.strip()]
    text = init_config_text(names, optimize=optimize.value, gpu=gpu, lang=lang, vectors=vectors,
                            pretraining=pretraining, transformer=transformer)
    if str(output_file) == "-":
        print(text)
        return
    if output_file.exists() and not force:
        raise ArchcliError("file exists; pass --force to overwrite", where=str(output_file))
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output_file.write_text(text, encoding="utf8")
    msg.good(f"Saved config to {output_file}")
    # Command lines are echoed unwrapped, so they can be copied (wasabi wraps at 80 columns).
    kb = " --paths.kb KB_DIR" if "entity_linker" in names else ""
    typer.echo(f"Train it with:\n    archcli train {output_file} --output out --paths.train TRAIN --paths.dev DEV{kb}")
    if kb:
        typer.echo("Build KB_DIR with:\n    archcli init-kb ENTITIES.jsonl KB_DIR --aliases ALIASES.jsonl --vectors VECTORS")
    if pretraining:
        typer.echo(f"Pretrain its tok2vec with:\n    archcli pretrain {output_file} pretrain_out "
                   "--paths.raw_text TEXTS.jsonl")


init_app.command("config")(init_config_cli)
