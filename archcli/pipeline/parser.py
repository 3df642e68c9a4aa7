"""The `parser` and `ner` components: a transition system driven by TransitionBasedParser.

All states of a batch advance together: one feature gather, one scoring and one validity mask per
step. Training follows the model's own best valid action and is told by the dynamic oracle which
actions keep the best reachable analysis (cost 0), so it learns to recover from its mistakes.
"""
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy
from thinc.api import Model, Optimizer, set_dropout_rate

from ..errors import ArchcliError, ConfigError, CorpusError
from ..ml.parser import resize_output
from ..tokens import Doc, Span
from ..tokens.example import Example
from .base import LabelledPipe
from .factories import default_tok2vec_block, factory
from .transitions import ArcEager, BiluoPushDown
from .transitions.arc_eager import sentence_starts
from .transitions.nonproj import DELIMITER, deprojectivize, find_cycle_or_bad_root, projectivize
from .transitions.state import StateBatch

PARSER_DEFAULT = """
[component]
moves = null
update_with_oracle_cut_size = 100
learn_tokens = false
min_action_freq = 30
scorer = {"@scorers":"spacy.parser_scorer.v1"}

[component.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "parser"
extra_state_tokens = false
hidden_width = 128
maxout_pieces = 3
use_upper = true
""" + default_tok2vec_block("component.model.tok2vec")

NER_DEFAULT = """
[component]
moves = null
update_with_oracle_cut_size = 100
incorrect_spans_key = null
scorer = {"@scorers":"spacy.ner_scorer.v1"}

[component.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 64
maxout_pieces = 2
use_upper = true
""" + default_tok2vec_block("component.model.tok2vec")


