"""Text classification architectures: bag-of-n-grams, mean-pooled CNN, and their ensemble.

Every model maps `List[Doc]` to one `(n_docs, n_labels)` row of scores per doc and records
`attrs["multi_label"]` (softmax over exclusive classes, or independent logistic outputs). The v2
(and v3) models carry `attrs["resize_output"]`: adding a label after training appends an output
row while the old labels' weights, and hence their predictions, stay as they were.
"""
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple, Union, cast

import numpy
from thinc.api import (
    Dropout, HashEmbed, LayerNorm, Linear, Logistic, Maxout, Model, NumpyOps, ParametricAttention, Softmax,
    SparseLinear_v2, chain, clone, concatenate, expand_window, list2ragged, ragged2list, reduce_first, reduce_last, reduce_max, reduce_mean, reduce_sum, residual, resizable,
    softmax_activation, uniqued, with_array, with_cpu,
)
from thinc.layers.chain import init as init_chain
from thinc.layers.resizable import resize_linear_weighted, resize_model
from thinc.types import Floats1d, Floats2d, Ints1d

from .._registry import architecture_and_layer
from ..tokens import Doc
from ..tokens.attrs import ID, LEX_COLUMN, LOWER, ORTH, PREFIX, SHAPE, SUFFIX, intify_attr
from .checks import bad_argument, require_size
from .featureextractor import FeatureExtractor
from .staticvectors import StaticVectors

# Bias of a label added to a trained model with a probability output: its score starts at ~0, so the
# old labels' probabilities (softmax included) do not move. The value is spaCy's.
NEG_VALUE = -5000.0

NgramBatch = Tuple[numpy.ndarray, Floats1d, Ints1d]


# --- n-gram features ----------------------------------------------------------------------------
@architecture_and_layer("spacy.extract_ngrams.v1")
def extract_ngrams(ngram_size: int, attr: Union[int, str] = ORTH) -> Model[List[Doc], NgramBatch]:
    """Each doc's distinct n-gram hashes (n = 1..ngram_size) with their counts, as SparseLinear reads them."""
    return Model("extract_ngrams", _ngrams_forward, attrs={"ngram_size": ngram_size, "attr": intify_attr(attr)})


def ngram_counts(docs: Sequence[Doc], ngram_size: int, attr: int = ORTH) -> NgramBatch:
    """(keys, counts, lengths) for a whole batch at once: one gather, one hash pass per n, one sort.

    The tokens of all docs are laid end to end; an n-gram is kept when its first and last token
    belong to the same doc. Sorting by (doc, key) then gives each doc's distinct keys in ascending
    order with their counts, as `numpy.unique(return_counts=True)` would per doc.
    """
    n_docs = len(docs)
    lengths = numpy.fromiter((len(doc) for doc in docs), dtype="int64", count=n_docs)
    if not n_docs or not lengths.sum():
        return numpy.zeros((0,), dtype="uint64"), numpy.zeros((0,), dtype="f"), numpy.zeros((n_docs,), dtype="int32")
    if attr in LEX_COLUMN:
        lex = numpy.concatenate([doc.lex for doc in docs])
        unigrams = docs[0].vocab.lex_attrs[lex, LEX_COLUMN[attr]]
    else:
        unigrams = numpy.concatenate([doc.to_array([attr])[:, 0] for doc in docs])
    unigrams = numpy.ascontiguousarray(unigrams, dtype="uint64")
    doc_ids = numpy.repeat(numpy.arange(n_docs, dtype="int64"), lengths)
    keys, owners = [unigrams], [doc_ids]
    ops = NumpyOps()
    for n in range(2, ngram_size + 1):
        if unigrams.shape[0] < n:
            break
        grams = ops.ngrams(n, unigrams)
        same_doc = doc_ids[: grams.shape[0]] == doc_ids[n - 1 :]
        keys.append(grams[same_doc])
        owners.append(doc_ids[: grams.shape[0]][same_doc])
    all_keys = numpy.concatenate(keys)
    all_owners = numpy.concatenate(owners)
    order = numpy.lexsort((all_keys, all_owners))
    all_keys, all_owners = all_keys[order], all_owners[order]
    first = numpy.ones(all_keys.shape[0], dtype=bool)
    first[1:] = (all_keys[1:] != all_keys[:-1]) | (all_owners[1:] != all_owners[:-1])
    starts = numpy.flatnonzero(first)
    counts = numpy.diff(numpy.append(starts, all_keys.shape[0])).astype("f")
    out_lengths = numpy.bincount(all_owners[starts], minlength=n_docs).astype("int32")
    return numpy.ascontiguousarray(all_keys[starts]), counts, out_lengths


