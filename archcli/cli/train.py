from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

from .app import app
from ._util import COMMAND_SETTINGS, code_option, import_code, parse_overrides, setup_gpu, user_errors


def _what_survives(kwargs: Dict[str, Any]) -> str:
    output = kwargs.get("output_path")
    saved = [name for name in ("model-best", "model-last") if output is not None and (output / name).is_dir()]
    if not saved:
        return "Interrupted before any model was saved"
    return f"Interrupted: the last saved {' and '.join(saved)} in {output} are intact"


@app.command("train", context_settings=COMMAND_SETTINGS)
@user_errors(interrupted=_what_survives)
def train_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., metavar="CONFIG_PATH", help="Config file ('-' reads stdin)", allow_dash=True),
    output_path: Optional[Path] = typer.Option(None, "--output", "-o", help="Directory for model-best/model-last"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    code_path: Optional[Path] = code_option(),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/model-last's training state "
                                "(the config may change only training.max_steps, max_epochs, patience)"),
) -> None:
    """Train a pipeline. Extra --section.key value options override the config."""
    from ..config import load_config
    from ..training.loop import train

    overrides = parse_overrides(ctx.args)
    import_code(code_path)
    setup_gpu(gpu_id)
    config = load_config(config_path, overrides=overrides)
    nlp = train(config, output_path, resume=resume)
    if output_path is not None:
        msg.good(f"Saved pipeline to output directory: {output_path / 'model-last'}")
    timing = nlp.meta.get("training", {})
    if timing:
        msg.text(f"Trained on {timing['train_words']} words in {timing['train_seconds']:.1f}s "
                 f"({timing['train_words_per_second']:.0f} words/s)")
