"""The tok2vec component: runs its model once per batch and feeds every listener."""
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from thinc.api import Model, Optimizer, set_dropout_rate

from ..errors import ConfigError
from ..ml.listener import Tok2VecListener
from ..tokens import Doc
from ..tokens.example import Example
from .base import TrainablePipe
from .factories import default_tok2vec_block, factory

DEFAULT_TOK2VEC_CONFIG = """
[component]
""" + default_tok2vec_block("component.model")


@factory("tok2vec", default_config=DEFAULT_TOK2VEC_CONFIG)
def make_tok2vec(nlp, name: str, model: Model) -> "Tok2Vec":
    return Tok2Vec(nlp.vocab, model, name)


class Tok2Vec(TrainablePipe):
    def __init__(self, vocab, model: Model, name: str = "tok2vec") -> None:
        super().__init__(vocab, model, name)
        self.listener_map: Dict[str, List[Tok2VecListener]] = {}

    @property
    def listeners(self) -> List[Tok2VecListener]:
        return [listener for group in self.listener_map.values() for listener in group]

    def add_listener(self, listener: Tok2VecListener, component_name: str) -> None:
        self._check_width(listener, component_name)
        group = self.listener_map.setdefault(component_name, [])
        if listener not in group:
            group.append(listener)

    def _check_width(self, listener: Tok2VecListener, component_name: str) -> None:
        width = self.model.maybe_get_dim("nO")
        if width is not None and listener.get_dim("nO") != width:
            raise ConfigError(
                f"the listener in component '{component_name}' has width {listener.get_dim('nO')}, "
                f"but the upstream '{self.name}' model outputs width {self.model.get_dim('nO')}",
                where=f"components.{component_name}.model.tok2vec.width",
            )

    def find_listeners(self, component) -> None:
        """Connect the listeners in `component` that name this tok2vec, or any ("*"), as spaCy does."""
        model = getattr(component, "model", None)
        if not isinstance(model, Model):
            return
        for node in model.walk():
            if isinstance(node, Tok2VecListener) and node.upstream_name in ("*", self.name):
                self.add_listener(node, component.name)

    def predict(self, docs: List[Doc]):
        if not any(len(doc) for doc in docs):
            width = self.model.get_dim("nO")
            return [self.model.ops.alloc2f(len(doc), width) for doc in docs]
        return self.model.predict(docs)

    def set_annotations(self, docs: List[Doc], tokvecses) -> None:
        for doc, tokvecs in zip(docs, tokvecses):
            doc.tensor = tokvecs

    def update(
        self,
        examples: List[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the model; listeners get its output, and the last one to backprop updates it."""
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        set_dropout_rate(self.model, drop)
        tokvecs, bp_tokvecs = self.model.begin_update(docs)
        ops = self.model.ops
        d_tokvecs = [ops.alloc2f(*t.shape) for t in tokvecs]

        def accumulate_gradient(one_d_tokvecs):
            for i, d in enumerate(one_d_tokvecs):
                d_tokvecs[i] += d
                losses[self.name] += float((d**2).sum())
            return [ops.alloc2f(*t.shape) for t in tokvecs]

        def backprop(one_d_tokvecs):
            accumulate_gradient(one_d_tokvecs)
            d_docs = bp_tokvecs(d_tokvecs)
            if sgd is not None:
                self.finish_update(sgd)
            return d_docs

        batch_id = Tok2VecListener.get_batch_id(docs)
        listeners = self.listeners
        for listener in listeners[:-1]:
            listener.receive(batch_id, tokvecs, accumulate_gradient)
        if listeners:
            listeners[-1].receive(batch_id, tokvecs, backprop)
        return losses

    def get_loss(self, examples, scores):
        return 0.0, None

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, **kwargs) -> None:
        doc_sample = [eg.reference for _, eg in zip(range(10), get_examples())]
        self.model.initialize(X=doc_sample)
        for component_name, group in self.listener_map.items():
            for listener in group:
                self._check_width(listener, component_name)


def check_listeners(components: Sequence[Tuple[str, Any]], config: Mapping[str, Any]) -> None:
    """Refuse a listener with no tok2vec to listen to: it would train on zero vectors.

    `upstream` must name a tok2vec component earlier in the pipeline, or be "*" with one there.
    """
    earlier: Dict[str, Any] = {}
    for name, proc in components:
        model = getattr(proc, "model", None)
        if isinstance(model, Model):
            for node in model.walk():
                if isinstance(node, Tok2VecListener):
                    _check_upstream(name, node.upstream_name, earlier, config)
        earlier[name] = proc


def _check_upstream(name: str, upstream: str, earlier: Dict[str, Any], config: Mapping[str, Any]) -> None:
    tok2vecs = [n for n, proc in earlier.items() if isinstance(proc, Tok2Vec)]
    if upstream == "*":
        if tok2vecs:
            return
        problem = "no tok2vec component comes before it in the pipeline"
    elif isinstance(earlier.get(upstream), Tok2Vec):
        return
    elif upstream in earlier:
        problem = f"'{upstream}' is not a tok2vec component"
    else:
        problem = f"there is no component '{upstream}' before '{name}' in the pipeline"
    found = f"tok2vec components before it: {', '.join(tok2vecs)}" if tok2vecs else "add a tok2vec component before it"
    raise ConfigError(f"the listener's upstream = {upstream!r} feeds it nothing: {problem} ({found})",
                      where=_listener_key(config.get("components", {}).get(name), f"components.{name}", upstream))


def _listener_key(block: Any, path: str, upstream: str) -> str:
    """The config key of the listener block in `block` whose upstream is `upstream`."""
    return next((key for key, found in listener_blocks(block, path) if found == upstream), path)


LISTENER_NAME = "spacy.Tok2VecListener.v1"


def listener_blocks(block: Any, path: str) -> Iterator[Tuple[str, str]]:
    """(config key of `upstream`, upstream) of every listener block inside a component's block.

    The one walker for the config side of listeners (these errors, and `exclude` in language.py),
    so both find the same blocks: `@architectures` or `@layers` naming the registered listener.
    """
    if not isinstance(block, Mapping):
        return
    if LISTENER_NAME in (block.get("@architectures"), block.get("@layers")):
        yield f"{path}.upstream", str(block.get("upstream", "*"))
    for key, value in block.items():
        yield from listener_blocks(value, f"{path}.{key}")
