"""Entity-linking data: JSONL entities with kb_ids and sentence offsets (LitBank-EL), Prodigy EL tasks
(nel_emerson), kb_ids through `.spacy` files, Token.ent_kb_id_, and bad input naming FILE:LINE."""
import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest

from archcli import registry
from archcli.errors import CorpusError
from archcli.language import Pipeline
from archcli.tokens import Doc, Span, Vocab
from archcli.tokens.docbin import DocBin
from archcli.training import offsets
from archcli.training.corpus import Corpus

from .conftest import CORPORA, SAMPLES, require
from .test_bad_input import NER_CFG, assert_one_clear_error, invoke

LITBANK = CORPORA / "litbank_el"
EMERSON = CORPORA / "nel_emerson" / "emerson_annotated_text.jsonl"


@pytest.fixture(autouse=True)
def fresh_notes(monkeypatch):
    """Notes are said once per process; each test starts as a fresh run."""
    monkeypatch.setattr(offsets, "_NOTED", set())


def read(path: Path, **kwargs) -> List:
    return list(Corpus(path, **kwargs)(Pipeline()))


def write_jsonl(path: Path, records: List[Dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    return path


def linked(examples) -> List[tuple]:
    return [(e.text, e.label_, e.kb_id_) for eg in examples for e in eg.reference.ents]


# --- LitBank-EL: kb_ids, sentences, nested mentions -----------------------------------------------
def test_litbank_el_dev_counts(capfd):
    examples = read(require(LITBANK / "dev.jsonl"))
    ents = [e for eg in examples for e in eg.reference.ents]
    # README: 309 dev mentions, 2 of them nested inside another (dropped), 744 sentences, 25.9% NIL.
    assert len(examples) == 90
    assert len(ents) == 307 and all(e.kb_id_ for e in ents)
    assert sum(e.kb_id_ == "NIL" for e in ents) == 79
    assert sum(len(eg.reference.sents) for eg in examples) == 744
    err = capfd.readouterr().err
    assert err.count("ℹ Corpus") == 1
    assert "dev.jsonl: 2 nested or overlapping entity mention(s) dropped" in err


def test_litbank_el_train_through_spacy_corpus(capfd):
    path = str(require(LITBANK / "train.jsonl"))
    reader = registry.resolve({"r": {"@readers": "spacy.Corpus.v1", "path": path}})["r"]
    examples = list(reader(Pipeline()))
    ents = [e for eg in examples for e in eg.reference.ents]
    assert len(ents) == 2841 and all(e.kb_id_ and e.kb_id_ != "NIL" for e in ents)  # train is never NIL
    assert sum(len(eg.reference.sents) for eg in examples) == 7004
    assert "train.jsonl: 6 nested" in capfd.readouterr().err
    # The note is said once per file, not once per epoch.
    list(reader(Pipeline()))
    assert "nested" not in capfd.readouterr().err


def test_sample_el_files(capfd):
    train = read(SAMPLES / "el_train.jsonl")
    dev = read(SAMPLES / "el_dev.jsonl")
    assert len(linked(train)) == 23 and len(linked(dev)) == 8
    assert ("Oakmere Library", "FAC", "oakmere_library") in linked(train)
    assert ("Oakmere", "GPE", "oakmere") in linked(train)  # the other, un-nested Oakmere mentions stay
    assert Counter(kb for _, _, kb in linked(dev))["NIL"] == 2
    assert "el_train.jsonl: 1 nested" in capfd.readouterr().err
    kb_ids = {json.loads(line)["id"] for line in (SAMPLES / "kb_entities.jsonl").read_text().splitlines()}
    assert {kb for _, _, kb in linked(train)} <= kb_ids
    for line in (SAMPLES / "kb_aliases.jsonl").read_text().splitlines():
        alias = json.loads(line)
        assert set(alias["entities"]) <= kb_ids and sum(alias["probabilities"]) <= 1.0


def test_sents_set_sentence_starts(tmp_path):
    text = "Ann met Bo . They left . Then rain ."
    path = write_jsonl(tmp_path / "s.jsonl", [{"text": text, "sents": [[13, 24], [0, 12]]}])
    doc = read(path)[0].reference
    assert [t.text for t in doc] == text.split()
    # Both ranges' first tokens start sentences, the other covered tokens do not, "Then rain ." is unknown.
    assert doc.sent_start.tolist() == [1, -1, -1, -1, 1, -1, -1, 0, 0, 0]
    assert [s.text for s in doc.sents] == ["Ann met Bo .", "They left . Then rain ."]
    assert [t.is_sent_start for t in doc][:5] == [True, False, False, False, True]


def test_entities_with_kb_ids_list_and_dict_forms(tmp_path):
    text = "Marlow met Ada in Oakmere ."
    path = write_jsonl(tmp_path / "e.jsonl", [{"text": text, "entities": [
        [0, 6, "PER", "tessa_marlow"], {"start": 11, "end": 14, "label": "PER", "kb_id": "NIL"},
        [18, 25, "GPE"]]}])
    doc = read(path)[0].reference
    assert [(e.text, e.label_, e.kb_id_) for e in doc.ents] == [
        ("Marlow", "PER", "tessa_marlow"), ("Ada", "PER", "NIL"), ("Oakmere", "GPE", "")]
    assert [t.ent_kb_id_ for t in doc] == ["tessa_marlow", "", "NIL", "", "", ""]
    assert doc[0].ent_kb_id == doc.vocab.strings.add("tessa_marlow") and doc[1].ent_kb_id == 0
    assert doc.vocab.strings[doc[0].ent_kb_id] == "tessa_marlow"


def test_overlapping_linked_mentions_keep_the_outermost(tmp_path, capfd):
    text = "The Oakmere Library Trust sits on Pell Road near Pell ."
    #       0   4       12      20    26   31 34   39   44   49
    ents = [[4, 11, "GPE", "oakmere"], [4, 19, "FAC", "library"], [4, 25, "ORG", "trust"],
            [12, 25, "ORG", "trust2"],  # inside the longest one too
            [34, 38, "LOC", "pell"], [34, 43, "FAC", "pell_road"], [49, 53, "LOC", "pell"]]
    path = write_jsonl(tmp_path / "nested.jsonl", [{"text": text, "entities": ents}, {"text": text, "entities": ents}])
    examples = read(path)
    for eg in examples:
        assert [(e.text, e.kb_id_) for e in eg.reference.ents] == [
            ("Oakmere Library Trust", "trust"), ("Pell Road", "pell_road"), ("Pell", "pell")]
    err = capfd.readouterr().err
    assert err.count("ℹ Corpus") == 1 and "nested.jsonl: 8 nested or overlapping" in err


def test_crossing_linked_mentions_keep_the_longer(tmp_path):
    text = "New Amsterdam Harbour Bay ."
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": text, "entities": [
        [0, 21, "GPE", "a"], [14, 25, "LOC", "b"], [4, 25, "LOC", "c"]]}])
    # "Amsterdam Harbour Bay" (21 chars) ties "New Amsterdam Harbour" (21): the first one is kept.
    assert [(e.text, e.kb_id_) for e in read(path)[0].reference.ents] == [("New Amsterdam Harbour", "a")]


