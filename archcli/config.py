"""Loading, overriding, checking and resolving configs, with errors that name the key."""
import difflib
from pathlib import Path
from typing import Any, Dict, Optional, Union

from confection import ConfigValidationError
from thinc.api import Config

from .errors import ConfigError
from .registry import ensure_populated, registry

REGISTRY_NAMES = {
    "architectures", "layers", "optimizers", "schedules", "initializers", "losses", "ops",
    "tokenizers", "vectors", "readers", "batchers", "loggers", "callbacks", "scorers", "misc",
    "augmenters", "lookups", "span_getters", "annotation_setters", "assets", "datasets",
}


def load_config(path: Union[str, Path], overrides: Optional[Dict[str, Any]] = None, interpolate: bool = False) -> Config:
    """Read a config file (or '-' for stdin), apply dotted overrides, optionally interpolate."""
    import sys

    path_str = str(path)
    try:
        if path_str == "-":
            text = sys.stdin.read()
        else:
            p = Path(path)
            if not p.exists():
                raise ConfigError("config file not found", where=path_str)
            text = p.read_text(encoding="utf8")
        config = Config().from_str(text, overrides=overrides or {}, interpolate=False)
    except ConfigError:
        raise
    except ConfigValidationError as err:
        raise ConfigError(_validation_message(err), where=path_str)
    except Exception as err:  # confection raises several plain types for syntax problems
        raise ConfigError(f"cannot parse config: {err}", where=path_str)
    if interpolate:
        config = interpolate_config(config, where=path_str)
    return config


def interpolate_config(config: Config, where: str = "config") -> Config:
    try:
        return config.interpolate()
    except ConfigValidationError as err:
        raise ConfigError(_validation_message(err), where=where)
    except Exception as err:
        raise ConfigError(f"cannot interpolate variables: {err}", where=where)


def check_registered_names(config: Dict[str, Any], path: str = "") -> None:
    """Fail early, naming the config key, on any `@registry = name` that is not registered."""
    ensure_populated()
    for key, value in config.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and key.startswith("@"):
            reg_name = key[1:]
            if reg_name not in REGISTRY_NAMES or not hasattr(registry, reg_name):
                raise ConfigError(f"unknown registry '@{reg_name}'", where=path or "config")
            if not registry.has(reg_name, value):
                known = list(getattr(registry, reg_name).get_all().keys())
                close = difflib.get_close_matches(str(value), known, n=3, cutoff=0.6)
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise ConfigError(f"unknown {reg_name} function '{value}'.{hint}", where=f"{path or 'config'}.{key}")
        elif isinstance(value, dict):
            check_registered_names(value, where)


def resolve_block(block: Dict[str, Any], where: str, *, validate: bool = True) -> Dict[str, Any]:
    """Resolve one config block, reporting problems under the block's dotted path."""
    check_registered_names(block, where)
    try:
        return registry.resolve(Config(block) if not isinstance(block, Config) else block, validate=validate)
    except ConfigValidationError as err:
        raise ConfigError(_validation_message(err, prefix=where))
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"cannot build this block: {err}", where=where)


def _validation_message(err: ConfigValidationError, prefix: str = "") -> str:
    lines = []
    for error in getattr(err, "errors", None) or []:
        loc = [str(p) for p in error.get("loc", [])]
        key = ".".join([prefix] + loc if prefix else loc) if (loc or prefix) else "config"
        text = str(error.get("msg", "")).replace("at root: ", "")
        lines.append(f"{key}: {text}")
    if not lines:
        text = str(err).strip()
        return f"{prefix}: {text}" if prefix else text
    if len(lines) == 1:
        return lines[0]
    return "invalid config:\n  " + "\n  ".join(lines)


def dot_to_object(config: Dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"config has no section '{dotted}'", where=dotted)
        node = node[part]
    return node
