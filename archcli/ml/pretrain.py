"""Pretraining objectives: spacy.PretrainVectors.v1 and spacy.PretrainCharacters.v1.

Both are cloze tasks over the tok2vec layer being pretrained. In each batch about 15% of the
tokens are picked; of those, 80% are replaced by "[MASK]", 10% by a random word of the batch and
10% kept, and an output head on top of the tok2vec predicts something about the original word
at each picked position: its static vector, or its leading and trailing UTF-8 bytes.

Only the picked rows go through the head. spaCy runs the head on every token and then zeroes the
gradient of the unpicked ones, so the updates are the same; skipping those rows saves most of the
head's work (the 256-way softmaxes of PretrainCharacters cost more than the tok2vec itself).
The reported loss is therefore over the picked tokens, the ones that are trained.
"""
from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy
from thinc.api import CosineDistance, LayerNorm, Linear, Maxout, Model, chain, zero_init
from thinc.types import Floats2d

from ..errors import ConfigError
from .._registry import architecture_and_layer
from ..tokens import Doc
from ..tokens.attrs import ORTH
from ..tokens.vocab import Vocab

MASK_TEXT = "[MASK]"
LOSSES = ("cosine", "L2")
# Objective factories, as the [pretraining.objective] block resolves to: (vocab, tok2vec) -> Model.
ObjectiveFactory = Callable[[Vocab, Model], Model]
# A loss: (ops, original docs, ClozeOutput) -> (summed loss, tokens scored, d_scores).
LossFunc = Callable[..., Tuple[float, int, Floats2d]]


class ClozeOutput(NamedTuple):
    """Head scores for the picked tokens, and where those tokens sit in the flattened batch."""

    scores: Floats2d
    picked: numpy.ndarray  # int64 indices into the concatenation of the batch's tokens
    n_tokens: int


@architecture_and_layer("spacy.PretrainVectors.v1")
def create_pretrain_vectors(maxout_pieces: int, hidden_size: int, loss: str = "cosine") -> ObjectiveFactory:
    """Predict each picked token's static vector; needs `[initialize] vectors`."""
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {', '.join(map(repr, LOSSES))}, not {loss!r}",
                          where="pretraining.objective.loss")

    def create_vectors_objective(vocab: Vocab, tok2vec: Model) -> Model:
        width = vocab.vectors.shape[1] if vocab.vectors.data.size else 0
        if width == 0:
            raise ConfigError(
                "spacy.PretrainVectors.v1 predicts each token's static vector, but no vectors table is "
                "loaded. Set [initialize] vectors (e.g. --paths.vectors FILE.vec.gz, a word2vec/fastText "
                "text file) or use spacy.PretrainCharacters.v1",
                where="initialize.vectors",
            )
        head = chain(
            Maxout(nO=hidden_size, nI=tok2vec.maybe_get_dim("nO"), nP=maxout_pieces, normalize=True, dropout=0.0),
            Linear(nO=width, nI=hidden_size, init_W=zero_init),
        )
        return build_cloze_model(tok2vec, head, _vectors_loss(loss), name="pretrain_vectors")

    return create_vectors_objective


@architecture_and_layer("spacy.PretrainCharacters.v1")
def create_pretrain_characters(maxout_pieces: int, hidden_size: int, n_characters: int) -> ObjectiveFactory:
    """Predict the first and last `n_characters` UTF-8 bytes of each picked token (256-way each)."""
    if n_characters < 1:
        raise ConfigError(f"n_characters must be at least 1, not {n_characters}",
                          where="pretraining.objective.n_characters")
    n_positions = 2 * n_characters

    def create_characters_objective(vocab: Vocab, tok2vec: Model) -> Model:
        head = chain(
            Maxout(nO=hidden_size, nI=tok2vec.maybe_get_dim("nO"), nP=maxout_pieces, dropout=0.0),
            LayerNorm(nI=hidden_size),
            ByteSoftmax(n_positions, nI=hidden_size),
        )
        return build_cloze_model(tok2vec, head, _characters_loss(n_positions), name="pretrain_characters")

    return create_characters_objective


