"""Generate a complete, trainable config for a list of components, as `spacy init config` does.

Nothing here is a default of its own: each component's block is its factory's default config
(`FACTORIES[name].default_config`) with the tok2vec that `--optimize` picks (a listener of a
shared tok2vec, or an inline one); [training], [nlp], [corpora] and [initialize] come from
archcli.defaults; the score weights are the factories' defaults.

With a transformer (spaCy's `init config --gpu`), the `transformer` component's block is its
factory's default with `name` set to the local model directory, every other component listens to
it, and the training settings are those spaCy's quickstart writes for transformers
(`TRANSFORMER_TRAINING`): the choices of a template, like the tok2vec widths below.
"""
import copy
from typing import Any, Dict, List, Optional, Tuple

from thinc.api import Config

from .defaults import (CORPUS_READER_DEFAULTS, INITIALIZE_DEFAULTS, NLP_DEFAULTS, SYSTEM_DEFAULTS, TRAINING_DEFAULTS,
                       _inline, defaults, render_sections)
from .errors import ArchcliError

SUPPORTED = ("tok2vec", "tagger", "parser", "ner", "textcat", "textcat_multilabel", "spancat", "entity_linker",
             "experimental_coref", "experimental_span_resolver")
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
TRANSFORMER_LISTENER = {"@architectures": "spacy-transformers.TransformerListener.v1", "grad_factor": 1.0,
                        "pooling": {"@layers": "reduce_mean.v1"}, "upstream": "*"}
# What spaCy's quickstart template sets for a transformer pipeline, over the training defaults:
# gradients of 3 batches per step (its English `size_factor`), batches of padded size 2000, and a
# learning rate warming up over 250 steps, then falling linearly to 0 at 20000.
TRANSFORMER_TRAINING: Dict[str, Any] = {
    "accumulate_gradient": 3,
    "batcher": {"@batchers": "spacy.batch_by_padded.v1", "discard_oversize": True, "size": 2000, "buffer": 256,
                "get_length": None},
    "learn_rate": {"@schedules": "warmup_linear.v1", "warmup_steps": 250, "total_steps": 20000,
                   "initial_rate": 5e-5},
}
# The parser's upper hidden layer helps a small CNN tok2vec, not a transformer (spaCy's advice).
NO_UPPER = ("parser", "ner")


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
        if tok2vec is None and "linear_model" in model:
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
    transformer: Optional[str] = None,
) -> str:
    """The config as text, sections in reading order (confection would regroup them).

    `pretraining=True` adds spaCy's default [pretraining] block (and paths.raw_text,
    corpora.pretrain), pretraining the shared tok2vec or else the first component's inline one.
    `transformer`: a local Hugging Face model directory, shared through a `transformer`
    component as in what spaCy's `init config --gpu` writes (its GPU settings included).
    """
    if transformer is not None:
        return _transformer_config_text(pipeline, transformer, optimize=optimize, lang=lang, vectors=vectors,
                                        pretraining=pretraining)
    _check_pipeline(pipeline, optimize)
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
    head, tail = _head(names, lang, gpu, vectors), _tail(gpu, weights)
    _add_kb_loader(tasks, head, tail)
    parts = [render_sections(head), "\n[components]\n",
             render_sections(components, prefix="components"), render_sections(tail)]
    text = "\n".join(parts)
    if pretraining:
        from .training.pretraining import add_pretraining_block

        text = add_pretraining_block(text, component="tok2vec" if shared else (featured or tasks)[0],
                                     layer="" if shared else "tok2vec")
    return _tidy(text)