def test_unlinked_overlap_is_still_an_error(tmp_path):
    overlapping = {"text": "Pell Road here .", "entities": [[0, 4, "LOC"], [0, 9, "FAC"]]}
    path = write_jsonl(tmp_path / "ner.jsonl", [{"text": "Pell Road here ."}, overlapping])
    with pytest.raises(CorpusError, match=r"ner\.jsonl:2: entities 'Pell' and 'Pell Road' overlap"):
        read(path)


def test_note_said_when_a_limit_stops_the_file_early(tmp_path, capfd):
    record = {"text": "Pell Road .", "entities": [[0, 4, "LOC", "p"], [0, 9, "FAC", "r"]]}
    path = write_jsonl(tmp_path / "lim.jsonl", [record] * 5)
    assert len(read(path, limit=2)) == 2
    assert "lim.jsonl: 2 nested" in capfd.readouterr().err


# --- Prodigy entity-linking tasks -----------------------------------------------------------------
def test_prodigy_nel_emerson():
    """All 30 tasks of spaCy's tutorial export are accepted: 10 per entity, every mention "Emerson"."""
    for reader in (Corpus(require(EMERSON)),
                   registry.resolve({"r": {"@readers": "archcli.ProdigyEL.v1", "path": str(EMERSON)}})["r"]):
        examples = list(reader(Pipeline()))
        assert len(examples) == 30
        mentions = linked(examples)
        assert {text for text, _, _ in mentions} == {"Emerson"} and len(mentions) == 30
        assert Counter(kb for _, _, kb in mentions) == {"Q312545": 10, "Q215952": 10, "Q48226": 10}
        assert Counter(label for _, label, _ in mentions) == {"ORG": 27, "PERSON": 3}
        assert examples[0].source.endswith("emerson_annotated_text.jsonl:1")
        assert not examples[0].predicted.ents  # the gold ids are on the reference side only


