"""Live compatibility check of DocBin against real spaCy, run in a separate interpreter.

Skipped unless ARCHCLI_SPACY_PYTHON names a python with spaCy 3.x installed, e.g.

    ARCHCLI_SPACY_PYTHON=/path/to/spacy-venv/bin/python pytest tests/test_docbin_spacy_compat.py

archcli never imports spaCy; spaCy only runs in that subprocess.
"""
import json
import os
import subprocess
import zlib
from pathlib import Path
from typing import Any, Dict, List

import numpy
import pytest
import srsly

from archcli.tokens import Doc, DocBin, Span, Vocab, read_docbin
from archcli.tokens import attrs as A
from archcli.tokens.docbin import DEFAULT_ATTRS, SYMBOL_NAMES, UNIVERSAL_POS

SPACY_PYTHON = os.environ.get("ARCHCLI_SPACY_PYTHON")
pytestmark = pytest.mark.skipif(not SPACY_PYTHON, reason="set ARCHCLI_SPACY_PYTHON to a python with spaCy")

# Docs as plain data, built once by each tool. Words include strings spaCy keys as symbols.
SPEC: List[Dict[str, Any]] = [
    {
        "words": ["The", "number", "_", "Apple", "Inc", "rose", "."],
        "spaces": [True, True, True, True, True, False, False],
        "tags": ["DT", "NN", "X", "NNP", "NNP", "VBD", "."],
        "pos": ["DET", "NOUN", "X", "PROPN", "PROPN", "VERB", "PUNCT"],
        "morphs": ["Definite=Def|PronType=Art", "Number=Sing", "", "Number=Sing", "Number=Sing",
                   "VerbForm=Fin|Tense=Past", ""],
        "lemmas": ["the", "number", "_", "Apple", "Inc", "rise", "."],
        "heads": [1, 5, 1, 4, 1, 5, 5],
        "deps": ["det", "nsubj", "dep", "compound", "npadvmod", "ROOT", "punct"],
        "sent_starts": [True, False, False, False, False, False, False],
        "ents": [[0, 1, "PERSON", ""], [3, 5, "ORG", "Q312"]],
        "spans": {
            "sc": [[0, 2, "NP", ""], [1, 3, "X", "kb1"], [3, 5, "ORG", ""], [0, 7, "SENT", "Q1"]],
            "other": [[3, 5, "company", ""]],
            "none": [],
        },
        "cats": {"POSITIVE": 1.0, "NEGATIVE": 0.0, "maybe": 0.25},
        "user_data": {"source": "a.txt", "n": 3},
    },
    {
        "words": ["Hi", "PERSON", "!", "root", "café", "now"],
        "spaces": [True, False, True, True, True, False],
        "tags": None, "pos": None, "morphs": None, "lemmas": None, "heads": None, "deps": None,
        "sent_starts": [True, False, False, True, None, False],
        "ents": [],
        "spans": {},
        "cats": {},
        "user_data": {},
    },
    {
        "words": ["a", "bare", "doc"],
        "spaces": [True, True, True],
        "tags": None, "pos": None, "morphs": None, "lemmas": None, "heads": None, "deps": None,
        "sent_starts": None, "ents": None, "spans": {"q": [[2, 3, "LOC", ""]]}, "cats": {"x": 0.5},
        "user_data": {},
    },
    {
        "words": ["Go", "home", ".", "Now", "!"],
        "spaces": [True, False, True, False, False],
        "tags": ["VB", "NN", ".", "RB", "."],
        "pos": ["VERB", "NOUN", "PUNCT", "ADV", "PUNCT"],
        "morphs": None,
        "lemmas": ["go", "home", ".", "now", "!"],
        "heads": [0, 0, 0, 3, 3],
        "deps": ["ROOT", "dobj", "punct", "ROOT", "punct"],
        "sent_starts": [True, False, False, True, False],
        "ents": [[3, 4, "DATE", ""]],
        "spans": {},
        "cats": {},
        "user_data": {},
    },
    {
        "words": [], "spaces": [], "tags": None, "pos": None, "morphs": None, "lemmas": None, "heads": None,
        "deps": None, "sent_starts": None, "ents": None, "spans": {}, "cats": {}, "user_data": {},
    },
]

