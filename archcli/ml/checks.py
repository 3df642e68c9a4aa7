"""Argument checks for the architectures: a size that cannot build a layer is refused naming the
architecture and the argument, instead of failing deep inside thinc (a zero `width` is an
IndexError in HashEmbed, a negative `depth` silently builds nothing)."""
from typing import Any, Optional

from ..errors import ConfigError

_UNSET = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_size(arch: str, *, minimum: int = 1, optional: bool = False, **values: Optional[int]) -> None:
    """Each of `values` must be an integer >= `minimum` (or None, if `optional`)."""
    for arg, value in values.items():
        if value is None and optional:
            continue
        if not _is_int(value) or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            if optional:
                what += " or null"
            raise _argument_error(arch, arg, f"{arg} = {value!r}: must be {what}", value)


def bad_argument(arch: str, arg: str, message: str) -> ConfigError:
    """The error for a value of `arg` that the architecture cannot use (for the caller to raise)."""
    return _argument_error(arch, arg, f"{arg}: {message}")


def _argument_error(arch: str, arg: str, message: str, value: Any = _UNSET) -> ConfigError:
    err = ConfigError(message, where=arch)
    err.arch, err.arg, err.value, err.message = arch, arg, value, message  # type: ignore[attr-defined]
    err.has_value = value is not _UNSET  # type: ignore[attr-defined]
    return err
