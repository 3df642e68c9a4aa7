"""spacy.Tok2VecListener.v1: a proxy layer fed by an upstream tok2vec component."""
from typing import Callable, List, Optional, Tuple

from thinc.api import Model
from thinc.types import Floats2d

from ..errors import ArchcliError
from .._registry import architecture_and_layer
from ..tokens import Doc
from .checks import require_size


class Tok2VecListener(Model):
    """Returns the upstream tok2vec's output for the batch it was just sent.

    During training the upstream component calls `receive` with its outputs and a backprop
    callback before the downstream component runs; the listener checks the batch is the same
    one and hands the gradient back through the callback. At prediction it reads `doc.tensor`.
    """

    name = "tok2vec-listener"

    def __init__(self, upstream_name: str, width: int) -> None:
        Model.__init__(self, name=self.name, forward=forward, dims={"nO": width})
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs = None
        self._backprop: Optional[Callable] = None

    @classmethod
    def get_batch_id(cls, docs: List[Doc]) -> int:
        """A cheap fingerprint of a batch: same words in the same docs give the same id.

        Empty docs do not count, so a component that drops them (the parser does) still matches
        its upstream's batch; `outputs_for` then picks the outputs of the docs it kept.
        """
        return hash(tuple((len(doc), int(doc.lex[:8].sum()), int(doc.lex.sum())) for doc in docs if len(doc)))

    def receive(self, batch_id: int, outputs, backprop: Callable) -> None:
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop

    def clear(self) -> None:
        self._batch_id = None
        self._outputs = None
        self._backprop = None

    def verify_inputs(self, docs: List[Doc]) -> bool:
        if self._batch_id is None and self._outputs is None:
            return False
        if self._batch_id != self.get_batch_id(docs):
            raise ArchcliError(
                "a tok2vec listener got a different batch from the one its upstream tok2vec "
                f"component '{getattr(self, 'upstream_component', self.upstream_name)}' processed; listeners must see the same docs"
            )
        return True


def outputs_for(docs: List[Doc], outputs: List, backprop: Callable, n_rows: Callable, zeros: Callable):
    """The upstream's per-doc outputs for `docs`, which may leave out the batch's empty docs
    (a component that skips them); the backprop puts zero gradients back in their places."""
    if len(outputs) == len(docs):
        return outputs, backprop
    kept = [i for i, output in enumerate(outputs) if n_rows(output)]
    if len(kept) != len(docs):
        raise ArchcliError(f"a listener got {len(docs)} docs, but its upstream component processed {len(outputs)}")
    by_position = dict(zip(kept, range(len(kept))))

    def backprop_kept(d_kept: List) -> List:
        return backprop([d_kept[by_position[i]] if i in by_position else zeros(output)
                         for i, output in enumerate(outputs)])

    return [outputs[i] for i in kept], backprop_kept


def forward(model: Tok2VecListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if is_train and model.verify_inputs(docs):
        return outputs_for(docs, model._outputs, model._backprop, lambda t: t.shape[0],
                           lambda t: model.ops.alloc2f(*t.shape))
    width = model.get_dim("nO")
    outputs = []
    for doc in docs:
        if doc.tensor is None or doc.tensor.shape[0] != len(doc):
            outputs.append(model.ops.alloc2f(len(doc), width))
        else:
            outputs.append(model.ops.asarray2f(doc.tensor))
    return outputs, lambda d_outputs: []


@architecture_and_layer("spacy.Tok2VecListener.v1")
def build_listener(width: int, upstream: str = "*") -> Model[List[Doc], List[Floats2d]]:
    require_size("spacy.Tok2VecListener.v1", width=width)
    return Tok2VecListener(upstream_name=upstream, width=width)