def _ngrams_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[NgramBatch, Callable]:
    keys, counts, lengths = ngram_counts(docs, model.attrs["ngram_size"], model.attrs["attr"])
    ops = model.ops
    return (ops.asarray(keys, dtype="uint64"), ops.asarray(counts, dtype="f"), ops.asarray(lengths, dtype="int32")), (
        lambda d_output: []
    )


# --- sparse linear layer ----------------------------------------------------------------------
def murmurhash3_32_uint64(keys: numpy.ndarray, seed: int) -> numpy.ndarray:
    """MurmurHash3_x86_32 of each uint64 key (its two 32-bit halves), as thinc's SparseLinear hashes keys."""
    keys = numpy.asarray(keys, dtype="uint64")
    h = numpy.full(keys.shape, seed, dtype="uint32")
    for k in ((keys & numpy.uint64(0xFFFFFFFF)).astype("uint32"), (keys >> numpy.uint64(32)).astype("uint32")):
        k = k * numpy.uint32(0xCC9E2D51)
        k = (k << numpy.uint32(15)) | (k >> numpy.uint32(17))
        k = k * numpy.uint32(0x1B873593)
        h ^= k
        h = (h << numpy.uint32(13)) | (h >> numpy.uint32(19))
        h = h * numpy.uint32(5) + numpy.uint32(0xE6546B64)
    h ^= numpy.uint32(8)
    h ^= h >> numpy.uint32(16)
    h = h * numpy.uint32(0x85EBCA6B)
    h ^= h >> numpy.uint32(13)
    h = h * numpy.uint32(0xC2B2AE35)
    h ^= h >> numpy.uint32(16)
    return h


def CompactSparseLinear(nO: Optional[int] = None, length: int = 2**18) -> Model[NgramBatch, Floats2d]:
    """thinc's SparseLinear (v1 indexing), storing only the weights that indexing can reach.

    thinc's v1 layer allocates nO * length weights but reads only `W[hash & (length - 1) + label]`,
    i.e. the first length + nO - 1 of them; every other weight is 0 forever and still costs an
    optimizer update per step. Here W holds just the reachable part, so for the same inputs and
    weights the scores and gradients are the same, and 56 labels cost about what 2 do.
    """
    if length & (length - 1):
        raise ValueError(f"SparseLinear length must be a power of two, got {length}")
    return Model("sparse_linear", _sparse_forward, init=_sparse_init, params={"W": None, "b": None},
                 dims={"nO": nO, "length": length}, attrs={"v1_indexing": True})


def _sparse_init(model: Model, X=None, Y=None) -> Model:
    if Y is not None:
        model.set_dim("nO", Y.shape[1])
    nO, length = model.get_dim("nO"), model.get_dim("length")
    model.set_param("W", model.ops.alloc1f(length + nO - 1))
    model.set_param("b", model.ops.alloc1f(nO))
    return model


def _sparse_forward(model: Model, X: NgramBatch, is_train: bool) -> Tuple[Floats2d, Callable]:
    keys, values, lengths = (model.ops.to_numpy(a) for a in X)
    nO, mask = model.get_dim("nO"), model.get_dim("length") - 1
    W, b = model.get_param("W"), model.get_param("b")
    lengths = lengths.astype("int64")
    cols = numpy.arange(nO, dtype="int64")
    # Two hashed rows per key; column offsets give the label's weight (v1 indexing).
    rows = numpy.stack([murmurhash3_32_uint64(keys, 0), murmurhash3_32_uint64(keys, 1)], axis=1).astype("int64") & mask
    index = rows[:, :, None] + cols[None, None, :]  # (n_keys, 2, nO)
    contrib = numpy.ascontiguousarray((W[index[:, 0]] + W[index[:, 1]]) * values[:, None], dtype="f")
    cpu = NumpyOps()
    scores = cpu.reduce_sum(contrib, lengths.astype("int32")) + b  # per-doc sums of its keys' rows

    def backprop(d_scores: Floats2d) -> NgramBatch:
        d_scores = model.ops.to_numpy(d_scores)
        owner = numpy.repeat(numpy.arange(lengths.shape[0]), lengths)
        d_contrib = d_scores[owner] * values[:, None]  # (n_keys, nO)
        d_W = numpy.bincount(index.ravel(), weights=numpy.repeat(d_contrib, 2, axis=0).ravel(), minlength=W.shape[0])
        model.inc_grad("W", model.ops.asarray1f(d_W.astype("f")))
        model.inc_grad("b", model.ops.asarray1f(d_scores.sum(axis=0)))
        return X

    return model.ops.asarray2f(scores), backprop


