"""Corpus files a user gets wrong: every reader names the file (and line) (issue 16, items 17, 18).

Binary or non-UTF-8 files, a UTF-8 byte-order mark, an IOB2 `I-` that starts an entity,
damaged `.spacy` files; plus the reader modules' import graph and the gold_preproc note.
"""
import ast
import shutil
import sys
from pathlib import Path

import pytest

from archcli.errors import CorpusError
from archcli.language import Pipeline
from archcli.tokens import DocBin, Vocab
from archcli.tokens.docbin import read_docbin
from archcli.training import corpus as corpus_module
from archcli.training.corpus import Corpus, create_docbin_reader, create_jsonl_reader
from archcli.training.litbank import read_litbank

SAMPLES = Path(__file__).parent.parent / "corpus_samples"
TEXT_SAMPLES = {
    ".conllu": SAMPLES / "conllu" / "dev.conllu",
    ".iob2": SAMPLES / "ner" / "dev.iob2",
    ".jsonl": SAMPLES / "jsonl" / "tagged.jsonl",
    ".tsv": SAMPLES / "spans" / "train" / "harbour.tsv",
}


def _read_all(path: Path) -> list:
    if path.suffix == ".tsv":
        return [doc for doc, _ in read_litbank(path, Vocab())]
    return [eg.reference for eg in Corpus(path)(Pipeline())]


@pytest.mark.parametrize("suffix", sorted(TEXT_SAMPLES))
def test_binary_file_names_file_and_line(tmp_path, suffix):
    path = tmp_path / f"corpus{suffix}"
    lines = TEXT_SAMPLES[suffix].read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + b"\x89PNG\r\n\x1a\n\xff\xfe\x00" + b"".join(lines[3:]))
    with pytest.raises(CorpusError) as err:
        _read_all(path)
    assert f"{path}:4: not UTF-8 text" in str(err.value)


@pytest.mark.parametrize("suffix", sorted(TEXT_SAMPLES))
def test_utf8_bom_is_accepted(tmp_path, suffix):
    path = tmp_path / f"corpus{suffix}"
    data = TEXT_SAMPLES[suffix].read_bytes()
    path.write_bytes(b"\xef\xbb\xbf" + data)
    expected = _read_all(TEXT_SAMPLES[suffix])
    got = _read_all(path)
    assert [d.words for d in got] == [d.words for d in expected]
    assert "\ufeff" not in got[0].text


def test_bom_before_first_conllu_token_line(tmp_path):
    path = tmp_path / "bom.conllu"
    path.write_bytes(b"\xef\xbb\xbf1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n")
    assert [eg.reference.words for eg in Corpus(path)(Pipeline())] == [["Hi"]]


IOB2_BAD = [
    ("1\tMaria\tO\n2\tLopez\tI-PER\n", 2, "'I-PER' after O"),
    ("1\tLisbon\tB-LOC\n2\tLopez\tI-PER\n", 2, "'I-PER' after B-LOC"),
    ("1\tLopez\tI-PER\n2\tflew\tO\n", 1, "'I-PER' at the start of a sentence"),
]


@pytest.mark.parametrize("text,line,needle", IOB2_BAD)
def test_iob2_inside_without_begin_names_line(tmp_path, text, line, needle):
    path = tmp_path / "bad.iob2"
    path.write_text("# text = x\n" + text + "\n", encoding="utf8")
    with pytest.raises(CorpusError) as err:
        list(Corpus(path)(Pipeline()))
    assert str(err.value).startswith(f"{path}:{line + 1}: {needle}")


def test_iob1_inside_after_outside_starts_an_entity(tmp_path):
    # IOB1 (.iob, CoNLL-2003's original scheme): I- after O is how an entity begins, as spaCy reads it.
    path = tmp_path / "ok.iob"
    path.write_text("Maria O\nLopez I-PER\nflew O\n\n", encoding="utf8")
    (doc,) = [eg.reference for eg in Corpus(path)(Pipeline())]
    assert [(e.text, e.label_) for e in doc.ents] == [("Lopez", "PER")]


