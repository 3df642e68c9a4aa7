"""`[initialize]`: vectors into the vocab, then every component learns labels and shapes."""
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional

from ..config import interpolate_config, resolve_block
from ..defaults import INITIALIZE_DEFAULTS, SYSTEM_DEFAULTS, suggest
from ..errors import ConfigError
from ..tokens.vectors import Vectors, read_word2vec_text
from ..tokens.example import Example


def load_vectors_into(nlp, vectors_path) -> None:
    """`vectors` may be a .vec/.vec.gz text file or a model directory with vocab/vectors.npz."""
    path = Path(vectors_path)
    stored = path / "vocab" / "vectors.npz"
    if path.is_dir() and stored.exists():
        nlp.vocab.set_vectors(Vectors.from_disk(stored, name=path.name))
    elif path.is_dir():
        raise ConfigError(f"'{path}' is a directory without vocab/vectors.npz", where="initialize.vectors")
    elif not path.exists():
        hint = (" (spaCy package names such as en_core_web_lg cannot be loaded here)"
                if "/" not in str(vectors_path) and not path.suffix else "")
        raise ConfigError(f"vectors file '{vectors_path}' not found{hint}; give a word2vec/fastText .vec(.gz) "
                          "file with --paths.vectors", where="initialize.vectors")
    else:
        nlp.vocab.set_vectors(read_word2vec_text(path, nlp.vocab.strings))


# spaCy's [initialize] settings archcli has nothing to do with: refused unless null (or empty),
# so a config that relies on them does not train something else in silence.
UNSUPPORTED_INITIALIZE = ("vocab_data", "lookups", "before_init", "after_init", "tokenizer")
GPU_ALLOCATORS = ("pytorch", "tensorflow")  # what thinc's set_gpu_allocator takes


def check_system_and_initialize(interpolated: Dict[str, Any]) -> None:
    """[system] and [initialize] hold only keys archcli reads; the unsupported ones are null."""
    for section, known in (("system", SYSTEM_DEFAULTS), ("initialize", INITIALIZE_DEFAULTS)):
        block = interpolated.get(section) or {}
        unknown = [key for key in block if key not in known]
        if unknown:
            raise ConfigError(f"unknown setting.{suggest(unknown[0], known)}", where=f"{section}.{unknown[0]}")
    init_cfg = interpolated.get("initialize") or {}
    for key in UNSUPPORTED_INITIALIZE:
        if init_cfg.get(key) not in (None, {}):
            raise ConfigError("not supported by archcli; set it to null", where=f"initialize.{key}")
    check_gpu_allocator((interpolated.get("system") or {}).get("gpu_allocator"), "system.gpu_allocator")


def check_gpu_allocator(allocator: Optional[str], where: str) -> None:
    if allocator is not None and allocator not in GPU_ALLOCATORS:
        raise ConfigError(f"must be null or one of {', '.join(map(repr, GPU_ALLOCATORS))}, not {allocator!r}",
                          where=where)


def use_gpu_allocator(allocator: Optional[str], where: str) -> None:
    """On the GPU, let `allocator` (pytorch) hand out cupy's memory, as spaCy does, so torch and
    cupy do not each keep a pool; on the CPU there is nothing to allocate."""
    check_gpu_allocator(allocator, where)
    if allocator is None:
        return
    from thinc.api import get_current_ops, set_gpu_allocator

    if get_current_ops().device_type != "gpu":
        return
    try:
        set_gpu_allocator(allocator)
    except ImportError as err:
        raise ConfigError(f"{allocator!r} needs its library installed ({err})", where=where) from None


def dimension_mismatch(err: ValueError) -> bool:
    """Whether thinc's Model.set_dim refused `err` while inferring widths ("Attempt to change
    dimension ..."): a config mistake, e.g. a listener's width that is not its tok2vec's. Any
    other ValueError, even one mentioning a dimension, is a bug and keeps its traceback."""
    import traceback

    import thinc.model

    frames = traceback.extract_tb(err.__traceback__)
    if not frames or not str(err).startswith("Attempt to change dimension"):
        return False
    innermost = frames[-1]
    return innermost.name == "set_dim" and Path(innermost.filename).resolve() == Path(thinc.model.__file__).resolve()


def init_vocab_and_components(nlp, get_examples: Callable[[], Iterable[Example]]) -> None:
    config = interpolate_config(nlp.config)
    init_cfg = config.get("initialize", {}) or {}
    vectors_path = init_cfg.get("vectors")
    if vectors_path:
        load_vectors_into(nlp, vectors_path)
    component_cfgs = init_cfg.get("components", {}) or {}
    for name, proc in nlp.components:
        if not hasattr(proc, "initialize"):
            continue
        try:
            settings = dict(component_cfgs.get(name, {}) or {})
            if settings:
                # Built as spaCy builds [initialize]: e.g. a kb_loader block becomes its function.
                settings = dict(resolve_block(settings, f"initialize.components.{name}"))
            proc.initialize(get_examples, nlp=nlp, **settings)
        except ValueError as err:
            if not dimension_mismatch(err):
                raise
            raise ConfigError(f"cannot initialise the model: {err}", where=f"components.{name}.model") from None
    init_tok2vec = init_cfg.get("init_tok2vec")
    if init_tok2vec:
        from .init_tok2vec import load_pretrained_tok2vec

        load_pretrained_tok2vec(nlp, init_tok2vec, config)
