"""Function registries, spaCy's names over thinc's: configs written for spaCy resolve here.

`registry.resolve(config)` builds what a config block describes. Registering in `architectures`
and `layers` under one name keeps both `@architectures` (as the spec writes) and `@layers`
(as spaCy registers some of them) working.

The registry fills itself: the first lookup (`get`, `has`, `find`, `get_all`, `resolve`, `fill`,
or `name in registry.architectures`) imports the modules that register archcli's functions, as
spaCy's registry does, so `from archcli import registry` is all a Python user needs.
"""
from typing import Any, Dict

import catalogue
import thinc.api

# thinc registers its layers, optimizers, schedules and initializers on import.
import thinc.layers  # noqa: F401

_populated = False
_populating = False


def ensure_populated() -> None:
    """Import every module that registers functions, so name lookups see them all (once)."""
    global _populated, _populating
    if _populated or _populating:
        return
    _populating = True
    try:
        from . import coref_scoring, kb, language, ml, pipeline, scoring, training  # noqa: F401
    finally:
        _populating = False
    _populated = True


class _PopulatingRegistry(catalogue.Registry):
    """A catalogue registry whose lookups first import archcli's registering modules.

    Entries live in catalogue's global table by namespace, so a view over thinc's namespaces
    (layers, optimizers…) sees and registers the same functions as thinc's own objects.
    """

    def __contains__(self, name: str) -> bool:
        ensure_populated()
        return super().__contains__(name)

    def get(self, name: str) -> Any:
        ensure_populated()
        return super().get(name)

    def get_all(self) -> Dict[str, Any]:
        ensure_populated()
        return super().get_all()

    def find(self, name: str) -> Dict[str, Any]:
        ensure_populated()
        return super().find(name)


def _create(*namespace: str, entry_points: bool = True) -> _PopulatingRegistry:
    return _PopulatingRegistry(namespace, entry_points=entry_points)


class registry(thinc.api.registry):
    # thinc's own registries, seen through populating views (same entries as thinc.registry's).
    optimizers = _create("thinc", "optimizers")
    schedules = _create("thinc", "schedules")
    layers = _create("thinc", "layers")
    losses = _create("thinc", "losses")
    initializers = _create("thinc", "initializers")
    datasets = _create("thinc", "datasets")
    ops = _create("thinc", "ops")
    # spaCy's registries, under archcli's namespace.
    architectures = _create("archcli", "architectures")
    tokenizers = _create("archcli", "tokenizers")
    vectors = _create("archcli", "vectors")
    readers = _create("archcli", "readers")
    batchers = _create("archcli", "batchers")
    loggers = _create("archcli", "loggers")
    callbacks = _create("archcli", "callbacks")
    scorers = _create("archcli", "scorers")
    misc = _create("archcli", "misc")
    augmenters = _create("archcli", "augmenters")
    lookups = _create("archcli", "lookups")
    factories = _create("archcli", "factories", entry_points=False)
    span_getters = _create("archcli", "span_getters")
    annotation_setters = _create("archcli", "annotation_setters")
    assets = _create("archcli", "assets")

    @classmethod
    def has(cls, registry_name: str, func_name: str) -> bool:
        ensure_populated()
        return super().has(registry_name, func_name)

    @classmethod
    def get(cls, registry_name: str, func_name: str) -> Any:
        ensure_populated()
        return super().get(registry_name, func_name)

    @classmethod
    def resolve(cls, config, **kwargs) -> Dict[str, Any]:
        ensure_populated()
        return super().resolve(config, **kwargs)

    @classmethod
    def fill(cls, config, **kwargs):
        ensure_populated()
        return super().fill(config, **kwargs)


def architecture_and_layer(name: str):
    """Register one function under `name` in both `architectures` and `layers`."""

    def register(func):
        registry.architectures.register(name, func=func)
        registry.layers.register(name, func=func)
        return func

    return register
