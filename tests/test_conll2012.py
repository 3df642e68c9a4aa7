"""CoNLL-2012 coreference reader (issue 13): exact clusters of the samples, LitBank counts, bad input
naming FILE:LINE, head words (rule and parse), and span groups through `.spacy`."""
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy
import pytest

from archcli._registry import registry
from archcli.errors import ArchcliError, ConfigError, CorpusError
from archcli.language import Pipeline
from archcli.tokens import Doc, Span, Vocab
from archcli.tokens.docbin import DocBin, read_docbin
from archcli.training.conll2012 import read_conll2012
from archcli.training.coref_heads import (
    ParserHeads, add_head_clusters, cluster_groups, heads_option_problem, rule_heads, syntactic_heads, tree_depth,
)
from archcli.training.corpus import Corpus

from .conftest import CORPORA, SAMPLES, require

COREF = SAMPLES / "coref"
LITBANK = CORPORA / "litbank" / "coref"


def groups(doc: Doc, prefix: str = "coref_clusters") -> Dict[int, List[Tuple[int, int]]]:
    return {n: [(s.start, s.end) for s in spans] for n, spans in cluster_groups(doc, prefix)}


def texts(doc: Doc) -> Dict[int, List[str]]:
    return {n: [s.text for s in spans] for n, spans in cluster_groups(doc)}


def read(path, **kwargs) -> List[Doc]:
    return [doc for doc, _ in read_conll2012(path, Vocab(), **kwargs)]


# --- the hand-written samples ----------------------------------------------------------------
def test_harbour_sample_exact_clusters(capfd):
    docs = [(doc, line) for doc, line in read_conll2012(COREF / "harbour.conll", Vocab())]
    assert [line for _, line in docs] == [1, 40]
    doc, quiet = docs[0][0], docs[1][0]
    assert len(doc) == 33 and [(s.start, s.end) for s in doc.sents] == [(0, 10), (10, 21), (21, 33)]
    assert doc.text.startswith("Old Mara Quell kept the lighthouse at Vennick Point . She had")
    assert texts(doc) == {
        1: ["Old Mara Quell", "She", "her", "The keeper", "her"],
        2: ["the lighthouse at Vennick Point", "there"],
        3: ["Vennick Point"],
        4: ["her brother"],  # chain 3 and chain 4 both start at "her": the shorter mention first
        5: ["her brother 's boat"],
        6: ["The keeper and her cat , Pim"],
        7: ["her cat , Pim", "Pim"],
        8: ["the ships"],
    }
    assert groups(doc)[1] == [(0, 3), (10, 11), (15, 16), (21, 23), (24, 25)]
    assert all(s.label_ == "" for _, spans in cluster_groups(doc) for s in spans)
    assert doc.user_data["coref_chain_ids"] == ["0", "1", "2", "3", "4", "5", "6", "7"]
    assert (doc.user_data["coref_document"], doc.user_data["coref_part"]) == ("harbour", "0")
    heads = {n: [doc.words[s.start] for s in spans] for n, spans in cluster_groups(doc, "coref_head_clusters")}
    assert heads == {1: ["Quell", "She", "her", "keeper", "her"], 2: ["lighthouse", "there"], 3: ["Point"],
                     4: ["brother"], 5: ["boat"], 6: [], 7: ["cat", "Pim"], 8: ["ships"]}
    assert all(len(s) == 1 for _, spans in cluster_groups(doc, "coref_head_clusters") for s in spans)
    # The second document (part 1) has sentences but no mentions.
    assert len(quiet) == 12 and len(quiet.sents) == 2 and not quiet.spans
    assert quiet.user_data["coref_chain_ids"] == [] and quiet.user_data["coref_part"] == "1"
    # "The keeper and her cat , Pim" has the head of the shorter "The keeper": said once for the file.
    assert "harbour.conll: 1 mention(s) left out of the head clusters" in capfd.readouterr().err


def test_letters_sample_whitespace_columns_and_chain_order():
    (doc,) = read(COREF / "letters.conll")
    assert doc.words[:4] == ["Ivo", "wrote", "to", "his"] and len(doc.sents) == 3
    assert texts(doc) == {1: ["Ivo", "his", "him", "He"], 2: ["his aunt in Sellan", "She", "her"],
                          3: ["Sellan"], 4: ["the money"]}
    assert doc.user_data["coref_chain_ids"] == ["12", "3", "40", "7"]  # N in order of first mention
    assert doc.user_data["coref_document"] == "letters/ivo"
    assert groups(doc, "coref_head_clusters")[2] == [(4, 5), (8, 9), (21, 22)]


