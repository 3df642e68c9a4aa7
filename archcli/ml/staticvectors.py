"""spacy.StaticVectors.v2: the vocab's vectors table through a learned linear projection."""
from typing import Callable, List, Optional, Tuple, Union

import numpy
from thinc.api import Model, Ops, glorot_uniform_init
from thinc.types import Floats1d, Floats2d, Ragged

from ..errors import ArchcliError
from .._registry import architecture_and_layer
from ..tokens import Doc
from ..tokens.attrs import intify_attr
from .checks import require_size


@architecture_and_layer("spacy.StaticVectors.v2")
def StaticVectors(
    nO: Optional[int] = None,
    nM: Optional[int] = None,
    *,
    dropout: Optional[float] = None,
    init_W: Callable = glorot_uniform_init,
    key_attr: Union[int, str] = "ORTH",
) -> Model[List[Doc], Ragged]:
    """Unknown words map to zero rows; the table is never updated, only the projection W."""
    require_size("spacy.StaticVectors.v2", nO=nO, nM=nM, optional=True)
    return Model(
        "static_vectors",
        forward,
        init=_make_init(init_W),
        params={"W": None},
        attrs={"key_attr": intify_attr(key_attr), "dropout_rate": dropout},
        dims={"nO": nO, "nM": nM},
    )


@architecture_and_layer("spacy.StaticVectors.v1")
def StaticVectors_v1(
    nO: Optional[int] = None,
    nM: Optional[int] = None,
    *,
    dropout: Optional[float] = None,
    init_W: Callable = glorot_uniform_init,
    key_attr: Union[int, str] = "ORTH",
) -> Model[List[Doc], Ragged]:
    return StaticVectors(nO, nM, dropout=dropout, init_W=init_W, key_attr=key_attr)


def _lookup(model: Model, docs: List[Doc]):
    vocab = docs[0].vocab
    vectors = vocab.vectors
    if vectors.data.size == 0:
        raise ArchcliError(
            "StaticVectors needs a vectors table, but none is loaded. Set [initialize] vectors "
            "(or paths.vectors) to a word2vec/fastText .vec file, or turn static vectors off"
        )
    lex = numpy.concatenate([doc.lex for doc in docs]) if docs else numpy.zeros((0,), dtype="int32")
    rows = vocab.vector_rows(model.attrs["key_attr"])[lex]
    return vectors, rows


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Ragged, Callable]:
    ops = model.ops
    lengths = ops.asarray1i([len(doc) for doc in docs])
    nO = model.get_dim("nO")
    if not docs or int(lengths.sum()) == 0:
        return Ragged(ops.alloc2f(0, nO), lengths), lambda d: []
    vectors, rows = _lookup(model, docs)
    table = _device_table(model, vectors)
    known = rows >= 0
    vec_rows = ops.asarray(numpy.where(known, rows, 0), dtype="int64")
    V = table[vec_rows]
    W = model.get_param("W")
    output = ops.gemm(V, W, trans2=True)
    unknown_mask = ops.asarray(~known, dtype="bool")
    output[unknown_mask] = 0
    drop_mask: Optional[Floats1d] = None
    if is_train and model.attrs["dropout_rate"]:
        drop_mask = ops.get_dropout_mask((nO,), model.attrs["dropout_rate"])
        output *= drop_mask

    def backprop(d_output: Ragged) -> List:
        d_data = d_output.data * drop_mask if drop_mask is not None else d_output.data.copy()
        d_data[unknown_mask] = 0
        model.inc_grad("W", ops.gemm(d_data, V, trans1=True))
        return []

    return Ragged(output, lengths), backprop


def _device_table(model: Model, vectors) -> Floats2d:
    """The vectors table on the model's device, cached on the Vectors so GPU runs copy it once."""
    cache = vectors.__dict__.setdefault("_device_cache", {})
    key = (type(model.ops).__name__, id(vectors.data))
    if key not in cache:
        cache.clear()
        cache[key] = model.ops.asarray2f(vectors.data)
    return cache[key]


def _make_init(init_W: Callable):
    def init(model: Model, X: Optional[List[Doc]] = None, Y: Optional[Ragged] = None) -> Model:
        nM = model.maybe_get_dim("nM")
        nO = model.maybe_get_dim("nO")
        if X is not None and len(X):
            width = X[0].vocab.vectors.shape[1] if X[0].vocab.vectors.data.size else 0
            if width == 0:
                _lookup(model, X)  # raises the clear "no vectors" error
            if nM is not None and nM != width:
                raise ArchcliError(f"StaticVectors nM={nM} does not match the vectors table width {width}")
            nM = width
        if Y is not None:
            nO = Y.data.shape[1]
        if nM is None:
            raise ArchcliError(
                "StaticVectors needs a vectors table to initialise: set [initialize] vectors or paths.vectors"
            )
        if nO is None:
            raise ArchcliError("StaticVectors could not infer its output width nO")
        model.set_dim("nM", nM)
        model.set_dim("nO", nO)
        model.set_param("W", init_W(model.ops, (nO, nM)))
        return model

    return init
