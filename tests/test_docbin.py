"""DocBin: spaCy's `.spacy` format, read and written without spaCy."""
import base64
import gzip
import struct
import zlib
from pathlib import Path
from typing import Any, Dict, List

import numpy
import pytest
import srsly

from archcli.errors import CorpusError
from archcli.tokens import Doc, DocBin, Span, Vocab, read_docbin
from archcli.tokens import attrs as A
from archcli.tokens.docbin import SYMBOL_NAMES, normalize_morph


def make_docs(vocab: Vocab) -> List[Doc]:
    parsed = Doc(
        vocab,
        ["The", "number", "_", "Apple", "Inc", "rose", "."],
        [True, True, True, True, True, False, False],
        tags=["DT", "NN", "XX", "NNP", "NNP", "VBD", "."],
        pos=["DET", "NOUN", "X", "PROPN", "PROPN", "VERB", "PUNCT"],
        heads=[1, 5, 1, 4, 1, 5, 5],
        deps=["det", "nsubj", "dep", "compound", "npadvmod", "ROOT", "punct"],
        lemmas=["the", "number", "_", "Apple", "Inc", "rise", "."],
        sent_starts=[True, False, False, False, False, False, False],
    )
    parsed.set_strings(
        "morph",
        ["Definite=Def|PronType=Art", "Number=Sing", "", "Number=Sing", "Number=Sing", "Tense=Past|VerbForm=Fin", ""],
    )
    parsed.ents = [Span(parsed, 0, 1, "PERSON"), Span(parsed, 3, 5, "ORG", kb_id="Q312")]
    parsed.spans["sc"] = [
        Span(parsed, 0, 2, "NP"),
        Span(parsed, 1, 3, "X", kb_id="kb1"),  # overlaps the first
        Span(parsed, 3, 5, "ORG"),
        Span(parsed, 0, 7, "SENT"),
        Span(parsed, 2, 2, "EMPTY"),
    ]
    parsed.spans["other"] = [Span(parsed, 3, 5, "company")]
    parsed.spans["none"] = []
    parsed.cats = {"POSITIVE": 1.0, "NEGATIVE": 0.0, "maybe": 0.25}
    two_sents = Doc(vocab, ["Hi", "!", "Bye", "now"], [False, True, True, False], sent_starts=[True, False, True, None])
    two_sents.ents = []
    two_sents.user_data["ents_known"] = True  # NER-annotated, no entities
    bare = Doc(vocab, ["naïve", "café", "​"], [True, False, False])
    empty = Doc(vocab, [], [])
    return [parsed, two_sents, bare, empty]


def dump(doc: Doc) -> Dict[str, Any]:
    """Every annotation DocBin carries, as plain data."""
    return {
        "words": doc.words,
        "spaces": doc.spaces.tolist(),
        "tags": doc.get_strings("tag"),
        "pos": doc.get_strings("pos"),
        "morphs": doc.get_strings("morph"),
        "lemmas": doc.get_strings("lemma"),
        "heads": doc.head.tolist(),
        "deps": doc.get_strings("dep"),
        "sent_starts": [t.is_sent_start for t in doc],
        "ents": [(s.start, s.end, s.label_, s.kb_id_) for s in doc.ents],
        "ents_known": doc.has_annotation("ents"),
        "spans": {k: [(s.start, s.end, s.label_, s.kb_id_) for s in g] for k, g in doc.spans.items()},
        "cats": doc.cats,
    }


def raw_msg(data: bytes) -> Dict[str, Any]:
    return srsly.msgpack_loads(zlib.decompress(data))


def test_round_trip_bytes():
    docs = make_docs(Vocab())
    data = DocBin(docs=docs).to_bytes()
    doc_bin = DocBin().from_bytes(data)
    assert len(doc_bin) == len(docs)
    loaded = list(doc_bin.get_docs(Vocab()))
    assert [dump(d) for d in loaded] == [dump(d) for d in docs]
    # Unannotated stays unannotated.
    assert not loaded[2].has_annotation("ents") and not loaded[2].has_annotation("dep")
    assert loaded[1].has_annotation("ents") and loaded[1].ents == []


