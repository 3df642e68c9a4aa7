"""The character-embedding layer behind spacy.CharacterEmbed: one table per byte position."""
from typing import Callable, List, Optional, Tuple

import numpy
from thinc.api import Model, uniform_init
from thinc.types import Floats2d

from ..tokens import Doc


def CharacterEmbedLayer(nM: int, nC: int) -> Model[List[Doc], List[Floats2d]]:
    """Embed the first and last nC/2 UTF-8 bytes of each word, concatenated: nO = nM * nC."""
    return Model(
        "charembed",
        forward,
        init=init,
        dims={"nM": nM, "nC": nC, "nO": nM * nC, "nV": 256},
        params={"E": None},
    )


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    shape = (model.get_dim("nC"), model.get_dim("nV"), model.get_dim("nM"))
    model.set_param("E", uniform_init(model.ops, shape, lo=-0.1, hi=0.1))
    return model


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    ops = model.ops
    E = model.get_param("E")
    nC, nV, nM = E.shape
    lengths = [len(doc) for doc in docs]
    if not docs or sum(lengths) == 0:
        return [ops.alloc2f(n, nM * nC) for n in lengths], lambda d: []
    lex = numpy.concatenate([doc.lex for doc in docs])
    byte_ids = docs[0].vocab.char_table(nC)[lex].astype("int64")
    # Row of (position, byte) in E viewed as a (nC * nV, nM) table.
    flat_ids = ops.asarray1i((byte_ids + numpy.arange(nC) * nV).ravel(), dtype="int64")
    table = E.reshape((nC * nV, nM))
    output = table[flat_ids].reshape((len(lex), nC * nM))
    boundaries = numpy.cumsum(lengths)[:-1].tolist()
    outputs = ops.xp.split(output, boundaries)

    def backprop(d_outputs: List[Floats2d]) -> List:
        d_flat = ops.xp.concatenate(d_outputs).reshape((-1, nM))
        dE = ops.alloc2f(nC * nV, nM)
        ops.scatter_add(dE, flat_ids, d_flat)
        model.inc_grad("E", dE.reshape((nC, nV, nM)))
        return []

    return outputs, backprop
