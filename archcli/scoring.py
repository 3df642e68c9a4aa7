"""Metrics under spaCy's key names (token_acc, tag_acc, pos_acc, …), computed over arrays."""
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy

from ._registry import registry
from .tokens.example import Example


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
        if eg.alignment is not None:  # re-tokenised: a token is right when it covers a gold token's characters
            n_pred += int((eg.alignment.x_ends > eg.alignment.x_starts).sum())
            n_gold += int((eg.alignment.y_ends > eg.alignment.y_starts).sum())
            n_same += eg.alignment.n_one_to_one
            continue
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
    # Over the corpus's annotated tokens: one that no predicted token matches one-to-one counts as wrong.
    n_gold = sum(int((getattr(eg.gold, attr) != 0).sum()) for eg in examples)
    scores: Dict[str, Any] = {f"{attr}_acc": float(correct.sum() / max(n_gold, 1))}
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
    # Over the corpus's scored tokens: those lost to re-tokenisation count as wrong.
    n = sum(int(((eg.gold.dep != 0) & ~numpy.isin(eg.gold.dep, list(punct))).sum()) for eg in examples)
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
    lost = 0  # gold entities whose edges no predicted tokens match: missed
    for i, eg in enumerate(examples):
        if not eg.reference.has_annotation("ents"):
            continue
        gold.update((i, e.start, e.end, e.label_) for e in eg.reference.ents)
        pred.update((i, e.start, e.end, e.label_) for e in eg.predicted.ents)
        lost += len(eg.gold.ents) - len(eg.reference.ents)
    if not gold and not pred and not lost:
        return {"ents_p": None, "ents_r": None, "ents_f": None, "ents_per_type": None}
    prf = score_spans_sets(gold, pred)
    prf = PRFScore(prf.tp, prf.fp, prf.fn + lost)
    labels = sorted({g[3] for g in gold} | {p[3] for p in pred})
    per_type = {label: score_spans_sets({g for g in gold if g[3] == label}, {p for p in pred if p[3] == label}).to_dict()
                for label in labels}
    return {"ents_p": prf.precision, "ents_r": prf.recall, "ents_f": prf.fscore, "ents_per_type": per_type}


@registry.scorers("spacy.ner_scorer.v1")
def make_ner_scorer() -> Callable[..., Dict[str, Any]]:
    def ner_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        return score_ents(examples)

    return ner_score


