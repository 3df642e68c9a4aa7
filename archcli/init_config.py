"""Generate a complete, trainable config for a list of components, as `spacy init config` does.

Nothing here is a default of its own: each component's block is its factory's default config
(`FACTORIES[name].default_config`) with the tok2vec that `--optimize` picks (a listener of a
shared tok2vec, or an inline one); [training], [nlp], [corpora] and [initialize] come from
archcli.defaults; the score weights are the factories' defaults.
"""
import copy
from typing import Any, Dict, List, Optional

from thinc.api import Config

from .defaults import (CORPUS_READER_DEFAULTS, INITIALIZE_DEFAULTS, NLP_DEFAULTS, SYSTEM_DEFAULTS, TRAINING_DEFAULTS,
                       _inline, defaults, render_sections)
from .errors import ArchcliError

SUPPORTED = ("tok2vec", "tagger", "parser", "ner", "textcat", "textcat_multilabel", "spancat")
# As spaCy's quickstart chooses: with --optimize efficiency a textcat is its BOW model alone.
BOW_ONLY = ("textcat", "textcat_multilabel")


def _inline_tok2vec(section: str, optimize: str, vectors: bool) -> Dict[str, Any]:
    """The Tok2Vec.v2 block spaCy's quickstart writes at `[section]` for efficiency / accuracy."""
    width, depth = (96, 4) if optimize == "efficiency" else (256, 8)
    rows = [5000, 1000, 2500, 2500] if optimize == "efficiency" else [5000, 2500, 2500, 2500]
    return {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": f"${{{section}.encode.width}}",
                  "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "rows": rows, "include_static_vectors": vectors},
        "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": width, "depth": depth,
                   "window_size": 1, "maxout_pieces": 3},
    }


LISTENER = {"@architectures": "spacy.Tok2VecListener.v1", "width": "${components.tok2vec.model.encode.width}",
            "upstream": "*"}


def component_block(name: str, tok2vec: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """`[components.NAME]`: the factory's defaults, with `tok2vec` in its model (None: the
    BOW-only textcat model, which has none)."""
    from . import pipeline  # noqa: F401  (registers the built-in factories)
    from .pipeline.factories import FACTORIES

    default = copy.deepcopy(dict(FACTORIES[name].default_config))
    block: Dict[str, Any] = {"factory": name}
    block.update({k: v for k, v in default.items() if not isinstance(v, dict) or _inline(v)})
    for key, value in default.items():
        if isinstance(value, dict) and not _inline(value):
            block[key] = value
    if "model" in block:
        model = block["model"]
        if tok2vec is None:
            block["model"] = model["linear_model"]
        elif "tok2vec" in model:
            model["tok2vec"] = tok2vec
    return block


def init_config(pipeline: List[str], **options) -> Config:
    """A config like spaCy's `init config` writes for these components (efficiency/accuracy)."""
    return Config().from_str(init_config_text(pipeline, **options), interpolate=False)


def init_config_text(
    pipeline: List[str],
    *,
    optimize: str = "efficiency",
    gpu: bool = False,
    lang: str = "en",
    vectors: Optional[str] = None,
    pretraining: bool = False,
) -> str:
    """The config as text, sections in reading order (confection would regroup them).

    `pretraining=True` adds spaCy's default [pretraining] block (and paths.raw_text,
    corpora.pretrain), pretraining the shared tok2vec or else the first component's inline one.
    """
    if optimize not in ("efficiency", "accuracy"):
        raise ArchcliError(f"--optimize must be 'efficiency' or 'accuracy', not '{optimize}'")
    unknown = [name for name in pipeline if name not in SUPPORTED]
    if unknown:
        raise ArchcliError(f"init-config does not know component(s) {', '.join(unknown)}; "
                           f"supported: {', '.join(SUPPORTED)}")
    if not pipeline:
        raise ArchcliError("--pipeline needs at least one component")
    repeated = sorted({name for name in pipeline if pipeline.count(name) > 1})
    if repeated:
        raise ArchcliError(f"--pipeline names {', '.join(repeated)} more than once; each component needs its own name")
    use_vectors = bool(vectors) and optimize == "accuracy"
    tasks = [name for name in pipeline if name != "tok2vec"]
    featureless = [name for name in tasks if name in BOW_ONLY and optimize == "efficiency"]
    featured = [name for name in tasks if name not in featureless]
    shared = "tok2vec" in pipeline or len(featured) > 1
    names = (["tok2vec"] if shared else []) + tasks
    components: Dict[str, Any] = {}
    if shared:
        components["tok2vec"] = {"factory": "tok2vec",
                                 "model": _inline_tok2vec("components.tok2vec.model", optimize, use_vectors)}
    for name in tasks:
        if name in featureless:
            tok2vec = None
        elif shared:
            tok2vec = dict(LISTENER)
        else:
            tok2vec = _inline_tok2vec(f"components.{name}.model.tok2vec", optimize, use_vectors)
        components[name] = component_block(name, tok2vec)
    weights = _score_weights(tasks)
    parts = [render_sections(_head(names, lang, gpu, vectors)), "\n[components]\n",
             render_sections(components, prefix="components"), render_sections(_tail(gpu, weights))]
    text = "\n".join(parts)
    if pretraining:
        from .training.pretraining import add_pretraining_block

        text = add_pretraining_block(text, component="tok2vec" if shared else (featured or tasks)[0],
                                     layer="" if shared else "tok2vec")
    text = "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def _score_weights(tasks: List[str]) -> Dict[str, float]:
    """The factories' default weights (those that count), each component weighing the same in
    the final score, as spaCy's init config writes them."""
    from .pipeline.factories import FACTORIES

    weights: Dict[str, float] = {}
    for name in tasks:
        for key, value in FACTORIES[name].default_score_weights.items():
            if value is not None:
                weights[key] = round(value / len(tasks), 2)
    return weights


def _head(names: List[str], lang: str, gpu: bool, vectors: Optional[str]) -> Dict[str, Any]:
    return {
        "paths": {"train": None, "dev": None, "vectors": vectors, "init_tok2vec": None},
        "system": defaults(SYSTEM_DEFAULTS, gpu_allocator="pytorch" if gpu else None),
        "nlp": defaults(NLP_DEFAULTS, lang=lang, pipeline=names, batch_size=128 if gpu else 1000),
    }


def _tail(gpu: bool, weights: Dict[str, float]) -> Dict[str, Any]:
    training = defaults(TRAINING_DEFAULTS, seed="${system.seed}", gpu_allocator="${system.gpu_allocator}",
                        score_weights=weights)
    training["batcher"]["size"]["stop"] = 2000 if gpu else 1000
    training["logger"]["progress_bar"] = True
    return {
        "corpora": {"train": defaults(CORPUS_READER_DEFAULTS, path="${paths.train}"),
                    "dev": defaults(CORPUS_READER_DEFAULTS, path="${paths.dev}")},
        "training": training,
        "pretraining": {},
        "initialize": defaults(INITIALIZE_DEFAULTS, vectors="${paths.vectors}", init_tok2vec="${paths.init_tok2vec}"),
    }