def test_round_trip_disk(tmp_path: Path):
    docs = make_docs(Vocab())
    path = tmp_path / "sub" / "train.spacy"
    DocBin(docs=docs).to_disk(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.spacy"]  # no temp file left
    loaded = list(DocBin().from_disk(path).get_docs(Vocab()))
    assert [dump(d) for d in loaded] == [dump(d) for d in docs]
    again = list(read_docbin(str(path), Vocab()))
    assert [dump(d) for d in again] == [dump(d) for d in docs]


def test_to_disk_replaces_existing_file(tmp_path: Path):
    path = tmp_path / "c.spacy"
    path.write_bytes(b"old")
    vocab = Vocab()
    DocBin(docs=[Doc(vocab, ["a", "b"])]).to_disk(path)
    assert [d.words for d in read_docbin(path, Vocab())] == [["a", "b"]]


def test_layout_matches_spacy_format():
    vocab = Vocab()
    docs = make_docs(vocab)
    msg = raw_msg(DocBin(docs=docs[:2]).to_bytes())
    assert msg["version"] == "0.1"
    assert msg["attrs"] == [65, 67, 73, 74, 75, 76, 77, 78, 79, 80, 452, 453, 454]
    assert list(msg) == ["version", "attrs", "tokens", "spaces", "lengths", "strings", "cats", "flags", "span_groups"]
    assert numpy.frombuffer(msg["lengths"], dtype="<i4").tolist() == [7, 4]
    assert numpy.frombuffer(msg["spaces"], dtype="bool").tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
    tokens = numpy.frombuffer(msg["tokens"], dtype="<u8").reshape((11, 13))
    col = {attr: j for j, attr in enumerate(msg["attrs"])}
    first = tokens[:7]
    assert first[:, col[A.HEAD]].view("int64").tolist() == [1, 4, -1, 1, -3, 0, -1]  # relative
    assert first[:, col[A.ENT_IOB]].tolist() == [3, 2, 2, 3, 1, 2, 2]
    assert tokens[7:, col[A.ENT_IOB]].tolist() == [2, 2, 2, 2]  # annotated, no entities
    assert tokens[7:, col[A.SENT_START]].view("int64").tolist() == [1, -1, 1, 0]
    assert tokens[0, col[A.SENT_START]] == 1  # token 0 always starts a sentence, as spaCy writes it
    # Symbol strings are stored as spaCy's small symbol ids, everything else as the hash.
    assert first[:, col[A.POS]].tolist() == [90, 92, 101, 96, 96, 100, 97]
    assert first[1, col[A.ORTH]] == 432 and first[2, col[A.ORTH]] == 456  # "number", "_"
    assert first[0, col[A.DEP]] == 415 and first[5, col[A.DEP]] == vocab.strings["ROOT"]
    assert first[3, col[A.ENT_TYPE]] == 383 and first[0, col[A.ENT_TYPE]] == 380
    assert first[3, col[A.ENT_KB_ID]] == first[4, col[A.ENT_KB_ID]] == vocab.strings["Q312"]
    assert first[0, col[A.ORTH]] == vocab.strings["The"] and first[0, col[A.NORM]] == vocab.strings["the"]
    assert {"The", "Apple", "ROOT", "Q312", "kb1", "NP", "Number=Sing", "the"} <= set(msg["strings"])
    assert msg["strings"] == sorted(msg["strings"])
    assert msg["cats"][0] == {"POSITIVE": 1.0, "NEGATIVE": 0.0, "maybe": 0.25}
    assert msg["flags"] == [{"has_unknown_spaces": False}] * 2
    assert msg["span_groups"][1] == srsly.msgpack_dumps([])
    groups = srsly.msgpack_loads(msg["span_groups"][0])
    assert sorted(k for keys in groups.values() for k in keys) == ["none", "other", "sc"]
    by_key = {keys[0]: srsly.msgpack_loads(group) for group, keys in groups.items()}
    assert by_key["sc"]["name"] == "sc" and by_key["sc"]["attrs"] == {}
    spans = [struct.unpack(">QQQllll", s) for s in by_key["sc"]["spans"]]
    # (id, kb_id, label, start, end, start_char, end_char)
    assert spans[0] == (0, 0, vocab.strings["NP"], 0, 2, 0, 10)
    assert spans[1] == (0, vocab.strings["kb1"], 101, 1, 3, 4, 12)
    assert spans[2] == (0, 0, 383, 3, 5, 13, 22)
    assert spans[4][3:] == (2, 2, 11, 11)
    assert by_key["none"]["spans"] == []


def test_attrs_argument():
    doc_bin = DocBin(attrs=["tag", A.HEAD, "ORTH", "SPACY", "dep"])
    assert doc_bin.attrs == [A.ORTH, A.TAG, A.DEP, A.HEAD]
    vocab = Vocab()
    doc = make_docs(vocab)[0]
    doc_bin.add(doc)
    (loaded,) = doc_bin.from_bytes(doc_bin.to_bytes()).get_docs(Vocab())
    assert loaded.get_strings("tag") == doc.get_strings("tag")
    assert loaded.head.tolist() == doc.head.tolist()
    assert not loaded.has_annotation("pos") and not loaded.has_annotation("ents")
    with pytest.raises(ValueError, match="SENT_END"):
        DocBin(attrs=["SENT_END"])
    with pytest.raises(ValueError):
        DocBin(attrs=["NOT_AN_ATTR"])


def test_lexical_and_offset_columns():
    vocab = Vocab()
    doc = Doc(vocab, ["Hello", "World", "!"], [True, False, False])
    msg = raw_msg(DocBin(attrs=["LOWER", "SHAPE", "LENGTH", "IDX"], docs=[doc]).to_bytes())
    tokens = numpy.frombuffer(msg["tokens"], dtype="<u8").reshape((3, 5))
    assert msg["attrs"] == [A.ORTH, A.LOWER, A.SHAPE, A.LENGTH, A.IDX]
    assert tokens[:, 1].tolist() == [vocab.strings[w] for w in ("hello", "world", "!")]
    assert tokens[:, 2].tolist() == [vocab.strings[w] for w in ("Xxxxx", "Xxxxx", "!")]
    assert tokens[:, 3].tolist() == [5, 5, 1]
    assert tokens[:, 4].tolist() == [0, 6, 11]


def test_morph_is_written_in_canonical_order():
    assert normalize_morph("Person=3|Number=Sing") == "Number=Sing|Person=3"
    assert normalize_morph("Case=Nom,Acc|Aa=b") == "Aa=b|Case=Acc,Nom"
    assert normalize_morph("_") == "" and normalize_morph("") == ""
    vocab = Vocab()
    doc = Doc(vocab, ["she", "runs"])
    doc.set_strings("morph", ["Person=3|Case=Nom", "_"])
    (loaded,) = DocBin().from_bytes(DocBin(docs=[doc]).to_bytes()).get_docs(Vocab())
    assert loaded.get_strings("morph") == ["Case=Nom|Person=3", ""]


def test_pos_must_be_universal():
    vocab = Vocab()
    doc = Doc(vocab, ["a"], pos=["NOT_UPOS"])
    with pytest.raises(ValueError, match="NOT_UPOS"):
        DocBin(docs=[doc])
    ok = Doc(vocab, ["a", "b"], pos=["SPACE", "EOL"])
    (loaded,) = DocBin().from_bytes(DocBin(docs=[ok]).to_bytes()).get_docs(Vocab())
    assert loaded.get_strings("pos") == ["SPACE", "EOL"]


def test_user_data_only_when_asked():
    vocab = Vocab()
    doc = Doc(vocab, ["a"])
    doc.user_data.update({"source": "x.txt", "n": 3})
    assert "user_data" not in raw_msg(DocBin(docs=[doc]).to_bytes())
    data = DocBin(store_user_data=True, docs=[doc]).to_bytes()
    assert srsly.msgpack_loads(raw_msg(data)["user_data"][0]) == {"source": "x.txt", "n": 3}
    (loaded,) = DocBin().from_bytes(data).get_docs(Vocab())
    assert loaded.user_data == {"source": "x.txt", "n": 3}


def test_many_docs_share_strings():
    vocab = Vocab()
    docs = [Doc(vocab, ["the", "cat", str(i)], tags=["DT", "NN", "CD"]) for i in range(200)]
    loaded = list(DocBin().from_bytes(DocBin(docs=docs).to_bytes()).get_docs(Vocab()))
    assert [d.words for d in loaded] == [d.words for d in docs]
    assert all(d.get_strings("tag") == ["DT", "NN", "CD"] for d in loaded)


def _msg_bytes(msg: Dict[str, Any]) -> bytes:
    return zlib.compress(srsly.msgpack_dumps(msg))


def test_reads_gzip_and_uncompressed():
    vocab = Vocab()
    doc = Doc(vocab, ["x", "y"], tags=["A", "B"])
    payload = zlib.decompress(DocBin(docs=[doc]).to_bytes())
    for data in (payload, gzip.compress(payload)):
        (loaded,) = DocBin().from_bytes(data).get_docs(Vocab())
        assert loaded.get_strings("tag") == ["A", "B"]


def test_reads_older_layouts():
    """Early 3.x files: no flags/span_groups/version, span groups as a list or b''."""
    vocab = Vocab()
    doc = Doc(vocab, ["New", "York", "is", "big"])
    doc.spans["places"] = [Span(doc, 0, 2, "GPE")]
    msg = raw_msg(DocBin(docs=[doc, Doc(vocab, ["x"])]).to_bytes())
    (group_bytes,) = srsly.msgpack_loads(msg["span_groups"][0]).keys()
    msg["span_groups"] = [srsly.msgpack_dumps([group_bytes]), b""]
    for key in ("flags", "version"):
        del msg[key]
    docs = list(DocBin().from_bytes(_msg_bytes(msg)).get_docs(Vocab()))
    assert [(s.start, s.end, s.label_) for s in docs[0].spans["places"]] == [(0, 2, "GPE")]
    assert docs[1].spans == {}
    del msg["span_groups"], msg["cats"]
    docs = list(DocBin().from_bytes(_msg_bytes(msg)).get_docs(Vocab()))
    assert docs[0].words == ["New", "York", "is", "big"] and docs[0].spans == {} and docs[0].cats == {}


def test_entities_from_iob_codes():
    """B starts, I continues, B without a label and O/missing end; a stray I starts an entity."""
    vocab = Vocab()
    words = [str(i) for i in range(9)]
    base = raw_msg(DocBin(attrs=["ENT_IOB", "ENT_TYPE"], docs=[Doc(vocab, words)]).to_bytes())
    per, loc = vocab.strings.add("PER"), 385  # 385: spaCy's symbol id for LOC
    iob = [3, 1, 3, 1, 1, 2, 1, 3, 1]
    ents = [per, per, loc, 0, 0, 0, per, 0, per]
    tokens = numpy.frombuffer(base["tokens"], dtype="<u8").reshape((9, 3)).copy()
    tokens[:, 1] = iob
    tokens[:, 2] = ents
    base["tokens"] = tokens.tobytes()
    base["strings"].append("PER")
    (doc,) = DocBin().from_bytes(_msg_bytes(base)).get_docs(Vocab())
    # 3-4: I without a label continue LOC; 6 and 8: I with nothing open (spaCy would refuse).
    assert [(s.start, s.end, s.label_) for s in doc.ents] == [(0, 2, "PER"), (2, 5, "LOC"), (6, 7, "PER"), (8, 9, "PER")]


SPACY_3_8_BYTES = (
    "eJzrXF6WWlScmZ+32EDPcGliSUlR8VxHZ08vbx9fP/+As4xHzjIePct4bFlJfnZqXvFRFoFHnIVGj6rN3SbNKjZdlsaXDqOj"
    "GCBg5qPF0rVzH16ezwjhMzGgAkY0GgbeTReIebBj208YfwMjdjoGKr9J5YT7arvCK2sJ2PMfCmDi+gfu/VIy2T4HxhdKrJ+l"
    "8q7IF0ZPW3yDTUw+WCgFKv/Conpra1L+W58Lte+XHHlSiG4PDKDb47R+2lwuk6h/MH7yptuTdfet0USnQ6Hy8mlxb42S3gnu"
    "xuGf/2gAJn4CLSA37pkyrf+zUsanl76f2Ph+OML4CVB5QavrBx43G94O9lZX+rZvdSIzVLyBEXu43eS5qf03a3sferht4fC5"
    "/qp2dq7O9KO1e7VmqMH46PZsRzMXZs8/NP/gsmfRoTU+b27Wr0enE9Hk9+IItz84wk0nqCotPq4jFsZv1V5Rz18p0VWtG7qo"
    "mOHeKwYCAFc6QE/X6CBB7tG9tWynPsFocu1B9w86uJf3MfPxPy/nRTWXleZ1sGaQaw8h/ywrLkhMTi0+wsUIAmANy3NS89JL"
    "MoqPcLAD+aAEtry4pCgzL734DoPagoWKC/UWO1WmLnP2cQwNdl3kErLTJTUtMy+zJNUWyKgJKMrPC6ksSLV1LCpZ7B7gusgj"
    "c5Gn32Iff+dFfn6L/fwCFvkFLPZLLV/tV5qblFpkGww0eF1AaV5yCVhXQGpR5uJAM4MlQf7+IdtDgIUWUCyxuKQmLLUoyS2/"
    "KNfWLTNvcUhG6uIwJ5clkflF2YuTKlNXJOfnFuSX5qUsTkktWZSRuQioJi+1fGlecWlS1rI8sE1LCvKTspYUFKUWLC0AWbek"
    "KLM4dUlRfnHq4pKM1CWVQKOWJCeWFE9qWuLnGh582v4DJISWBgf4B4WchgVYw9K0nMT04kmNmzISi+NL87Lz8svz4iGheAir"
    "4GognRefXpRfWlA86cicxiNTm5fkJeamLipOhpTYDUtBKoonH9FAjx295OA3LX9ydqBFMhemyr8sZUzm3SIS0CgHxRoLEPMj"
    "VPZtz/qrDcym0HTRCFXBBsTCQCw9EeieI4wTAHKFzig="
)


def test_reads_file_written_by_spacy():
    """Bytes written by spaCy 3.8's DocBin (two docs; see the compat test for the live check)."""
    docs = list(DocBin().from_bytes(base64.b64decode(SPACY_3_8_BYTES)).get_docs(Vocab()))
    first, second = (dump(d) for d in docs)
    assert first["words"] == ["The", "number", "rose", "in", "New", "York", "."]
    assert first["spaces"] == [True, True, True, True, True, False, False]
    assert first["tags"] == ["DT", "NN", "VBD", "IN", "NNP", "NNP", "."]
    assert first["pos"] == ["DET", "NOUN", "VERB", "ADP", "PROPN", "PROPN", "PUNCT"]
    assert first["heads"] == [1, 2, 2, 2, 5, 3, 2]
    assert first["deps"] == ["det", "nsubj", "ROOT", "prep", "compound", "pobj", "punct"]
    assert first["lemmas"] == ["the", "number", "rise", "in", "New", "York", "."]
    assert first["morphs"] == [
        "Definite=Def|PronType=Art", "Number=Sing", "Tense=Past|VerbForm=Fin", "", "Number=Sing", "Number=Sing",
        "PunctType=Peri",
    ]
    assert first["sent_starts"] == [True] + [False] * 6
    assert first["ents"] == [(4, 6, "GPE", "Q60")]
    assert first["spans"] == {"sc": [(0, 2, "NP", ""), (1, 3, "CLAUSE", ""), (4, 6, "LOC", "Q60")]}
    assert first["cats"] == {"NEWS": 1.0, "SPORT": 0.0}
    assert second["words"] == ["Hi", "!", "Bye"] and second["spaces"] == [False, True, False]
    assert second["sent_starts"] == [True, False, True]
    assert second["ents"] == [] and second["ents_known"] and second["spans"] == {}


def test_symbol_table_shape():
    assert len(SYMBOL_NAMES) == 457 and len(set(SYMBOL_NAMES)) == 457
    assert SYMBOL_NAMES.index("NOUN") == 92 and SYMBOL_NAMES.index("nsubj") == 429
    assert SYMBOL_NAMES.index("ORG") == 383 and SYMBOL_NAMES.index("_") == 456


# --- corrupt input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not a docbin",
        zlib.compress(b"\xc1\xc1\xc1"),  # invalid msgpack
        zlib.compress(srsly.msgpack_dumps([1, 2, 3])),
        zlib.compress(srsly.msgpack_dumps({"attrs": [65]})),
        _msg_bytes({"attrs": [65], "tokens": b"\0" * 12, "spaces": b"", "lengths": b"", "strings": []}),
        _msg_bytes({"attrs": [65], "tokens": b"\0" * 8, "spaces": b"\1", "lengths": b"\2\0\0\0", "strings": []}),
        _msg_bytes({"attrs": [65], "tokens": b"\0" * 8, "spaces": b"\1", "lengths": b"\1\0\0\0", "strings": [],
                    "cats": [{}, {}]}),
        _msg_bytes({"attrs": "ORTH", "tokens": b"", "spaces": b"", "lengths": b"", "strings": []}),
    ],
)
def test_corrupt_file_is_a_corpus_error(tmp_path: Path, data: bytes):
    path = tmp_path / "bad.spacy"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as err:
        list(read_docbin(path, Vocab()))
    assert str(path) in str(err.value) and err.value.where == str(path)


