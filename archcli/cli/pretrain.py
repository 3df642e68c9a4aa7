from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from .app import app
from ._util import COMMAND_SETTINGS, code_option, import_code, parse_overrides, setup_gpu, user_errors


@app.command("pretrain", context_settings=COMMAND_SETTINGS)
@user_errors
def pretrain_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., metavar="CONFIG_PATH", help="Config with a [pretraining] section", allow_dash=True),
    output_dir: Path = typer.Argument(..., metavar="OUTPUT_DIR", help="Directory for model{N}.bin weights and log.jsonl"),
    resume_path: Optional[Path] = typer.Option(None, "--resume-path", "-r", help="Weights file to resume from"),
    epoch_resume: Optional[int] = typer.Option(None, "--epoch-resume", "-er", help="Epoch number to resume at"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    skip_last: bool = typer.Option(False, "--skip-last", "-L", help="Do not write model-last.bin"),
    code_path: Optional[Path] = code_option(),
) -> None:
    """Pretrain a tok2vec layer on raw text (PretrainVectors / PretrainCharacters objectives)."""
    from ..config import load_config
    from ..errors import ConfigError

    import_code(code_path)
    setup_gpu(gpu_id)
    config = load_config(config_path, overrides=parse_overrides(ctx.args))
    if not config.get("pretraining"):
        raise ConfigError("the config has no [pretraining] settings; `archcli init-config --pretraining` "
                          "writes a block to start from", where=str(config_path))
    from ..training.pretraining import pretrain

    try:
        # pretrain checks everything first, and writes config.cfg only when training starts.
        pretrain(config, output_dir, resume_path=resume_path, epoch_resume=epoch_resume, skip_last=skip_last,
                 save_config=True)
    except KeyboardInterrupt:
        # pretrain writes no model-best/model-last directories: say what it does leave.
        last = "" if skip_last else "; model-last.bin holds the weights at the interruption"
        msg.warn(f"Interrupted: the model{{N}}.bin files of finished epochs in {output_dir} are intact{last}")
        raise typer.Exit(130)
