"""Atomic writes: build a file or directory under a temporary sibling, then rename it into place.

A reader (or a run killed half-way) sees either the previous version or the whole new one,
never a half-written one. This module imports only the standard library, so every layer
(including archcli/tokens) may use it.
"""
import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator, List, Type, Union

from .errors import ArchcliError

PathLike = Union[str, Path]


def _temp_sibling(path: Path, kind: str) -> Path:
    """`.NAME.tmp-PID-TOKEN` / `.NAME.old-PID-TOKEN`: the pid lets a later run tell a dead
    writer's leftovers from a live one's; the random token keeps two writers in one process
    (or a reused pid) from sharing, and so deleting, each other's temporary."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (cheap; skipped where the platform cannot open directories)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _siblings(path: Path, kind: str, *, dead_only: bool) -> List[Path]:
    if not path.parent.is_dir():
        return []
    prefix = f".{path.name}.{kind}-"
    found = []
    for candidate in path.parent.glob(prefix + "*"):
        pid, dash, token = candidate.name[len(prefix):].partition("-")
        if not (pid.isdigit() and dash and len(token) == 8 and all(c in "0123456789abcdef" for c in token)):
            continue
        if not (dead_only and _pid_alive(int(pid))):
            found.append(candidate)
    return found


def clean_stale_siblings(path: PathLike) -> None:
    """Tidy what writers that no longer run left beside `path`: their temporaries are removed;
    if `path` is missing (a swap killed between its two renames) the newest backup is the last
    good version and is renamed back into place; other backups are removed."""
    path = Path(path)
    for candidate in _siblings(path, "tmp", dead_only=True):
        _remove(candidate)
    backups = backups_of(path, dead_only=True)
    if backups and not (path.exists() or path.is_symlink()):
        os.replace(backups.pop(), path)
    for stale in backups:
        _remove(stale)


def backups_of(path: PathLike, *, dead_only: bool = False) -> List[Path]:
    """The `.NAME.old-PID-TOKEN` backups a directory swap leaves if it is killed between
    renames, oldest first."""
    return sorted(_siblings(Path(path), "old", dead_only=dead_only), key=lambda p: p.stat().st_mtime)


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def check_output_path(path: PathLike, *, directory: bool, error: Type[ArchcliError] = ArchcliError) -> None:
    """Refuse, before any work is done, an output path that cannot be created: a directory
    where a file is wanted (or the reverse), a path under an existing file, or one whose
    nearest existing directory cannot be written."""
    path = Path(path)
    if directory and path.exists() and not path.is_dir():
        raise error("exists and is not a directory; choose another output path", where=str(path))
    if not directory and path.is_dir():
        raise error("is a directory; give a file name", where=str(path))
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise error(f"cannot create a directory under '{parent}': it is a file", where=str(path))
            if not _writable(parent):
                raise error(f"cannot write to '{parent}' (permission denied)", where=str(path))
            break


def make_output_dir(path: PathLike, *, error: Type[ArchcliError] = ArchcliError) -> Path:
    """`path` checked and created (with its parents); an OS refusal is one `error` naming it."""
    path = Path(path)
    check_output_path(path, directory=True, error=error)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(f"cannot create the output directory: {err.strerror}", where=str(path)) from None
    return path


@contextlib.contextmanager
def atomic_file(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed onto `path`.

    On any failure (including KeyboardInterrupt, or an OSError such as a full disk, which is
    re-raised for the caller to report) the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    check_output_path(path, directory=False)
    tmp = _temp_sibling(path, "tmp")
    replaced = False
    try:
        yield tmp
        with open(tmp, "rb+") as file_:
            os.fsync(file_.fileno())
        os.replace(tmp, path)
        replaced = True
    finally:
        if not replaced:  # whatever stopped the write (Ctrl-C included) leaves no temporary
            _remove(tmp)
    _fsync_dir(path.parent)


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf8"))


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory to fill; on success it replaces the directory `path`.

    The swap is two renames (old → `.NAME.old-PID-TOKEN`, new → NAME); only a kill between them
    leaves no NAME, and then the backup holds the previous version (`load` names it). On failure
    the temporary directory is removed, `path` is untouched and the error (an OSError for a full
    disk or a permission problem) propagates. What killed earlier writers left is tidied first
    (clean_stale_siblings).
    """
    path = Path(path)
    check_output_path(path, directory=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_siblings(path)
    tmp = _temp_sibling(path, "tmp")
    tmp.mkdir()
    old = _temp_sibling(path, "old")
    swapped = False
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        swapped = True
    finally:
        if not swapped:  # the previous version stays (or is put back) and no temporary is left
            if old.exists() and not path.exists():
                os.replace(old, path)
            _remove(tmp)
    _fsync_dir(path.parent)
    _remove(old)


def read_json(path: PathLike, *, error: Type[ArchcliError] = ArchcliError) -> Any:
    """Read a JSON file; a missing, unreadable or malformed file is one `error` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf8")
    except FileNotFoundError:
        raise error("file not found", where=str(path)) from None
    except UnicodeDecodeError as err:
        raise error(f"not UTF-8 text (bad byte at offset {err.start})", where=str(path)) from None
    except OSError as err:
        raise error(f"cannot read: {err.strerror}", where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"damaged JSON at line {err.lineno}, column {err.colno}: {err.msg}",
                    where=str(path)) from None