# --- resizing ---------------------------------------------------------------------------------
def resize_and_set_ref(model: Model, new_nO: int, *, resizable_layer: Model) -> Model:
    """Grow the wrapped output layer to `new_nO` rows; refs follow the new layer."""
    resize_model(resizable_layer, new_nO)
    model.set_ref("output_layer", resizable_layer.layers[0])
    model.set_dim("nO", new_nO, force=True)
    return model


def _output_fill(exclusive_or_probabilities: bool):
    return {"b": NEG_VALUE if exclusive_or_probabilities else 0.0, "W": 0.0}


# --- bag of n-grams -----------------------------------------------------------------------------
def _build_bow(
    exclusive_classes: bool,
    ngram_size: int,
    no_output_layer: bool,
    sparse_linear: Model,
    nO: Optional[int],
    resizable_output: bool,
) -> Model[List[Doc], Floats2d]:
    """extract_ngrams >> SparseLinear [>> softmax | logistic], on the CPU (SparseLinear is CPU code)."""
    require_size("spacy.TextCatBOW", ngram_size=ngram_size)
    require_size("spacy.TextCatBOW", nO=nO, optional=True)
    fill = _output_fill(not no_output_layer)
    output_layer = None
    if not no_output_layer:
        output_layer = softmax_activation() if exclusive_classes else Logistic()
    linear: Model = sparse_linear
    if resizable_output:
        linear = resizable(sparse_linear, resize_layer=partial(resize_linear_weighted, fill_defaults=fill))
    model = with_cpu(chain(extract_ngrams(ngram_size, attr=ORTH), linear), sparse_linear.ops)
    if output_layer is not None:
        model = chain(model, with_cpu(output_layer, output_layer.ops))
    if nO is not None:
        model.set_dim("nO", cast(int, nO))
    model.set_ref("output_layer", sparse_linear)
    model.attrs["multi_label"] = not exclusive_classes
    model.attrs["exclusive_classes_key"] = "exclusive_classes"
    if resizable_output:
        model.attrs["resize_output"] = partial(resize_and_set_ref, resizable_layer=linear)
    return model


@architecture_and_layer("spacy.TextCatBOW.v2")
def build_bow_text_classifier(
    exclusive_classes: bool, ngram_size: int, no_output_layer: bool, nO: Optional[int] = None
) -> Model[List[Doc], Floats2d]:
    """Hashed ORTH n-grams (1..ngram_size) into a sparse linear layer of 2**18 rows per label."""
    return _build_bow(exclusive_classes, ngram_size, no_output_layer, CompactSparseLinear(nO=nO), nO, True)


@architecture_and_layer("spacy.TextCatBOW.v1")
def build_bow_text_classifier_v1(
    exclusive_classes: bool, ngram_size: int, no_output_layer: bool, nO: Optional[int] = None
) -> Model[List[Doc], Floats2d]:
    """The v2 signature, without resizing: labels are fixed once the model is initialised."""
    return _build_bow(exclusive_classes, ngram_size, no_output_layer, CompactSparseLinear(nO=nO), nO, False)


