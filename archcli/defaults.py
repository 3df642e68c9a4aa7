"""The one place for default settings outside the components: [training], [nlp], [system],
[corpora] readers, [initialize] and [pretraining], as spaCy's default_config*.cfg hold them.

Component defaults live with their factories (`FACTORIES[name].default_config`). The training
loop merges these under the user's config, `archcli init-config` writes them out, and override
checking reads them to know which keys exist. `render_sections` writes nested dicts as config
text in reading order.
"""
import copy
from typing import Any, Dict, Iterable, List

import srsly
from thinc.api import Config

SYSTEM_DEFAULTS: Dict[str, Any] = {"gpu_allocator": None, "seed": 0}

NLP_DEFAULTS: Dict[str, Any] = {
    "lang": "en", "pipeline": [], "batch_size": 1000, "disabled": [], "before_creation": None,
    "after_creation": None, "after_pipeline_creation": None,
    "tokenizer": {"@tokenizers": "spacy.Tokenizer.v1"}, "vectors": {"@vectors": "spacy.Vectors.v1"},
}

TRAINING_DEFAULTS: Dict[str, Any] = {
    "dev_corpus": "corpora.dev", "train_corpus": "corpora.train", "seed": 0, "gpu_allocator": None,
    "dropout": 0.1, "accumulate_gradient": 1, "patience": 1600, "max_epochs": 0, "max_steps": 20000,
    "eval_frequency": 200, "frozen_components": [], "annotating_components": [], "before_to_disk": None,
    "before_update": None,
    "batcher": {"@batchers": "spacy.batch_by_words.v1", "discard_oversize": False, "tolerance": 0.2,
                "get_length": None,
                "size": {"@schedules": "compounding.v1", "start": 100, "stop": 1000, "compound": 1.001, "t": 0.0}},
    "logger": {"@loggers": "spacy.ConsoleLogger.v1", "progress_bar": False},
    "optimizer": {"@optimizers": "Adam.v1", "beta1": 0.9, "beta2": 0.999, "L2_is_weight_decay": True, "L2": 0.01,
                  "grad_clip": 1.0, "use_averages": False, "eps": 1e-8, "learn_rate": 0.001},
    "score_weights": {},
}

CORPUS_READER_DEFAULTS: Dict[str, Any] = {
    "@readers": "spacy.Corpus.v1", "path": None, "max_length": 0, "gold_preproc": False, "limit": 0,
    "augmenter": None,
}

INITIALIZE_DEFAULTS: Dict[str, Any] = {
    "vectors": None, "init_tok2vec": None, "vocab_data": None, "lookups": None, "before_init": None,
    "after_init": None, "components": {}, "tokenizer": {},
}

PRETRAINING_DEFAULTS: Dict[str, Any] = {
    "max_epochs": 1000, "dropout": 0.2, "n_save_every": None, "n_save_epoch": None, "component": "tok2vec",
    "layer": "", "corpus": "corpora.pretrain",
    "batcher": {"@batchers": "spacy.batch_by_words.v1", "size": 3000, "discard_oversize": False, "tolerance": 0.2,
                "get_length": None},
    "objective": {"@architectures": "spacy.PretrainCharacters.v1", "maxout_pieces": 3, "hidden_size": 300,
                  "n_characters": 4},
    "optimizer": {"@optimizers": "Adam.v1", "beta1": 0.9, "beta2": 0.999, "L2_is_weight_decay": True, "L2": 0.01,
                  "grad_clip": 1.0, "use_averages": True, "eps": 1e-8, "learn_rate": 0.001},
}

PRETRAIN_CORPUS_DEFAULTS: Dict[str, Any] = {
    "@readers": "spacy.JsonlCorpus.v1", "path": "${paths.raw_text}", "min_length": 5, "max_length": 500, "limit": 0,
}


def defaults(block: Dict[str, Any], **overrides: Any) -> Dict[str, Any]:
    """A deep copy of a defaults dict with some top-level keys replaced (order kept)."""
    result = copy.deepcopy(block)
    result.update(overrides)
    return result


def training_defaults() -> Config:
    return Config(copy.deepcopy(TRAINING_DEFAULTS))


def default_pretraining_config() -> Config:
    """spaCy's default_config_pretraining.cfg: what `spacy init config --pretraining` merges in."""
    return Config({"paths": {"raw_text": None}, "pretraining": copy.deepcopy(PRETRAINING_DEFAULTS),
                   "corpora": {"pretrain": copy.deepcopy(PRETRAIN_CORPUS_DEFAULTS)}})


def config_with_defaults(config: Dict[str, Any]) -> Config:
    """`config` (not interpolated) with every default it leaves out filled in: what the run will
    see, so a key missing from this does not exist anywhere."""
    from . import pipeline  # noqa: F401  (registers the built-in factories)
    from .pipeline.factories import FACTORIES

    filled = Config(copy.deepcopy(dict(config)))
    base: Dict[str, Any] = {"system": SYSTEM_DEFAULTS, "nlp": NLP_DEFAULTS, "training": TRAINING_DEFAULTS,
                            "initialize": INITIALIZE_DEFAULTS}
    if "pretraining" in config:
        base = dict(default_pretraining_config(), **base)
    for name, block in (config.get("components") or {}).items():
        meta = FACTORIES.get(block.get("factory")) if isinstance(block, dict) else None
        if meta is not None:
            base.setdefault("components", {})[name] = Config(meta.default_config)
    return Config(copy.deepcopy(base)).merge(filled)


def render_sections(sections: Dict[str, Any], prefix: str = "") -> str:
    """Config text for nested dicts: each dict a `[section]` (a one-key `{"@reg": name}` dict is
    written inline), its plain values first, in insertion order. A string starting with `${` is
    written as a variable."""
    lines: List[str] = []
    for name, value in sections.items():
        path = f"{prefix}.{name}" if prefix else name
        lines.extend(_render_section(path, value))
    return "\n".join(lines).strip() + "\n"


def _render_section(path: str, block: Dict[str, Any]) -> List[str]:
    lines = ["", f"[{path}]"]
    subsections = []
    for key, value in block.items():
        if isinstance(value, dict) and not _inline(value):
            subsections.append((key, value))
        else:
            lines.append(f"{key} = {render_value(value)}")
    for key, value in subsections:
        lines.extend(_render_section(f"{path}.{key}", value))
    return lines


def _inline(value: Dict[str, Any]) -> bool:
    return len(value) == 1 and str(next(iter(value))).startswith("@")


def render_value(value: Any) -> str:
    if isinstance(value, str) and value.startswith("${"):
        return value
    if isinstance(value, float) and value != 0 and abs(value) < 1e-4:
        return f"{value:.10f}".rstrip("0")
    return srsly.json_dumps(value)


def suggest(name: str, options: Iterable[str]) -> str:
    """' Did you mean 'x'?' for the closest option, or ''."""
    import difflib

    close = difflib.get_close_matches(name, [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
