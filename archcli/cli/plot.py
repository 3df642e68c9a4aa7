from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from .app import app
from ._util import user_errors


@app.command("plot")
@user_errors
def plot_cli(
    run: Path = typer.Argument(..., metavar="OUTPUT_DIR", help="An `archcli train` output directory, or its training_log.jsonl"),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="PNG to write (default: OUTPUT_DIR/training_curves.png)"),
) -> None:
    """Draw a run's learning curves: every dev score and component loss against step and words seen."""
    from ..plotting import DEFAULT_PLOT_NAME, find_log, plot_training_curves

    log_path = find_log(run)
    written = plot_training_curves(log_path, output or log_path.parent / DEFAULT_PLOT_NAME)
    msg.good(f"Saved learning curves to {written}")
