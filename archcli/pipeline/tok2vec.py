"""The tok2vec component: runs its model once per batch and feeds every listener."""
from typing import Callable, Iterable, List

from thinc.api import Model

from ..errors import ConfigError
from ..ml.listener import Tok2VecListener
from ..tokens import Doc
from ..tokens.example import Example
from .listened import ListenedPipe
from .factories import default_tok2vec_block, factory

DEFAULT_TOK2VEC_CONFIG = """
[component]
""" + default_tok2vec_block("component.model")


@factory("tok2vec", default_config=DEFAULT_TOK2VEC_CONFIG)
def make_tok2vec(nlp, name: str, model: Model) -> "Tok2Vec":
    return Tok2Vec(nlp.vocab, model, name)


class Tok2Vec(ListenedPipe):
    listener_type = Tok2VecListener
    kind = "tok2vec"

    def _check_width(self, listener: Tok2VecListener, component_name: str) -> None:
        width = self.model.maybe_get_dim("nO")
        if width is not None and listener.get_dim("nO") != width:
            raise ConfigError(
                f"the listener in component '{component_name}' has width {listener.get_dim('nO')}, "
                f"but the upstream '{self.name}' model outputs width {self.model.get_dim('nO')}",
                where=f"components.{component_name}.model.tok2vec.width",
            )

    def zeros_like(self, tokvecs):
        return [self.model.ops.alloc2f(*t.shape) for t in tokvecs]

    def predict(self, docs: List[Doc]):
        if not any(len(doc) for doc in docs):
            width = self.model.get_dim("nO")
            return [self.model.ops.alloc2f(len(doc), width) for doc in docs]
        return self.model.predict(docs)

    def set_annotations(self, docs: List[Doc], tokvecses) -> None:
        for doc, tokvecs in zip(docs, tokvecses):
            doc.tensor = tokvecs

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, **kwargs) -> None:
        doc_sample = [eg.reference for _, eg in zip(range(10), get_examples())]
        self.model.initialize(X=doc_sample)
        for component_name, group in self.listener_map.items():
            for listener in group:
                self._check_width(listener, component_name)
