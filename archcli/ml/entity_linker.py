"""spacy.EntityLinker.v1/v2: encode each entity mention's context as a vector in the KB's space.

The linker compares that encoding with each candidate entity's vector (cosine) and mixes in the
alias prior. v2 takes whole docs and finds the mentions itself (`doc.ents`, each widened to its
sentence and `n_sents` sentences either side), so one tok2vec pass serves every mention of a doc;
v1 takes one context doc per mention and pools all of it.
"""
from typing import List, Optional

import numpy
from thinc.api import Linear, Maxout, Model, chain, list2ragged, reduce_mean, residual, tuplify
from thinc.types import Floats2d, Ints2d, Ragged

from .._registry import architecture_and_layer
from ..tokens import Doc
from .spancat import extract_spans


@architecture_and_layer("spacy.EntityLinker.v2")
def build_nel_encoder(tok2vec: Model, nO: Optional[int] = None) -> Model[List[Doc], Floats2d]:
    """One row per entity of the batch's docs (doc order, then `doc.ents` order), width nO."""
    span_maker = build_span_maker()
    model = _with_pooled_output(
        chain(tuplify(chain(tok2vec, list2ragged()), span_maker), extract_spans()), tok2vec, nO)
    model.set_ref("span_maker", span_maker)
    model.attrs["include_span_maker"] = True
    return model


@architecture_and_layer("spacy.EntityLinker.v1")
def build_nel_encoder_v1(tok2vec: Model, nO: Optional[int] = None) -> Model[List[Doc], Floats2d]:
    """One row per input doc: the component passes one context doc per mention."""
    model = _with_pooled_output(chain(tok2vec, list2ragged()), tok2vec, nO)
    model.attrs["include_span_maker"] = False
    return model


def _with_pooled_output(sequences: Model, tok2vec: Model, nO: Optional[int]) -> Model:
    """sequences (a Ragged of token vectors per context) -> mean -> residual Maxout -> Linear(nO)."""
    token_width = tok2vec.maybe_get_dim("nO")
    output_layer = Linear(nO=nO, nI=token_width)
    model = chain(
        sequences,
        reduce_mean(),
        residual(Maxout(nO=token_width, nI=token_width, nP=2, dropout=0.0)),
        output_layer,
    )
    model.set_ref("output_layer", output_layer)
    model.set_ref("tok2vec", tok2vec)
    return model


def build_span_maker(n_sents: int = 0) -> Model[List[Doc], Ragged]:
    """Docs -> Ragged (start, end) token ranges, one per entity: its sentence +- `attrs["n_sents"]`."""
    return Model("span_maker", _span_maker_forward, attrs={"n_sents": n_sents})


def _span_maker_forward(model: Model, docs: List[Doc], is_train: bool):
    n_sents = int(model.attrs["n_sents"])
    ranges = [context_ranges(doc, n_sents) for doc in docs]
    lengths = model.ops.asarray1i([len(r) for r in ranges])
    data = numpy.concatenate(ranges) if ranges else numpy.zeros((0, 2), dtype="int32")
    spans = Ragged(model.ops.asarray2i(data.astype("int32")), lengths)
    return spans, lambda d_spans: []


def context_ranges(doc: Doc, n_sents: int) -> Ints2d:
    """(n_ents, 2) token ranges: each entity's sentence widened by n_sents sentences either side.

    A doc without sentence boundaries is one sentence. Vectorised: sentence of each entity by
    sorted search over the sentence starts.
    """
    ents = doc.ents
    if not ents:
        return numpy.zeros((0, 2), dtype="int32")
    starts = numpy.flatnonzero(doc.sent_start == 1)
    if not len(starts) or starts[0] != 0:
        starts = numpy.concatenate([[0], starts])
    ends = numpy.concatenate([starts[1:], [len(doc)]])
    ent_starts = numpy.fromiter((e.start for e in ents), dtype="int64", count=len(ents))
    which = numpy.searchsorted(starts, ent_starts, side="right") - 1
    first = numpy.maximum(which - n_sents, 0)
    last = numpy.minimum(which + n_sents, len(starts) - 1)
    ent_ends = numpy.fromiter((e.end for e in ents), dtype="int64", count=len(ents))
    # A mention that crosses a sentence boundary keeps all of itself.
    out = numpy.stack([numpy.minimum(starts[first], ent_starts), numpy.maximum(ends[last], ent_ends)], axis=1)
    return out.astype("int32")
