"""Loading, overriding, checking and resolving configs, with errors that name the key."""
import configparser
import difflib
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set, Union

from confection import ConfigValidationError
from thinc.api import Config

from .errors import ConfigError
from ._registry import ensure_populated, registry

REGISTRY_NAMES = {
    "architectures", "layers", "optimizers", "schedules", "initializers", "losses", "ops",
    "tokenizers", "vectors", "readers", "batchers", "loggers", "callbacks", "scorers", "misc",
    "augmenters", "lookups", "span_getters", "annotation_setters", "assets", "datasets",
}


def load_config(path: Union[str, Path], overrides: Optional[Dict[str, Any]] = None, interpolate: bool = False) -> Config:
    """Read a config file (or '-' for stdin), apply dotted overrides, optionally interpolate.

    An override must name a setting the config has, counting the defaults the run fills in
    (training, pretraining and component factory defaults), as spaCy requires.
    """
    path_str = str(path)
    if path_str == "-":
        text = sys.stdin.read()
    else:
        p = Path(path)
        if not p.exists():
            raise ConfigError("config file not found", where=path_str)
        if p.is_dir():
            raise ConfigError("is a directory, not a config file", where=path_str)
        try:
            text = p.read_text(encoding="utf8")
        except UnicodeDecodeError as err:
            raise ConfigError(f"not a UTF-8 text file ({err.reason} at byte {err.start})", where=path_str)
        except OSError as err:
            raise ConfigError(f"cannot read the config: {err.strerror}", where=path_str)
    config = _parse(text, {}, path_str)
    if overrides:
        check_overrides(config, overrides)
        config = _parse(text, overrides, path_str)
    if interpolate:
        config = interpolate_config(config, where=path_str)
    return config


def _parse(text: str, overrides: Dict[str, Any], where: str) -> Config:
    try:
        return Config().from_str(text, overrides=overrides, interpolate=False)
    except ConfigValidationError as err:
        raise ConfigError(_validation_message(err), where=where)
    except configparser.Error as err:  # duplicate sections or keys, a line that is not `key = value`
        raise ConfigError(f"cannot parse config: {err}", where=where)
    except ValueError as err:
        if not _bad_interpolation_syntax(err):
            raise
        raise ConfigError(f"cannot parse config: {err}", where=where)


def _bad_interpolation_syntax(err: ValueError) -> bool:
    """configparser's ExtendedInterpolation refuses `${` without a closing brace with a plain
    ValueError (not a configparser.Error); anything else is not the config's fault."""
    return str(err).startswith("invalid interpolation syntax")


# Sections whose keys are free-form: score names, and the arguments of components' initialize().
FREE_FORM = ("training.score_weights", "initialize.components")


def check_overrides(config: Config, overrides: Dict[str, Any]) -> None:
    """Refuse, with a 'did you mean', an override naming a setting that exists nowhere.

    A key exists if the config or the defaults merged under it have it, or if the section is a
    function block (`@architectures = …`, a component's factory) whose function takes it.
    """
    from .defaults import config_with_defaults, suggest

    filled = config_with_defaults(config)
    for dotted in overrides:
        parts = dotted.split(".")
        node: Any = filled
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                raise ConfigError(f"'{'.'.join(parts[:i])}' is a value, not a section", where=f"--{dotted}")
            if part not in node:
                section = ".".join(parts[: i + 1])
                raise ConfigError(f"the config has no section [{section}].{suggest(part, node)}", where=f"--{dotted}")
            node = node[part]
        key, section = parts[-1], ".".join(parts[:-1])
        if not isinstance(node, dict):
            raise ConfigError(f"'{section}' is a value, not a section", where=f"--{dotted}")
        if key in node or any(section == f or section.startswith(f + ".") for f in FREE_FORM):
            continue
        params = _function_params(node, parts[:-1])
        if params is None or key in params:
            continue
        options = set(node) | set(params)
        raise ConfigError(f"[{section}] has no setting '{key}'.{suggest(key, options)}", where=f"--{dotted}")


