"""spacy-experimental.Coref.v1 and SpanResolver.v1: word-level coreference, then spans from heads.

Coref.v1 scores, for every word, its likely antecedent words: an LSTM over the tok2vec output
gives each word document context; a bilinear "rough" score against every earlier word keeps the
best `antecedent_limit` candidates; a feed-forward scorer over pair features (both words, their
product, a bucketed distance embedding) rescores those, in chunks of `antecedent_batch_size`
words. Column 0 of the scores is "no antecedent". Rough scores are computed in row chunks, so
memory is (chunk x words) at a time and (words x antecedent_limit) overall, never words squared.

SpanResolver.v1 grows each head word back into a span: for every head, the words of its sentence
within `max_distance` of it are scored as the span's start and end (pair features, a
relative-distance embedding, feed-forward layers and a small convolution along the candidates).

Both are PyTorch modules inside thinc (as spacy-experimental's, and TorchBiLSTMEncoder), run one
doc at a time: documents differ wildly in length and pairs never cross documents.
"""
from typing import Any, List, Optional, Tuple

import numpy
from thinc.api import Model, PyTorchWrapper_v2, chain, get_width
from thinc.types import ArgsKwargs, Floats2d, Ints1d, Ints2d
from thinc.util import torch2xp, xp2torch

from .._registry import architecture_and_layer
from ..errors import ConfigError
from ..tokens import Doc

# Distances 1-4 get their own bucket, then log2 buckets up to 2**6 and beyond (9 buckets).
N_DISTANCE_BUCKETS = 9


def _torch():
    import torch

    return torch


def _check(name: str, value: Any, *, minimum: float, kind=int) -> None:
    ok = isinstance(value, kind) and not isinstance(value, bool) and value >= minimum
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0
    if not ok:
        want = "a number in [0, 1)" if kind is float else f"a whole number >= {minimum}"
        raise ConfigError(f"must be {want}, not {value!r}", where=name)


# --- Coref.v1 --------------------------------------------------------------------------------------
@architecture_and_layer("spacy-experimental.Coref.v1")
def build_coref_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    distance_embedding_size: int,
    dropout: float,
    hidden_size: int,
    depth: int,
    antecedent_limit: int,
    antecedent_batch_size: int,
) -> Model[List[Doc], List[Tuple[Floats2d, Ints2d]]]:
    """Per doc: (scores (words, k + 1), antecedent indices (words, k)), k = min(limit, words)."""
    for key, value, minimum in (("distance_embedding_size", distance_embedding_size, 1), ("hidden_size", hidden_size, 1),
                                ("depth", depth, 0), ("antecedent_limit", antecedent_limit, 1),
                                ("antecedent_batch_size", antecedent_batch_size, 1)):
        _check(key, value, minimum=minimum)
    _check("dropout", dropout, minimum=0, kind=float)
    scorer = Model(
        "coref_scorer",
        _per_doc_forward,
        init=_coref_init,
        dims={"nI": None},
        attrs={"distance_embedding_size": distance_embedding_size, "hidden_size": hidden_size, "depth": depth,
               "dropout": dropout, "antecedent_limit": antecedent_limit,
               "antecedent_batch_size": antecedent_batch_size},
    )
    model = chain(tok2vec, scorer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("coref_scorer", scorer)
    return model


def _coref_init(model: Model, X: Optional[List[Floats2d]] = None, Y=None) -> None:
    if model.layers:
        return
    if X is not None and model.maybe_get_dim("nI") is None:
        model.set_dim("nI", get_width(X))
    a = model.attrs
    module = _coref_module()(model.get_dim("nI"), a["distance_embedding_size"], a["hidden_size"], a["depth"],
                             a["dropout"], a["antecedent_limit"], a["antecedent_batch_size"])
    model._layers = [PyTorchWrapper_v2(module, convert_inputs=_words_to_torch, convert_outputs=_coref_outputs)]


def _per_doc_forward(model: Model, X: List[Floats2d], is_train: bool):
    """The torch layer on each doc's word vectors; empty docs give empty outputs."""
    layer = model.layers[0]
    outputs, backprops = [], []
    for words in X:
        if words.shape[0] == 0:
            outputs.append(_empty_output(model, words))
            backprops.append(None)
            continue
        out, backprop = layer(words, is_train)
        outputs.append(out)
        backprops.append(backprop)

    def backprop(d_outputs: List[Any]) -> List[Floats2d]:
        return [model.ops.alloc2f(*x.shape) if bp is None else bp(dy)
                for x, bp, dy in zip(X, backprops, d_outputs)]

    return outputs, backprop


def _empty_output(model: Model, words: Floats2d):
    if model.name == "coref_scorer":
        return model.ops.alloc2f(0, 1), model.ops.alloc2i(0, 0)
    return model.ops.alloc2f(0, 2)


def _words_to_torch(model: Model, X: Floats2d, is_train: bool):
    words = xp2torch(X, requires_grad=is_train)

    def backprop(d_args: ArgsKwargs) -> Floats2d:
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=(words,), kwargs={}), backprop