def ByteSoftmax(n_positions: int, nI: Optional[int] = None) -> Model[Floats2d, Floats2d]:
    """One 256-way softmax per byte position, side by side (zero-initialised, like MultiSoftmax).

    thinc's MultiSoftmax normalises column slices in place, which NumpyOps silently does not do
    for non-contiguous views; reshaping to (rows * positions, 256) keeps it one contiguous softmax.
    As for thinc's Softmax, backprop takes the gradient of the logits (probs - truth for
    cross-entropy).
    """
    return Model(
        "byte_softmax",
        _byte_softmax_forward,
        init=_byte_softmax_init,
        dims={"nO": 256 * n_positions, "nI": nI},
        attrs={"n_positions": n_positions},
        params={"W": None, "b": None},
    )


def _byte_softmax_forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    W = model.get_param("W")
    b = model.get_param("b")
    logits = model.ops.gemm(X, W, trans2=True)
    logits += b
    probs = model.ops.softmax(logits.reshape((-1, 256)), axis=-1).reshape(logits.shape)

    def backprop(d_logits: Floats2d) -> Floats2d:
        model.inc_grad("W", model.ops.gemm(d_logits, X, trans1=True))
        model.inc_grad("b", d_logits.sum(axis=0))
        return model.ops.gemm(d_logits, W)

    return probs, backprop


def _byte_softmax_init(model: Model, X: Optional[Floats2d] = None, Y=None) -> Model:
    if X is not None and X.shape[0]:
        model.set_dim("nI", X.shape[1])
    model.set_param("W", model.ops.alloc2f(model.get_dim("nO"), model.get_dim("nI")))
    model.set_param("b", model.ops.alloc1f(model.get_dim("nO")))
    return model


def build_cloze_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    head: Model[Floats2d, Floats2d],
    loss: LossFunc,
    *,
    name: str = "cloze",
    mask_prob: float = 0.15,
) -> Model[List[Doc], ClozeOutput]:
    """Wrap `tok2vec` in the masked-word task; refs `tok2vec` and `output_layer`, attr `loss`."""
    return Model(
        name,
        cloze_forward,
        init=cloze_init,
        layers=[tok2vec, head],
        refs={"tok2vec": tok2vec, "output_layer": head},
        attrs={"loss": loss, "mask_prob": mask_prob},
    )


def cloze_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[ClozeOutput, Callable]:
    ops = model.ops
    tok2vec, head = model.layers
    lengths = [len(doc) for doc in docs]
    lex = numpy.concatenate([doc.lex for doc in docs]) if docs else numpy.zeros((0,), dtype="int32")
    picked, masked_lex = mask_tokens(lex, docs[0].vocab if docs else None, model.attrs["mask_prob"])
    tokvecs, bp_tokvecs = tok2vec(_with_lex(docs, masked_lex, lengths), is_train)
    flat = _flatten(ops, tokvecs, tok2vec.maybe_get_dim("nO"))
    rows = ops.asarray1i(picked, dtype="int64") if picked.size else ops.alloc1i(0)
    scores, bp_head = head(flat[rows], is_train)

    def backprop(d_scores: Floats2d) -> List:
        d_flat = ops.alloc2f(*flat.shape)
        d_flat[rows] = bp_head(d_scores)
        # A layer that outputs one array for the batch (the parser's "tok2vec" ref) gets one back.
        return bp_tokvecs(ops.unflatten(d_flat, ops.asarray1i(lengths)) if isinstance(tokvecs, list) else d_flat)

    return ClozeOutput(scores, picked, len(lex)), backprop


def cloze_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    """Initialise the head on the tok2vec's output; an initialised tok2vec keeps its weights."""
    tok2vec, head = model.layers
    if X is None:
        return model
    if not _is_initialized(tok2vec):
        tok2vec.initialize(X=X)
    head.initialize(X=_flatten(model.ops, tok2vec.predict(X), tok2vec.maybe_get_dim("nO")))
    return model


def mask_tokens(lex: numpy.ndarray, vocab: Optional[Vocab], mask_prob: float) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Pick ~mask_prob of the tokens (at least one) and corrupt them BERT-style.

    Returns the picked indices and the corrupted lexeme rows. Random replacements are drawn from
    the batch itself, i.e. by unigram frequency (spaCy draws from the vocab's probability table,
    which an archcli vocab does not have). Uses numpy's global RNG, so `fix_random_seed` fixes it.
    """
    n = lex.shape[0]
    if n == 0 or vocab is None:
        return numpy.zeros((0,), dtype="int64"), lex
    picked = numpy.flatnonzero(numpy.random.uniform(0.0, 1.0, n) < mask_prob)
    if picked.size == 0:
        picked = numpy.asarray([numpy.random.randint(n)], dtype="int64")
    roll = numpy.random.uniform(0.0, 1.0, picked.size)
    masked = lex.copy()
    to_mask = picked[roll < 0.8]
    masked[to_mask] = vocab.lex_id(MASK_TEXT)
    to_random = picked[(roll >= 0.8) & (roll < 0.9)]
    masked[to_random] = lex[numpy.random.randint(0, n, to_random.size)]
    return picked.astype("int64"), masked


def get_loss(model: Model, docs: List[Doc], output: ClozeOutput) -> Tuple[float, int, Floats2d]:
    """The objective's loss: (summed over scored tokens, number scored, gradient of the scores)."""
    return model.attrs["loss"](model.ops, docs, output)