def test_litbank_inside_without_begin_names_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("The\tO\tO\tO\tO\nharbour\tI-FAC\tO\tO\tO\n\n", encoding="utf8")
    with pytest.raises(CorpusError) as err:
        list(read_litbank(path, Vocab()))
    assert str(err.value).startswith(f"{path}:2: 'I-FAC' after O")


def _spacy_file(tmp_path) -> Path:
    path = tmp_path / "ok.spacy"
    docs = [eg.reference for eg in Corpus(TEXT_SAMPLES[".conllu"])(Pipeline())]
    DocBin(docs=docs).to_disk(path)
    return path


@pytest.mark.parametrize("cut", [0, 1, 2, 10, 100, -1])
def test_truncated_docbin_names_file(tmp_path, cut):
    good = _spacy_file(tmp_path)
    data = good.read_bytes()
    path = tmp_path / "bad.spacy"
    path.write_bytes(data[:cut] if cut >= 0 else data[: len(data) // 2])
    with pytest.raises(CorpusError) as err:
        list(read_docbin(path, Vocab()))
    assert str(err.value).startswith(f"{path}: ")


def test_garbage_docbin_names_file(tmp_path):
    path = tmp_path / "bad.spacy"
    path.write_bytes(b"this is not a DocBin at all\n" * 20)
    with pytest.raises(CorpusError) as err:
        list(create_docbin_reader(str(path))(Pipeline()))
    assert str(err.value).startswith(f"{path}: not a DocBin")


@pytest.mark.parametrize("data,expected", [
    (b'{"text": "fine"}\n{"text": "caf\xe9"}\n', ":2: not UTF-8 text (byte 0xe9"),
    # bare \r line endings count lines too
    (b'{"text": "fine"}\r{"text": "ok"}\r{"text": "caf\xe9"}\r', ":3: not UTF-8 text (byte 0xe9 at column 14)"),
])
def test_non_utf8_raw_jsonl_names_line_and_column(tmp_path, data, expected):
    path = tmp_path / "texts.jsonl"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as err:
        list(create_jsonl_reader(str(path))(Pipeline()))
    assert str(err.value).startswith(f"{path}{expected}")


def test_gold_preproc_as_spacy_reads_it(tmp_path):
    """false: the raw text tokenised by the pipeline and the gold aligned to it; true: the
    corpus's tokens, one doc per sentence; archcli's own readers: the corpus's tokens and docs."""
    path = tmp_path / "gp.conllu"
    path.write_text(
        "# text = I didn't go.\n1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_\n2-3\tdidn't\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\tdid\tdo\tAUX\tVBD\t_\t3\taux\t_\tSpaceAfter=No\n"
        "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\n"
        "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\n"
        "# text = Go now.\n1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n2\tnow\tnow\tADV\tRB\t_\t1\tadvmod\t_\tSpaceAfter=No\n"
        "3\t.\t.\tPUNCT\t.\t_\t1\tpunct\t_\t_\n\n", encoding="utf8")
    nlp = Pipeline()
    raw = list(create_docbin_reader(str(path))(nlp))
    assert len(raw) == 1 and raw[0].predicted.words == [t.text for t in nlp.make_doc(raw[0].gold.text)]
    assert raw[0].reference.get_strings("tag")[:4] == ["PRP", "VBD", "RB", "VB"]
    sents = list(create_docbin_reader(str(path), gold_preproc=True)(nlp))
    assert [eg.reference.words for eg in sents] == [["I", "did", "n't", "go", "."], ["Go", "now", "."]]
    assert all(eg.alignment is None for eg in sents)
    own = list(Corpus(path)(nlp))
    assert len(own) == 1 and own[0].alignment is None and len(own[0].reference) == 8


def _imports(path: Path, package: str) -> set:
    """Modules of `package` that a module imports (anywhere in it), resolved to dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = f"{base}.{node.module}" if node.module else base
            found.add(target)
            if not node.module:
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_reader_modules_have_no_import_cycle():
    training = Path(corpus_module.__file__).parent
    graph = {
        f"archcli.training.{p.stem}": {m for m in _imports(p, "archcli.training") if m.startswith("archcli.training.")}
        for p in training.glob("*.py")
        if p.stem != "__init__"
    }

    def reaches(start: str, goal: str, seen: set) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    for name in ("archcli.training.corpus", "archcli.training.litbank", "archcli.training.jsonl"):
        assert not reaches(name, name, set()), f"{name} imports itself through a cycle"


# Found by tests/test_reader_properties.py: each was a traceback or a doc with an empty word.
FIELD_ERRORS = [
    ("bad.iob2", "1\tMaria\tB-PER\n2\t\tO\n\n", ":2: empty token"),
    ("bad.conllu", "1\t\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n", ":1: empty FORM"),
    ("bad.jsonl", '{"words": ["a", ""]}\n', ':1: "words"[1] is \'\''),
    ("bad.jsonl", '{"words": ["a", 3]}\n', ':1: "words"[1] is 3'),
    ("bad.jsonl", '{"words": []}\n', ":1: empty text"),
    ("bad.jsonl", '{"text": "  "}\n', ":1: empty text"),
    ("bad.jsonl", '{"words": ["a"], "spaces": true}\n', ':1: "spaces" must be a list'),
    ("bad.jsonl", '{"words": ["a", "b"], "spaces": [1, 2]}\n', ':1: "spaces" must be a list'),
    ("bad.jsonl", '{"words": ["a", "b"], "spaces": [1, 0.5]}\n', ':1: "spaces" must be a list'),
    ("bad.jsonl", '{"words": ["a", "b"], "spaces": [1, "0"]}\n', ':1: "spaces" must be a list'),
    ("bad.jsonl", '{"text": "a b", "spans": [], "spans_key": []}\n', ':1: "spans_key" must be a non-empty string'),
]


@pytest.mark.parametrize("name,text,needle", FIELD_ERRORS)
def test_malformed_fields_name_the_line(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text, encoding="utf8")
    with pytest.raises(CorpusError) as err:
        list(Corpus(path)(Pipeline()))
    assert str(err.value).startswith(f"{path}{needle}")


def test_jsonl_spaces_take_booleans_or_0_1(tmp_path):
    # spaCy takes 0/1 for spaces; they were accepted before booleans were required (review item 12).
    path = tmp_path / "ints.jsonl"
    path.write_text('{"words": ["a", "b", "c"], "spaces": [1, 0, false]}\n'
                    '{"words": ["d", "e"], "spaces": [true, 0]}\n', encoding="utf8")
    docs = [eg.reference for eg in Corpus(path)(Pipeline())]
    assert [doc.text for doc in docs] == ["a bc", "d e"]


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"])
def test_any_line_ending_is_read(tmp_path, ending):
    # Bare \r line endings were read as one line once files were opened in binary (review item 8).
    path = tmp_path / "cr.conllu"
    lines = [b"# c", b"1\tA\t_\t_\tNN\t_\t0\troot\t_\t_", b"", b"1\tB\t_\t_\tNN\t_\t0\troot\t_\t_", b""]
    path.write_bytes(b"\xef\xbb\xbf" + ending.join(lines))
    (doc,) = [eg.reference for eg in Corpus(path)(Pipeline())]
    assert doc.words == ["A", "B"] and [s.text for s in doc.sents] == ["A", "B"]
    path.write_bytes(b"# c\r1\tA\t_\t_\tNN\t_\t0\troot\t_\t_\r\r")
    assert [eg.reference.words for eg in Corpus(path)(Pipeline())] == [["A"]]