# --- text classification --------------------------------------------------------------------
def _roc_auc(golds: numpy.ndarray, scores: numpy.ndarray) -> Optional[float]:
    """ROC AUC of scores against 0/1 golds (1.0 is positive), with ties counted half, as spaCy's curve.

    The Mann-Whitney form: mean rank of the positives, from one sort; None unless golds are binary.
    """
    if numpy.unique(golds).shape[0] != 2:
        return None
    positive = golds == 1.0
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if not n_pos or not n_neg:
        return 0.0
    order = numpy.argsort(scores, kind="mergesort")
    _, inverse, counts = numpy.unique(scores[order], return_inverse=True, return_counts=True)
    group_rank = numpy.cumsum(counts) - (counts - 1) / 2.0  # average 1-based rank of each tied group
    ranks = numpy.empty(scores.shape[0], dtype="float64")
    ranks[order] = group_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def score_cats(
    examples: Iterable[Example],
    attr: str = "cats",
    *,
    labels: Iterable[str] = (),
    multi_label: bool = True,
    positive_label: Optional[str] = None,
    threshold: Optional[float] = None,
    **cfg: Any,
) -> Dict[str, Any]:
    """spaCy's Scorer.score_cats over (n_docs, n_labels) matrices of predicted and gold scores.

    Exclusive classes: each doc's top predicted label against its top gold label; `{attr}_score`
    is the macro F (or the positive label's F for a binary task given `positive_label`).
    Multi-label: a label is predicted when its score >= threshold (0.5); gold labels a doc leaves
    out are missing, not negatives; `{attr}_score` is the macro ROC AUC.
    """
    examples = list(examples)
    labels = list(dict.fromkeys(labels))
    n_labels = len(labels)
    threshold = 0.0 if not multi_label else (0.5 if threshold is None else threshold)
    nan = float("nan")
    pred = numpy.asarray([[eg.predicted.cats.get(label, nan) for label in labels] for eg in examples],
                         dtype="float64").reshape((len(examples), n_labels))
    gold = numpy.asarray([[eg.reference.cats.get(label, nan) for label in labels] for eg in examples],
                         dtype="float64").reshape((len(examples), n_labels))
    has_pred, has_gold = ~numpy.isnan(pred), ~numpy.isnan(gold)
    pred_filled = numpy.nan_to_num(pred, nan=0.0)
    # Exclusive classes read a missing gold label as 0.0 for the AUC; multi-label skips it.
    gold_auc = gold if multi_label else numpy.nan_to_num(gold, nan=0.0)
    auc_per_type: Dict[str, Optional[float]] = {}
    for j, label in enumerate(labels):
        known = ~numpy.isnan(gold_auc[:, j])
        auc_per_type[label] = _roc_auc(gold_auc[known, j], pred_filled[known, j])
    if multi_label:
        predicted = (pred_filled >= threshold) & has_gold
        positive = numpy.nan_to_num(gold, nan=0.0) > 0
        tp = (predicted & positive).sum(axis=0)
        fp = (predicted & ~positive & has_gold).sum(axis=0)
        fn = (~predicted & positive & has_gold).sum(axis=0)
    else:
        any_pred, any_gold = has_pred.any(axis=1), has_gold.any(axis=1)
        pred_label = numpy.where(has_pred, pred, -numpy.inf).argmax(axis=1)
        gold_rows = numpy.where(has_gold, gold, -numpy.inf)
        gold_label = gold_rows.argmax(axis=1)
        both = any_pred & any_gold
        right = both & (pred_label == gold_label)
        wrong = both & ~right
        gold_only = any_gold & ~any_pred & (gold_rows.max(axis=1, initial=-numpy.inf) > 0)
        tp = numpy.bincount(pred_label[right], minlength=n_labels)
        fn = numpy.bincount(gold_label[wrong], minlength=n_labels) + numpy.bincount(gold_label[gold_only], minlength=n_labels)
        fp = numpy.bincount(pred_label[wrong], minlength=n_labels) + numpy.bincount(pred_label[any_pred & ~any_gold], minlength=n_labels)
    per_type = {label: PRFScore(int(tp[j]), int(fp[j]), int(fn[j])) for j, label in enumerate(labels)}
    micro = PRFScore(int(tp.sum()), int(fp.sum()), int(fn.sum())) if n_labels else PRFScore()
    n_cats = n_labels + 1e-100
    results: Dict[str, Any] = {
        f"{attr}_score": None,
        f"{attr}_score_desc": None,
        f"{attr}_micro_p": micro.precision,
        f"{attr}_micro_r": micro.recall,
        f"{attr}_micro_f": micro.fscore,
        f"{attr}_macro_p": sum(s.precision for s in per_type.values()) / n_cats,
        f"{attr}_macro_r": sum(s.recall for s in per_type.values()) / n_cats,
        f"{attr}_macro_f": sum(s.fscore for s in per_type.values()) / n_cats,
        # Labels without both gold values count 0 but still divide, as spaCy does.
        f"{attr}_macro_auc": sum(a for a in auc_per_type.values() if a is not None) / n_cats,
        f"{attr}_f_per_type": {label: s.to_dict() for label, s in per_type.items()},
        f"{attr}_auc_per_type": auc_per_type,
    }
    if n_labels == 2 and not multi_label and positive_label:
        results[f"{attr}_score"] = results[f"{attr}_f_per_type"][positive_label]["f"]
        results[f"{attr}_score_desc"] = f"F ({positive_label})"
    elif not multi_label:
        results[f"{attr}_score"] = results[f"{attr}_macro_f"]
        results[f"{attr}_score_desc"] = "macro F"
    else:
        results[f"{attr}_score"] = results[f"{attr}_macro_auc"]
        results[f"{attr}_score_desc"] = "macro AUC"
    return results


@registry.scorers("spacy.textcat_scorer.v2")
def make_textcat_scorer() -> Callable[..., Dict[str, Any]]:
    def textcat_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        kwargs.pop("multi_label", None)
        return score_cats(examples, "cats", multi_label=False, **kwargs)

    return textcat_score


@registry.scorers("spacy.textcat_multilabel_scorer.v2")
def make_textcat_multilabel_scorer() -> Callable[..., Dict[str, Any]]:
    def textcat_multilabel_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        kwargs.pop("multi_label", None)
        return score_cats(examples, "cats", multi_label=True, **kwargs)

    return textcat_multilabel_score


registry.scorers.register("spacy.textcat_scorer.v1", func=make_textcat_scorer)
registry.scorers.register("spacy.textcat_multilabel_scorer.v1", func=make_textcat_multilabel_scorer)


# --- span groups ------------------------------------------------------------------------------
def score_span_groups(examples: Iterable[Example], spans_key: str, *, labeled: bool = True, **cfg: Any) -> Dict[str, Any]:
    """P/R/F of doc.spans[spans_key] as exact (label, start, end) matches, overlaps allowed.

    Docs whose gold side has no `spans_key` group are not annotated and are skipped. Keys are
    spaCy's: spans_{key}_p/_r/_f and spans_{key}_per_type.
    """
    attr = f"spans_{spans_key}"
    tp = fp = fn = 0
    per_type: Dict[str, List[int]] = {}
    for eg in examples:
        if spans_key not in eg.reference.spans:
            continue
        gold = {(s.label_ if labeled else "", s.start, s.end) for s in eg.reference.spans[spans_key]}
        pred = {(s.label_ if labeled else "", s.start, s.end) for s in eg.predicted.spans.get(spans_key, [])}
        hit = gold & pred
        tp, fp, fn = tp + len(hit), fp + len(pred - hit), fn + len(gold - hit)
        if labeled:
            for group, slot in ((hit, 0), (pred - hit, 1), (gold - hit, 2)):
                for label, _, _ in group:
                    per_type.setdefault(label, [0, 0, 0])[slot] += 1
    scores: Dict[str, Any] = {f"{attr}_p": None, f"{attr}_r": None, f"{attr}_f": None}
    if labeled:
        scores[f"{attr}_per_type"] = None
    if tp + fp + fn:
        total = PRFScore(tp, fp, fn)
        scores.update({f"{attr}_p": total.precision, f"{attr}_r": total.recall, f"{attr}_f": total.fscore})
        if labeled:
            scores[f"{attr}_per_type"] = {label: PRFScore(*c).to_dict() for label, c in per_type.items()}
    return scores


