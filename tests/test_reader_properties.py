"""Property tests of the corpus readers (issue 16): on random bytes and on mutated valid files,
each reader either parses (into consistent docs) or raises one ArchcliError; never another
exception, never a hang.
"""
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Callable, List

import pytest
import srsly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcli.errors import ArchcliError
from archcli.language import Pipeline
from archcli.tokens import DocBin, Vocab
from archcli.tokens.doc import Doc
from archcli.training.corpus import Corpus, create_jsonl_reader
from archcli.training.litbank import read_litbank

SAMPLES = Path(__file__).parent.parent / "corpus_samples"
N_LINES = 40  # keep each example small: the first lines of each sample file
# A fixed, small search by default (each test a few seconds); set ARCHCLI_PROPERTY_EXAMPLES
# (e.g. 2000) for a longer random search.
_DEEP = int(os.environ.get("ARCHCLI_PROPERTY_EXAMPLES", "0"))
PROPERTY = settings(
    max_examples=_DEEP or 150, deadline=2000, derandomize=not _DEEP, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _head(path: Path, n_lines: int = N_LINES) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:n_lines])


def _check_doc(doc: Doc) -> None:
    """What a correct parse guarantees: tokens, heads, entities and spans inside the doc."""
    n = len(doc)
    text = doc.text
    assert n > 0 and all(doc.words)
    assert ((doc.head >= 0) & (doc.head < n)).all()
    for span in list(doc.ents) + [s for group in doc.spans.values() for s in group]:
        assert 0 <= span.start <= span.end <= n
        assert text[span.start_char : span.end_char] == span.text
    for token in (doc[0], doc[-1]):
        assert text[token.idx : token.idx + len(token)] == token.text


def _corpus(suffix: str) -> Callable[[Path], List[Doc]]:
    def read(path: Path) -> List[Doc]:
        return [eg.reference for eg in Corpus(path)(Pipeline())]

    return read


def _raw_jsonl(path: Path) -> List[Doc]:
    return [eg.reference for eg in create_jsonl_reader(str(path))(Pipeline())]


def _litbank(path: Path) -> List[Doc]:
    return [doc for doc, _ in read_litbank(path, Vocab(), n_sents=2)]


def _docbin_bytes() -> bytes:
    docs = [eg.reference for eg in Corpus(SAMPLES / "conllu" / "dev.conllu")(Pipeline())][:2]
    ner = [eg.reference for eg in Corpus(SAMPLES / "ner" / "dev.iob2")(Pipeline())][:1]
    spans = [doc for doc, _ in read_litbank(SAMPLES / "spans" / "train" / "harbour.tsv", Vocab(), n_sents=2)][:1]
    return DocBin(docs=docs + ner + spans).to_bytes()


