"""Component factories: a name, a function building the component, and its default config."""
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

from thinc.api import Config

from .._registry import registry


@dataclass
class FactoryMeta:
    name: str
    func: Callable
    default_config: Config
    default_score_weights: Dict[str, Optional[float]] = field(default_factory=dict)


FACTORIES: Dict[str, FactoryMeta] = {}


def default_tok2vec_block(section: str, depth: int = 4) -> str:
    """spaCy's standard HashEmbedCNN tok2vec as config text under `[section]`: the default
    model of `tok2vec` and the inline tok2vec of the task components' defaults (the entity linker's
    is 2 deep, as spaCy's)."""
    return f"""
[{section}]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = {depth}
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""


def factory(name: str, default_config: str = "", default_score_weights: Optional[Dict[str, Optional[float]]] = None):
    """Register `func(nlp, name, **config)` as the factory for `[components.X] factory = name`.

    `default_config` is config text for the block's defaults, rooted at `[component]` (so the
    model is `[component.model]`), merged under what the user's config gives, as spaCy does
    with its factory defaults.
    """

    def register(func: Callable) -> Callable:
        text = default_config.strip()
        cfg = Config(Config().from_str(text)["component"]) if text else Config()
        FACTORIES[name] = FactoryMeta(name, func, cfg, dict(default_score_weights or {}))
        registry.factories.register(name, func=func)
        return func

    return register


def get_factory(name: str) -> FactoryMeta:
    from .. import pipeline  # noqa: F401  (registers the built-in factories)

    if name not in FACTORIES:
        raise KeyError(name)
    return FACTORIES[name]