SPACY_SCRIPT = r'''
import json, sys
import spacy
from spacy.tokens import Doc, DocBin, Span


def dump(doc):
    return {
        "words": [t.text for t in doc],
        "spaces": [bool(t.whitespace_) for t in doc],
        "tags": [t.tag_ for t in doc],
        "pos": [t.pos_ for t in doc],
        "morphs": [str(t.morph) for t in doc],
        "lemmas": [t.lemma_ for t in doc],
        "heads": [t.head.i for t in doc],
        "deps": [t.dep_ for t in doc],
        "sent_starts": [t.is_sent_start for t in doc],
        "ents": [[e.start, e.end, e.label_, e.kb_id_] for e in doc.ents],
        "ents_known": len(doc) > 0 and doc.has_annotation("ENT_IOB"),  # True for any empty doc
        "spans": {k: [[s.start, s.end, s.label_, s.kb_id_] for s in g] for k, g in doc.spans.items()},
        "cats": doc.cats,
        "user_data": {str(k): v for k, v in doc.user_data.items()},
    }


def build(vocab, spec):
    parsed = spec["heads"] is not None
    doc = Doc(vocab, words=spec["words"], spaces=spec["spaces"], tags=spec["tags"], pos=spec["pos"],
              morphs=spec["morphs"], lemmas=spec["lemmas"], heads=spec["heads"], deps=spec["deps"],
              sent_starts=None if parsed else spec["sent_starts"])
    if spec["ents"] is not None:
        doc.ents = [Span(doc, s, e, label=label, kb_id=kb) for s, e, label, kb in spec["ents"]]
    for key, spans in spec["spans"].items():
        doc.spans[key] = [Span(doc, s, e, label=label, kb_id=kb) for s, e, label, kb in spans]
    doc.cats = dict(spec["cats"])
    doc.user_data.update(spec["user_data"])
    return doc


mode, path = sys.argv[1], sys.argv[2]
nlp = spacy.blank("xx")
if mode == "read":
    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    print(json.dumps([dump(d) for d in docs]))
elif mode == "write":
    docs = [build(nlp.vocab, spec) for spec in json.load(sys.stdin)]
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    print(json.dumps([dump(d) for d in docs]))
elif mode == "facts":
    from spacy import parts_of_speech, symbols
    from spacy.attrs import IDS
    from spacy.tokens.doc import DOCBIN_ALL_ATTRS
    print(json.dumps({
        "version": spacy.__version__,
        "symbols": list(symbols.NAMES),
        "pos": {k: int(v) for k, v in parts_of_speech.IDS.items()},
        "attrs": {k: int(v) for k, v in IDS.items()},
        "docbin_attrs": list(DOCBIN_ALL_ATTRS),
    }))
'''


def run_spacy(mode: str, path: Path, stdin: str = "") -> Any:
    result = subprocess.run(
        [str(SPACY_PYTHON), "-c", SPACY_SCRIPT, mode, str(path)],
        input=stdin, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def build(vocab: Vocab, spec: Dict[str, Any]) -> Doc:
    doc = Doc(
        vocab, spec["words"], spec["spaces"], tags=spec["tags"], pos=spec["pos"], heads=spec["heads"],
        deps=spec["deps"], lemmas=spec["lemmas"], sent_starts=spec["sent_starts"],
    )
    if spec["morphs"] is not None:
        doc.set_strings("morph", spec["morphs"])
    if spec["ents"] is not None:
        doc.ents = [Span(doc, s, e, label, kb) for s, e, label, kb in spec["ents"]]
        if not spec["ents"]:
            doc.user_data["ents_known"] = True
    doc.spans = {k: [Span(doc, s, e, label, kb) for s, e, label, kb in g] for k, g in spec["spans"].items()}
    doc.cats = dict(spec["cats"])
    doc.user_data.update(spec["user_data"])
    return doc


def dump(doc: Doc) -> Dict[str, Any]:
    """The same view as the spaCy script's dump, from an archcli Doc."""
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
        "ents": [[s.start, s.end, s.label_, s.kb_id_] for s in doc.ents],
        "ents_known": len(doc) > 0 and doc.has_annotation("ents"),
        "spans": {k: [[s.start, s.end, s.label_, s.kb_id_] for s in g] for k, g in doc.spans.items()},
        "cats": doc.cats,
        "user_data": {str(k): v for k, v in doc.user_data.items() if k != "ents_known"},
    }


