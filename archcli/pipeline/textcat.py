"""Text classification components: `textcat` (exactly one label per doc) and `textcat_multilabel`.

Both write one score per label into `doc.cats`. `textcat` needs a model with exclusive classes
(softmax: scores sum to 1), `textcat_multilabel` one without (independent logistic outputs); the
factory refuses the other kind, naming the config key to change.
"""
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d

from ..errors import ArchcliError, ConfigError, CorpusError
from ..tokens import Doc
from ..tokens.example import Example
from .base import LabelledPipe
from .factories import factory

_TOK2VEC = """
[component.model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[component.model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 64
rows = [2000, 2000, 500, 1000, 500]
attrs = ["NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE"]
include_static_vectors = false

[component.model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 64
window_size = 1
maxout_pieces = 3
depth = 2
"""

DEFAULT_TEXTCAT_CONFIG = """
[component]
threshold = 0.0
scorer = {"@scorers":"spacy.textcat_scorer.v2"}

[component.model]
@architectures = "spacy.TextCatEnsemble.v2"
nO = null

[component.model.linear_model]
@architectures = "spacy.TextCatBOW.v2"
exclusive_classes = true
ngram_size = 1
no_output_layer = false
nO = null
""" + _TOK2VEC

DEFAULT_MULTILABEL_CONFIG = """
[component]
threshold = 0.5
scorer = {"@scorers":"spacy.textcat_multilabel_scorer.v2"}

[component.model]
@architectures = "spacy.TextCatEnsemble.v2"
nO = null

[component.model.linear_model]
@architectures = "spacy.TextCatBOW.v2"
exclusive_classes = false
ngram_size = 1
no_output_layer = false
nO = null
""" + _TOK2VEC

# As spaCy: cats_score drives model selection; the other numbers are reported only.
TEXTCAT_SCORE_WEIGHTS: Dict[str, Optional[float]] = {
    "cats_score": 1.0, "cats_score_desc": None, "cats_micro_p": None, "cats_micro_r": None, "cats_micro_f": None,
    "cats_macro_p": None, "cats_macro_r": None, "cats_macro_f": None, "cats_macro_auc": None,
    "cats_f_per_type": None,
}


@factory("textcat", default_config=DEFAULT_TEXTCAT_CONFIG, default_score_weights=TEXTCAT_SCORE_WEIGHTS)
def make_textcat(nlp, name: str, model: Model, threshold: float = 0.0,
                 scorer: Optional[Callable] = None) -> "TextCategorizer":
    return TextCategorizer(nlp.vocab, model, name, threshold=threshold, scorer=scorer)


@factory("textcat_multilabel", default_config=DEFAULT_MULTILABEL_CONFIG, default_score_weights=TEXTCAT_SCORE_WEIGHTS)
def make_multilabel_textcat(nlp, name: str, model: Model, threshold: float = 0.5,
                            scorer: Optional[Callable] = None) -> "MultiLabelTextCategorizer":
    return MultiLabelTextCategorizer(nlp.vocab, model, name, threshold=threshold, scorer=scorer)