@architecture_and_layer("spacy.TextCatBOW.v3")
def build_bow_text_classifier_v3(
    exclusive_classes: bool,
    ngram_size: int,
    no_output_layer: bool,
    length: int = 262144,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """v2 with a configurable table `length` (rounded up to a power of two) and full-table hashing."""
    require_size("spacy.TextCatBOW.v3", length=length)
    length = 2 ** (length - 1).bit_length()
    return _build_bow(exclusive_classes, ngram_size, no_output_layer, SparseLinear_v2(nO=nO, length=length), nO, True)


# --- pooled CNN -------------------------------------------------------------------------------
@architecture_and_layer("spacy.TextCatReduce.v1")
def build_reduce_text_classifier(
    tok2vec: Model[List[Doc], List[Floats2d]],
    exclusive_classes: bool,
    use_reduce_first: bool,
    use_reduce_last: bool,
    use_reduce_max: bool,
    use_reduce_mean: bool,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """Pool each doc's token vectors (concatenating the chosen reductions) into a resizable output layer."""
    reductions = [
        layer
        for use, layer in ((use_reduce_first, reduce_first), (use_reduce_last, reduce_last),
                           (use_reduce_max, reduce_max), (use_reduce_mean, reduce_mean))
        if use
    ]
    if not reductions:
        raise bad_argument("spacy.TextCatReduce.v1", "use_reduce_mean",
                           "at least one of use_reduce_first/last/max/mean must be true")
    require_size("spacy.TextCatReduce.v1", nO=nO, optional=True)
    width = tok2vec.maybe_get_dim("nO")
    nI = width * len(reductions) if width is not None else None
    pooled = chain(tok2vec, cast(Model, list2ragged()), concatenate(*[make() for make in reductions]))
    fill = _output_fill(exclusive_classes)
    if exclusive_classes:
        output_layer: Model = Softmax(nO=nO, nI=nI)
        resizable_layer = resizable(output_layer, resize_layer=partial(resize_linear_weighted, fill_defaults=fill))
        model = chain(pooled, resizable_layer)
    else:
        output_layer = Linear(nO=nO, nI=nI)
        resizable_layer = resizable(output_layer, resize_layer=partial(resize_linear_weighted, fill_defaults=fill))
        model = chain(pooled, resizable_layer, Logistic())
    model.set_ref("output_layer", output_layer)
    model.set_ref("tok2vec", tok2vec)
    if nO is not None:
        model.set_dim("nO", cast(int, nO))
    model.attrs["multi_label"] = not exclusive_classes
    model.attrs["exclusive_classes_key"] = "exclusive_classes"
    model.attrs["resize_output"] = partial(resize_and_set_ref, resizable_layer=resizable_layer)
    return model


@architecture_and_layer("spacy.TextCatCNN.v2")
def build_simple_cnn_text_classifier(
    tok2vec: Model[List[Doc], List[Floats2d]], exclusive_classes: bool, nO: Optional[int] = None
) -> Model[List[Doc], Floats2d]:
    """Mean-pooled token vectors into a softmax (exclusive) or linear + logistic output layer."""
    return build_reduce_text_classifier(tok2vec, exclusive_classes, False, False, False, True, nO)


@architecture_and_layer("spacy.TextCatCNN.v1")
def build_simple_cnn_text_classifier_v1(
    tok2vec: Model[List[Doc], List[Floats2d]], exclusive_classes: bool, nO: Optional[int] = None
) -> Model[List[Doc], Floats2d]:
    """The v2 signature, without resizing."""
    width = tok2vec.maybe_get_dim("nO")
    pooled = chain(tok2vec, cast(Model, list2ragged()), reduce_mean())
    if exclusive_classes:
        output_layer: Model = Softmax(nO=nO, nI=width)
        model = chain(pooled, output_layer)
    else:
        output_layer = Linear(nO=nO, nI=width)
        model = chain(pooled, output_layer, Logistic())
    model.set_ref("output_layer", output_layer)
    model.set_ref("tok2vec", tok2vec)
    if nO is not None:
        model.set_dim("nO", cast(int, nO))
    model.attrs["multi_label"] = not exclusive_classes
    model.attrs["exclusive_classes_key"] = "exclusive_classes"
    return model


# --- ensemble ---------------------------------------------------------------------------------
def tok2vec_width(tok2vec: Model) -> Optional[int]:
    """The width a tok2vec outputs: its own nO, or its encoder's / last layer's once known."""
    candidates = [tok2vec]
    if tok2vec.has_ref("encode"):
        candidates.append(tok2vec.get_ref("encode"))
    if tok2vec.layers:
        candidates.append(tok2vec.layers[-1])
    widths = (layer.maybe_get_dim("nO") for layer in candidates)
    return next((width for width in widths if width is not None), None)


def _resize_stacked_output(layer: Model, new_nO: int, *, exclusive: bool) -> Model:
    """Grow the ensemble's output layer, whose input is [linear model's nO scores | CNN vector].

    The linear model grows by the same number of labels, so new input columns are inserted after
    the old label columns; new weights are zero and new biases NEG_VALUE (exclusive) or 0.
    """
    old_nO = layer.maybe_get_dim("nO")
    if old_nO is None or old_nO == new_nO:
        if old_nO is None:
            layer.set_dim("nO", new_nO)
        return layer
    old_nI = layer.maybe_get_dim("nI")
    added = new_nO - old_nO
    if added < 0:
        raise ValueError(f"cannot shrink a text classifier from {old_nO} to {new_nO} labels")
    if old_nI is None or not layer.has_param("W"):
        layer.set_dim("nO", new_nO, force=True)
        if old_nI is not None:
            layer.set_dim("nI", old_nI + added, force=True)
        return layer
    dims = {name: layer.maybe_get_dim(name) for name in layer.dim_names}
    dims.update(nO=new_nO, nI=old_nI + added)
    new_layer: Model = Model(layer.name, layer._func, dims=dims, params={n: None for n in layer.param_names},
                             init=layer.init, attrs=layer.attrs, refs={}, ops=layer.ops)
    W, b = layer.get_param("W"), layer.get_param("b")
    new_W = layer.ops.alloc2f(new_nO, old_nI + added)
    new_W[:old_nO, :old_nO] = W[:, :old_nO]
    new_W[:old_nO, new_nO:] = W[:, old_nO:]
    new_b = layer.ops.alloc1f(new_nO)
    new_b[:old_nO] = b
    new_b[old_nO:] = NEG_VALUE if exclusive else 0.0
    new_layer.set_param("W", new_W)
    new_layer.set_param("b", new_b)
    return new_layer


def _resize_ensemble(model: Model, new_nO: int, *, linear_model: Model, output: Model, cnn_width_of: Callable) -> Model:
    linear_model.attrs["resize_output"](linear_model, new_nO)
    resize_model(output, new_nO)
    stacked = model.layers[0]
    width = cnn_width_of()
    if width is not None and stacked.has_dim("nO") is not False:
        stacked.set_dim("nO", new_nO + width, force=True)
    model.set_ref("output_layer", linear_model.get_ref("output_layer"))
    model.set_dim("nO", new_nO, force=True)
    return model


@architecture_and_layer("spacy.TextCatEnsemble.v2")
def build_text_classifier_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    linear_model: Model[List[Doc], Floats2d],
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """[linear model | attention-pooled tok2vec] >> softmax or linear + logistic.

    Exclusivity comes from the linear model (`attrs["multi_label"]`). Unlike spaCy 3.8's, this
    ensemble is resizable when its linear model is: the output layer grows with it.
    """
    exclusive = not linear_model.attrs["multi_label"]
    width = tok2vec.maybe_get_dim("nO")
    attention_layer = ParametricAttention(width)
    maxout_layer = Maxout(nO=width, nI=width)
    norm_layer = LayerNorm(nI=width)
    cnn_model = chain(
        tok2vec, cast(Model, list2ragged()), attention_layer, reduce_sum(),
        residual(chain(maxout_layer, norm_layer, Dropout(0.0))),
    )
    # The output layer reads nO linear-model scores and a `width` vector (spaCy writes nO * 2 here,
    # which only agrees when width == nO; left unset, it is inferred at initialisation).
    nI = nO + width if (nO and width) else None
    output_layer: Model = Softmax(nO=nO, nI=nI) if exclusive else Linear(nO=nO, nI=nI)
    output = resizable(output_layer, resize_layer=partial(_resize_stacked_output, exclusive=exclusive))
    if exclusive:
        model = chain(concatenate(linear_model, cnn_model), output)
    else:
        model = chain(concatenate(linear_model, cnn_model), output, Logistic())
    model.set_ref("tok2vec", tok2vec)
    if nO is not None:
        model.set_dim("nO", cast(int, nO))
    model.set_ref("output_layer", linear_model.get_ref("output_layer"))
    model.set_ref("attention_layer", attention_layer)
    model.set_ref("maxout_layer", maxout_layer)
    model.set_ref("norm_layer", norm_layer)
    model.attrs["multi_label"] = not exclusive
    model.attrs["exclusive_classes_key"] = "linear_model." + linear_model.attrs.get("exclusive_classes_key",
                                                                                     "exclusive_classes")
    if "resize_output" in linear_model.attrs:
        model.attrs["resize_output"] = partial(
            _resize_ensemble, linear_model=linear_model, output=output,
            cnn_width_of=lambda: tok2vec_width(tok2vec),
        )
    model.init = _init_ensemble  # type: ignore[assignment]
    return model


def _init_ensemble(model: Model, X=None, Y=None) -> Model:
    """Initialise tok2vec first, so a lazily sized one tells the attention layers their width."""
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X)
    width = tok2vec_width(tok2vec)
    if width is not None:
        model.get_ref("attention_layer").set_dim("nO", width)
        for ref in ("maxout_layer", "norm_layer"):
            model.get_ref(ref).set_dim("nO", width)
            model.get_ref(ref).set_dim("nI", width)
    init_chain(model, X, Y)
    return model


@architecture_and_layer("spacy.TextCatEnsemble.v1")
def build_text_classifier_v1(
    width: int,
    embed_size: int,
    pretrained_vectors: Optional[bool],
    exclusive_classes: bool,
    ngram_size: int,
    window_size: int,
    conv_depth: int,
    dropout: Optional[float],
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """The v1 ensemble: its own tok2vec (LOWER/PREFIX/SUFFIX/SHAPE hash embeddings + CNN), not resizable."""
    require_size("spacy.TextCatEnsemble.v1", width=width, embed_size=embed_size, ngram_size=ngram_size)
    require_size("spacy.TextCatEnsemble.v1", window_size=window_size, conv_depth=conv_depth, minimum=0)
    require_size("spacy.TextCatEnsemble.v1", nO=nO, optional=True)
    cols = [ORTH, LOWER, PREFIX, SUFFIX, SHAPE, ID]
    lower = HashEmbed(nO=width, nV=embed_size, column=cols.index(LOWER), dropout=dropout, seed=10)
    prefix = HashEmbed(nO=width // 2, nV=embed_size, column=cols.index(PREFIX), dropout=dropout, seed=11)
    suffix = HashEmbed(nO=width // 2, nV=embed_size, column=cols.index(SUFFIX), dropout=dropout, seed=12)
    shape = HashEmbed(nO=width // 2, nV=embed_size, column=cols.index(SHAPE), dropout=dropout, seed=13)
    width_nI = sum(layer.get_dim("nO") for layer in (lower, prefix, suffix, shape))
    trained_vectors = chain(
        FeatureExtractor(cols),
        with_array(uniqued(chain(concatenate(lower, prefix, suffix, shape),
                                 Maxout(nO=width, nI=width_nI, normalize=True)), column=cols.index(ORTH))),
    )
    if pretrained_vectors:
        vector_layer: Model = chain(
            concatenate(chain(trained_vectors, cast(Model, list2ragged())), StaticVectors(width)), ragged2list()
        )
        vectors_width = width * 2
    else:
        vector_layer = trained_vectors
        vectors_width = width
    conv = residual(chain(expand_window(window_size=window_size),
                          Maxout(nO=width, nI=width * (window_size * 2 + 1), normalize=True)))
    tok2vec = chain(
        vector_layer,
        with_array(chain(Maxout(width, vectors_width, normalize=True), clone(conv, conv_depth)),
                   pad=window_size * conv_depth),
    )
    tok2vec.set_dim("nO", width)
    cnn_model = chain(
        tok2vec, cast(Model, list2ragged()), ParametricAttention(width), reduce_sum(),
        residual(Maxout(nO=width, nI=width)), Linear(nO=nO, nI=width), Dropout(0.0),
    )
    linear_model = build_bow_text_classifier_v1(exclusive_classes, ngram_size, False, nO)
    nO_double = nO * 2 if nO else None
    if exclusive_classes:
        output_layer: Model = Softmax(nO=nO, nI=nO_double)
    else:
        output_layer = chain(Linear(nO=nO, nI=nO_double), Dropout(0.0), Logistic())
    model = chain(concatenate(linear_model, cnn_model), output_layer)
    model.set_ref("tok2vec", tok2vec)
    if nO is not None:
        model.set_dim("nO", cast(int, nO))
    model.set_ref("output_layer", linear_model.get_ref("output_layer"))
    model.attrs["multi_label"] = not exclusive_classes
    model.attrs["exclusive_classes_key"] = "exclusive_classes"
    return model