def canonical(dumped: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """spaCy keeps morphology in canonical FEATS order; archcli writes it that way."""
    for doc in dumped:
        doc["morphs"] = ["Tense=Past|VerbForm=Fin" if m == "VerbForm=Fin|Tense=Past" else m for m in doc["morphs"]]
    return dumped


def test_format_facts_match_spacy(tmp_path: Path):
    facts = run_spacy("facts", tmp_path / "unused")
    assert facts["version"].startswith("3.")
    assert list(SYMBOL_NAMES) == facts["symbols"]
    assert {name: facts["pos"][name] for name in UNIVERSAL_POS} == {n: SYMBOL_NAMES.index(n) for n in UNIVERSAL_POS}
    for name, attr_id in A.NAMES.items():
        if name in facts["attrs"]:  # SENT_END is not exported by spacy.attrs
            assert facts["attrs"][name] == attr_id, name
    assert list(DEFAULT_ATTRS) == facts["docbin_attrs"]


def test_spacy_reads_archcli_docbin(tmp_path: Path):
    vocab = Vocab()
    docs = [build(vocab, spec) for spec in SPEC]
    path = tmp_path / "archcli.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    seen_by_spacy = run_spacy("read", path)
    assert seen_by_spacy == canonical([dump(doc) for doc in docs])


def test_archcli_reads_spacy_docbin(tmp_path: Path):
    path = tmp_path / "spacy.spacy"
    written_by_spacy = run_spacy("write", path, json.dumps(SPEC))
    docs = list(read_docbin(path, Vocab()))
    assert [dump(doc) for doc in docs] == written_by_spacy
    # Both tools build the same annotations from the spec.
    vocab = Vocab()
    assert canonical([dump(build(vocab, spec)) for spec in SPEC]) == written_by_spacy


def test_same_token_array_as_spacy(tmp_path: Path):
    """Column by column, archcli writes what spaCy writes for the same docs."""
    spacy_path = tmp_path / "spacy.spacy"
    run_spacy("write", spacy_path, json.dumps(SPEC))
    theirs = srsly.msgpack_loads(zlib.decompress(spacy_path.read_bytes()))
    vocab = Vocab()
    ours = srsly.msgpack_loads(zlib.decompress(DocBin(docs=[build(vocab, s) for s in SPEC]).to_bytes()))
    assert ours["attrs"] == theirs["attrs"] and ours["version"] == theirs["version"]
    for key in ("spaces", "lengths"):
        assert ours[key] == theirs[key], key
    n_attrs = len(ours["attrs"])
    ours_tokens = numpy.frombuffer(ours["tokens"], dtype="<u8").reshape((-1, n_attrs)).copy()
    theirs_tokens = numpy.frombuffer(theirs["tokens"], dtype="<u8").reshape((-1, n_attrs)).copy()
    morph = ours["attrs"].index(A.MORPH)
    theirs_tokens[theirs_tokens[:, morph] == SYMBOL_NAMES.index("_"), morph] = 0  # spaCy's empty analysis
    for j, attr in enumerate(ours["attrs"]):
        assert ours_tokens[:, j].tolist() == theirs_tokens[:, j].tolist(), A.IDS_TO_NAMES[attr]
    assert set(theirs["strings"]) - {""} <= set(ours["strings"]) | {"_"}
    assert ours["cats"] == theirs["cats"]
    for ours_groups, theirs_groups in zip(ours["span_groups"], theirs["span_groups"]):
        assert ours_groups == theirs_groups
