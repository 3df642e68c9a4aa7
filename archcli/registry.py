"""Function registries, spaCy's names over thinc's: configs written for spaCy resolve here.

`registry.resolve(config)` builds what a config block describes. Registering in `architectures`
and `layers` under one name keeps both `@architectures` (as the spec writes) and `@layers`
(as spaCy registers some of them) working.
"""
import catalogue
import thinc.api

# thinc registers its layers, optimizers, schedules and initializers on import.
import thinc.layers  # noqa: F401


class registry(thinc.api.registry):
    architectures = catalogue.create("archcli", "architectures", entry_points=True)
    tokenizers = catalogue.create("archcli", "tokenizers", entry_points=True)
    vectors = catalogue.create("archcli", "vectors", entry_points=True)
    readers = catalogue.create("archcli", "readers", entry_points=True)
    batchers = catalogue.create("archcli", "batchers", entry_points=True)
    loggers = catalogue.create("archcli", "loggers", entry_points=True)
    callbacks = catalogue.create("archcli", "callbacks", entry_points=True)
    scorers = catalogue.create("archcli", "scorers", entry_points=True)
    misc = catalogue.create("archcli", "misc", entry_points=True)
    augmenters = catalogue.create("archcli", "augmenters", entry_points=True)
    lookups = catalogue.create("archcli", "lookups", entry_points=True)
    factories = catalogue.create("archcli", "factories", entry_points=False)
    span_getters = catalogue.create("archcli", "span_getters", entry_points=True)
    annotation_setters = catalogue.create("archcli", "annotation_setters", entry_points=True)
    assets = catalogue.create("archcli", "assets", entry_points=True)


def architecture_and_layer(name: str):
    """Register one function under `name` in both `architectures` and `layers`."""

    def register(func):
        registry.architectures.register(name, func=func)
        registry.layers.register(name, func=func)
        return func

    return register


def ensure_populated() -> None:
    """Import every module that registers functions, so name lookups see them all."""
    from . import ml, pipeline, scoring, training  # noqa: F401
