"""`[initialize]`: vectors into the vocab, then every component learns labels and shapes."""
from pathlib import Path
from typing import Callable, Iterable

from ..config import interpolate_config
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
            proc.initialize(get_examples, nlp=nlp, **dict(component_cfgs.get(name, {}) or {}))
        except ValueError as err:
            if not dimension_mismatch(err):
                raise
            raise ConfigError(f"cannot initialise the model: {err}", where=f"components.{name}.model") from None
    init_tok2vec = init_cfg.get("init_tok2vec")
    if init_tok2vec:
        from .init_tok2vec import load_pretrained_tok2vec

        load_pretrained_tok2vec(nlp, init_tok2vec, config)