def test_truncated_file_is_a_corpus_error(tmp_path: Path):
    path = tmp_path / "cut.spacy"
    data = DocBin(docs=make_docs(Vocab())).to_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match="cut.spacy"):
        read_docbin(path, Vocab())


def test_bad_content_is_a_corpus_error_when_read(tmp_path: Path):
    vocab = Vocab()
    msg = raw_msg(DocBin(attrs=["HEAD"], docs=[Doc(vocab, ["a", "b"])]).to_bytes())
    tokens = numpy.frombuffer(msg["tokens"], dtype="<u8").reshape((2, 2)).copy()
    tokens[1, 1] = 5  # head 5 tokens to the right of the last token
    msg["tokens"] = tokens.tobytes()
    path = tmp_path / "heads.spacy"
    path.write_bytes(_msg_bytes(msg))
    with pytest.raises(CorpusError, match="head of token 1") as err:
        list(read_docbin(path, Vocab()))
    assert err.value.where == str(path)
    msg["tokens"] = numpy.asarray([[123456789, 0], [vocab.strings["b"], 0]], dtype="<u8").tobytes()
    path.write_bytes(_msg_bytes(msg))
    with pytest.raises(CorpusError, match="ORTH column"):
        list(read_docbin(path, Vocab()))


def test_missing_file_is_a_corpus_error(tmp_path: Path):
    with pytest.raises(CorpusError, match="missing.spacy"):
        read_docbin(tmp_path / "missing.spacy", Vocab())
    with pytest.raises(CorpusError):
        DocBin().from_disk(tmp_path)  # a directory
    with pytest.raises(ValueError):
        DocBin().from_bytes(b"\x78\x9c garbage")