def test_spacy_corpus_reads_a_directory_of_conll_files_in_order():
    examples = list(Corpus(str(COREF))(Pipeline()))
    assert [eg.reference.user_data["coref_document"] for eg in examples] == ["harbour", "harbour", "letters/ivo"]
    assert examples[0].source.endswith("harbour.conll:1")
    assert "coref_clusters_1" in examples[0].reference.spans
    assert not examples[0].predicted.spans  # the predicted side starts blank


def test_registered_reader_limit_and_heads_option():
    reader = registry.resolve({"r": {"@readers": "archcli.Conll2012Corpus.v1", "path": str(COREF), "limit": 2}})["r"]
    assert len(list(reader(Pipeline()))) == 2
    for heads in ("bogus", "parser:", "parser:/no/such/model"):
        with pytest.raises(ConfigError, match="heads"):
            registry.resolve({"r": {"@readers": "archcli.Conll2012Corpus.v1", "path": str(COREF), "heads": heads}})
    assert heads_option_problem("rule") == ""


# --- LitBank ----------------------------------------------------------------------------------
@pytest.mark.parametrize("split,expected", [
    ("train", {"docs": 80, "clusters": 6189, "mentions": 23127, "singletons": 4490}),
    ("dev", {"docs": 10, "clusters": 875, "mentions": 2842, "singletons": 636}),
])
def test_litbank_counts(split, expected):
    """The issue: 4,490 of LitBank's 6,189 training clusters are singletons (kept by the reader)."""
    docs = list(Corpus(str(require(LITBANK / split)))(Pipeline()))
    clusters = [spans for eg in docs for _, spans in cluster_groups(eg.reference)]
    found = {"docs": len(docs), "clusters": len(clusters), "mentions": sum(map(len, clusters)),
             "singletons": sum(len(spans) == 1 for spans in clusters)}
    assert found == expected
    heads = [spans for eg in docs for _, spans in cluster_groups(eg.reference, "coref_head_clusters")]
    assert len(heads) == len(clusters)


# --- bad input: one CorpusError naming FILE:LINE ------------------------------------------------
def _doc_text(*token_columns: str, end: bool = True) -> str:
    lines = ["#begin document (d); part 0"]
    lines += [f"d\t0\t{i}\tw{i}\t_\t{col}" for i, col in enumerate(token_columns)]
    return "\n".join(lines + (["#end document"] if end else [])) + "\n"


