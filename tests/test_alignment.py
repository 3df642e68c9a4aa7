"""Aligning a re-tokenised text to the gold tokens: hand-made split, merged and crossing tokens,
whitespace tokens; annotation projected only one-to-one; scores count what was lost."""
import time

import numpy
import pytest

from archcli.errors import ArchcliError
from archcli.tokens.alignment import Alignment
from archcli.tokens.doc import Doc, Span
from archcli.tokens.example import Example
from archcli.tokens.vocab import Vocab


def pairs(x, y):
    return [tuple(p) for p in Alignment.from_words(x, y).pairs.tolist()]


def test_split_merged_crossing_and_whitespace_tokens():
    # gold "don't" -> predicted "do" "n't": one-to-many
    a = Alignment.from_words(["I", "do", "n't"], ["I", "don't"])
    assert pairs(["I", "do", "n't"], ["I", "don't"]) == [(0, 0), (1, 1), (2, 1)]
    assert a.x_to_y.tolist() == [0, -1, -1] and a.y_to_x.tolist() == [0, -1]
    # merged: predicted "New-York" over gold "New" "-" "York"
    a = Alignment.from_words(["New-York", "!"], ["New", "-", "York", "!"])
    assert a.x_to_y.tolist() == [-1, 3] and a.y_to_x.tolist() == [-1, -1, -1, 1]
    # crossing: "ab|cd" vs "abc|d"
    assert pairs(["ab", "cd"], ["abc", "d"]) == [(0, 0), (1, 0), (1, 1)]
    # whitespace tokens own no characters; texts compared without whitespace
    a = Alignment.from_words(["a", "\n", "b"], ["a", "b"])
    assert a.x_to_y.tolist() == [0, -1, 1] and a.x_span(1, 2) == (2, 3)
    with pytest.raises(ValueError, match="spell different texts"):
        Alignment.from_words(["abc"], ["abd"])


def _gold(vocab):
    words = ["Mr.", "O'Neil", "didn't", "visit", "New", "York", "."]
    doc = Doc(vocab, words, [True, True, True, True, True, False, False],
              tags=["NNP", "NNP", "VBD", "VB", "NNP", "NNP", "."], heads=[1, 3, 3, 3, 5, 3, 3],
              deps=["compound", "nsubj", "aux", "ROOT", "compound", "obj", "punct"], sent_starts=[True] + [False] * 6)
    doc.ents = [Span(doc, 0, 2, "PERSON"), Span(doc, 4, 6, "GPE")]
    doc.spans["sc"] = [Span(doc, 2, 4, "EVENT")]
    doc.cats = {"TRAVEL": 1.0}
    return doc


def test_projection_keeps_only_one_to_one_annotation():
    vocab = Vocab()
    gold = _gold(vocab)
    # The tokenizer split "O'Neil" into "O" "'Neil", "didn't" into "did" "n't", merged "New York"? no: kept.
    predicted = Doc(vocab, ["Mr.", "O", "'Neil", "did", "n't", "visit", "New", "York", "."],
                    [True, False, True, False, True, True, True, False, False])
    eg = Example(predicted, gold, source="test:1")
    ref = eg.reference
    assert eg.gold is gold and ref.words == predicted.words
    assert ref.get_strings("tag") == ["NNP", "", "", "", "", "VB", "NNP", "NNP", "."]
    # "visit" (ROOT) keeps its tree; "New" -> "York" keeps its head; "Mr." lost its head (O'Neil split)
    assert ref.get_strings("dep") == ["", "", "", "", "", "ROOT", "compound", "obj", "punct"]
    assert ref.head.tolist()[5:] == [5, 7, 5, 5]
    # PERSON "Mr. O'Neil" keeps its edges on "Mr." ... "'Neil"
    assert [(e.start, e.end, e.label_) for e in ref.ents] == [(0, 3, "PERSON"), (6, 8, "GPE")]
    assert "ents_missing" not in ref.user_data
    assert [(s.start, s.end, s.label_) for s in ref.spans["sc"]] == [(3, 6, "EVENT")]
    assert ref.cats == {"TRAVEL": 1.0}