def task(text: str, start: int, end: int, accept, answer: str = "accept", **extra) -> Dict[str, Any]:
    return {"text": text, "spans": [{"start": start, "end": end, "text": text[start:end], "label": "PERSON"}],
            "options": [{"id": "Q1"}, {"id": "NIL_otherLink"}], "accept": accept, "answer": answer, **extra}


def test_prodigy_answers_nil_ids_and_tokens(tmp_path, capfd):
    text = "Emerson wrote ."
    path = write_jsonl(tmp_path / "tasks.jsonl", [
        task(text, 0, 7, ["Q1"]), task(text, 0, 7, ["NIL_otherLink"]), task(text, 0, 7, ["NIL_ambiguous"]),
        task(text, 0, 7, []), task(text, 0, 7, ["Q1"], answer="reject"), task(text, 0, 7, ["Q1"], answer="ignore"),
        task(text, 0, 7, ["Q1"], answer="reject"),
        task("Emerson's essay", 0, 7, ["Q1"], tokens=[
            {"text": "Emerson", "start": 0, "end": 7, "id": 0, "ws": False},
            {"text": "'s", "start": 7, "end": 9, "id": 1, "ws": True},
            {"text": "essay", "start": 10, "end": 15, "id": 2, "ws": False}]),
    ])
    examples = read(path)
    assert [kb for _, _, kb in linked(examples)] == ["Q1", "NIL", "NIL", "NIL", "Q1"]
    assert [t.text for t in examples[-1].reference] == ["Emerson", "'s", "essay"]
    assert [eg.source.rsplit(":", 1)[1] for eg in examples] == ["1", "2", "3", "4", "8"]
    err = capfd.readouterr().err
    assert err.count("ℹ Corpus") == 1
    assert "tasks.jsonl: 3 Prodigy task(s) whose answer is not \"accept\" skipped ('ignore': 1, 'reject': 2)" in err


def test_prodigy_with_nothing_accepted_is_an_empty_corpus(tmp_path):
    path = write_jsonl(tmp_path / "rejected.jsonl", [task("Emerson wrote .", 0, 7, ["Q1"], answer="reject")])
    with pytest.raises(CorpusError, match="rejected.jsonl: the corpus holds no"):
        read(path)


# --- kb_ids through .spacy files ------------------------------------------------------------------
def test_kb_ids_survive_a_docbin(tmp_path):
    gold = [eg.reference for eg in read(SAMPLES / "el_train.jsonl")]
    DocBin(docs=gold).to_disk(tmp_path / "el.spacy")
    back = [eg.reference for eg in read(tmp_path / "el.spacy")]

    def ents(docs):
        return [[(e.start, e.end, e.label_, e.kb_id_) for e in doc.ents] for doc in docs]

    assert ents(back) == ents(gold) and any(kb for doc in ents(back) for *_, kb in doc)
    assert [t.ent_kb_id_ for t in back[0]] == [t.ent_kb_id_ for t in gold[0]]
    assert [d.sent_start.tolist() for d in back] == [d.sent_start.tolist() for d in gold]


def test_token_ent_kb_id_outside_entities():
    doc = Doc(Vocab(), ["Ada", "sailed", "the", "Ada"])
    assert [t.ent_kb_id_ for t in doc] == ["", "", "", ""] and doc[0].ent_kb_id == 0
    doc.ents = [Span(doc, 0, 1, "PER", kb_id="ada_fenwick"), Span(doc, 3, 4, "VEH")]
    assert [t.ent_kb_id_ for t in doc] == ["ada_fenwick", "", "", ""]


