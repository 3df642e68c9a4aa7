"""The span categoriser: label arbitrary, possibly nested or overlapping spans into doc.spans[key].

A suggester proposes candidate spans (by default every 1-, 2- and 3-gram); the model gives each
candidate an independent probability per label; candidates with a label at or above `threshold`
(at most `max_positive` labels each) are stored. Gold spans come from the reference doc's
`spans[spans_key]`; a candidate that is not a gold span is a negative for every label.
"""
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from thinc.api import Model, Optimizer, set_dropout_rate
from thinc.types import Floats2d, Ragged

from ..errors import ArchcliError, ConfigError
from ..ml.spancat import ngram_suggester
from ..tokens import Doc, Span
from ..tokens.example import Example
from .base import LabelledPipe
from .factories import factory

DEFAULT_SPANCAT_CONFIG = """
[component]
threshold = 0.5
spans_key = "sc"
max_positive = null
scorer = {"@scorers":"spacy.spancat_scorer.v1"}

[component.suggester]
@misc = "spacy.ngram_suggester.v1"
sizes = [1,2,3]

[component.model]
@architectures = "spacy.SpanCategorizer.v1"

[component.model.reducer]
@layers = "spacy.mean_max_reducer.v1"
hidden_size = 128

[component.model.scorer]
@layers = "spacy.LinearLogistic.v1"
nO = null
nI = null

[component.model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[component.model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 96
rows = [5000, 1000, 2500, 1000]
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
include_static_vectors = false

[component.model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 96
window_size = 1
maxout_pieces = 3
depth = 4
"""

DEFAULT_SPANS_KEY = "sc"
# Candidates scored per model call at prediction time (bounds the span tensors' memory).
MAX_CANDIDATES = 20000


@factory("spancat", default_config=DEFAULT_SPANCAT_CONFIG,
         default_score_weights={"spans_sc_f": 1.0, "spans_sc_p": 0.0, "spans_sc_r": 0.0})
def make_spancat(
    nlp,
    name: str,
    model: Model,
    suggester: Callable[..., Ragged],
    spans_key: str = DEFAULT_SPANS_KEY,
    threshold: float = 0.5,
    max_positive: Optional[int] = None,
    scorer: Optional[Callable] = None,
) -> "SpanCategorizer":
    if max_positive is not None and max_positive < 1:
        raise ConfigError(f"must be a positive number of labels or null, got {max_positive}",
                          where=f"components.{name}.max_positive")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"must be a probability in [0, 1], got {threshold}", where=f"components.{name}.threshold")
    return SpanCategorizer(nlp.vocab, model, suggester, name, spans_key=spans_key, threshold=threshold,
                           max_positive=max_positive, scorer=scorer)


