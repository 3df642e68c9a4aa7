"""Coreference components: `experimental_coref` (head-word clusters) and `experimental_span_resolver`
(full mention spans from those heads), with spacy-experimental's factory names and options.

The coref component links each word to its best-scoring earlier word (or to none) and writes
the connected groups as `doc.spans["coref_head_clusters_N"]` (N from 1), one one-token span per
mention head. The span resolver reads those groups and writes `doc.spans["coref_clusters_N"]`:
the same clusters with each head grown to its mention's start and end.

Training: the coref loss is the negative marginal log-likelihood of the gold antecedents among the
kept candidates ("no antecedent" when a word has none); the span resolver learns start and end
as a softmax over each head's candidate words, on gold heads. Both may train together (listening
to one tok2vec) or the resolver after the coref component, frozen.
"""
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from thinc.api import Model, Optimizer

from ..coref_scoring import head_target_spans
from ..errors import ArchcliError, ConfigError, CorpusError
from ..ml.coref import _is_cluster_key, head_candidates, head_ids
from ..tokens import Doc, Span
from ..tokens.example import Example, copy_gold_sentences
from .base import TrainablePipe
from .factories import factory

HEAD_PREFIX = "coref_head_clusters"
SPAN_PREFIX = "coref_clusters"

_COREF_TOK2VEC = """
[component.model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[component.model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v1"
width = 64
attrs = ["NORM","LOWER","PREFIX","SUFFIX","SHAPE"]
rows = [5000,2500,1000,2500,2500]
include_static_vectors = false

[component.model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 64
window_size = 1
maxout_pieces = 3
depth = 2
"""

DEFAULT_COREF_CONFIG = """
[component]
span_cluster_prefix = "coref_head_clusters"
scorer = {"@scorers":"spacy-experimental.coref_scorer.v1","span_cluster_prefix":"coref_head_clusters"}

[component.model]
@architectures = "spacy-experimental.Coref.v1"
distance_embedding_size = 20
hidden_size = 1024
depth = 1
dropout = 0.3
antecedent_limit = 50
antecedent_batch_size = 512
""" + _COREF_TOK2VEC

DEFAULT_SPAN_RESOLVER_CONFIG = """
[component]
input_prefix = "coref_head_clusters"
output_prefix = "coref_clusters"
scorer = {"@scorers":"spacy-experimental.span_resolver_scorer.v1","input_prefix":"coref_head_clusters","output_prefix":"coref_clusters"}

[component.model]
@architectures = "spacy-experimental.SpanResolver.v1"
hidden_size = 1024
distance_embedding_size = 64
conv_channels = 4
window_size = 1
max_distance = 128
prefix = "coref_head_clusters"
""" + _COREF_TOK2VEC


def cluster_groups(doc: Doc, prefix: str) -> List[Tuple[int, List[Span]]]:
    """(N, spans) of every `prefix_N` group of the doc, by N."""
    groups = [(int(key[len(prefix) + 1:]), spans) for key, spans in doc.spans.items() if _is_cluster_key(key, prefix)]
    return sorted(groups, key=lambda item: item[0])


def _check_prefix(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"must be a non-empty string, not {value!r}", where=where)


def _clear_groups(doc: Doc, prefix: str) -> None:
    for key in [k for k in doc.spans if _is_cluster_key(k, prefix)]:
        del doc.spans[key]


class _TorchScorerPipe(TrainablePipe):
    """A component whose torch scorer is built at initialisation, when its input width is known:
    the width is kept in cfg so a loaded component builds the same layer before its weights load."""

    scorer_ref = ""

    def _record_width(self) -> None:
        self.cfg["nI"] = int(self.model.get_ref(self.scorer_ref).get_dim("nI"))

    def _after_cfg_loaded(self) -> None:
        scorer = self.model.get_ref(self.scorer_ref)
        if not scorer.layers and self.cfg.get("nI"):
            if scorer.maybe_get_dim("nI") is None:
                scorer.set_dim("nI", int(self.cfg["nI"]))
            scorer.initialize()


