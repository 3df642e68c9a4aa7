"""The English tokenizer's rules (UD English conventions) on sentences written for these tests,
its rules saved with a model, and text it must not choke on."""
import time

import pytest

from archcli.tokens.lang_en import english_rules
from archcli.tokens.tokenizer import Tokenizer, rules_from_dict
from archcli.tokens.vocab import Vocab

CASES = [
    ("I didn't think we'd win, but they're sure we'll.",
     ["I", "did", "n't", "think", "we", "'d", "win", ",", "but", "they", "'re", "sure", "we", "'ll", "."]),
    ("Im gonna say it: dont wait, cannot wait!!",
     ["I", "m", "gon", "na", "say", "it", ":", "do", "nt", "wait", ",", "can", "not", "wait", "!!"]),
    ("Dr. Smith met Mr. Jones in the U.S. on Sept. 3rd at 7:30PM.",
     ["Dr.", "Smith", "met", "Mr.", "Jones", "in", "the", "U.S.", "on", "Sept.", "3rd", "at", "7:30", "PM", "."]),
    ("Pens, paper, etc.", ["Pens", ",", "paper", ",", "etc", "."]),  # a text-final abbreviation gives up its period
    ("Bring pens, etc. and paper.", ["Bring", "pens", ",", "etc.", "and", "paper", "."]),
    ("A state-of-the-art, non-profit, mid-1980s e-mail client.",
     ["A", "state", "-", "of", "-", "the", "-", "art", ",", "non-profit", ",", "mid-1980s", "e-mail", "client", "."]),
    ("Call 713-555-0142 or 555-0199 for the 5-10 day offer.",
     ["Call", "713-555-0142", "or", "555-0199", "for", "the", "5", "-", "10", "day", "offer", "."]),
    ("Mail anna.b@example.org or see https://example.org/a_(b) and www.example.com.",
     ["Mail", "anna.b@example.org", "or", "see", "https://example.org/a_(b)", "and", "www.example.com", "."]),
    ("Great:) Really?! Wow... ok:-( #winning @friend",
     ["Great", ":)", "Really", "?!", "Wow", "...", "ok", ":-(", "#winning", "@friend"]),
    ("It cost $5,000 for 35mm film, 2GB cards and 20% more.",
     ["It", "cost", "$", "5,000", "for", "35", "mm", "film", ",", "2", "GB", "cards", "and", "20", "%", "more", "."]),
    ("and/or b/c w/o 11/28/2000 in the 1990s", ["and", "/", "or", "b/c", "w/o", "11/28/2000", "in", "the", "1990s"]),
    ("The students' \"best\" (and only) idea", ["The", "students", "'", '"', "best", '"', "(", "and", "only", ")", "idea"]),
    ("pigs,cows,etc. ==---- <<hello>>", ["pigs", ",", "cows", ",", "etc.", "==----", "<<", "hello", ">>"]),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0][:24] for c in CASES])
def test_english_rules(text, expected):
    tokenizer = Tokenizer(Vocab())
    doc = tokenizer(text)
    assert [t.text for t in doc if not t.text.isspace()] == expected
    assert doc.text == text  # offsets exact


def test_whitespace_tokens_and_exact_text():
    doc = Tokenizer(Vocab())("  two  spaces\nand\ttabs ")
    assert doc.text == "  two  spaces\nand\ttabs "
    assert [t.text for t in doc] == ["  ", "two", " ", "spaces", "\n", "and", "\t", "tabs"]


def test_rules_are_data_and_checked():
    rules = english_rules()
    rules["exceptions"]["gotcha"] = ["got", "cha"]
    assert Tokenizer(Vocab(), rules).split("gotcha now")[0] == ["got", "cha", "now"]
    with pytest.raises(ValueError, match="do not spell it"):
        Tokenizer(Vocab(), dict(rules, exceptions={"abc": ["a", "x"]}))
    with pytest.raises(ValueError, match="unknown tokenizer rule key 'prefixes'"):
        rules_from_dict({"prefixes": []})
    with pytest.raises(ValueError, match="'units' should be list"):
        rules_from_dict({"units": "mm"})


def test_bad_characters_tokenise_or_are_named():
    tokenizer = Tokenizer(Vocab())
    doc = tokenizer("nul\x00here \x07bell")
    assert doc.text == "nul\x00here \x07bell"
    with pytest.raises(ValueError, match="lone surrogate .U\\+D800. at character 3"):
        tokenizer("ab\ud800cd")


def test_linear_on_huge_and_hostile_chunks():
    tokenizer = Tokenizer(Vocab())
    for text in ("(" * 200_000 + "word" + ")" * 200_000, "a-" * 100_000 + "b", "x" * 1_000_000,
                 "word " * 200_000, "http://example.org/" + "a" * 500_000 + ")" * 1000):
        start = time.perf_counter()
        doc = tokenizer(text)
        assert doc.text == text
        assert time.perf_counter() - start < 10, text[:20]


def test_model_saves_and_loads_its_tokenizer_rules(tmp_path):
    from thinc.api import Config

    from archcli import load
    from archcli.language import TOKENIZER_FILE, Pipeline

    nlp = Pipeline.from_config(Config().from_str('[nlp]\nlang = "en"\npipeline = []\n\n[components]\n'))
    nlp.tokenizer.rules["exceptions"]["gotcha"] = ["got", "cha"]
    nlp.tokenizer = Tokenizer(nlp.vocab, nlp.tokenizer.rules)
    nlp.to_disk(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert [t.text for t in loaded("gotcha")] == ["got", "cha"]
    (tmp_path / "model" / TOKENIZER_FILE).write_text('{"units": 3}', encoding="utf8")
    from archcli.errors import ModelDirError

    with pytest.raises(ModelDirError, match="tokenizer.json"):
        load(tmp_path / "model")