def test_an_entity_cut_by_a_predicted_token_is_missing_not_outside():
    vocab = Vocab()
    gold = Doc(vocab, ["Visit", "New", "York", "now"])
    gold.ents = [Span(gold, 1, 2, "GPE")]  # only "New"
    eg = Example(Doc(vocab, ["Visit", "NewYork", "now"]), gold)
    assert eg.reference.ents == []
    assert eg.reference.user_data["ents_missing"].tolist() == [False, True, False]
    from archcli.scoring import score_ents

    assert score_ents([eg])["ents_r"] == 0.0


def test_same_tokens_need_no_alignment_and_different_texts_are_named():
    vocab = Vocab()
    gold = _gold(vocab)
    eg = Example(gold.copy(annotations=False), gold)
    assert eg.alignment is None and eg.reference is gold
    with pytest.raises(ArchcliError, match="corpus.conllu:7.*do not align"):
        Example(Doc(vocab, ["Mrs.", "X"]), gold, source="corpus.conllu:7")


def test_scores_count_what_retokenisation_lost():
    from archcli.scoring import score_ents, score_token_attr, score_tokenization

    vocab = Vocab()
    gold = _gold(vocab)
    predicted = Doc(vocab, ["Mr.", "O", "'Neil", "did", "n't", "visit", "New", "York", "."],
                    [True, False, True, False, True, True, True, False, False],
                    tags=["NNP", "NNP", "NNP", "VBD", "RB", "VB", "NNP", "NNP", "."])
    predicted.ents = [Span(predicted, 6, 8, "GPE")]
    eg = Example(predicted, gold)
    tok = score_tokenization([eg])
    assert tok["token_p"] == pytest.approx(5 / 9) and tok["token_r"] == pytest.approx(5 / 7)
    assert score_token_attr([eg], "tag")["tag_acc"] == pytest.approx(5 / 7)  # 2 gold tokens lost
    ents = score_ents([eg])
    assert ents["ents_p"] == 1.0 and ents["ents_r"] == 0.5


def test_alignment_is_linear():
    rng = numpy.random.default_rng(0)
    gold_words = ["".join(rng.choice(list("abcdef"), int(n))) for n in rng.integers(1, 8, 200_000)]
    text = "".join(gold_words)
    cuts = numpy.sort(rng.choice(numpy.arange(1, len(text)), 150_000, replace=False))
    pred_words = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    start = time.perf_counter()
    a = Alignment.from_words(pred_words, gold_words)
    assert time.perf_counter() - start < 5
    assert len(a.pairs) >= max(len(pred_words), len(gold_words))


def test_tagger_parser_learns_from_retokenised_ewt(tmp_path, ud_dir):
    """gold_preproc = false (spaCy's default, as the shipped config): the raw text is tokenised by
    the pipeline and the gold aligned to it; training still learns, scored both ways."""
    import json

    from typer.testing import CliRunner

    from archcli.cli import app

    from .conftest import REPO
    from .util import write_conllu_slice

    train = write_conllu_slice(ud_dir / "train.conllu", tmp_path / "train.conllu", 0, 600)
    dev = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "dev.conllu", 0, 200)
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(REPO / "configs/tagger_parser.cfg"), "--output", str(tmp_path / "out"),
                                 "--paths.train", str(train), "--paths.dev", str(dev), "--training.max_steps", "150",
                                 "--training.eval_frequency", "50", "--training.logger.progress_bar", "false"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()]
    first, last = rows[0]["scores"], rows[-1]["scores"]
    assert last["token_f"] < 1.0  # the dev text was re-tokenised, not read as the corpus's tokens
    assert last["tag_acc"] > first["tag_acc"] + 0.3 and last["dep_uas"] > first["dep_uas"] + 0.15
    for flag in ("--gold-tokens", "--retokenize"):
        out = tmp_path / f"{flag}.json"
        result = runner.invoke(app, ["evaluate", str(tmp_path / "out" / "model-last"), str(dev), flag, "--output", str(out)])
        assert result.exit_code == 0, result.output
    gold, raw = (json.loads((tmp_path / f"{f}.json").read_text()) for f in ("--gold-tokens", "--retokenize"))
    assert gold["token_f"] == 1.0 and 0.95 < raw["token_f"] < 1.0
    assert abs(gold["tag_acc"] - raw["tag_acc"]) < 0.05