def _function_params(block: Dict[str, Any], path: List[str]) -> Optional[Set[str]]:
    """The parameters the function behind a block takes; None when any name is accepted."""
    import inspect

    func = None
    reg_keys = [k for k in block if isinstance(k, str) and k.startswith("@")]
    if reg_keys:
        ensure_populated()
        reg_name, func_name = reg_keys[0][1:], block[reg_keys[0]]
        if hasattr(registry, reg_name) and registry.has(reg_name, func_name):
            func = registry.get(reg_name, func_name)
    elif len(path) == 2 and path[0] == "components" and "factory" in block:
        from .pipeline.factories import FACTORIES

        meta = FACTORIES.get(block["factory"])
        func = meta.func if meta is not None else None
    if func is None:
        return set() if not reg_keys and "factory" not in block else None
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {name for name in params if name not in ("nlp", "name")}


def interpolate_config(config: Config, where: str = "config") -> Config:
    try:
        return config.interpolate()
    except ConfigValidationError as err:
        raise ConfigError(_validation_message(err), where=where)
    except configparser.Error as err:
        raise ConfigError(f"cannot interpolate variables: {err}", where=where)
    except ValueError as err:
        if not _bad_interpolation_syntax(err):
            raise
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
                hint += " If it is your own function, pass the file that registers it with --code"
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
    except ConfigError as err:
        # An architecture's argument check names itself and the argument; name the config key.
        raise with_block_path(err, block, where) from None
    except (TypeError, ValueError) as err:
        if not _user_mistake(err):
            raise
        raise (_bad_schedule(err, block, where) or ConfigError(f"cannot build this block: {err}", where=where)) from None


def _bad_schedule(err: Exception, block: Mapping[str, Any], where: str) -> Optional[ConfigError]:
    """thinc's optimizer refusing a setting it cannot use as a schedule ("Invalid schedule for
    'learn_rate' (<class 'str'>)"), named by its config key when the block has one place for it."""
    import re

    found = re.match(r"Invalid schedule for '(\w+)'", str(err))
    if not found:
        return None
    key = found.group(1)
    places = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        if "@optimizers" in node and key in node:
            places.append((f"{path}.{key}", node[key]))
        for name, child in node.items():
            walk(child, f"{path}.{name}")

    walk(block, where)
    if len(places) != 1:
        return None
    path, value = places[0]
    return ConfigError(f"must be a number or a schedule, not {value!r}", where=path)


def _user_mistake(err: Exception) -> bool:
    """Whether a TypeError/ValueError from building a block is the config's fault.

    The rule, on the frames below the last confection frame (the functions the config called):
    none means confection itself refused the call (bad or missing arguments): the config's fault.
    A ValueError raised entirely inside libraries (thinc, confection, pydantic, numpy: a library
    function the config named directly refusing a value) is the config's fault too. Anything
    else is a bug and keeps its traceback: archcli's architectures and factories refuse config
    values with ConfigError themselves (archcli.ml.checks), so a plain ValueError raised in
    archcli or plugin code, or by a library archcli called, is not the user's mistake.
    """
    import traceback

    frames = traceback.extract_tb(err.__traceback__)
    called = []
    for frame in reversed(frames):
        if _in_package(frame.filename, "confection"):
            break
        called.insert(0, frame)
    if not called:
        return True
    return isinstance(err, ValueError) and all(_is_library(f.filename) for f in called)


def _in_package(filename: str, package: str) -> bool:
    return f"{os.sep}{package}{os.sep}" in filename


_ARCHCLI_DIR = str(Path(__file__).resolve().parent)


def _is_library(filename: str) -> bool:
    """A frame of an installed third-party package or the standard library, not archcli's own
    (which may be installed in site-packages too, so it is told apart by its directory)."""
    resolved = str(Path(filename).resolve())
    if resolved == _ARCHCLI_DIR or resolved.startswith(_ARCHCLI_DIR + os.sep):
        return False
    return ("site-packages" in filename or "dist-packages" in filename
            or filename.startswith(sys.base_prefix + os.sep + "lib") or filename.startswith(sys.prefix + os.sep + "lib"))


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
        if not getattr(err, "has_value", False):
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
