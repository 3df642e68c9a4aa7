"""spacy.entity_linker_scorer.v1: spaCy's Scorer.score_links (NIL and no id as negatives, scored on
boundary-matched mentions, per gold label) and nel_acc over every gold mention with an id."""
from typing import List, Optional, Tuple

import pytest

from archcli import registry
from archcli.scoring import score_links
from archcli.tokens import Doc, Example, Span, Vocab

Ent = Tuple[int, int, str, str]  # token start, end, label, kb_id


def example(vocab: Vocab, text: str, gold: List[Ent], pred: List[Ent]) -> Example:
    words = text.split()
    reference, predicted = Doc(vocab, words), Doc(vocab, words)
    reference.ents = [Span(reference, s, e, label, kb_id=kb) for s, e, label, kb in gold]
    predicted.ents = [Span(predicted, s, e, label, kb_id=kb) for s, e, label, kb in pred]
    return Example(predicted, reference)


@pytest.fixture
def examples() -> List[Example]:
    vocab = Vocab()
    return [
        example(vocab, "Ann met Bo in Rome and Paris today .",
                gold=[(0, 1, "PER", "Q1"), (2, 3, "PER", "NIL"), (4, 5, "GPE", "Q3"), (6, 7, "GPE", "Q4")],
                pred=[(0, 1, "PER", "Q1"),     # tp PER
                      (2, 3, "PER", "Q2"),     # gold NIL: fp PER
                      (4, 5, "GPE", "NIL"),    # predicted NIL: fn GPE
                      (6, 7, "GPE", "Q5")]),   # wrong id: fp and fn GPE
        example(vocab, "Cy saw Dee and Eve in Oslo with Zed , Fay and Gus .",
                gold=[(0, 1, "PER", "Q6"), (2, 3, "PER", "NIL"), (4, 5, "PER", "Q7"), (6, 7, "GPE", "Q8"),
                      (8, 9, "ORG", ""), (10, 11, "PER", "NIL"), (12, 13, "PER", "NIL")],
                pred=[(0, 1, "PER", "Q6"),     # tp PER
                      (1, 2, "X", "Q99"),      # no gold mention there: not scored
                      (2, 3, "PER", "NIL"),    # NIL and NIL: ignored
                      (4, 6, "PER", "Q7"),     # other boundaries: not scored (and Eve counts as unlinked)
                      (6, 7, "LOC", ""),       # no id is negative: fn, under the gold label GPE
                      (8, 9, "ORG", "Q9"),     # gold without an id is negative: fp ORG
                      (12, 13, "PER", "")]),   # NIL and no id: ignored
    ]


def test_counts_per_type_micro_and_macro(examples):
    scores = score_links(examples)
    # PER tp 2 fp 1 fn 0; GPE tp 0 fp 1 fn 3; ORG tp 0 fp 1 fn 0; micro tp 2 fp 3 fn 3.
    assert list(scores["nel_f_per_type"]) == ["PER", "GPE", "ORG"]  # first seen, as spaCy's dict
    assert scores["nel_f_per_type"]["PER"] == pytest.approx({"p": 2 / 3, "r": 1.0, "f": 0.8})
    assert scores["nel_f_per_type"]["GPE"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert scores["nel_f_per_type"]["ORG"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert scores["nel_micro_p"] == pytest.approx(0.4)
    assert scores["nel_micro_r"] == pytest.approx(0.4)
    assert scores["nel_micro_f"] == pytest.approx(0.4)
    assert scores["nel_score"] == scores["nel_micro_f"] and scores["nel_score_desc"] == "micro F"
    assert scores["nel_macro_p"] == pytest.approx(2 / 9)
    assert scores["nel_macro_r"] == pytest.approx(1 / 3)
    assert scores["nel_macro_f"] == pytest.approx(0.8 / 3)


def test_accuracy_over_all_gold_mentions_with_an_id(examples):
    # Right: Ann, Cy, Dee (NIL=NIL), Fay (NIL, nothing predicted), Gus (NIL, no id predicted).
    # Wrong: Bo, Rome, Paris, Eve (no same-boundary prediction), Oslo (no id). Zed has no gold id.
    assert score_links(examples)["nel_acc"] == pytest.approx(5 / 10)


def test_single_cases():
    vocab = Vocab()

    def one(gold_kb: str, pred_kb: str) -> Tuple[Optional[float], Optional[float], float]:
        scores = score_links([example(vocab, "Ann ran .", [(0, 1, "PER", gold_kb)], [(0, 1, "PER", pred_kb)])])
        per = scores["nel_f_per_type"]["PER"]
        return per["p"], per["r"], scores["nel_acc"]

    assert one("Q1", "Q1") == (1.0, 1.0, 1.0)
    assert one("Q1", "Q2") == (0.0, 0.0, 0.0)
    assert one("NIL", "Q2") == (0.0, 0.0, 0.0)
    assert one("Q1", "NIL") == (0.0, 0.0, 0.0)
    assert one("NIL", "NIL") == (0.0, 0.0, 1.0)  # ignored for P/R/F, right for accuracy


def test_nothing_to_score_gives_none():
    scores = score_links([])
    assert scores["nel_acc"] is None and scores["nel_f_per_type"] is None
    assert all(scores[f"nel_{kind}_{m}"] is None for kind in ("micro", "macro") for m in "prf")
    vocab = Vocab()
    # Gold ids but no predicted mention on them: no P/R/F, accuracy 0.
    scores = score_links([example(vocab, "Ann ran .", [(0, 1, "PER", "Q1")], [(1, 2, "PER", "Q1")])])
    assert scores["nel_micro_f"] is None and scores["nel_acc"] == 0.0


def test_negative_labels_can_be_given():
    """spaCy's own call passes negative_labels=["NIL"]: then an empty predicted id is a wrong id (fp and fn)."""
    eg = example(Vocab(), "Ann met Bo .", [(0, 1, "PER", "Q1"), (2, 3, "PER", "Q2")],
                 [(0, 1, "PER", "Q1"), (2, 3, "PER", "")])
    default = score_links([eg])
    assert (default["nel_micro_p"], default["nel_micro_r"]) == (1.0, 0.5)
    strict = score_links([eg], negative_labels=["NIL"])
    assert (strict["nel_micro_p"], strict["nel_micro_r"]) == (0.5, 0.5)


def test_registered_scorer_takes_component_kwargs(examples):
    scorer = registry.resolve({"s": {"@scorers": "spacy.entity_linker_scorer.v1"}})["s"]
    assert scorer(examples, negative_labels=["NIL", ""], labels_discard=[]) == score_links(examples)