# (suffix, reader, valid sample bytes)
READERS = {
    "conllu": (".conllu", _corpus(".conllu"), _head(SAMPLES / "conllu" / "dev.conllu")),
    "iob2": (".iob2", _corpus(".iob2"), _head(SAMPLES / "ner" / "dev.iob2")),
    "iob": (".iob", _corpus(".iob"), _head(SAMPLES / "ner" / "dev.iob2")),
    "jsonl_tagged": (".jsonl", _corpus(".jsonl"), _head(SAMPLES / "jsonl" / "tagged.jsonl", 6)),
    "jsonl_entities": (".jsonl", _corpus(".jsonl"), _head(SAMPLES / "ner" / "entities.jsonl", 6)),
    "jsonl_spans": (".jsonl", _corpus(".jsonl"), _head(SAMPLES / "spans" / "dev.jsonl", 4)),
    "jsonl_cats": (".jsonl", _corpus(".jsonl"), _head(SAMPLES / "textcat" / "multilabel_train.jsonl", 6)),
    "jsonl_raw": (".jsonl", _raw_jsonl, _head(SAMPLES / "raw" / "texts.jsonl", 6)),
    "litbank": (".tsv", _litbank, _head(SAMPLES / "spans" / "train" / "harbour.tsv")),
}


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _outcome(read: Callable[[Path], List[Doc]], path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        docs = read(path)
    except ArchcliError as err:
        message = str(err)
        assert message and "\n" not in message.strip()
        assert str(path) in message, f"the message does not name the file: {message}"
        return
    for doc in docs:
        _check_doc(doc)


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` after a few byte- or line-level edits: flips, inserts, deletions, shuffles."""
    lines = data.splitlines(keepends=True) or [b""]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup_line", "drop_line", "swap_lines",
                                   "new_line", "tab_to_space", "cut"]))
        blob = b"".join(lines)
        if op in ("flip", "insert", "delete", "cut") and blob:
            i = draw(st.integers(0, len(blob) - 1))
            if op == "flip":
                blob = blob[:i] + bytes([blob[i] ^ (1 << draw(st.integers(0, 7)))]) + blob[i + 1 :]
            elif op == "insert":
                blob = blob[:i] + draw(st.binary(min_size=1, max_size=4)) + blob[i:]
            elif op == "delete":
                blob = blob[:i] + blob[i + draw(st.integers(1, 8)) :]
            else:
                blob = blob[:i]
            lines = blob.splitlines(keepends=True) or [b""]
            continue
        i = draw(st.integers(0, len(lines) - 1))
        if op == "dup_line":
            lines.insert(i, lines[i])
        elif op == "drop_line" and len(lines) > 1:
            del lines[i]
        elif op == "swap_lines":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "new_line":
            alphabet = st.sampled_from(list(b"\t -_:|=#0123456789BIOLU\"{}[],.aZ\xc3\xa9") + [10])
            lines.insert(i, bytes(draw(st.lists(alphabet, max_size=40))) + b"\n")
        elif op == "tab_to_space":
            lines[i] = lines[i].replace(b"\t", b" ", 1)
    return b"".join(lines)


@pytest.mark.parametrize("name", sorted(READERS))
@PROPERTY
@given(data=st.data())
def test_reader_on_random_bytes(workdir, name, data):
    suffix, read, _ = READERS[name]
    raw = data.draw(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf8"))))
    _outcome(read, workdir / f"random_{name}{suffix}", raw)


@pytest.mark.parametrize("name", sorted(READERS))
@PROPERTY
@given(data=st.data())
def test_reader_on_mutated_file(workdir, name, data):
    suffix, read, valid = READERS[name]
    _outcome(read, workdir / f"mutated_{name}{suffix}", data.draw(mutated(valid)))


def test_samples_parse(workdir):
    """The unmutated samples parse, so the mutations above start from valid files."""
    for name, (suffix, read, valid) in READERS.items():
        path = workdir / f"valid_{name}{suffix}"
        path.write_bytes(valid)
        docs = read(path)
        assert docs, name
        for doc in docs:
            _check_doc(doc)
    path = workdir / "valid.spacy"
    path.write_bytes(DOCBIN)
    assert len(_corpus(".spacy")(path)) == 4


DOCBIN = _docbin_bytes()
DOCBIN_PAYLOAD = zlib.decompress(DOCBIN)


@PROPERTY
@given(raw=st.binary(max_size=400))
def test_docbin_on_random_bytes(workdir, raw):
    _outcome(_corpus(".spacy"), workdir / "random.spacy", raw)


@PROPERTY
@given(data=st.data())
def test_docbin_on_mutated_file(workdir, data):
    # Mutating the compressed bytes mostly tests zlib; mutating the msgpack payload (then
    # compressing it again) reaches the DocBin fields themselves.
    if data.draw(st.booleans()):
        raw = zlib.compress(data.draw(mutated(DOCBIN_PAYLOAD)))
    else:
        raw = data.draw(mutated(DOCBIN))
    _outcome(_corpus(".spacy"), workdir / "mutated.spacy", raw)


FIELDS = ["attrs", "tokens", "spaces", "lengths", "strings", "cats", "flags", "span_groups", "version"]
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=8), st.binary(max_size=24),
    st.lists(st.one_of(st.integers(-5, 2**64 - 1), st.binary(max_size=8), st.text(max_size=4)), max_size=6),
    st.dictionaries(st.text(max_size=4), st.floats(allow_nan=True), max_size=3),
)


@PROPERTY
@given(data=st.data())
def test_docbin_with_wrong_field_values(workdir, data):
    msg = srsly.msgpack_loads(DOCBIN_PAYLOAD)
    for field in data.draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()) and isinstance(msg.get(field), (bytes, list)) and msg[field]:
            value = msg[field]
            cut = data.draw(st.integers(0, len(value) - 1))
            msg[field] = value[:cut] + value[cut + 1 :]
        else:
            msg[field] = data.draw(JUNK)
    _outcome(_corpus(".spacy"), workdir / "fields.spacy", zlib.compress(srsly.msgpack_dumps(msg)))


JSON_JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 2**70), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)
JSONL_KEYS = ["text", "words", "spaces", "tags", "pos", "lemmas", "entities", "cats", "spans", "spans_key", "tokens"]


@pytest.mark.parametrize("name", sorted(n for n in READERS if n.startswith("jsonl")))
@PROPERTY
@given(data=st.data())
def test_jsonl_with_wrong_field_values(workdir, name, data):
    suffix, read, valid = READERS[name]
    records = [srsly.json_loads(line) for line in valid.splitlines() if line.strip()]
    record = records[data.draw(st.integers(0, len(records) - 1))]
    for key in data.draw(st.lists(st.sampled_from(JSONL_KEYS), min_size=1, max_size=3, unique=True)):
        value = record.get(key)
        if isinstance(value, list) and value and data.draw(st.booleans()):
            value = list(value)
            value[data.draw(st.integers(0, len(value) - 1))] = data.draw(JSON_JUNK)
            record[key] = value
        else:
            record[key] = data.draw(JSON_JUNK)
    line = json.dumps(record).encode("utf8") + b"\n"  # json, not srsly: it writes inf and big ints
    _outcome(read, workdir / f"fields_{name}{suffix}", line)
