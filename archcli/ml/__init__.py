"""Model architectures only: each module registers the spec's names for one section."""
from . import featureextractor, listener, parser, pretrain, staticvectors, tagger, tok2vec  # noqa: F401
from . import coref, entity_linker, spancat, span_getters, textcat, transformers  # noqa: F401