@pytest.mark.parametrize("text,line,message", [
    (_doc_text("(1", "-", "-"), 2, "chain 1 opens here but is never closed (its document ends on line 5)"),
    (_doc_text("(1", "(1", "1)"), 2, "chain 1 opens here but is never closed"),  # the inner one closed
    (_doc_text("-", "1)"), 3, "'1)' closes a mention of chain 1, but none is open"),
    (_doc_text("(1)", "2)|(2"), 3, "'2)' closes a mention of chain 2"),
    (_doc_text("(1x"), 2, "'(1x' in the coreference column is not one of"),
    (_doc_text("((1)"), 2, "'((1)' in the coreference column"),
    (_doc_text("1"), 2, "'1' in the coreference column"),
    (_doc_text("(1)|"), 2, "'' in the coreference column"),
    (_doc_text("-", end=False), 1, "this document has no '#end document'"),
    ("#begin document (d); part 0\nd\t0\t0\tw\n#end document\n", 2, "expected at least 5 fields"),
    ("#begin document (d); part 0\nd\t0\t0\tw\t_\t-\nd\t0\t1\tv\t-\n#end document\n", 3,
     "5 fields, but this document's first token line (2) has 6"),
    ("#begin document (d); part 0\nd\t0\t0\tw\t_\t-\nd\t0\t1\tv\t_\t_\t-\n#end document\n", 3,
     "7 fields, but this document's first token line (2) has 6"),
    ("d\t0\t0\tw\t_\t-\n", 1, "token line outside a '#begin document'"),
    (_doc_text("-") + "d\t0\t0\tw\t_\t-\n", 4, "token line outside"),
    ("#begin document (d); part 0\n#begin document (e); part 0\n", 2, "inside the document begun on line 1"),
    ("#end document\n", 1, "'#end document' without a '#begin document'"),
    ("#begin document (d); part 0\n# a comment\n#end document\n", 2, "unknown directive"),
    ("#begin document (d); part 0\nd\t0\t0\t \t_\t-\n#end document\n", 2, "empty word"),
])
def test_bad_input_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf8")
    with pytest.raises(CorpusError) as err:
        read(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert message in str(err.value)


def test_empty_document_skipped_with_a_note(tmp_path, capfd):
    path = tmp_path / "empty.conll"
    path.write_text("#begin document (e); part 0\n\n#end document\n" + _doc_text("(3)"), encoding="utf8")
    (doc,) = read(path)
    assert texts(doc) == {1: ["w0"]} and doc.user_data["coref_chain_ids"] == ["3"]
    assert "1 document(s) without tokens skipped" in capfd.readouterr().err


def test_repeated_mention_kept_once(tmp_path, capfd):
    path = tmp_path / "twice.conll"
    path.write_text(_doc_text("(1|(1", "1)|1)", "(2)"), encoding="utf8")
    (doc,) = read(path)
    assert groups(doc) == {1: [(0, 2)], 2: [(2, 3)]}
    assert "1 mention(s) written twice in the same chain kept once" in capfd.readouterr().err


def test_nested_same_chain_closes_innermost(tmp_path):
    path = tmp_path / "nest.conll"
    path.write_text(_doc_text("(1", "(1", "1)", "1)"), encoding="utf8")
    (doc,) = read(path)
    assert groups(doc) == {1: [(0, 4), (1, 3)]}


def test_reading_is_linear_in_document_length(tmp_path):
    n = 100_000
    columns = ["(%d" % (i % 50) if i % 4 == 0 else ("%d)" % ((i - 1) % 50) if i % 4 == 1 else "-") for i in range(n)]
    path = tmp_path / "long.conll"
    path.write_text(_doc_text(*columns), encoding="utf8")
    start = time.perf_counter()
    (doc,) = read(path)
    assert time.perf_counter() - start < 10.0
    assert sum(len(spans) for _, spans in cluster_groups(doc)) == n // 4


# --- heads -----------------------------------------------------------------------------------
PHRASES = [
    ("the city of London", "city"),
    ("a man who came", "man"),
    ("Miss Flite , the old lady", "Flite"),
    ("Tom and Huck", "Tom"),
    ("Lincoln 's Inn Hall", "Hall"),
    ("the doctor 's", "'s"),  # "at the doctor's": the elided house, not the doctor
    ("the servants ' quarters", "quarters"),
    ("\" Jane Eyre \"", "Eyre"),
    ("The _ Lusitania _", "Lusitania"),  # underscores mark italics in Gutenberg texts
    ("the “ sitting room , ” for visitors", "room"),
    ("the rooms the Signora promised us", "rooms"),
    ("all the men", "men"),
    ("the man I saw", "man"),
    ("the artist himself", "artist"),
    ("a trader named Jennings", "trader"),
    ("the towns here in the north", "towns"),
    ("one of them", "one"),
    ("her", "her"),
    (",", ","),
]


def test_rule_heads_on_hand_made_mentions():
    words, bounds = [], []
    for phrase, _ in PHRASES:
        tokens = phrase.split(" ")
        bounds.append((len(words), len(words) + len(tokens)))
        words += tokens + ["and"]  # a break word between mentions must not leak into them
    doc = Doc(Vocab(), words)
    starts, ends = numpy.asarray(bounds).T
    found = [doc.words[h] for h in rule_heads(doc, starts, ends)]
    assert found == [head for _, head in PHRASES]
    assert len(rule_heads(doc, starts[:0], ends[:0])) == 0


def test_rule_heads_see_through_glued_punctuation():
    # "a dial-up connection" split as UD EWT splits it: the hyphen is no chunk break.
    doc = Doc(Vocab(), ["a", "dial", "-", "up", "connection", ",", "fast"], [True, False, False, True, False, True, False])
    assert rule_heads(doc, numpy.asarray([0, 0]), numpy.asarray([5, 7])).tolist() == [4, 4]


def test_syntactic_heads_are_the_mention_roots():
    # "the old man of the sea slept": man <- the, old, of-phrase (sea <- of, the); slept is the root.
    head = numpy.asarray([2, 2, 6, 5, 5, 2, 6])
    assert tree_depth(head).tolist() == [2, 2, 1, 3, 3, 2, 0]
    starts, ends = numpy.asarray([0, 3, 4, 1]), numpy.asarray([6, 6, 6, 2])
    assert syntactic_heads(head, starts, ends).tolist() == [2, 5, 5, 1]
    # Not a subtree ("old man of"): the token nearest the root.
    assert syntactic_heads(head, numpy.asarray([1]), numpy.asarray([4])).tolist() == [2]


def test_shared_heads_keep_the_shortest_mention():
    doc = Doc(Vocab(), "Tom and Huck saw Tom".split())
    doc.spans["coref_clusters_1"] = [Span(doc, 0, 3)]  # head Tom (0), as is "Tom" in cluster 2
    doc.spans["coref_clusters_2"] = [Span(doc, 0, 1), Span(doc, 4, 5)]
    doc.spans["coref_clusters_3"] = [Span(doc, 2, 3)]
    doc.spans["coref_head_clusters_9"] = [Span(doc, 1, 2)]  # stale: replaced
    assert add_head_clusters(doc) == 1
    assert groups(doc, "coref_head_clusters") == {1: [], 2: [(0, 1), (4, 5)], 3: [(2, 3)]}


class _StubParser:
    """A pipeline stand-in that attaches every word to the sentence's last word."""

    def __init__(self) -> None:
        self.vocab = Vocab()
        self.seen: List[List[str]] = []

    def pipe(self, docs):
        for doc in docs:
            self.seen.append(doc.words)
            doc.head[:] = len(doc) - 1
            doc.set_strings("dep", ["dep"] * (len(doc) - 1) + ["ROOT"])
            yield doc


def test_parser_heads_parse_each_gold_sentence_once():
    doc = Doc(Vocab(), "a b c d e".split(), sent_starts=[True, False, False, True, False])
    parser = ParserHeads("unused")
    parser._nlp = _StubParser()
    assert parser(doc, numpy.asarray([0, 0, 3]), numpy.asarray([2, 5, 4])).tolist() == [0, 2, 3]
    assert parser.parse(doc).tolist() == [2, 2, 2, 4, 4]
    assert parser._nlp.seen == [["a", "b", "c"], ["d", "e"]]  # the second call used the cache


def test_parser_heads_refuse_a_pipeline_without_parse():
    doc = Doc(Vocab(), "a b".split())
    parser = ParserHeads("some/model")
    parser._nlp = type("NoParse", (), {"vocab": Vocab(), "pipe": lambda self, docs: iter(docs)})()
    with pytest.raises(ArchcliError, match="no dependency parse"):
        parser.parse(doc)


# --- .spacy round trip ----------------------------------------------------------------------
@pytest.mark.parametrize("store_user_data", [True, False])
def test_span_groups_round_trip_through_docbin(tmp_path, store_user_data):
    docs = read(COREF / "harbour.conll") + read(COREF / "letters.conll")
    path = tmp_path / "coref.spacy"
    DocBin(store_user_data=store_user_data, docs=docs).to_disk(path)
    back = list(read_docbin(path, Vocab()))
    assert len(back) == len(docs)
    for doc, again in zip(docs, back):
        assert again.words == doc.words
        assert [(s.start, s.end) for s in again.sents] == [(s.start, s.end) for s in doc.sents]
        assert sorted(again.spans) == sorted(doc.spans)
        for key, spans in doc.spans.items():
            assert [(s.start, s.end, s.label_) for s in again.spans[key]] == [(s.start, s.end, "") for s in spans]
        if store_user_data:
            assert list(again.user_data["coref_chain_ids"]) == doc.user_data["coref_chain_ids"]


def test_max_length_refuses_to_cut_coreference_clusters(tmp_path):
    """A coref doc longer than max_length would be split into sentences, breaking its clusters."""
    from typer.testing import CliRunner

    from archcli.cli import app

    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(app, [
        "train", str(root / "configs" / "coref.cfg"), "--output", str(tmp_path / "out"),
        "--corpora.train.max_length", "20", "--training.max_steps", "2"])
    assert result.exit_code == 1, result.output
    assert "harbour.conll:" in result.output and "max_length = 20" in result.output
    assert "cut its coreference clusters" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "model-last").exists()