class TransitionComponent(LabelledPipe):
    """Shared machinery of parser and ner: batch parsing, oracle-guided updates, labels.

    `cfg["labels"]` holds the transition system's labels (for the parser, projectivised ones such
    as `advcl||amod` too); `labels` is what the component annotates.
    """

    system_class: Any = None

    def __init__(self, vocab, model: Model, name: str, *, scorer: Optional[Callable] = None,
                 update_with_oracle_cut_size: int = 100, **cfg: Any) -> None:
        super().__init__(vocab, model, name, update_with_oracle_cut_size=update_with_oracle_cut_size, **cfg)
        self.scorer = scorer
        self.moves = self.system_class([])

    def _labels_changed(self) -> None:
        self.moves = self.system_class(self.cfg["labels"])
        nO = self.model.maybe_get_dim("nO")
        if nO is not None and nO != self.moves.n_actions:
            resize_output(self.model, self.moves.n_actions)
        elif nO is None:
            self.model.set_dim("nO", self.moves.n_actions)
            output = self.model.get_ref("upper") if self.model.attrs["has_upper"] else self.model.get_ref("lower")
            output.set_dim("nO", self.moves.n_actions)

    # --- prediction -----------------------------------------------------------------------
    def predict(self, docs: List[Doc]) -> StateBatch:
        batch = self.moves.init_batch([len(doc) for doc in docs])
        if not any(len(doc) for doc in docs):
            return batch
        step_model, _ = self.model(docs, is_train=False)
        extra = self.model.attrs["extra_state_tokens"]
        while True:
            rows = numpy.flatnonzero(batch.is_active())
            if not len(rows):
                break
            view = self.moves.view(batch, rows)
            ids = step_model.global_ids(batch.doc[rows], self.moves.features(batch, rows, extra, view))
            scores, _ = step_model.predict_states(ids)
            valid = self.moves.valid(batch, rows, view)
            actions = numpy.where(valid, scores, -numpy.inf).argmax(axis=1)
            self.moves.apply(batch, rows, actions, view)
        return batch

    # --- training -------------------------------------------------------------------------
    def update(self, examples: List[Example], *, drop: float = 0.0, sgd: Optional[Optimizer] = None,
               losses: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = [eg for eg in examples if len(eg.predicted)]
        if not examples:
            return losses
        docs = [eg.predicted for eg in examples]
        set_dropout_rate(self.model, drop)
        batch = self.moves.init_batch([len(doc) for doc in docs], [self.gold_for(eg) for eg in examples])
        cut = int(self.cfg.get("update_with_oracle_cut_size") or 0)
        if cut:
            # Long docs become several stretches (about cut/2 moves each, randomised), each starting
            # at a sentence boundary in the state the oracle reaches there and trained for about as
            # many moves as its words need, with the rest of the doc still in the buffer.
            max_tokens = int(numpy.random.randint(max(cut // 4, 1), max(cut // 2, 2)))
            starts = [numpy.asarray(eg.reference.sent_start == 1) for eg in examples]
            batch = self.moves.gold_segments(batch, starts, max_tokens)
        step_model, finish = self.model(docs, is_train=True)
        extra = self.model.attrs["extra_state_tokens"]
        loss = 0.0
        while True:
            rows = numpy.flatnonzero(batch.is_active())
            if not len(rows):
                break
            view = self.moves.view(batch, rows)
            ids = step_model.global_ids(batch.doc[rows], self.moves.features(batch, rows, extra, view))
            scores, handle = step_model.predict_states(ids)
            valid = self.moves.valid(batch, rows, view)
            costs = self.moves.costs(batch, rows, view)
            d_scores = _log_loss_gradient(scores, valid, costs)
            loss += float((d_scores**2).sum())
            step_model.backprop_states(handle, d_scores)
            self.moves.apply(batch, rows, numpy.where(valid, scores, -numpy.inf).argmax(axis=1), view)
        finish(None)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def gold_for(self, example: Example):
        raise NotImplementedError

    def get_loss(self, examples, scores):
        return 0.0, None

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None,
                   labels: Optional[Union[List[str], Dict[str, Dict[str, int]]]] = None) -> None:
        self._seen_labels: List[str] = []
        if isinstance(labels, dict):  # spaCy's `init labels` file: {move: {label: count}}
            labels = sorted({label for by_label in labels.values() for label in (by_label or {}) if label})
        if labels is None:
            labels = self.collect_labels(get_examples())
        if not labels:
            raise ArchcliError(f"component '{self.name}' found no {self.system_class.name} annotations to learn in "
                               "the training data (does paths.train point at the right corpus?)")
        self.set_labels(labels)  # checks them, adds them to the strings, builds the moves and sizes nO
        self.cfg["known_labels"] = sorted(set(self.cfg["labels"]) | set(self._seen_labels))
        doc_sample = [eg.reference for _, eg in zip(range(10), get_examples())]
        self.model.initialize(X=doc_sample)

    def collect_labels(self, examples: Iterable[Example]) -> List[str]:
        raise NotImplementedError

    def gold_labels(self, example: Example) -> List[str]:
        raise NotImplementedError

    def check_labels(self, examples: Iterable[Example]) -> None:
        """Fail, naming the example, on a gold label the component never saw when it was initialised."""
        known = set(self.cfg.get("known_labels") or self.labels) | {"ROOT", ""}
        for eg in examples:
            unseen = sorted(set(self.gold_labels(eg)) - known)
            if unseen:
                raise CorpusError(
                    f"label(s) {', '.join(unseen)} were not seen when '{self.name}' was initialised, so it can "
                    "never predict them; retrain with data that has them (or list them in "
                    f"[initialize.components.{self.name}] labels)",
                    where=eg.source or "data",
                )


def _log_loss_gradient(scores: numpy.ndarray, valid: numpy.ndarray, costs: numpy.ndarray) -> numpy.ndarray:
    """Softmax over valid actions minus softmax over the valid zero-cost ones (spaCy's parser loss)."""
    masked = numpy.where(valid, scores, -numpy.inf)
    probs = numpy.exp(masked - masked.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    good = valid & (costs <= 0)
    # A state with no zero-cost action (cannot happen with a complete oracle) learns nothing.
    has_good = good.any(axis=1)
    gold_masked = numpy.where(good, scores, -numpy.inf)
    gold_max = numpy.where(has_good, gold_masked.max(axis=1), 0.0)
    gold = numpy.where(good, numpy.exp(gold_masked - gold_max[:, None]), 0.0)
    gold /= numpy.maximum(gold.sum(axis=1, keepdims=True), 1e-12)
    d_scores = numpy.where(valid, probs - gold, 0.0)
    d_scores[~has_good] = 0.0
    return d_scores.astype("float32")


def _refuse_moves(name: str, moves: Any) -> None:
    """The transition system is built from the labels at initialisation; a given one would be dropped."""
    if moves is not None:
        raise ConfigError("a preset transition system is not supported: the moves are built from the labels; "
                          "set moves = null (and list labels in [initialize.components] to fix them)",
                          where=f"components.{name}.moves")


@factory("parser", default_config=PARSER_DEFAULT,
         default_score_weights={"dep_uas": 0.5, "dep_las": 0.5, "dep_las_per_type": None, "sents_p": None,
                                "sents_r": None, "sents_f": 0.0})
def make_parser(nlp, name: str, model: Model, moves: Optional[Any] = None, update_with_oracle_cut_size: int = 100,
                learn_tokens: bool = False, min_action_freq: int = 30, scorer: Optional[Callable] = None) -> "DependencyParser":
    _refuse_moves(name, moves)
    if learn_tokens:
        # spaCy adds a `subtok` label and merges tokens after parsing; archcli does neither.
        raise ConfigError("learn_tokens = true (learning to merge subtokens) is not supported; set it to false",
                          where=f"components.{name}.learn_tokens")
    return DependencyParser(nlp.vocab, model, name, scorer=scorer,
                            update_with_oracle_cut_size=update_with_oracle_cut_size, min_action_freq=min_action_freq)


class DependencyParser(TransitionComponent):
    system_class = ArcEager

    @property
    def labels(self) -> Tuple[str, ...]:
        """The dependency labels the parser writes: projectivisation's `label||head` decorations
        stay internal (in `cfg["labels"]`, the transition system's), as in spaCy."""
        return tuple(sorted({label.split(DELIMITER)[0] for label in self.cfg["labels"]}))

    def gold_for(self, example: Example):
        ref = example.reference
        annotated = ref.dep != 0
        heads, labels = projectivize(ref.head.tolist(), [self._label_or_fallback(l) for l in ref.get_strings("dep")])
        # Without sentence annotation the starts follow from the (fully annotated) tree.
        starts = ref.sent_start if (ref.sent_start != 0).any() else None
        return self.moves.gold_arrays(heads, labels, annotated, starts)

    def _label_or_fallback(self, label: str) -> str:
        if not label or label in self.moves.label_index or label == "ROOT":
            return label
        base = label.split(DELIMITER)[0]
        return base if base in self.moves.label_index else "dep"

    def collect_labels(self, examples: Iterable[Example]) -> List[str]:
        counts: Counter = Counter()
        for eg in examples:
            ref = eg.gold  # the corpus's own tree (complete), not its projection onto re-tokenised text
            if not ref.dep.any():
                continue
            problem = find_cycle_or_bad_root(ref.head.tolist(), [(s.start, s.end) for s in ref.sents])
            if problem:
                raise CorpusError(f"invalid dependency tree: {problem}", where=eg.source or "training data")
            _, labels = projectivize(ref.head.tolist(), ref.get_strings("dep"))
            counts.update(label for label in labels if label and label != "ROOT")
        self._seen_labels = sorted({label.split(DELIMITER)[0] for label in counts})
        min_freq = int(self.cfg.get("min_action_freq", 30) or 0)
        # Rare labels (decorated ones mostly) fall back to "dep", as spaCy does.
        keep = {label for label, count in counts.items() if count >= min_freq or DELIMITER not in label}
        if counts and "dep" not in keep and any(l not in keep for l in counts):
            keep.add("dep")
        return sorted(keep)

    def gold_labels(self, example: Example) -> List[str]:
        return [label for label in example.reference.get_strings("dep") if label]

    def set_annotations(self, docs: List[Doc], batch: StateBatch) -> None:
        for row, doc in enumerate(docs):
            if not len(doc):
                continue
            heads, labels = self.moves.finalize(batch, row)
            starts = sentence_starts(heads)
            heads, labels = deprojectivize(heads.tolist(), labels)
            doc.head[:] = heads
            doc.set_strings("dep", labels)
            doc.sent_start[:] = numpy.where(starts, 1, -1)


@factory("ner", default_config=NER_DEFAULT,
         default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None})
def make_ner(nlp, name: str, model: Model, moves: Optional[Any] = None, update_with_oracle_cut_size: int = 100,
             incorrect_spans_key: Optional[str] = None, scorer: Optional[Callable] = None) -> "EntityRecognizer":
    _refuse_moves(name, moves)
    if incorrect_spans_key is not None:
        raise ConfigError(
            "negative examples (spans known not to be entities) are not supported by archcli's NER oracle; "
            "set incorrect_spans_key = null", where=f"components.{name}.incorrect_spans_key")
    return EntityRecognizer(nlp.vocab, model, name, scorer=scorer,
                            update_with_oracle_cut_size=update_with_oracle_cut_size)


class EntityRecognizer(TransitionComponent):
    sets_ents = True  # an entity linker after it links these mentions
    system_class = BiluoPushDown

    def gold_for(self, example: Example):
        ref = example.reference
        annotated = ref.has_annotation("ents")
        # Tokens under a gold entity that re-tokenisation cut across: unknown, not "outside".
        return self.moves.gold_codes(len(ref), [(e.start, e.end, e.label_) for e in ref.ents], annotated,
                                     ref.user_data.get("ents_missing"))

    def collect_labels(self, examples: Iterable[Example]) -> List[str]:
        labels = set()
        for eg in examples:
            labels.update(ent.label_ for ent in eg.reference.ents)
        return sorted(labels)

    def gold_labels(self, example: Example) -> List[str]:
        return [ent.label_ for ent in example.reference.ents]

    def set_annotations(self, docs: List[Doc], batch: StateBatch) -> None:
        for row, doc in enumerate(docs):
            entities = self.moves.finalize(batch, row) if len(doc) else []
            doc.ents = [Span(doc, start, end, label) for start, end, label in entities]
            doc.user_data["ents_known"] = True