@registry.scorers("spacy.spancat_scorer.v1")
def make_spancat_scorer() -> Callable[..., Dict[str, Any]]:
    def spancat_score(examples: Iterable[Example], *, spans_key: str = "sc", **kwargs) -> Dict[str, Any]:
        return score_span_groups(examples, spans_key)

    return spancat_score


# --- entity linking ---------------------------------------------------------------------------
NEGATIVE_KB_IDS = ("NIL", "")


def score_links(examples: Iterable[Example], *, negative_labels: Iterable[str] = NEGATIVE_KB_IDS,
                **cfg: Any) -> Dict[str, Any]:
    """spaCy's Scorer.score_links, plus `nel_acc`.

    P/R/F count only predicted entities whose character boundaries match a gold entity, so the
    linker is scored apart from the NER, per gold label: both ids negative (NIL, or none) is
    ignored; equal ids a tp; a gold negative an fp; a predicted negative an fn; two different ids
    an fp and an fn. Micro sums the counts, macro averages the per-label P, R and F. `nel_acc` is
    the share of ALL gold entities with a kb_id (NIL ones too) whose same-boundary predicted entity
    has that id, a missing prediction or an empty id reading as NIL: the figure of the LitBank-EL
    README's baselines. With nothing to score the values are None, as the other scorers give.
    """
    negative = set(negative_labels)
    labels: List[str] = []
    golds: List[str] = []
    preds: List[str] = []
    n_gold_linked = n_gold_correct = 0
    for eg in examples:
        gold_by_offset = {(ent.start_char, ent.end_char): ent for ent in eg.reference.ents}
        pred_by_offset: Dict[tuple, str] = {}
        for pred_ent in eg.predicted.ents:
            offset = (pred_ent.start_char, pred_ent.end_char)
            pred_by_offset[offset] = pred_ent.kb_id_
            gold_ent = gold_by_offset.get(offset)
            if gold_ent is not None:
                labels.append(gold_ent.label_)
                golds.append(gold_ent.kb_id_)
                preds.append(pred_ent.kb_id_)
        for offset, gold_ent in gold_by_offset.items():
            if gold_ent.kb_id_:
                n_gold_linked += 1
                n_gold_correct += (pred_by_offset.get(offset) or "NIL") == gold_ent.kb_id_
    results: Dict[str, Any] = {
        "nel_score": None, "nel_score_desc": "micro F",
        "nel_micro_p": None, "nel_micro_r": None, "nel_micro_f": None,
        "nel_macro_p": None, "nel_macro_r": None, "nel_macro_f": None,
        "nel_f_per_type": None,
        "nel_acc": n_gold_correct / n_gold_linked if n_gold_linked else None,
    }
    if not labels:
        return results
    gold_neg = numpy.fromiter((g in negative for g in golds), dtype="bool", count=len(golds))
    pred_neg = numpy.fromiter((p in negative for p in preds), dtype="bool", count=len(preds))
    equal = numpy.fromiter((g == p for g, p in zip(golds, preds)), dtype="bool", count=len(golds))
    scored = ~(gold_neg & pred_neg)
    tp = scored & equal
    fp = scored & ~equal & ~pred_neg
    fn = scored & ~equal & ~gold_neg
    label_ids = {label: i for i, label in enumerate(dict.fromkeys(labels))}  # spaCy's order: first seen
    codes = numpy.fromiter((label_ids[label] for label in labels), dtype="int64", count=len(labels))
    counts = [numpy.bincount(codes[mask], minlength=len(label_ids)) for mask in (tp, fp, fn)]
    per_type = {label: PRFScore(int(counts[0][i]), int(counts[1][i]), int(counts[2][i]))
                for label, i in label_ids.items()}
    micro = PRFScore(int(tp.sum()), int(fp.sum()), int(fn.sum()))
    n_types = len(per_type)
    results.update({
        "nel_score": micro.fscore,
        "nel_micro_p": micro.precision, "nel_micro_r": micro.recall, "nel_micro_f": micro.fscore,
        "nel_macro_p": sum(s.precision for s in per_type.values()) / n_types,
        "nel_macro_r": sum(s.recall for s in per_type.values()) / n_types,
        "nel_macro_f": sum(s.fscore for s in per_type.values()) / n_types,
        "nel_f_per_type": {label: s.to_dict() for label, s in per_type.items()},
    })
    return results


@registry.scorers("spacy.entity_linker_scorer.v1")
def make_entity_linker_scorer() -> Callable[..., Dict[str, Any]]:
    def entity_linker_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        return score_links(examples, **kwargs)

    return entity_linker_score