class SpanCategorizer(LabelledPipe):
    def __init__(
        self,
        vocab,
        model: Model,
        suggester: Callable[..., Ragged],
        name: str = "spancat",
        *,
        spans_key: str = DEFAULT_SPANS_KEY,
        threshold: float = 0.5,
        max_positive: Optional[int] = None,
        scorer: Optional[Callable] = None,
    ) -> None:
        super().__init__(vocab, model, name, spans_key=spans_key, threshold=threshold,
                         max_positive=max_positive)
        self.suggester = suggester
        self.scorer = scorer

    @property
    def key(self) -> str:
        return str(self.cfg["spans_key"])

    def _check_can_add(self, label: str) -> None:
        scorer = self.model.get_ref("scorer")
        if any(node.has_param("W") for node in scorer.walk() if "W" in node.param_names):
            raise ArchcliError(f"component '{self.name}' cannot add label '{label}' after its model is initialised "
                               f"with {len(self.labels)} outputs (spancat models are not resizable)")

    # --- running ----------------------------------------------------------------------------------
    def predict(self, docs: List[Doc]) -> Tuple[Ragged, Floats2d]:
        """Candidates and their scores; docs go through the model in groups of at most
        MAX_CANDIDATES candidates, so memory stays flat however large the `pipe` batch is."""
        indices = self.suggester(docs, ops=self.model.ops)
        ops = self.model.ops
        per_doc = ops.to_numpy(indices.lengths).astype("int64")
        if int(per_doc.sum()) == 0:
            return indices, ops.alloc2f(0, len(self.labels))
        ends = numpy.cumsum(per_doc)
        scores = []
        first_doc, first_row = 0, 0
        while first_doc < len(docs):
            # The last doc whose candidates still fit (at least one doc per group).
            last = max(int(numpy.searchsorted(ends, first_row + MAX_CANDIDATES, side="right")), first_doc + 1)
            rows = int(ends[last - 1])
            if rows > first_row:
                group = Ragged(indices.dataXd[first_row:rows], indices.lengths[first_doc:last])
                scores.append(self.model.predict((docs[first_doc:last], group)))
            first_doc, first_row = last, rows
        return indices, scores[0] if len(scores) == 1 else ops.xp.concatenate(scores)

    def set_annotations(self, docs: List[Doc], indices_scores: Tuple[Ragged, Floats2d]) -> None:
        """Keep each candidate's labels scoring >= threshold (its best `max_positive` of them)."""
        indices, scores = indices_scores
        ops = self.model.ops
        spans = ops.to_numpy(indices.dataXd).reshape((-1, 2))
        per_doc = ops.to_numpy(indices.lengths).astype("int64")
        scores = ops.to_numpy(scores)
        keep = scores >= self.cfg["threshold"]
        max_positive = self.cfg["max_positive"]
        if max_positive is not None and scores.shape[1] > max_positive:
            # Zero out all but the top-k labels of each candidate.
            top = numpy.argpartition(-scores, max_positive - 1, axis=1)[:, :max_positive]
            in_top = numpy.zeros_like(keep)
            numpy.put_along_axis(in_top, top, True, axis=1)
            keep &= in_top
        rows, cols = numpy.nonzero(keep)
        bounds = numpy.searchsorted(rows, numpy.cumsum(per_doc))
        labels = self.labels
        key = self.key
        starts, ends = spans[rows, 0].tolist(), spans[rows, 1].tolist()
        label_ids = cols.tolist()
        begin = 0
        for doc, end in zip(docs, bounds.tolist()):
            doc.spans[key] = [Span(doc, starts[j], ends[j], labels[label_ids[j]]) for j in range(begin, end)]
            begin = end

    # --- training ---------------------------------------------------------------------------------
    def update(
        self,
        examples: List[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return losses
        spans = self.suggester(docs, ops=self.model.ops)
        if int(spans.lengths.sum()) == 0:
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update((docs, spans))
        loss, d_scores = self.get_loss(examples, (spans, scores))
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def gold_targets(self, examples: List[Example], spans: Ragged, n_labels: int) -> numpy.ndarray:
        """(n_candidates, n_labels) 0/1 targets: 1 where a candidate is a gold span with that label.

        Candidates and gold spans become int64 keys (doc, start, end) and meet by one sorted search.
        """
        ops = self.model.ops
        cand = ops.to_numpy(spans.dataXd).reshape((-1, 2)).astype("int64")
        per_doc = ops.to_numpy(spans.lengths).astype("int64")
        target = numpy.zeros((cand.shape[0], n_labels), dtype="f")
        label_map = {label: i for i, label in enumerate(self.labels)}
        gold = [(i, span.start, span.end, label_map.get(span.label_, -1))
                for i, eg in enumerate(examples) for span in eg.reference.spans.get(self.key, ())]
        if not gold or not cand.shape[0]:
            return target
        gold_arr = numpy.asarray(gold, dtype="int64")
        gold_arr = gold_arr[gold_arr[:, 3] >= 0]
        size = max(max(len(eg.reference) for eg in examples), int(cand.max(initial=0))) + 1
        owner = numpy.repeat(numpy.arange(len(examples), dtype="int64"), per_doc)
        cand_keys = (owner * size + cand[:, 0]) * size + cand[:, 1]
        gold_keys = (gold_arr[:, 0] * size + gold_arr[:, 1]) * size + gold_arr[:, 2]
        order = numpy.argsort(cand_keys, kind="stable")
        pos = numpy.searchsorted(cand_keys[order], gold_keys).clip(0, len(order) - 1)
        found = cand_keys[order][pos] == gold_keys
        target[order[pos[found]], gold_arr[found, 3]] = 1.0
        return target

    def get_loss(self, examples: List[Example], spans_scores: Tuple[Ragged, Floats2d]) -> Tuple[float, Floats2d]:
        """Squared error of every candidate's label probabilities against its 0/1 targets (spaCy's loss)."""
        spans, scores = spans_scores
        target = self.gold_targets(examples, spans, scores.shape[1])
        d_scores = scores - self.model.ops.asarray2f(target)
        return float((d_scores**2).sum()), d_scores

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp=None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Labels from the gold spans under `spans_key` (in order of appearance); size the model."""
        # One pass over the stream (the corpus may be larger than memory): labels and span keys seen.
        seen: Dict[str, None] = {}
        keys_seen: Dict[str, None] = {}
        for eg in get_examples():
            seen.update(dict.fromkeys(span.label_ for span in eg.reference.spans.get(self.key, ())))
            keys_seen.update(dict.fromkeys(eg.reference.spans))
        self.set_labels(list(seen) if labels is None else labels)
        if not self.labels:
            keys = sorted(keys_seen)
            found = f"; the docs have span keys {keys}" if keys else "; the docs have no span groups at all"
            raise ArchcliError(
                f"component '{self.name}' found no labelled spans under doc.spans['{self.key}'] in the training "
                f"data{found}", where=f"components.{self.name}.spans_key")
        scorer = self.model.get_ref("scorer")
        self._check_output_width(next(n for n in scorer.walk() if "W" in n.param_names), "model.scorer.nO")
        docs = [eg.reference for eg in islice(get_examples(), 10)]
        candidates = ngram_suggester(docs, [1], ops=self.model.ops)
        n = int(candidates.lengths.sum())
        self.model.initialize(X=(docs, candidates), Y=self.model.ops.alloc2f(n, len(self.labels)))

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        if self.scorer is None:
            return {}
        settings: Dict[str, Any] = {k: v for k, v in self.cfg.items() if k != "labels"}
        settings["labels"] = self.labels
        settings.update(kwargs)
        return self.scorer(list(examples), **settings)
