"""Span categorisation: suggest candidate spans, pool each one's token vectors, score every label.

`spacy.SpanCategorizer.v1` maps `(docs, spans)` to `(n_spans, n_labels)` scores, where `spans` is
a Ragged of `(start, end)` token offsets per doc, as a suggester returns them. Gathering a span's
rows and scattering their gradients back are single fancy-index operations over the whole batch.
"""
from functools import partial
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, cast

import numpy
from thinc.api import (
    Linear, Logistic, Maxout, Model, Ops, chain, concatenate, get_current_ops, glorot_uniform_init,
    list2ragged, reduce_first, reduce_last, reduce_max, reduce_mean, with_getitem,
)
from thinc.types import Floats2d, Ragged

from .._registry import architecture_and_layer, registry
from ..tokens import Doc
from .checks import require_size


# --- suggesters -------------------------------------------------------------------------------
def ngram_spans(lengths: numpy.ndarray, sizes: Sequence[int]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """All spans of the given sizes in docs of the given lengths: ((n, 2) offsets, spans per doc).

    Per doc, spans come grouped by size in the order of `sizes`, each group by start, as spaCy's
    suggester orders them. Built from block lengths with repeat/arange, no per-token loop.
    """
    lengths = numpy.asarray(lengths, dtype="int64")
    sizes_arr = numpy.asarray(list(sizes), dtype="int64")
    n_docs = lengths.shape[0]
    if not n_docs or not sizes_arr.size:
        return numpy.zeros((0, 2), dtype="int32"), numpy.zeros((n_docs,), dtype="int32")
    # counts[d, k]: spans of size sizes[k] in doc d (a doc shorter than the size has none).
    counts = numpy.maximum(lengths[:, None] - sizes_arr[None, :] + 1, 0)
    counts[:, sizes_arr <= 0] = 0
    block_lens = counts.ravel()
    total = int(block_lens.sum())
    block_sizes = numpy.tile(sizes_arr, n_docs)
    block_offsets = numpy.cumsum(block_lens) - block_lens
    starts = numpy.arange(total, dtype="int64") - numpy.repeat(block_offsets, block_lens)
    ends = starts + numpy.repeat(block_sizes, block_lens)
    spans = numpy.stack([starts, ends], axis=1).astype("int32")
    return spans, counts.sum(axis=1).astype("int32")


def ngram_suggester(docs: Iterable[Doc], sizes: Sequence[int], *, ops: Optional[Ops] = None) -> Ragged:
    """Every span of each size in `sizes`, for a whole batch at once."""
    ops = ops if ops is not None else get_current_ops()
    lengths = numpy.fromiter((len(doc) for doc in docs), dtype="int64")
    spans, per_doc = ngram_spans(lengths, sizes)
    return Ragged(ops.asarray2i(spans), ops.asarray1i(per_doc))


@registry.misc("spacy.ngram_suggester.v1")
def build_ngram_suggester(sizes: List[int]) -> Callable[..., Ragged]:
    """Suggest all spans of the given lengths, as a Ragged of (start, end) rows per doc."""
    for i, size in enumerate(sizes):
        require_size("spacy.ngram_suggester.v1", **{f"sizes[{i}]": size})
    return partial(ngram_suggester, sizes=[int(s) for s in sizes])


@registry.misc("spacy.ngram_range_suggester.v1")
def build_ngram_range_suggester(min_size: int, max_size: int) -> Callable[..., Ragged]:
    """Suggest all spans of min_size..max_size tokens (both inclusive)."""
    require_size("spacy.ngram_range_suggester.v1", min_size=min_size)
    require_size("spacy.ngram_range_suggester.v1", max_size=max_size, minimum=min_size)
    return build_ngram_suggester(list(range(min_size, max_size + 1)))


def preset_spans_suggester(docs: Iterable[Doc], spans_key: str, *, ops: Optional[Ops] = None) -> Ragged:
    ops = ops if ops is not None else get_current_ops()
    docs = list(docs)
    rows = [(span.start, span.end) for doc in docs for span in doc.spans.get(spans_key, [])]
    lengths = [len(doc.spans.get(spans_key, [])) for doc in docs]
    data = numpy.asarray(rows, dtype="int32").reshape((-1, 2))
    return Ragged(ops.asarray2i(data), ops.asarray1i(numpy.asarray(lengths, dtype="int32")))


@registry.misc("spacy.preset_spans_suggester.v1")
def build_preset_spans_suggester(spans_key: str) -> Callable[..., Ragged]:
    """Suggest the spans an earlier component stored in doc.spans[spans_key]."""
    return partial(preset_spans_suggester, spans_key=spans_key)


# --- span extraction --------------------------------------------------------------------------
def span_row_indices(spans: numpy.ndarray, spans_per_doc: numpy.ndarray, doc_lengths: numpy.ndarray) -> numpy.ndarray:
    """Rows of the batch's token matrix for every token of every span, spans laid end to end.

    Spans (5, 9) and (8, 10) of a doc starting at row 0 give [5, 6, 7, 8, 8, 9].
    """
    doc_starts = numpy.cumsum(doc_lengths) - doc_lengths
    owner = numpy.repeat(numpy.arange(len(spans_per_doc)), spans_per_doc)
    starts = spans[:, 0].astype("int64") + doc_starts[owner]
    span_lens = (spans[:, 1] - spans[:, 0]).astype("int64")
    offsets = numpy.cumsum(span_lens) - span_lens
    return (numpy.repeat(starts - offsets, span_lens) + numpy.arange(int(span_lens.sum()))).astype("int32")


def extract_spans() -> Model[Tuple[Ragged, Ragged], Ragged]:
    """(token vectors, spans) -> the spans' token vectors as a Ragged, one sequence per span."""
    return Model("extract_spans", _extract_spans_forward)


def _extract_spans_forward(model: Model, source_spans: Tuple[Ragged, Ragged], is_train: bool):
    ops = model.ops
    X, spans = source_spans
    span_data = ops.to_numpy(spans.dataXd).reshape((-1, 2))
    indices = span_row_indices(span_data, ops.to_numpy(spans.lengths), ops.to_numpy(X.lengths))
    span_lens = ops.asarray1i(span_data[:, 1] - span_data[:, 0])
    indices_dev = ops.asarray1i(indices)
    Y = Ragged(X.dataXd[indices_dev], span_lens)
    x_shape, x_lengths = X.dataXd.shape, X.lengths

    def backprop(dY: Ragged) -> Tuple[Ragged, Ragged]:
        dX = ops.alloc2f(*x_shape)
        ops.scatter_add(dX, indices_dev, ops.as_contig(dY.dataXd))
        return Ragged(dX, x_lengths), spans

    return Y, backprop


# --- reducer and scorer -----------------------------------------------------------------------
@architecture_and_layer("spacy.mean_max_reducer.v1")
def build_mean_max_reducer(hidden_size: int) -> Model[Ragged, Floats2d]:
    """Pool each span's vectors and mix them through a layer-normalised Maxout of `hidden_size`.

    The spec names the mean and max pools; spaCy's implementation also concatenates the last and
    first token's vectors (4 x width inputs), and so does this one, to train like spaCy.
    """
    require_size("spacy.mean_max_reducer.v1", hidden_size=hidden_size)
    return chain(
        concatenate(cast(Model, reduce_last()), cast(Model, reduce_first()), reduce_mean(), reduce_max()),
        Maxout(nO=hidden_size, normalize=True, dropout=0.0),
    )


# The spec's example block writes `@layers = spacy.mean_max_reducer.v1"` (a stray closing quote that
# confection keeps in the name); registering that spelling too lets the block resolve as written.
registry.layers.register('spacy.mean_max_reducer.v1"', func=build_mean_max_reducer)


@architecture_and_layer("spacy.LinearLogistic.v1")
def build_linear_logistic(nO: Optional[int] = None, nI: Optional[int] = None) -> Model[Floats2d, Floats2d]:
    """An independent probability per label: glorot-initialised Linear, then logistic."""
    require_size("spacy.LinearLogistic.v1", nO=nO, nI=nI, optional=True)
    return chain(Linear(nO=nO, nI=nI, init_W=glorot_uniform_init), Logistic())


@architecture_and_layer("spacy.SpanCategorizer.v1")
def build_spancat_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    reducer: Model[Ragged, Floats2d],
    scorer: Model[Floats2d, Floats2d],
) -> Model[Tuple[List[Doc], Ragged], Floats2d]:
    """tok2vec over the docs, each suggested span's rows gathered, reduced to a vector, scored."""
    model = chain(
        cast(Model, with_getitem(0, chain(tok2vec, cast(Model, list2ragged())))),
        extract_spans(),
        reducer,
        scorer,
    )
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("reducer", reducer)
    model.set_ref("scorer", scorer)
    return model
