"""Shared CLI plumbing: dotted overrides, GPU setup, and turning user errors into exit 1."""
import functools
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import typer
from wasabi import msg

from ..errors import ArchcliError

COMMAND_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}
# Set in a distributed worker other than rank 0, so its error messages say which worker failed.
message_prefix = ""


def parse_overrides(args: List[str]) -> Dict[str, Any]:
    """`--paths.train x --training.max_steps 10 --flag` → {"paths.train": "x", …}.

    Values are read as JSON when they parse (numbers, booleans, lists), else as strings.
    """
    import srsly  # imported here: it brings numpy, which `archcli --help` does not need

    result: Dict[str, Any] = {}
    args = list(args)
    while args:
        opt = args.pop(0)
        if not opt.startswith("--"):
            raise ArchcliError(f"unexpected argument '{opt}'; overrides look like --section.key value")
        name = opt[2:]
        if "=" in name:
            name, value = name.split("=", 1)
        elif not args or args[0].startswith("--"):
            value = "true"
        else:
            value = args.pop(0)
        if "." not in name:
            raise ArchcliError(f"unknown option '{opt}'; config overrides need a dotted name like --paths.train")
        name = name.replace("-", "_")
        try:
            result[name] = srsly.json_loads(value)
        except ValueError:
            result[name] = str(value)
    return result


def code_option() -> Any:
    """The `--code PATH` option every command that builds from a config takes, as in spaCy."""
    return typer.Option(None, "--code", "-c", help="Python file imported first, so the config can name "
                        "functions it registers (architectures, readers, callbacks)")


def import_code(path: Optional[Path]) -> None:
    """Import the user's `--code` file as a module, before any config is resolved.

    A file that is missing or raises on import is the user's mistake: one message naming the
    file, the line it failed on, and the error; no traceback.
    """
    if path is None:
        return
    import importlib.util
    import traceback

    path = Path(path)
    if not path.is_file():
        raise ArchcliError("--code file not found", where=str(path))
    name = f"archcli_user_code_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise ArchcliError("--code is not an importable Python file", where=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: any exception is theirs to fix
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve() == path.resolve()]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        raise ArchcliError(f"--code failed on import: {type(err).__name__}: {err}", where=where) from None


def setup_gpu(gpu_id: int) -> None:
    """Choose the ops models are built with: GPU `gpu_id` (thinc, and torch through it), or for -1
    the CPU with archcli's gemm backend (ARCHCLI_CPU_GEMM; see archcli.ops)."""
    if gpu_id is None or gpu_id < 0:
        from ..ops import select_cpu_gemm

        select_cpu_gemm()
        return
    from thinc.api import require_gpu

    # thinc says "no GPU" / "CuPy is not installed" with ValueError; CUDA refuses a bad device id.
    no_gpu: tuple = (ValueError,)
    try:
        import cupy

        no_gpu += (cupy.cuda.runtime.CUDARuntimeError,)
    except ImportError:
        pass
    try:
        require_gpu(gpu_id)
    except no_gpu as err:
        raise ArchcliError(
            f"--gpu-id {gpu_id}: no usable GPU ({err}). Install the GPU extra (pip install 'archcli[gpu]') "
            "on a machine with CUDA, or drop --gpu-id to run on the CPU"
        )
    msg.info(f"Using GPU {gpu_id}")


def user_errors(func: Optional[Callable] = None, *,
                interrupted: Union[None, str, Callable[[Dict[str, Any]], str]] = None) -> Callable:
    """Print ArchcliError messages without a traceback and exit 1; Ctrl-C exits 130.

    `interrupted` is what Ctrl-C prints: each command says what it leaves behind (None: nothing),
    as text or as a function of the command's arguments, so it can look at what is on disk.
    Use as `@user_errors` or `@user_errors(interrupted="...")`.
    """
    if func is None:
        return functools.partial(user_errors, interrupted=interrupted)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ArchcliError as err:
            # On stderr, so `archcli evaluate … > scores.txt` still shows why it failed.
            sys.stdout.flush()
            text = message_prefix + str(err)
            print(msg.text(text, color="red", icon="fail", no_print=True), file=sys.stderr, flush=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            message = interrupted(kwargs) if callable(interrupted) else interrupted
            msg.warn(message or "Interrupted")
            raise typer.Exit(130)

    return wrapper
