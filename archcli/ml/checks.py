"""Argument checks for the architectures: a size that cannot build a layer is refused naming the
architecture and the argument, instead of failing deep inside thinc (a zero `width` is an
IndexError in HashEmbed, a negative `depth` silently builds nothing)."""
from typing import Any, Mapping, Optional

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
    return err


def with_block_path(err: ConfigError, block: Mapping[str, Any], where: str) -> ConfigError:
    """`err` from an architecture's argument check, re-addressed to the config key it came from
    (`components.tagger.model.tok2vec.width`) when `block`, the block being resolved at `where`,
    has exactly one place it can be; otherwise `err` itself."""
    arch = getattr(err, "arch", None)
    if arch is None:
        return err
    arg, _, index = err.arg.rstrip("]").partition("[")  # type: ignore[attr-defined]
    value = err.value  # type: ignore[attr-defined]
    family = _family(arch)
    found = []

    def matches(given: Any) -> bool:
        if value is _UNSET:
            return True
        if index:
            return isinstance(given, (list, tuple)) and len(given) > int(index) and given[int(index)] == value
        return given == value

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        names = [v for k, v in node.items() if isinstance(k, str) and k.startswith("@") and isinstance(v, str)]
        if any(_family(name) == family for name in names) and arg in node and matches(node[arg]):
            found.append(f"{path}.{arg}")
        for key, child in node.items():
            walk(child, f"{path}.{key}")

    walk(block, where)
    if len(found) != 1:
        return err
    return ConfigError(f"{err.message} ({arch})", where=found[0])  # type: ignore[attr-defined]


def _family(name: str) -> str:
    """An architecture name without its version: spacy.HashEmbedCNN.v1 and .v2 are one family."""
    base, dot_v, version = name.rpartition(".v")
    return base if dot_v and version.isdigit() else name