def _coref_outputs(model: Model, inputs_outputs, is_train: bool):
    _, (scores, indices) = inputs_outputs

    def backprop(d_out: Tuple[Floats2d, Ints2d]) -> ArgsKwargs:
        return ArgsKwargs(args=([scores],), kwargs={"grad_tensors": [xp2torch(d_out[0])]})

    return (torch2xp(scores), torch2xp(indices)), backprop


def distance_buckets(distance):
    """Bucket ids of word distances >= 1: 1..4 -> 0..3, then floor(log2) + 2, capped at 8."""
    torch = _torch()
    distance = distance.clamp_min(1)
    log_bucket = distance.to(torch.float).log2().floor().clamp_max(6).to(torch.long) + 2
    return torch.where(distance < 5, distance - 1, log_bucket)


_DROPOUT_CLASS = None


def _dropout_class():
    """Dropout whose mask comes from random bytes: torch's CPU dropout draws one random number per
    element and costs more than the 256-wide linear layer it follows (measured: 105 ms vs 40 ms on
    25,600 x 256 floats, one thread); eight mask bytes per 64-bit draw make it ~5x cheaper (drawn over the whole int64 range: torch's
    default range leaves the top byte's high bit 0, and that byte would drop too often). The rate is
    rounded to a multiple of 1/256 (0.3 -> 77/256) and kept values are scaled by 1 / (1 - rate)."""
    global _DROPOUT_CLASS
    if _DROPOUT_CLASS is not None:
        return _DROPOUT_CLASS
    torch = _torch()

    class ByteMaskDropout(torch.nn.Module):
        def __init__(self, rate: float) -> None:
            super().__init__()
            self.threshold = int(round(rate * 256))
            self.scale = 256.0 / (256 - self.threshold) if self.threshold < 256 else 0.0

        def forward(self, x):
            if not self.training or self.threshold == 0:
                return x
            n = x.numel()
            draws = torch.empty(((n + 7) // 8,), dtype=torch.int64, device=x.device).random_(-2**63, None)
            keep = draws.view(torch.uint8)[:n].view(x.shape) >= self.threshold
            return x * keep.to(x.dtype).mul_(self.scale)

    _DROPOUT_CLASS = ByteMaskDropout
    return ByteMaskDropout


_COREF_MODULE = None


def _coref_module():
    """The torch module class, defined on first use so importing archcli never imports torch."""
    global _COREF_MODULE
    if _COREF_MODULE is not None:
        return _COREF_MODULE
    torch = _torch()
    nn = torch.nn
    Dropout = _dropout_class()

    class WordCorefScorer(nn.Module):
        def __init__(self, dim: int, dist_size: int, hidden: int, depth: int, dropout: float, limit: int,
                     batch_size: int) -> None:
            super().__init__()
            self.limit, self.batch_size = limit, batch_size
            self.lstm = nn.LSTM(input_size=dim, hidden_size=dim, batch_first=True)
            self.dropout = Dropout(dropout)
            self.bilinear = nn.Linear(dim, dim)
            self.distance = nn.Embedding(N_DISTANCE_BUCKETS, dist_size)
            layers: List[nn.Module] = []
            width = 3 * dim + dist_size
            for _ in range(depth):
                layers += [nn.Linear(width, hidden), nn.LeakyReLU(), Dropout(dropout)]
                width = hidden
            self.hidden = nn.Sequential(*layers)
            self.out = nn.Linear(width, 1)

        def rough(self, words):
            """Top-k earlier words per word by a bilinear score, chunk by chunk of rows."""
            n = words.shape[0]
            k = min(self.limit, n)
            projected = self.dropout(self.bilinear(words))
            positions = torch.arange(n, device=words.device)
            top_scores, top_indices = [], []
            for start in range(0, n, self.batch_size):
                rows = positions[start:start + self.batch_size]
                scores = projected[start:start + self.batch_size] @ words.T
                later = positions.unsqueeze(0) >= rows.unsqueeze(1)  # not an antecedent
                scores = scores.masked_fill(later, float("-inf"))
                chunk_scores, chunk_indices = torch.topk(scores, k=k, dim=1, sorted=False)
                top_scores.append(chunk_scores)
                top_indices.append(chunk_indices)
            return torch.cat(top_scores), torch.cat(top_indices)

        def forward(self, word_features):
            self.lstm.flatten_parameters()
            words, _ = self.lstm(word_features.unsqueeze(0))
            words = self.dropout(words.squeeze(0))
            rough_scores, indices = self.rough(words)
            positions = torch.arange(words.shape[0], device=words.device)
            out = []
            for start in range(0, words.shape[0], self.batch_size):
                stop = start + self.batch_size
                ants = indices[start:stop]
                a = words[start:stop].unsqueeze(1).expand(-1, ants.shape[1], -1)
                b = words[ants]
                dist = self.dropout(self.distance(distance_buckets(positions[start:stop].unsqueeze(1) - ants)))
                pairs = torch.cat((a, b, a * b, dist), dim=2)
                fine = self.out(self.hidden(pairs)).squeeze(2)
                out.append(rough_scores[start:stop] + fine)
            scores = torch.cat(out)
            # "No antecedent" scores a constant just above 0: a link needs a positive score.
            dummy = torch.full((scores.shape[0], 1), 1e-7, dtype=scores.dtype, device=scores.device)
            return torch.cat((dummy, scores), dim=1), indices

    _COREF_MODULE = WordCorefScorer
    return WordCorefScorer


# --- SpanResolver.v1 -------------------------------------------------------------------------------
@architecture_and_layer("spacy-experimental.SpanResolver.v1")
def build_span_resolver(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_size: int,
    distance_embedding_size: int,
    conv_channels: int,
    window_size: int,
    max_distance: int,
    prefix: str,
) -> Model[List[Doc], List[Floats2d]]:
    """Per doc: (pairs, 2) start/end scores, pairs = each head's candidate words in order (see
    `head_candidates`), heads read from `doc.spans[prefix_N]` (one-token spans)."""
    for key, value, minimum in (("hidden_size", hidden_size, 1), ("distance_embedding_size", distance_embedding_size, 1),
                                ("conv_channels", conv_channels, 1), ("window_size", window_size, 0),
                                ("max_distance", max_distance, 2)):
        _check(key, value, minimum=minimum)
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(f"must be a non-empty string, not {prefix!r}", where="prefix")
    resolver = Model(
        "span_resolver",
        _span_resolver_forward,
        init=_span_resolver_init,
        dims={"nI": None},
        attrs={"hidden_size": hidden_size, "distance_embedding_size": distance_embedding_size,
               "conv_channels": conv_channels, "window_size": window_size, "max_distance": max_distance,
               "prefix": prefix},
    )
    model = chain(_with_docs(tok2vec), resolver)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("span_resolver", resolver)
    model.attrs["prefix"] = prefix
    return model


def _with_docs(tok2vec: Model) -> Model:
    """docs -> (docs, tok2vec(docs)): the resolver needs the heads and sentences of each doc."""

    def forward(model: Model, docs: List[Doc], is_train: bool):
        vectors, backprop = tok2vec(docs, is_train)
        return (docs, vectors), backprop  # the resolver hands back d(vectors) only

    def init(model: Model, X=None, Y=None) -> None:
        tok2vec.initialize(X=X)

    return Model("with_docs", forward, init=init, layers=[tok2vec])


def head_ids(doc: Doc, prefix: str) -> Ints1d:
    """The head word of every mention in the doc's head clusters (`prefix_N` span groups), by N
    then span order (not the groups' insertion order: readers and DocBins may differ in that)."""
    keys = sorted((key for key in doc.spans if _is_cluster_key(key, prefix)), key=lambda key: int(key[len(prefix) + 1:]))
    heads = [span.start for key in keys for span in doc.spans[key]]
    return numpy.asarray(heads, dtype="int64")


def _is_cluster_key(key: str, prefix: str) -> bool:
    return key.startswith(prefix + "_") and key[len(prefix) + 1:].isdigit()


def sentence_bounds(doc: Doc) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(start, end) of each word's sentence (the whole doc without sentence boundaries)."""
    n = len(doc)
    starts = numpy.flatnonzero(doc.sent_start == 1)
    if not len(starts) or starts[0] != 0:
        starts = numpy.concatenate([[0], starts]).astype("int64")
    ends = numpy.concatenate([starts[1:], [n]])
    which = numpy.searchsorted(starts, numpy.arange(n), side="right") - 1
    return starts[which], ends[which]


def head_candidates(doc: Doc, heads: Ints1d, max_distance: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(first, length) of each head's candidate words: its sentence, cut to max_distance - 1 words on
    either side (a span is at most max_distance words long). Linear in the number of heads."""
    if not len(heads):
        return numpy.zeros((0,), dtype="int64"), numpy.zeros((0,), dtype="int64")
    sent_start, sent_end = sentence_bounds(doc)
    first = numpy.maximum(sent_start[heads], heads - (max_distance - 1))
    last = numpy.minimum(sent_end[heads], heads + max_distance)
    return first.astype("int64"), (last - first).astype("int64")


def _span_resolver_init(model: Model, X=None, Y=None) -> None:
    if model.layers:
        return
    if X is not None and model.maybe_get_dim("nI") is None:
        model.set_dim("nI", get_width(X[1]))
    a = model.attrs
    module = _span_module()(model.get_dim("nI"), a["hidden_size"], a["distance_embedding_size"], a["conv_channels"],
                            a["window_size"], a["max_distance"])
    model._layers = [PyTorchWrapper_v2(module, convert_inputs=_resolver_inputs, convert_outputs=_resolver_outputs)]


def _span_resolver_forward(model: Model, docs_vectors, is_train: bool):
    docs, X = docs_vectors
    layer = model.layers[0]
    md = model.attrs["max_distance"]
    outputs, backprops = [], []
    for doc, words in zip(docs, X):
        heads = head_ids(doc, model.attrs["prefix"])
        if not len(heads):
            outputs.append(model.ops.alloc2f(0, 2))
            backprops.append(None)
            continue
        first, lengths = head_candidates(doc, heads, md)
        out, backprop = layer((words, heads, first, lengths), is_train)
        outputs.append(out)
        backprops.append(backprop)

    def backprop(d_outputs: List[Floats2d]):
        return [model.ops.alloc2f(*x.shape) if bp is None else bp(dy) for x, bp, dy in zip(X, backprops, d_outputs)]

    return outputs, backprop


def _resolver_inputs(model: Model, inputs, is_train: bool):
    words, heads, first, lengths = inputs
    torch = _torch()
    words_t = xp2torch(words, requires_grad=is_train)
    as_long = [torch.as_tensor(numpy.asarray(a), dtype=torch.long, device=words_t.device) for a in (heads, first, lengths)]

    def backprop(d_args: ArgsKwargs) -> Floats2d:
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=(words_t, *as_long), kwargs={}), backprop


def _resolver_outputs(model: Model, inputs_outputs, is_train: bool):
    _, scores = inputs_outputs

    def backprop(d_scores: Floats2d) -> ArgsKwargs:
        return ArgsKwargs(args=([scores],), kwargs={"grad_tensors": [xp2torch(d_scores)]})

    return torch2xp(scores), backprop


_SPAN_MODULE = None


def _span_module():
    global _SPAN_MODULE
    if _SPAN_MODULE is not None:
        return _SPAN_MODULE
    torch = _torch()
    nn = torch.nn
    Dropout = _dropout_class()

    class SpanBoundaryScorer(nn.Module):
        def __init__(self, dim: int, hidden: int, dist_size: int, channels: int, window: int, max_distance: int):
            super().__init__()
            self.max_distance = max_distance
            # Relative positions -(md - 1) .. md - 1.
            self.distance = nn.Embedding(2 * max_distance - 1, dist_size)
            self.ffnn = nn.Sequential(
                nn.Linear(2 * dim + dist_size, hidden), nn.ReLU(), Dropout(0.3),
                nn.Linear(hidden, 256), nn.ReLU(), Dropout(0.3),
                nn.Linear(256, dist_size),
            )
            kernel = 2 * window + 1
            self.conv = nn.Sequential(nn.Conv1d(dist_size, channels, kernel, 1, window),
                                      nn.Conv1d(channels, 2, kernel, 1, window))

        def forward(self, words, heads, first, lengths):
            """Scores of each head's candidates laid end to end. Heads are scored in buckets of
            similar window length (powers of two), each padded to its own longest window: padding
            every head to the doc's longest sentence, as spacy-experimental does, scores ~2.5x the
            real candidates on LitBank, the buckets ~1.3x. The convolutions run along each head's
            own row and padding is zeroed, so the buckets give the same scores as one padded batch."""
            bucket = torch.ceil(torch.log2(lengths.clamp_min(1).to(torch.float))).to(torch.long)
            starts = torch.cumsum(lengths, 0) - lengths
            pieces, positions = [], []
            for b in torch.unique(bucket).tolist():
                rows = torch.nonzero(bucket == b).squeeze(1)
                pieces.append(self.score_rows(words, heads[rows], first[rows], lengths[rows]))
                positions.append(torch.repeat_interleave(starts[rows], lengths[rows])
                                 + _offsets_torch(lengths[rows]))
            scores = torch.cat(pieces)
            return scores[torch.argsort(torch.cat(positions))]

        def score_rows(self, words, heads, first, lengths):
            longest = int(lengths.max())
            offsets = torch.arange(longest, device=words.device)
            valid = offsets.unsqueeze(0) < lengths.unsqueeze(1)  # (heads, longest)
            cand = (first.unsqueeze(1) + offsets.unsqueeze(0)).clamp_max(words.shape[0] - 1)
            relative = (cand - heads.unsqueeze(1)).clamp(-(self.max_distance - 1), self.max_distance - 1)
            pairs = torch.cat((words[heads].unsqueeze(1).expand(-1, longest, -1), words[cand],
                               self.distance(relative + self.max_distance - 1)), dim=2)
            mask = valid.unsqueeze(1).to(words.dtype)  # (heads, 1, longest)
            # Padding is zeroed before each convolution, as the convolution's own edge padding is,
            # so a head's scores do not depend on how far its row was padded.
            hidden = self.ffnn(pairs).permute(0, 2, 1) * mask
            hidden = self.conv[0](hidden) * mask
            scores = self.conv[1](hidden).permute(0, 2, 1)  # (heads, longest, 2)
            return scores[valid]

    def _offsets_torch(lengths):
        """0..len-1 for each segment, laid end to end."""
        seg_starts = torch.cumsum(lengths, 0) - lengths
        return torch.arange(int(lengths.sum()), device=lengths.device) - torch.repeat_interleave(seg_starts, lengths)

    _SPAN_MODULE = SpanBoundaryScorer
    return SpanBoundaryScorer