# --- bad input: one CorpusError naming FILE:LINE --------------------------------------------------
GOOD = {"text": "Ann met Bo .", "entities": [[0, 3, "PER", "ann"]]}
PRODIGY_GOOD = task("Emerson wrote .", 0, 7, ["Q1"])
BAD_RECORDS = [
    ("kb-id-not-string", {"text": "Ann met Bo .", "entities": [[0, 3, "PER", 42]]}, "kb_id must be a non-empty string"),
    ("kb-id-null", {"text": "Ann met Bo .", "entities": [{"start": 0, "end": 3, "label": "PER", "kb_id": None}]},
     "kb_id must be a non-empty string"),
    ("kb-id-empty", {"text": "Ann met Bo .", "entities": [[0, 3, "PER", ""]]}, "kb_id must be a non-empty string"),
    ("entity-five-elements", {"text": "Ann met Bo .", "entities": [[0, 3, "PER", "ann", 1.0]]},
     "must be [start, end, label] or [start, end, label, kb_id]"),
    ("kb-id-in-span-group", {"text": "Ann met Bo .", "spans": [[0, 3, "PER", "ann"]]},
     'a 4th element, kb_id, is read in "entities" only'),
    ("entity-off-boundaries", {"text": "Ann met Bo .", "entities": [[0, 2, "PER", "ann"]]},
     "does not fall on token boundaries"),
    ("sents-off-boundaries", {"text": "Ann met Bo . Go .", "sents": [[0, 12], [14, 17]]},
     "sentence [14, 17] 'o .' does not fall on token boundaries: it cuts through the token(s) ['Go']"),
    ("sents-on-whitespace", {"text": "Ann met Bo . Go .", "sents": [[0, 13]]},
     "starts or ends on whitespace"),
    ("sents-outside-text", {"text": "Ann met Bo .", "sents": [[0, 40]]}, "outside the text (12 characters)"),
    ("sents-overlap", {"text": "Ann met Bo . Go .", "sents": [[0, 12], [8, 17]]},
     "sentences [0, 12] and [8, 17] overlap"),
    ("sents-not-pairs", {"text": "Ann met Bo .", "sents": [[0, 3, 5]]}, "must be [start, end] with integer offsets"),
    ("sents-not-list", {"text": "Ann met Bo .", "sents": "0-12"}, '"sents" must be a list'),
    ("prodigy-answer", {**PRODIGY_GOOD, "answer": 1}, '"answer" must be a string'),
    ("prodigy-accept-not-list", {**PRODIGY_GOOD, "accept": "Q1"}, '"accept" must be a list'),
    ("prodigy-accept-not-string", {**PRODIGY_GOOD, "accept": [7]}, '"accept"[0] must be a KB id string, got 7'),
    ("prodigy-no-text", {**PRODIGY_GOOD, "text": ""}, 'needs a non-empty "text"'),
    ("prodigy-two-spans", {**PRODIGY_GOOD, "spans": PRODIGY_GOOD["spans"] * 2}, "2 spans in one task"),
    ("prodigy-span-off-boundaries", task("Emerson wrote .", 0, 5, ["Q1"]), "does not fall on token boundaries"),
    ("prodigy-tokens-mismatch", {**PRODIGY_GOOD, "tokens": [{"text": "Emerson", "ws": True}, {"text": "read"}]},
     'do not spell out "text"'),
]


@pytest.mark.parametrize("record,needle", [pytest.param(r, n, id=i) for i, r, n in BAD_RECORDS])
def test_bad_records_name_file_and_line(tmp_path, record, needle):
    good = PRODIGY_GOOD if "accept" in record else GOOD
    path = write_jsonl(tmp_path / "bad.jsonl", [good, record])
    with pytest.raises(CorpusError) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(f"{path}:2: ") and needle in message, message


def test_prodigy_reader_refuses_other_records(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [PRODIGY_GOOD, GOOD])
    reader = registry.resolve({"r": {"@readers": "archcli.ProdigyEL.v1", "path": str(path)}})["r"]
    with pytest.raises(CorpusError, match=r"mixed\.jsonl:2: not a Prodigy entity-linking task"):
        list(reader(Pipeline()))


@pytest.mark.parametrize("record,needle", [
    ({"text": "Ann met Bo .", "entities": [[0, 3, "PER", 42]]}, "kb_id must be a non-empty string"),
    ({"text": "Ann met Bo . Go .", "sents": [[0, 12], [14, 17]]}, "does not fall on token boundaries"),
], ids=["kb-id", "sents"])
def test_bad_el_corpus_via_cli(tmp_path, record, needle):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD, record])
    result, output = invoke(["train", NER_CFG, "--output", tmp_path / "out", "--paths.train", path,
                             "--paths.dev", path, "--training.max_steps", 2])
    assert_one_clear_error(result, output, [f"{path}:2", needle])
    assert not (tmp_path / "out").exists()
