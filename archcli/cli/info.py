import platform
import sys
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from .. import __version__
from .app import app
from ._util import user_errors


def _installed(package: str) -> Optional[str]:
    """The installed version of `package`, read from its metadata (the package is not imported)."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def info_data(architectures: bool = False) -> dict:
    """What `archcli info` reports; torch's version is read without importing torch.

    Counting the registered architectures imports thinc and every archcli layer (and so torch,
    where installed: seconds), so it is only done when asked for.
    """
    data = {
        "archcli version": __version__,
        "Python version": platform.python_version(),
        "Platform": platform.platform(),
        "Location": str(Path(sys.modules["archcli"].__file__).parent),
        "thinc version": _installed("thinc") or "not installed",
        "torch version": _installed("torch") or "not installed (only spacy.TorchBiLSTMEncoder.v1 needs it)",
    }
    if architectures:
        from .._registry import registry

        data["Registered architectures"] = len(registry.architectures.get_all())
    return data


@app.command("info")
@user_errors
def info_cli(
    architectures: bool = typer.Option(False, "--architectures",
                                       help="Also count the registered architectures (imports thinc and torch: slower)"),
) -> None:
    """Print archcli's version, the Python, thinc and torch versions, and the platform."""
    msg.divider("archcli info")
    msg.table(list(info_data(architectures).items()))
