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
