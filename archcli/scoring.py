"""Metrics under spaCy's key names (token_acc, tag_acc, pos_acc, …), computed over arrays."""
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy

from .registry import registry
from .training.example import Example


class PRFScore:
    """Precision/recall/F from counts."""

    def __init__(self, tp: int = 0, fp: int = 0, fn: int = 0) -> None:
        self.tp, self.fp, self.fn = tp, fp, fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def fscore(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> Dict[str, float]:
        return {"p": self.precision, "r": self.recall, "f": self.fscore}


def score_tokenization(examples: Iterable[Example]) -> Dict[str, float]:
    """Token accuracy and P/R/F of token boundaries (1.0 with gold tokenisation)."""
    n_gold = n_pred = n_same = 0
    for eg in examples:
        pred = set(zip(eg.predicted.char_offsets[:-1].tolist(), eg.predicted.words))
        gold = set(zip(eg.reference.char_offsets[:-1].tolist(), eg.reference.words))
        n_pred += len(pred)
        n_gold += len(gold)
        n_same += len(pred & gold)
    score = PRFScore(n_same, n_pred - n_same, n_gold - n_same)
    return {
        "token_acc": n_same / n_gold if n_gold else None,
        "token_p": score.precision,
        "token_r": score.recall,
        "token_f": score.fscore,
    }


def score_token_attr(examples: Iterable[Example], attr: str, *, per_type: bool = True) -> Dict[str, Any]:
    """`{attr}_acc` over tokens whose gold value is annotated, and `{attr}_per_type` P/R/F."""
    examples = list(examples)
    if not examples:
        return {f"{attr}_acc": None}
    gold = numpy.concatenate([getattr(eg.reference, attr) for eg in examples])
    pred = numpy.concatenate([getattr(eg.predicted, attr) for eg in examples])
    annotated = gold != 0
    if not annotated.any():
        return {f"{attr}_acc": None}
    gold, pred = gold[annotated], pred[annotated]
    correct = gold == pred
    scores: Dict[str, Any] = {f"{attr}_acc": float(correct.mean())}
    if per_type:
        strings = examples[0].reference.vocab.strings
        table: Dict[str, Dict[str, float]] = {}
        for label in numpy.union1d(numpy.unique(gold), numpy.unique(pred[pred != 0])):
            is_gold, is_pred = gold == label, pred == label
            tp = int((is_gold & is_pred).sum())
            prf = PRFScore(tp, int(is_pred.sum()) - tp, int(is_gold.sum()) - tp)
            table[strings.get_text(int(label))] = prf.to_dict()
        scores[f"{attr}_per_type"] = table
    return scores


@registry.scorers("spacy.tagger_scorer.v1")
def make_tagger_scorer() -> Callable[..., Dict[str, Any]]:
    def tagger_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        return score_token_attr(examples, "tag")

    return tagger_score


@registry.scorers("archcli.pos_scorer.v1")
def make_pos_scorer() -> Callable[..., Dict[str, Any]]:
    def pos_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        return score_token_attr(examples, "pos")

    return pos_score


def weighted_score(scores: Dict[str, Any], weights: Dict[str, Optional[float]]) -> float:
    """The single number training selects model-best by: the weighted sum of listed scores."""
    total = 0.0
    for key, weight in weights.items():
        if weight and scores.get(key) is not None:
            total += float(scores[key]) * weight
    return total


def flatten_table(scores: Dict[str, Any]) -> List[str]:
    return [key for key, value in scores.items() if isinstance(value, (int, float)) and value is not None]


# --- dependency parsing and sentences -------------------------------------------------------
PUNCT_LABELS = ("p", "punct")


def score_deps(examples: Iterable[Example]) -> Dict[str, Any]:
    """UAS/LAS over tokens with gold heads, leaving out punctuation as spaCy does, plus LAS per label."""
    examples = list(examples)
    if not examples:
        return {"dep_uas": None, "dep_las": None, "dep_las_per_type": None}
    strings = examples[0].reference.vocab.strings
    punct = {strings.add(label) for label in PUNCT_LABELS}
    gold_dep = numpy.concatenate([eg.reference.dep for eg in examples])
    gold_head = numpy.concatenate([eg.reference.head for eg in examples])
    pred_dep = numpy.concatenate([eg.predicted.dep for eg in examples])
    pred_head = numpy.concatenate([eg.predicted.head for eg in examples])
    scored = (gold_dep != 0) & ~numpy.isin(gold_dep, list(punct))
    if not scored.any():
        return {"dep_uas": None, "dep_las": None, "dep_las_per_type": None}
    head_ok = (gold_head == pred_head) & scored
    label_ok = head_ok & (gold_dep == pred_dep)
    n = int(scored.sum())
    per_type: Dict[str, Dict[str, float]] = {}
    pred_scored = (pred_dep != 0) & ~numpy.isin(pred_dep, list(punct)) & (gold_dep != 0)
    for label in numpy.union1d(numpy.unique(gold_dep[scored]), numpy.unique(pred_dep[pred_scored])):
        is_gold = scored & (gold_dep == label)
        is_pred = pred_scored & (pred_dep == label)
        tp = int((is_gold & is_pred & head_ok).sum())
        per_type[strings.get_text(int(label)).lower()] = PRFScore(tp, int(is_pred.sum()) - tp, int(is_gold.sum()) - tp).to_dict()
    return {"dep_uas": int(head_ok.sum()) / n, "dep_las": int(label_ok.sum()) / n, "dep_las_per_type": per_type}


def score_spans_sets(gold: set, pred: set) -> PRFScore:
    tp = len(gold & pred)
    return PRFScore(tp, len(pred) - tp, len(gold) - tp)


def score_sents(examples: Iterable[Example]) -> Dict[str, Any]:
    gold: set = set()
    pred: set = set()
    for i, eg in enumerate(examples):
        gold.update((i, s.start, s.end) for s in eg.reference.sents)
        pred.update((i, s.start, s.end) for s in eg.predicted.sents)
    prf = score_spans_sets(gold, pred)
    return {"sents_p": prf.precision, "sents_r": prf.recall, "sents_f": prf.fscore}


@registry.scorers("spacy.parser_scorer.v1")
def make_parser_scorer() -> Callable[..., Dict[str, Any]]:
    def parser_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        examples = list(examples)
        scores = score_sents(examples)
        scores.update(score_deps(examples))
        return scores

    return parser_score


# --- named entities -------------------------------------------------------------------------
def score_ents(examples: Iterable[Example]) -> Dict[str, Any]:
    """Exact-match P/R/F of (start, end, label) over docs whose gold entities are annotated."""
    gold: set = set()
    pred: set = set()
    for i, eg in enumerate(examples):
        if not eg.reference.has_annotation("ents"):
            continue
        gold.update((i, e.start, e.end, e.label_) for e in eg.reference.ents)
        pred.update((i, e.start, e.end, e.label_) for e in eg.predicted.ents)
    if not gold and not pred:
        return {"ents_p": None, "ents_r": None, "ents_f": None, "ents_per_type": None}
    prf = score_spans_sets(gold, pred)
    labels = sorted({g[3] for g in gold} | {p[3] for p in pred})
    per_type = {label: score_spans_sets({g for g in gold if g[3] == label}, {p for p in pred if p[3] == label}).to_dict()
                for label in labels}
    return {"ents_p": prf.precision, "ents_r": prf.recall, "ents_f": prf.fscore, "ents_per_type": per_type}


@registry.scorers("spacy.ner_scorer.v1")
def make_ner_scorer() -> Callable[..., Dict[str, Any]]:
    def ner_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        return score_ents(examples)

    return ner_score
