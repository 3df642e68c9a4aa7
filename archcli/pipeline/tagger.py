"""The tagger component: one label per token into `Token.tag`."""
from typing import Callable, Dict, Iterable, List, Optional

import numpy
from thinc.api import Model

from ..errors import ArchcliError, ConfigError
from ..tokens import Doc
from ..tokens.strings import hash_string
from ..tokens.example import Example
from .base import LabelledPipe
from .factories import default_tok2vec_block, factory

DEFAULT_TAGGER_CONFIG = """
[component]
overwrite = false
label_smoothing = 0.0
neg_prefix = "!"
scorer = {"@scorers":"spacy.tagger_scorer.v1"}

[component.model]
@architectures = "spacy.Tagger.v2"
nO = null
normalize = false
""" + default_tok2vec_block("component.model.tok2vec")


@factory(
    "tagger",
    default_config=DEFAULT_TAGGER_CONFIG,
    default_score_weights={"tag_acc": 1.0},
)
def make_tagger(
    nlp,
    name: str,
    model: Model,
    overwrite: bool = False,
    scorer: Optional[Callable] = None,
    neg_prefix: str = "!",
    label_smoothing: float = 0.0,
) -> "Tagger":
    # thinc's CategoricalCrossentropy refuses a negative value, and one that gives the gold tag no
    # more probability than the others ((n - 1) / n of n tags, checked once the tags are known).
    if (not isinstance(label_smoothing, (int, float)) or isinstance(label_smoothing, bool)
            or not 0.0 <= label_smoothing < 1.0):
        raise ConfigError(f"must be a number in [0, 1), not {label_smoothing!r}",
                          where=f"components.{name}.label_smoothing")
    return Tagger(nlp.vocab, model, name, overwrite=overwrite, scorer=scorer, neg_prefix=neg_prefix,
                  label_smoothing=label_smoothing)


class Tagger(LabelledPipe):
    def __init__(
        self,
        vocab,
        model: Model,
        name: str = "tagger",
        *,
        overwrite: bool = False,
        scorer: Optional[Callable] = None,
        neg_prefix: str = "!",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(vocab, model, name, overwrite=overwrite, neg_prefix=neg_prefix,
                         label_smoothing=label_smoothing)
        self.scorer = scorer
        self._label_keys = numpy.zeros((0,), dtype="uint64")
        self._neg_keys = numpy.zeros((0,), dtype="uint64")

    def _labels_changed(self) -> None:
        keys = [self.vocab.strings.add(label) for label in self.labels]
        self._label_keys = numpy.asarray(keys, dtype="uint64")
        prefix = self.cfg.get("neg_prefix") or ""
        neg_keys = [hash_string(prefix + label) for label in self.labels] if prefix else []
        self._neg_keys = numpy.asarray(neg_keys, dtype="uint64")

    def predict(self, docs: List[Doc]) -> List[numpy.ndarray]:
        if not any(len(doc) for doc in docs):
            return [numpy.zeros((len(doc),), dtype="int64") for doc in docs]
        scores = self.model.predict(docs)
        xp = self.model.ops.xp
        if not scores:
            return []
        lengths = [s.shape[0] for s in scores]
        best = self.model.ops.to_numpy(xp.concatenate(scores).argmax(axis=1))
        return numpy.split(best, numpy.cumsum(lengths)[:-1])

    def set_annotations(self, docs: List[Doc], guesses: List[numpy.ndarray]) -> None:
        keys = self._label_keys
        for doc, guess in zip(docs, guesses):
            if self.cfg["overwrite"]:
                doc.tag[:] = keys[guess]
            else:
                unset = doc.tag == 0
                doc.tag[unset] = keys[guess][unset]

    def get_loss(self, examples: List[Example], scores):
        """Squared-error gradient of the softmax against one-hot gold tags (thinc's categorical
        crossentropy gradient); missing tags are ignored. A gold tag `neg_prefix + X` says only
        "not X": that token's gradient pushes X's probability to 0 and leaves the others alone."""
        ops = self.model.ops
        xp = ops.xp
        gold = numpy.concatenate([eg.reference.tag for eg in examples])
        known, truth = _lookup(self._label_keys, gold)
        negative, neg_truth = _lookup(self._neg_keys, gold)
        negative &= ~known
        truth = numpy.where(negative, neg_truth, truth)
        all_scores = xp.concatenate(scores)
        n_labels = all_scores.shape[1]
        smoothing = self.cfg.get("label_smoothing", 0.0)
        target = xp.zeros_like(all_scores)
        rows = xp.arange(len(truth))
        if smoothing:
            target += smoothing / max(n_labels - 1, 1)
            target[rows, ops.asarray1i(truth)] = 1.0 - smoothing
        else:
            target[rows, ops.asarray1i(truth)] = 1.0
        mask = numpy.repeat(known.astype("float32")[:, None], n_labels, axis=1)
        if negative.any():
            target[ops.asarray(negative)] = 0.0
            mask[negative, truth[negative]] = 1.0
        d_scores = (all_scores - target) * ops.asarray(mask, dtype="float32")
        loss = float((d_scores**2).sum())
        lengths = [s.shape[0] for s in scores]
        return loss, xp.split(d_scores, numpy.cumsum(lengths)[:-1].tolist())

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp=None,
        labels: Optional[List[str]] = None,
    ) -> None:
        if labels is None:
            seen = set()
            for eg in get_examples():
                seen.update(numpy.unique(eg.reference.tag).tolist())
            seen.discard(0)
            # `neg_prefix + X` marks a token as "not X": evidence about X, not a tag of its own.
            prefix = self.cfg.get("neg_prefix") or None
            tags = (self.vocab.strings.get_text(k) for k in seen)
            labels = sorted(tag for tag in tags if not (prefix and tag.startswith(prefix)))
        if not labels:
            raise ArchcliError(f"component '{self.name}' found no tags in the training data to learn")
        self.set_labels(labels)
        self._check_label_smoothing()
        self._check_output_width(self.model.get_ref("output_layer"), "model.nO")
        doc_sample = [eg.reference for _, eg in zip(range(10), get_examples())]
        label_sample = [self.model.ops.alloc2f(len(doc), len(self.labels)) for doc in doc_sample]
        self.model.initialize(X=doc_sample, Y=label_sample)

    def _check_label_smoothing(self) -> None:
        """As thinc's to_categorical: with n tags, smoothing must stay under (n - 1) / n, or the
        gold tag's target is no higher than the others' (and one tag cannot be smoothed at all)."""
        smoothing = float(self.cfg.get("label_smoothing", 0.0) or 0.0)
        n = len(self.labels)
        if not smoothing:
            return
        where = f"components.{self.name}.label_smoothing"
        if n < 2:
            raise ConfigError(f"label smoothing needs at least 2 tags; the training data has {n}", where=where)
        if smoothing >= (n - 1) / n:
            raise ConfigError(f"must be less than (n - 1) / n = {(n - 1) / n:.3g} for the {n} tags in the "
                              f"training data, not {smoothing!r}", where=where)


def _lookup(keys: numpy.ndarray, values: numpy.ndarray):
    """(found, index): where each of `values` occurs in `keys` (index 0 where it does not)."""
    if not len(keys):
        return numpy.zeros(values.shape, dtype=bool), numpy.zeros(values.shape, dtype="int64")
    order = numpy.argsort(keys)
    sorted_keys = keys[order]
    pos = numpy.searchsorted(sorted_keys, values).clip(0, len(sorted_keys) - 1)
    found = sorted_keys[pos] == values
    return found, numpy.where(found, order[pos], 0)