class TextCategorizer(LabelledPipe):
    """Mutually exclusive classes: every gold doc has exactly one label at 1.0, the rest at 0.0."""

    exclusive = True
    factory_name = "textcat"

    def __init__(self, vocab, model: Model, name: str = "textcat", *, threshold: float = 0.0,
                 scorer: Optional[Callable] = None) -> None:
        super().__init__(vocab, model, name, threshold=threshold, positive_label=None)
        self.scorer = scorer
        self._check_exclusivity()

    def _check_exclusivity(self) -> None:
        multi_label = self.model.attrs.get("multi_label")
        if multi_label is None or bool(multi_label) != self.exclusive:
            return
        key = self.model.attrs.get("exclusive_classes_key", "exclusive_classes")
        other = "textcat_multilabel" if self.exclusive else "textcat"
        raise ConfigError(
            f"component '{self.name}' (factory '{self.factory_name}') needs exclusive_classes = "
            f"{str(self.exclusive).lower()}, but its model has {str(not self.exclusive).lower()}; "
            f"change the setting or use the '{other}' factory",
            where=f"components.{self.name}.model.{key}",
        )

    # --- labels -----------------------------------------------------------------------------------
    @property
    def is_resizable(self) -> bool:
        return "resize_output" in self.model.attrs

    def _is_initialized(self) -> bool:
        layer = self.model.get_ref("output_layer") if self.model.has_ref("output_layer") else None
        return bool(layer is not None and layer.has_param("W"))

    def _check_can_add(self, label: str) -> None:
        if self._is_initialized() and not self.is_resizable:
            raise ArchcliError(
                f"component '{self.name}' cannot add label '{label}': its model is initialised with "
                f"{len(self.labels)} outputs and is not resizable (v1 architectures); use a v2 architecture",
                where=f"components.{self.name}.model",
            )

    def _labels_changed(self) -> None:
        """On a trained v2 model the output layer grows and old labels keep their weights."""
        if self.labels and self._is_initialized() and self.is_resizable:
            self.model.attrs["resize_output"](self.model, len(self.labels))

    # --- gold -------------------------------------------------------------------------------------
    @property
    def support_missing_values(self) -> bool:
        # Exclusive classes: an absent label is a 0, since exactly one label is true.
        return False

    def check_labels(self, examples: Iterable[Example]) -> None:
        """Raise, naming the example's file:line, on cats an exclusive textcat cannot learn from."""
        for eg in examples:
            cats = eg.reference.cats
            where = eg.source or "example"
            for label, value in cats.items():
                if not isinstance(value, (int, float)) or value not in (0, 1):
                    raise CorpusError(
                        f"cats[{label!r}] = {value!r}: exclusive classes ('{self.factory_name}' component "
                        f"'{self.name}') take 0 or 1 only; use 'textcat_multilabel' for graded labels",
                        where=where)
            positives = [label for label, value in cats.items() if value == 1]
            if len(positives) > 1:
                raise CorpusError(
                    f"{len(positives)} positive labels ({', '.join(positives)}) but '{self.name}' has exclusive "
                    "classes (exactly one label per doc); use the 'textcat_multilabel' factory for multi-label data",
                    where=where)
            if not positives:
                raise CorpusError(
                    f"no positive label in cats {dict(cats)!r}: '{self.name}' has exclusive classes, so every "
                    "doc needs exactly one label at 1.0", where=where)

    def _examples_to_truth(self, examples: List[Example]) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """(n_examples, n_labels) targets, and a mask that is 0 where a gold value is missing."""
        labels = self.labels
        nan = float("nan")
        missing_value = nan if self.support_missing_values else 0.0
        truths = numpy.asarray([[eg.reference.cats.get(label, missing_value) for label in labels]
                                for eg in examples], dtype="f").reshape((len(examples), len(labels)))
        not_missing = (~numpy.isnan(truths)).astype("f")
        return numpy.nan_to_num(truths, nan=0.0), not_missing

    # --- running ----------------------------------------------------------------------------------
    def predict(self, docs: List[Doc]) -> Floats2d:
        if not any(len(doc) for doc in docs):
            return self.model.ops.alloc2f(len(docs), len(self.labels))
        return self.model.predict(docs)

    def set_annotations(self, docs: List[Doc], scores: Floats2d) -> None:
        labels = self.labels
        for doc, row in zip(docs, self.model.ops.to_numpy(scores).tolist()):
            doc.cats.update(zip(labels, row))

    def get_loss(self, examples: List[Example], scores: Floats2d) -> Tuple[float, Floats2d]:
        """Mean squared error against the gold cats (missing labels masked out in multi-label)."""
        truths, not_missing = self._examples_to_truth(examples)
        ops = self.model.ops
        d_scores = (scores - ops.asarray2f(truths)) * ops.asarray2f(not_missing)
        return float((d_scores**2).mean()), d_scores

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp=None,
        labels: Optional[Iterable[str]] = None,
        positive_label: Optional[str] = None,
    ) -> None:
        """Learn the labels (in order of appearance) and size the model from ten examples."""
        # One pass over the stream (the corpus may be larger than memory): check and collect labels.
        seen: Dict[str, None] = {}
        n_examples = 0
        for eg in get_examples():
            self.check_labels([eg])
            seen.update(dict.fromkeys(eg.reference.cats))
            n_examples += 1
        if not n_examples:
            raise ArchcliError(f"component '{self.name}' got no training examples to initialise from")
        if labels is None:
            labels = list(seen)
        self.set_labels(labels)
        self._require_enough_labels()
        self._check_output_width(self.model, "model.nO")
        if positive_label is not None:
            if positive_label not in self.labels:
                raise ConfigError(f"positive_label '{positive_label}' is not one of the labels {list(self.labels)}",
                                  where=f"initialize.components.{self.name}.positive_label")
            if len(self.labels) != 2:
                raise ConfigError(f"positive_label needs exactly two labels, found {len(self.labels)}",
                                  where=f"initialize.components.{self.name}.positive_label")
        if self.exclusive:
            self.cfg["positive_label"] = positive_label
        subbatch = list(islice(get_examples(), 10))
        truths, _ = self._examples_to_truth(subbatch)
        self.model.initialize(X=[eg.reference for eg in subbatch], Y=self.model.ops.asarray2f(truths))

    def _require_enough_labels(self) -> None:
        if len(self.labels) < 2:
            raise ArchcliError(
                f"component '{self.name}' (exclusive classes) needs at least two labels, found "
                f"{list(self.labels)}; for a single yes/no label use two labels (X / NOT_X) or 'textcat_multilabel'")

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        """The scorer with this component's labels, threshold and positive label, as spaCy passes them."""
        if self.scorer is None:
            return {}
        examples = list(examples)
        self.check_labels(examples)
        settings: Dict[str, Any] = {k: v for k, v in self.cfg.items() if k != "labels"}
        settings["labels"] = self.labels
        settings.update(kwargs)
        return self.scorer(examples, **settings)


class MultiLabelTextCategorizer(TextCategorizer):
    """Independent labels, each a probability; a doc may have any number (labels absent from its
    gold cats are missing values, not negatives)."""

    exclusive = False
    factory_name = "textcat_multilabel"

    def __init__(self, vocab, model: Model, name: str = "textcat_multilabel", *, threshold: float = 0.5,
                 scorer: Optional[Callable] = None) -> None:
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer)
        del self.cfg["positive_label"]

    @property
    def support_missing_values(self) -> bool:
        return True

    def check_labels(self, examples: Iterable[Example]) -> None:
        for eg in examples:
            for label, value in eg.reference.cats.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise CorpusError(f"cats[{label!r}] = {value!r} is not a number in [0, 1]",
                                      where=eg.source or "example")

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None,
                   labels: Optional[Iterable[str]] = None) -> None:
        super().initialize(get_examples, nlp=nlp, labels=labels)

    def _require_enough_labels(self) -> None:
        if not self.labels:
            raise ArchcliError(f"component '{self.name}' found no labels: no training example has \"cats\"")