def _segment_softmax(scores: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """Softmax within each consecutive segment of `scores` (lengths > 0)."""
    starts = numpy.cumsum(lengths) - lengths
    owner = numpy.repeat(numpy.arange(len(lengths)), lengths)
    finite = numpy.where(numpy.isfinite(scores), scores, -numpy.inf)
    maxes = numpy.maximum.reduceat(finite, starts)
    exp = numpy.exp(finite - maxes[owner])
    return exp / numpy.add.reduceat(exp, starts)[owner]


def _segment_argmax(scores: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """Offset of the maximum within each segment (the first on ties)."""
    starts = numpy.cumsum(lengths) - lengths
    owner = numpy.repeat(numpy.arange(len(lengths)), lengths)
    order = numpy.lexsort((numpy.arange(len(scores)), -scores, owner))
    return order[starts] - starts


# --- word-level coreference ----------------------------------------------------------------------
@factory("experimental_coref", default_config=DEFAULT_COREF_CONFIG,
         default_score_weights={"coref_f": 1.0, "coref_p": None, "coref_r": None})
def make_coref(nlp, name: str, model: Model, span_cluster_prefix: str, scorer: Optional[Callable]) -> "CoreferenceResolver":
    _check_prefix(span_cluster_prefix, f"components.{name}.span_cluster_prefix")
    return CoreferenceResolver(nlp.vocab, model, name, span_cluster_prefix=span_cluster_prefix, scorer=scorer)


class CoreferenceResolver(_TorchScorerPipe):
    scorer_ref = "coref_scorer"

    def __init__(self, vocab, model: Model, name: str = "coref", *, span_cluster_prefix: str = HEAD_PREFIX,
                 scorer: Optional[Callable] = None) -> None:
        super().__init__(vocab, model, name, span_cluster_prefix=span_cluster_prefix)
        self.scorer = scorer

    @property
    def prefix(self) -> str:
        return str(self.cfg["span_cluster_prefix"])

    def predict(self, docs: List[Doc]) -> List[List[numpy.ndarray]]:
        """Per doc, its clusters as arrays of head word indices."""
        docs = list(docs)
        if not any(len(doc) > 1 for doc in docs):
            return [[] for _ in docs]
        # The whole batch goes through the model (a listener must see its upstream's batch).
        return [clusters_from_scores(self.model.ops.to_numpy(scores), self.model.ops.to_numpy(indices))
                if len(doc) > 1 else []
                for doc, (scores, indices) in zip(docs, self.model.predict(docs))]

    def set_annotations(self, docs: List[Doc], clusters_by_doc: List[List[numpy.ndarray]]) -> None:
        for doc, clusters in zip(docs, clusters_by_doc):
            _clear_groups(doc, self.prefix)
            for n, words in enumerate(clusters, start=1):
                doc.spans[f"{self.prefix}_{n}"] = [Span(doc, int(i), int(i) + 1) for i in words.tolist()]

    def get_loss(self, examples: List[Example], outputs):
        """Negative marginal log-likelihood of the gold antecedents among each word's candidates;
        its gradient is softmax(scores) - softmax(scores restricted to the gold ones)."""
        ops = self.model.ops
        total = 0.0
        grads = []
        for eg, (scores, indices) in zip(examples, outputs):
            scores_np = ops.to_numpy(scores)
            gold = gold_antecedents(head_cluster_ids(eg.reference, self.prefix), ops.to_numpy(indices))
            with numpy.errstate(divide="ignore"):
                log_gold = numpy.log(gold.astype("float32"))
            norm = _softmax_rows(scores_np)
            marg = _softmax_rows(scores_np + log_gold)
            total += float((_logsumexp_rows(scores_np) - _logsumexp_rows(scores_np + log_gold)).sum())
            grads.append((ops.asarray2f(norm - marg), None))
        return total, grads

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None) -> None:
        docs = [eg.reference for eg in islice(get_examples(), 10) if len(eg.reference) > 1]
        if not docs:
            raise ArchcliError(f"component '{self.name}' needs training documents of at least 2 words")
        if not any(cluster_groups(doc, self.prefix) for eg in islice(get_examples(), 1000) for doc in [eg.reference]):
            raise ArchcliError(f"component '{self.name}' found no doc.spans['{self.prefix}_N'] head clusters in the "
                               "training data", where=f"components.{self.name}.span_cluster_prefix")
        self.model.initialize(X=docs)
        self._record_width()


def head_cluster_ids(doc: Doc, prefix: str) -> numpy.ndarray:
    """Cluster number of each word in the doc's head clusters (-1 for words in none); a word
    heading mentions of two clusters keeps the first."""
    ids = numpy.full((len(doc),), -1, dtype="int64")
    for n, spans in reversed(cluster_groups(doc, prefix)):
        ids[[s.start for s in spans]] = n
    return ids


def gold_antecedents(cluster_ids: numpy.ndarray, indices: numpy.ndarray) -> numpy.ndarray:
    """(words, k + 1) bool: column 0 "no antecedent" where no candidate is a gold antecedent."""
    n = len(cluster_ids)
    mine = cluster_ids[:, None]
    cand = cluster_ids[indices]
    earlier = indices < numpy.arange(n)[:, None]
    gold = (mine >= 0) & (cand == mine) & earlier
    return numpy.concatenate([~gold.any(axis=1, keepdims=True), gold], axis=1)


def clusters_from_scores(scores: numpy.ndarray, indices: numpy.ndarray) -> List[numpy.ndarray]:
    """Link each word to its best candidate (column 0: none), then group linked words: every link
    points to an earlier word, so pointer jumping finds each word's root in log(words) steps."""
    n = scores.shape[0]
    best = scores.argmax(axis=1)
    rows = numpy.arange(n)
    linked = best > 0
    parent = numpy.where(linked, indices[rows, numpy.maximum(best - 1, 0)], rows)
    parent = numpy.where(parent < rows, parent, rows)
    while True:
        jumped = parent[parent]
        if (jumped == parent).all():
            break
        parent = jumped
    members = numpy.flatnonzero((parent != rows) | numpy.isin(rows, parent[parent != rows]))
    if not len(members):
        return []
    roots = parent[members]
    order = numpy.lexsort((members, roots))
    roots, members = roots[order], members[order]
    bounds = numpy.flatnonzero(numpy.diff(roots)) + 1
    return numpy.split(members, bounds)


def _softmax_rows(x: numpy.ndarray) -> numpy.ndarray:
    m = x.max(axis=1, keepdims=True)
    e = numpy.exp(x - m)
    return e / e.sum(axis=1, keepdims=True)


def _logsumexp_rows(x: numpy.ndarray) -> numpy.ndarray:
    m = x.max(axis=1, keepdims=True)
    return (m + numpy.log(numpy.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


# --- span resolution ---------------------------------------------------------------------------------
@factory("experimental_span_resolver", default_config=DEFAULT_SPAN_RESOLVER_CONFIG,
         default_score_weights={"span_coref_clusters_accuracy": 1.0})
def make_span_resolver(nlp, name: str, model: Model, input_prefix: str, output_prefix: str,
                       scorer: Optional[Callable]) -> "SpanResolver":
    _check_prefix(input_prefix, f"components.{name}.input_prefix")
    _check_prefix(output_prefix, f"components.{name}.output_prefix")
    if input_prefix == output_prefix:
        raise ConfigError("must differ from input_prefix: the resolver would overwrite the clusters it reads",
                          where=f"components.{name}.output_prefix")
    model_prefix = model.attrs.get("prefix")
    if model_prefix != input_prefix:
        raise ConfigError(f"is '{input_prefix}', but the model reads heads from '{model_prefix}' "
                          f"(components.{name}.model.prefix); make them the same", where=f"components.{name}.input_prefix")
    return SpanResolver(nlp.vocab, model, name, input_prefix=input_prefix, output_prefix=output_prefix, scorer=scorer)


class SpanResolver(_TorchScorerPipe):
    scorer_ref = "span_resolver"

    def __init__(self, vocab, model: Model, name: str = "span_resolver", *, input_prefix: str = HEAD_PREFIX,
                 output_prefix: str = SPAN_PREFIX, scorer: Optional[Callable] = None) -> None:
        super().__init__(vocab, model, name, input_prefix=input_prefix, output_prefix=output_prefix)
        self.scorer = scorer

    @property
    def max_distance(self) -> int:
        return int(self.model.get_ref("span_resolver").attrs["max_distance"])

    def predict(self, docs: List[Doc]) -> List[List[Tuple[int, List[Tuple[int, int]]]]]:
        """Per doc: (N, [(start, end), …]) for each head cluster N."""
        docs = list(docs)
        if not docs:
            return []
        outputs = self.model.predict(docs)
        prefix = self.cfg["input_prefix"]
        result = []
        for doc, scores in zip(docs, outputs):
            heads = head_ids(doc, prefix)
            if not len(heads):
                result.append([])
                continue
            first, lengths = head_candidates(doc, heads, self.max_distance)
            scores = self.model.ops.to_numpy(scores)
            cand = numpy.repeat(first, lengths) + _offsets(lengths)
            owner_head = numpy.repeat(heads, lengths)
            starts = _segment_argmax(numpy.where(cand <= owner_head, scores[:, 0], -numpy.inf), lengths) + first
            ends = _segment_argmax(numpy.where(cand >= owner_head, scores[:, 1], -numpy.inf), lengths) + first + 1
            spans = list(zip(starts.tolist(), ends.tolist()))
            clusters, begin = [], 0
            for n, group in cluster_groups(doc, prefix):
                clusters.append((n, spans[begin:begin + len(group)]))
                begin += len(group)
            result.append(clusters)
        return result

    def set_annotations(self, docs: List[Doc], clusters_by_doc) -> None:
        out = self.cfg["output_prefix"]
        for doc, clusters in zip(docs, clusters_by_doc):
            _clear_groups(doc, out)
            for n, spans in clusters:
                doc.spans[f"{out}_{n}"] = [Span(doc, s, e) for s, e in spans]

    def use_gold_inputs(self, examples: Iterable[Example]) -> None:
        """At evaluation: the gold sentence starts on blank docs that have none (the candidates of
        a head are the words of its sentence; without boundaries the whole doc is one sentence)."""
        copy_gold_sentences(examples)

    def use_gold_heads(self, examples: Iterable[Example]) -> None:
        """Training reads the gold head clusters (spacy-experimental trains the resolver on them),
        and the gold sentences where the predicted docs have none, as at evaluation."""
        examples = list(examples)
        copy_gold_sentences(examples)
        prefix = self.cfg["input_prefix"]
        for eg in examples:
            _clear_groups(eg.predicted, prefix)
            for n, spans in cluster_groups(eg.reference, prefix):
                eg.predicted.spans[f"{prefix}_{n}"] = [Span(eg.predicted, s.start, s.end) for s in spans]

    def update(self, examples: List[Example], *, drop: float = 0.0, sgd: Optional[Optimizer] = None,
               losses: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        self.use_gold_heads(examples)
        if not any(len(head_ids(eg.predicted, self.cfg["input_prefix"])) for eg in examples):
            losses = {} if losses is None else losses
            losses.setdefault(self.name, 0.0)
            return losses
        return super().update(examples, drop=drop, sgd=sgd, losses=losses)

    def gold_bounds(self, eg: Example) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """Gold (start, end) of each head's mention, in head order (`head_target_spans`); -1 where none."""
        head_prefix, span_prefix = self.cfg["input_prefix"], self.cfg["output_prefix"]
        groups = head_target_spans(eg.reference, head_prefix, span_prefix)
        for n, group in groups:
            missing = [head for head, start, _ in group if start < 0]
            if missing:
                word = eg.reference[missing[0]].text
                has_group = f"{span_prefix}_{n}" in eg.reference.spans
                raise CorpusError(
                    f"doc.spans['{head_prefix}_{n}'] has {len(missing)} head(s) (the first: {word!r}, token "
                    f"{missing[0]}) that no mention of doc.spans['{span_prefix}_{n}'] contains"
                    + ("" if has_group else f" (the doc has no '{span_prefix}_{n}' group)")
                    + "; the span resolver learns each head's span from the full-span cluster with the same N",
                    where=eg.source or "a training example")
        targets = [t for _, group in groups for t in group]
        bounds = numpy.asarray([(s, e) for _, s, e in targets], dtype="int64").reshape(-1, 2)
        return bounds[:, 0], bounds[:, 1]

    def get_loss(self, examples: List[Example], outputs):
        """Cross-entropy of the gold start and end among each head's candidates; heads whose gold
        span does not fit the candidates (longer than max_distance, or across sentences) are skipped."""
        ops = self.model.ops
        total = 0.0
        grads = []
        for eg, scores in zip(examples, outputs):
            heads = head_ids(eg.predicted, self.cfg["input_prefix"])
            if not len(heads):
                grads.append(ops.alloc2f(0, 2))
                continue
            scores_np = ops.to_numpy(scores)
            first, lengths = head_candidates(eg.predicted, heads, self.max_distance)
            gold_start, gold_end = self.gold_bounds(eg)
            fits = (gold_start >= first) & (gold_end - 1 < first + lengths) & (gold_start >= 0)
            starts_at = numpy.cumsum(lengths) - lengths
            d = numpy.zeros_like(scores_np)
            for col, gold in ((0, gold_start), (1, gold_end - 1)):
                probs = _segment_softmax(scores_np[:, col], lengths)
                target = numpy.zeros_like(probs)
                rows = (starts_at + gold - first)[fits]
                target[rows] = 1.0
                keep = numpy.repeat(fits, lengths)
                d[:, col] = numpy.where(keep, probs - target, 0.0)
                total += float(-numpy.log(numpy.maximum(probs[rows], 1e-12)).sum())
            grads.append(ops.asarray2f(d))
        return total, grads

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None) -> None:
        examples = [eg for eg in islice(get_examples(), 10)]
        self.use_gold_heads(examples)
        docs = [eg.predicted for eg in examples]
        if not any(len(head_ids(doc, self.cfg["input_prefix"])) for doc in docs):
            raise ArchcliError(f"component '{self.name}' found no doc.spans['{self.cfg['input_prefix']}_N'] head "
                               "clusters in the training data", where=f"components.{self.name}.input_prefix")
        self.model.initialize(X=docs)
        self._record_width()


def _offsets(lengths: numpy.ndarray) -> numpy.ndarray:
    """0..len-1 for each segment, laid end to end."""
    starts = numpy.cumsum(lengths) - lengths
    return numpy.arange(int(lengths.sum())) - numpy.repeat(starts, lengths)
