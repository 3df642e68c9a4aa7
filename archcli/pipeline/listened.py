"""Components that other components listen to (tok2vec, transformer), and the checks on them.

An upstream component runs its model once per batch and hands the output to every listener
in the components after it; the listeners' gradients are summed and the upstream model is
updated once, when the last listener backprops.
"""
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from thinc.api import Model, Optimizer, set_dropout_rate

from ..errors import ConfigError
from ..tokens import Doc
from ..tokens.example import Example
from .base import TrainablePipe

# Listener architecture -> the factory of the component it listens to.
LISTENER_ARCHS = {
    "spacy.Tok2VecListener.v1": "tok2vec",
    "spacy-transformers.TransformerListener.v1": "transformer",
}


class ListenedPipe(TrainablePipe):
    """Bookkeeping and the shared update of an upstream component; subclasses say which listener
    type they feed (`listener_type`), their kind ("tok2vec"), and how to zero their outputs."""

    listener_type: type = Model
    kind = "upstream"

    def __init__(self, vocab, model: Model, name: str, **cfg: Any) -> None:
        super().__init__(vocab, model, name, **cfg)
        self.listener_map: Dict[str, List[Model]] = {}

    @property
    def listeners(self) -> List[Model]:
        return [listener for group in self.listener_map.values() for listener in group]

    def add_listener(self, listener: Model, component_name: str) -> None:
        self._check_width(listener, component_name)
        listener.upstream_component = self.name  # the real name where the config says upstream = "*"
        group = self.listener_map.setdefault(component_name, [])
        if listener not in group:
            group.append(listener)

    def _check_width(self, listener: Model, component_name: str) -> None:
        """Hook: refuse (or adapt) a listener whose width does not fit this component's output."""

    def find_listeners(self, component) -> None:
        """Connect the listeners in `component` that name this component, or any ("*"), as spaCy does."""
        model = getattr(component, "model", None)
        if not isinstance(model, Model):
            return
        for node in model.walk():
            if isinstance(node, self.listener_type) and node.upstream_name in ("*", self.name):
                self.add_listener(node, component.name)

    def check_loaded_listeners(self, path) -> None:
        """Hook, after a pipeline is loaded: refuse listeners saved for another output width."""

    def zeros_like(self, outputs: List[Any]) -> List[Any]:
        """One zero gradient per doc, shaped like what the listeners backprop into."""
        raise NotImplementedError

    def begin_listened_update(self, docs: List[Doc]):
        """The model's (outputs, backprop) for this batch; a subclass may skip the backward pass."""
        return self.model.begin_update(docs)

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
        outputs, bp_outputs = self.begin_listened_update(docs)
        d_outputs = self.zeros_like(outputs)

        def accumulate_gradient(one_d_outputs):
            for i, d in enumerate(one_d_outputs):
                d_outputs[i] += d
                losses[self.name] += float((d**2).sum())
            return self.zeros_like(outputs)

        def backprop(one_d_outputs):
            accumulate_gradient(one_d_outputs)
            d_docs = bp_outputs(d_outputs)
            if sgd is not None:
                self.finish_update(sgd)
            return d_docs

        batch_id = self.listener_type.get_batch_id(docs)
        listeners = self.listeners
        for listener in listeners[:-1]:
            listener.receive(batch_id, outputs, accumulate_gradient)
        if listeners:
            listeners[-1].receive(batch_id, outputs, backprop)
        return losses

    def get_loss(self, examples, scores):
        return 0.0, None


def check_listeners(components: Sequence[Tuple[str, Any]], config: Mapping[str, Any]) -> None:
    """Refuse a listener with nothing to listen to: it would train on zero vectors.

    `upstream` must name a component of the listener's kind earlier in the pipeline, or be "*"
    with one there.
    """
    earlier: Dict[str, Any] = {}
    kinds = {cls.listener_type: cls.kind for cls in _listened_classes()}
    for name, proc in components:
        model = getattr(proc, "model", None)
        if isinstance(model, Model):
            for node in model.walk():
                kind = next((k for t, k in kinds.items() if isinstance(node, t)), None)
                if kind is not None:
                    _check_upstream(name, node.upstream_name, kind, earlier, config)
        earlier[name] = proc


def _listened_classes() -> List[type]:
    found, stack = [], [ListenedPipe]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.append(sub)
            stack.append(sub)
    return [cls for cls in found if cls.listener_type is not Model]


def _check_upstream(name: str, upstream: str, kind: str, earlier: Dict[str, Any], config: Mapping[str, Any]) -> None:
    fitting = [n for n, proc in earlier.items() if isinstance(proc, ListenedPipe) and proc.kind == kind]
    if upstream == "*":
        if fitting:
            return
        problem = f"no {kind} component comes before it in the pipeline"
    elif upstream in fitting:
        return
    elif upstream in earlier:
        problem = f"'{upstream}' is not a {kind} component"
    else:
        problem = f"there is no component '{upstream}' before '{name}' in the pipeline"
    found = f"{kind} components before it: {', '.join(fitting)}" if fitting else f"add a {kind} component before it"
    raise ConfigError(f"the {kind} listener's upstream = {upstream!r} feeds it nothing: {problem} ({found})",
                      where=_listener_key(config.get("components", {}).get(name), f"components.{name}", upstream))


def _listener_key(block: Any, path: str, upstream: str) -> str:
    """The config key of the listener block in `block` whose upstream is `upstream`."""
    return next((key for key, found in listener_blocks(block, path) if found == upstream), path)


def listener_blocks(block: Any, path: str) -> Iterator[Tuple[str, str]]:
    """(config key of `upstream`, upstream) of every listener block inside a component's block.

    The one walker for the config side of listeners (these errors, and `exclude` in language.py),
    so both find the same blocks: `@architectures` or `@layers` naming a registered listener.
    """
    if not isinstance(block, Mapping):
        return
    if any(name in LISTENER_ARCHS for name in (block.get("@architectures"), block.get("@layers"))):
        yield f"{path}.upstream", str(block.get("upstream", "*"))
    for key, value in block.items():
        yield from listener_blocks(value, f"{path}.{key}")