def _vectors_loss(kind: str) -> LossFunc:
    cosine = CosineDistance(normalize=False, ignore_zeros=True)

    def vectors_loss(ops, docs: List[Doc], output: ClozeOutput) -> Tuple[float, int, Floats2d]:
        """Distance to the original words' vectors; unknown words have a zero target row.

        The gradient is divided by the number of tokens in the batch, as spaCy does (it computes
        the distance over all tokens and zeroes the unpicked rows afterwards).
        """
        vocab = docs[0].vocab
        lex = numpy.concatenate([doc.lex for doc in docs])[output.picked]
        rows = vocab.vector_rows(ORTH)[lex]
        known = rows >= 0
        target = _device_vectors(ops, vocab)[ops.asarray1i(numpy.where(known, rows, 0), dtype="int64")]
        target[ops.asarray(~known, dtype="bool")] = 0
        scores = output.scores
        n_total = float(max(output.n_tokens, 1))
        if kind == "cosine":
            d_scores = cosine.get_grad(scores, target) / n_total
            similarity = cosine.get_similarity(scores, target).ravel()
            loss = float((1.0 - similarity)[ops.asarray(known, dtype="bool")].sum())
            return loss, int(known.sum()), d_scores
        diff = scores - target
        return float((diff**2).sum()), int(lex.size), diff / n_total

    return vectors_loss


def _characters_loss(n_positions: int) -> LossFunc:
    def characters_loss(ops, docs: List[Doc], output: ClozeOutput) -> Tuple[float, int, Floats2d]:
        """Cross-entropy of each byte position's softmax, summed over positions.

        ByteSoftmax's backprop takes the gradient of the logits, which for softmax + cross-entropy
        is `probs - one_hot`; divided by the batch's token count as in spaCy.
        """
        vocab = docs[0].vocab
        lex = numpy.concatenate([doc.lex for doc in docs])[output.picked]
        byte_ids = ops.asarray1i(vocab.char_table(n_positions)[lex].ravel(), dtype="int64")
        n_rows = lex.shape[0]
        probs = output.scores.reshape((n_rows * n_positions, 256))
        cells = ops.xp.arange(n_rows * n_positions)
        loss = float(-ops.xp.log(probs[cells, byte_ids] + 1e-8).sum())
        d_probs = probs.copy()
        d_probs[cells, byte_ids] -= 1.0
        d_probs /= float(max(output.n_tokens, 1))
        return loss, n_rows, d_probs.reshape((n_rows, n_positions * 256))

    return characters_loss


def _device_vectors(ops, vocab: Vocab) -> Floats2d:
    """The vectors table on the ops' device, cached on the Vectors so a GPU run copies it once."""
    vectors = vocab.vectors
    cache = vectors.__dict__.setdefault("_device_cache", {})
    key = (type(ops).__name__, id(vectors.data))
    if key not in cache:
        cache.clear()
        cache[key] = ops.asarray2f(vectors.data)
    return cache[key]


def _with_lex(docs: List[Doc], lex: numpy.ndarray, lengths: List[int]) -> List[Doc]:
    """Blank copies of `docs` whose words are the (corrupted) lexeme rows `lex`."""
    out = []
    start = 0
    for doc, length in zip(docs, lengths):
        copy = doc.copy(annotations=False)
        copy.lex = lex[start : start + length]
        out.append(copy)
        start += length
    return out


def _flatten(ops, tokvecs, width: Optional[int]) -> Floats2d:
    if not isinstance(tokvecs, list):
        return tokvecs
    return ops.flatten(tokvecs) if tokvecs else ops.alloc2f(0, width or 0)


def _is_initialized(model: Model) -> bool:
    return all(node.has_param(name) is not None for node in model.walk() for name in node.param_names)