def _transformer_config_text(pipeline: List[str], model_dir: str, *, optimize: str, lang: str,
                             vectors: Optional[str], pretraining: bool) -> str:
    """spaCy's `init config --gpu`: a `transformer` first and every task listening to it, GPU and
    transformer training settings."""
    from .ml.hf_model import check_model_dir

    _check_pipeline(pipeline, optimize, also=("transformer",))
    if pretraining:
        raise ArchcliError("--pretraining pretrains a CNN tok2vec, and a --transformer config has none; "
                           "leave out one of the two")
    check_model_dir(model_dir, where="--transformer")
    # As spaCy's init config: tok2vec and transformer are the template's to add.
    tasks = [name for name in pipeline if name not in ("tok2vec", "transformer")]
    if not tasks:
        raise ArchcliError("--pipeline needs a component besides tok2vec/transformer to listen to the transformer")
    components: Dict[str, Any] = {"transformer": component_block("transformer", None)}
    components["transformer"]["model"]["name"] = "${paths.transformer}"
    for name in tasks:
        components[name] = component_block(name, copy.deepcopy(TRANSFORMER_LISTENER))
        if name in NO_UPPER:
            components[name]["model"]["use_upper"] = False
        if name in BOW_ONLY and optimize == "efficiency":
            components[name]["model"] = _cnn_textcat(components[name]["model"])
    head = _head(["transformer"] + tasks, lang, True, vectors)
    head["paths"]["transformer"] = str(model_dir)
    tail = _tail(True, _score_weights(tasks))
    _add_kb_loader(tasks, head, tail)
    training = tail["training"]
    # As spaCy's --gpu config (and the training defaults): no progress bar.
    training["logger"]["progress_bar"] = TRAINING_DEFAULTS["logger"]["progress_bar"]
    training["accumulate_gradient"] = TRANSFORMER_TRAINING["accumulate_gradient"]
    training["batcher"] = copy.deepcopy(TRANSFORMER_TRAINING["batcher"])
    training["optimizer"]["learn_rate"] = copy.deepcopy(TRANSFORMER_TRAINING["learn_rate"])
    parts = [render_sections(head), "\n[components]\n", render_sections(components, prefix="components"),
             render_sections(tail)]
    return _tidy("\n".join(parts))


def _add_kb_loader(tasks: List[str], head: Dict[str, Any], tail: Dict[str, Any]) -> None:
    """An entity linker reads its KB at initialisation from `paths.kb` (a directory `archcli init-kb`
    writes): spaCy's configs have no default for it, so the path is left for the user to give."""
    for name in tasks:
        if name == "entity_linker":
            head["paths"]["kb"] = None
            tail["initialize"]["components"][name] = {
                "kb_loader": {"@misc": "spacy.KBFromFile.v1", "kb_path": "${paths.kb}"}}


def _cnn_textcat(ensemble: Dict[str, Any]) -> Dict[str, Any]:
    """spaCy's quickstart textcat for a transformer under efficiency: TextCatCNN.v2 on the
    listener (the pooled transformer output), not the BOW model a CNN tok2vec config gets."""
    return {"@architectures": "spacy.TextCatCNN.v2",
            "exclusive_classes": ensemble["linear_model"]["exclusive_classes"], "nO": None,
            "tok2vec": ensemble["tok2vec"]}


def _check_pipeline(pipeline: List[str], optimize: str, also: Tuple[str, ...] = ()) -> None:
    if optimize not in ("efficiency", "accuracy"):
        raise ArchcliError(f"--optimize must be 'efficiency' or 'accuracy', not '{optimize}'")
    unknown = [name for name in pipeline if name not in SUPPORTED + also]
    if unknown:
        raise ArchcliError(f"init-config does not know component(s) {', '.join(unknown)}; "
                           f"supported: {', '.join(SUPPORTED + also)}")
    if not pipeline:
        raise ArchcliError("--pipeline needs at least one component")
    repeated = sorted({name for name in pipeline if pipeline.count(name) > 1})
    if repeated:
        raise ArchcliError(f"--pipeline names {', '.join(repeated)} more than once; each component needs its own name")


def _tidy(text: str) -> str:
    """No trailing spaces, no runs of blank lines."""
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
