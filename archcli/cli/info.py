import platform
import sys
from pathlib import Path
from typing import Optional

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


def info_data() -> dict:
    """What `archcli info` reports; torch's version is read without importing torch."""
    from .._registry import registry

    return {
        "archcli version": __version__,
        "Python version": platform.python_version(),
        "Platform": platform.platform(),
        "Location": str(Path(sys.modules["archcli"].__file__).parent),
        "thinc version": _installed("thinc") or "not installed",
        "torch version": _installed("torch") or "not installed (only spacy.TorchBiLSTMEncoder.v1 needs it)",
        "Registered architectures": len(registry.architectures.get_all()),
    }


@app.command("info")
@user_errors
def info_cli() -> None:
    """Print archcli's version, the Python, thinc and torch versions, and the platform."""
    msg.divider("archcli info")
    msg.table(list(info_data().items()))
