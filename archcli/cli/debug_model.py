from pathlib import Path
from typing import Optional

import typer

from .app import app, debug_app
from ._util import COMMAND_SETTINGS, code_option, import_code, parse_overrides, setup_gpu, user_errors


@app.command("debug-model", context_settings=COMMAND_SETTINGS)
@user_errors
def debug_model_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., metavar="CONFIG_PATH", help="Config file", allow_dash=True),
    component: str = typer.Argument(..., metavar="COMPONENT", help="Name of the component to inspect"),
    n_steps: int = typer.Option(5, "--steps", "-n", help="Training steps between the two reports"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    code_path: Optional[Path] = code_option(),
) -> None:
    """Show a component's layer tree, then output/gradient statistics before and after training."""
    from ..config import load_config
    from ..debug_model import debug_model

    import_code(code_path)
    setup_gpu(gpu_id)
    config = load_config(config_path, overrides=parse_overrides(ctx.args))
    debug_model(config, component, n_steps=n_steps)


debug_app.command("model", context_settings=COMMAND_SETTINGS)(debug_model_cli)
