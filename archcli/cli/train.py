import sys
from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

from ..errors import ArchcliError
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
    n_workers: int = typer.Option(1, "--n-workers", min=1, help="Data-parallel worker processes on this machine "
                                  "(torch.distributed; with --gpu-id, worker i uses GPU gpu-id + i). Under torchrun, "
                                  "the number of workers comes from its environment"),
    worker_timeout: Optional[float] = typer.Option(None, "--worker-timeout", metavar="SECONDS",
                                                   help="How long a worker waits for the others in a collective "
                                                        "before giving up (default 300; rank 0's evaluations "
                                                        "must fit in it)"),
) -> None:
    """Train a pipeline. Extra --section.key value options override the config."""
    import os

    from ..training.distributed import TIMEOUT_ENV, workers_from_env
    from . import _util

    if worker_timeout is not None:
        if not worker_timeout > 0:
            raise ArchcliError(f"--worker-timeout {worker_timeout}: give a positive number of seconds")
        os.environ[TIMEOUT_ENV] = str(worker_timeout)
    workers = workers_from_env()
    if workers is None and n_workers > 1:
        _launch_workers(ctx, config_path, output_path, gpu_id, code_path, resume, n_workers)
        return
    if workers is not None and n_workers > 1 and n_workers != workers.world_size:
        raise ArchcliError(f"--n-workers {n_workers}, but the distributed environment has WORLD_SIZE="
                           f"{workers.world_size}; leave --n-workers out under torchrun")
    if workers is not None and workers.world_size == 1:
        workers = None  # one worker: today's single-process path
    if workers is not None and not workers.is_main:
        # Rank 0 speaks for the group; the others keep stderr, their messages marked with their rank.
        sys.stdout = open(os.devnull, "w")
        _util.message_prefix = f"rank {workers.rank}: "
    if workers is not None and gpu_id < 0:
        from ..training.launcher import THREAD_VARS

        for var in THREAD_VARS:  # before numpy or torch start their thread pools
            os.environ.setdefault(var, "1")

    from ..config import load_config
    from ..training.loop import train

    overrides = parse_overrides(ctx.args)
    import_code(code_path)
    device = gpu_id if workers is None or gpu_id < 0 else gpu_id + workers.local_rank  # worker i on GPU gpu_id + i
    setup_gpu(device)
    config = load_config(config_path, overrides=overrides)
    if workers is not None:
        from ..training import distributed

        workers = distributed.start(workers, gpu_id=device)
    try:
        nlp = train(config, output_path, resume=resume, workers=workers)
    finally:
        if workers is not None:
            distributed.stop()
    if workers is not None and not workers.is_main:
        return
    if output_path is not None:
        msg.good(f"Saved pipeline to output directory: {output_path / 'model-last'}")
    timing = nlp.meta.get("training", {})
    if timing:
        msg.text(f"Trained on {timing['train_words']} words in {timing['train_seconds']:.1f}s "
                 f"({timing['train_words_per_second']:.0f} words/s)")


def _launch_workers(ctx: typer.Context, config_path: Path, output_path: Optional[Path], gpu_id: int,
                    code_path: Optional[Path], resume: bool, n_workers: int) -> None:
    """Start `n_workers` copies of this command as one torch.distributed group and wait for them."""
    from ..training.launcher import WorkerFailed, launch

    if str(config_path) == "-":
        raise ArchcliError("--n-workers needs the config in a file: every worker reads it, so it cannot come from stdin")
    parse_overrides(ctx.args)  # a malformed override fails here, once, not in every worker
    argv = ["train", str(config_path), "--gpu-id", str(gpu_id)]
    if output_path is not None:
        argv += ["--output", str(output_path)]
    if code_path is not None:
        argv += ["--code", str(code_path)]
    if resume:
        argv.append("--resume")
    try:
        launch(argv + list(ctx.args), n_workers, cpu=gpu_id < 0)
    except WorkerFailed as err:
        print(msg.text(str(err), color="red", icon="fail", no_print=True), file=sys.stderr, flush=True)
        raise typer.Exit(err.exit_code)
