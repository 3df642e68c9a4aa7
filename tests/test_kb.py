"""The knowledge base: spaCy's InMemoryLookupKB operations, vectorised lookups, and KB
directories that round-trip exactly or fail with one clear error naming the file."""
import json
import warnings
import zipfile

import numpy
import pytest

from archcli._registry import registry
from archcli.errors import ArchcliError, ModelDirError
from archcli.kb import Candidate, InMemoryLookupKB, KnowledgeBase
from archcli.kb import knowledge_base as kb_module
from archcli.tokens import Doc, Vocab, hash_string


def make_kb() -> InMemoryLookupKB:
    """Emerson-style: three entities sharing the alias 'Emerson', each with its full name."""
    kb = InMemoryLookupKB(Vocab(), entity_vector_length=3)
    kb.add_entity("Q312545", 2.0, [1.0, 0.0, 0.0])
    kb.add_entity("Q48226", 5.0, [0.0, 1.0, 0.0])
    kb.add_entity("Q215952", 1.0, [0.0, 0.0, 1.0])
    kb.add_alias("Emerson", ["Q312545", "Q48226", "Q215952"], [0.3, 0.5, 0.2])
    kb.add_alias("Ralph Waldo Emerson", ["Q48226"], [1.0])
    return kb


def random_kb(n_entities: int = 3000, n_aliases: int = 5000, seed: int = 0) -> InMemoryLookupKB:
    rng = numpy.random.default_rng(seed)
    ids = [f"Q{i}-ü{i % 7}" for i in range(n_entities)]
    kb = InMemoryLookupKB(Vocab(), entity_vector_length=4)
    kb.set_entities(ids, rng.random(n_entities), rng.random((n_entities, 4)))
    for a in range(n_aliases):
        picks = rng.choice(n_entities, size=int(rng.integers(1, 4)), replace=False)
        kb.add_alias(f"alias {a}" + "x" * (a % 13), [ids[i] for i in picks], [1.0 / len(picks)] * len(picks))
    return kb


def contents(kb: InMemoryLookupKB):
    """Everything a KB holds, in comparable form."""
    aliases = kb.get_alias_strings()
    return {
        "width": kb.entity_vector_length,
        "entities": kb.get_entity_strings(),
        "freqs": kb.freqs.tolist(),
        "vectors": kb.vectors.tobytes(),
        "aliases": aliases,
        "candidates": [[(c.entity_, c.prior_prob) for c in kb.get_alias_candidates(a)] for a in aliases],
    }


def test_index_hash_vectorised_equals_scalar():
    strings = ["", "a", "abcdefg", "", "abcdefghi", "Q42", "Ralph Waldo Emerson", "ünïcødé ✓", "x" * 5000, ""]
    blob, offsets = kb_module._encode(strings)
    hashes = kb_module._hash_blob(blob, offsets)
    assert [int(h) for h in hashes] == [kb_module._hash_one(s.encode("utf8")) for s in strings]
    assert len(set(hashes.tolist())) == len(set(strings))


def test_candidates_are_exact_and_case_sensitive():
    kb = make_kb()
    candidates = kb.get_alias_candidates("Emerson")
    assert [(c.entity_, c.alias_) for c in candidates] == [("Q312545", "Emerson"), ("Q48226", "Emerson"),
                                                           ("Q215952", "Emerson")]
    assert [c.prior_prob for c in candidates] == pytest.approx([0.3, 0.5, 0.2])
    assert candidates[1].entity_vector.tolist() == [0.0, 1.0, 0.0]
    assert candidates[1].entity_freq == 5.0
    assert candidates[1].entity == hash_string("Q48226")
    assert kb.vocab.strings[candidates[1].entity] == "Q48226"
    assert candidates[0].alias == hash_string("Emerson")
    assert isinstance(candidates[0], Candidate)
    assert kb.get_alias_candidates("emerson") == []
    assert kb.get_alias_candidates("Emerson ") == []
    assert kb.get_alias_candidates("Nobody") == []


def test_kb_operations():
    kb = make_kb()
    assert isinstance(kb, KnowledgeBase)
    assert len(kb) == kb.get_size_entities() == 3
    assert kb.get_size_aliases() == 2
    assert kb.entity_vector_length == 3
    assert kb.contains_entity("Q48226") and not kb.contains_entity("Q1")
    assert kb.contains_alias("Emerson") and not kb.contains_alias("emerson")
    assert kb.get_entity_strings() == ["Q312545", "Q48226", "Q215952"]
    assert kb.get_alias_strings() == ["Emerson", "Ralph Waldo Emerson"]
    assert kb.get_prior_prob("Q48226", "Emerson") == pytest.approx(0.5)
    assert kb.get_prior_prob("Q312545", "Ralph Waldo Emerson") == 0.0
    assert kb.get_prior_prob("Q1", "Emerson") == 0.0
    assert kb.get_vector("Q215952").dtype == numpy.float32
    assert kb.get_vector("Q215952").tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ArchcliError, match="'Q1' is not in the KB"):
        kb.get_vector("Q1")
    assert kb.vectors.shape == (3, 3) and not kb.vectors.flags.writeable


def test_spans_and_batches():
    kb = make_kb()
    doc = Doc(Vocab(), ["Mr", "Emerson", "wrote", "."])
    assert [c.entity_ for c in kb.get_candidates(doc[1:2])] == ["Q312545", "Q48226", "Q215952"]
    assert [len(cands) for cands in kb.get_candidates_batch([doc[1:2], doc[0:1], doc[2:3]])] == [3, 0, 0]


def test_add_alias_errors_name_the_alias():
    kb = make_kb()
    with pytest.raises(ArchcliError, match="'Ralph'.*'Q9'.*not in the KB"):
        kb.add_alias("Ralph", ["Q48226", "Q9"], [0.5, 0.5])
    with pytest.raises(ArchcliError, match="'Ralph'.*sum to 1.1"):
        kb.add_alias("Ralph", ["Q48226", "Q312545"], [0.6, 0.5])
    with pytest.raises(ArchcliError, match="'Ralph' has 2 entities but 1 probabilities"):
        kb.add_alias("Ralph", ["Q48226", "Q312545"], [0.6])
    with pytest.raises(ArchcliError, match="non-empty"):
        kb.add_alias("", ["Q48226"], [1.0])
    with pytest.raises(ArchcliError, match="shape"):
        kb.add_entity("Q7", 1.0, [1.0, 2.0])
    assert kb.get_size_aliases() == 2 and len(kb) == 3
    kb.add_alias("Ralph", ["Q48226", "Q312545"], [0.6, 0.4 + 1e-7])  # rounding in the input is allowed


def test_duplicates_warn_and_keep_the_first():
    kb = make_kb()
    with pytest.warns(UserWarning, match="'Q48226' is already in the KB"):
        assert kb.add_entity("Q48226", 9.0, [9.0, 9.0, 9.0]) == 1
    assert kb.get_vector("Q48226").tolist() == [0.0, 1.0, 0.0]
    with pytest.warns(UserWarning, match="'Emerson' is already in the KB"):
        assert kb.add_alias("Emerson", ["Q48226"], [1.0]) == 0
    assert len(kb.get_alias_candidates("Emerson")) == 3
    with pytest.warns(UserWarning, match="repeated entity ids"):
        kb2 = InMemoryLookupKB(Vocab(), 2)
        kb2.set_entities(["a", "b", "a"], [1, 2, 3], [[1, 1], [2, 2], [3, 3]])
    assert kb2.get_entity_strings() == ["a", "b"] and kb2.get_vector("a").tolist() == [1, 1]


def test_append_alias():
    kb = make_kb()
    kb.add_entity("Q1", 1.0, [1, 1, 1])
    kb.add_alias("R. W. Emerson", ["Q48226"], [0.5])
    kb.append_alias("R. W. Emerson", "Q1", 0.25)
    assert [(c.entity_, c.prior_prob) for c in kb.get_alias_candidates("R. W. Emerson")] == [("Q48226", 0.5),
                                                                                           ("Q1", 0.25)]
    with pytest.warns(UserWarning, match="already a candidate"):
        kb.append_alias("R. W. Emerson", "Q1", 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kb.append_alias("R. W. Emerson", "Q1", 0.1, ignore_warnings=True)
    with pytest.raises(ArchcliError, match="sum to 1.05"):
        kb.append_alias("R. W. Emerson", "Q312545", 0.3)
    with pytest.raises(ArchcliError, match="alias 'Nope' is not in the KB"):
        kb.append_alias("Nope", "Q1", 0.1)
    with pytest.raises(ArchcliError, match="entity 'Q9' is not in the KB"):
        kb.append_alias("Emerson", "Q9", 0.0)
    # Appended candidates survive a save (the moved candidate slots are compacted away).
    loaded = InMemoryLookupKB(Vocab(), 1).from_bytes(kb.to_bytes())
    assert contents(loaded) == contents(kb)


@pytest.mark.parametrize("via", ["disk", "bytes"])
def test_round_trip_is_identical(tmp_path, via):
    kb = random_kb()
    kb.append_alias("alias 3xxx", "Q5-ü5", 0.0, ignore_warnings=True)
    if via == "disk":
        kb.to_disk(tmp_path / "kb")
        loaded = InMemoryLookupKB(Vocab(), entity_vector_length=1).from_disk(tmp_path / "kb")
        assert sorted(p.name for p in (tmp_path / "kb").iterdir()) == ["kb.json", "kb.npz"]
        meta = json.loads((tmp_path / "kb" / "kb.json").read_text())
        assert (meta["format"], meta["version"], meta["n_entities"], meta["n_aliases"]) == ("archcli-kb", 1, 3000, 5000)
    else:
        loaded = InMemoryLookupKB(Vocab(), entity_vector_length=1).from_bytes(kb.to_bytes())
    assert contents(loaded) == contents(kb)
    # A loaded KB keeps growing like a new one, and saves again identically.
    for k in (kb, loaded):
        k.add_entity("new", 1.0, [1, 2, 3, 4])
        k.add_alias("new alias", ["new", "Q0-ü0"], [0.5, 0.5])
        k.append_alias("alias 0", "new", 0.0, ignore_warnings=True)
    assert contents(loaded) == contents(kb)
    assert contents(InMemoryLookupKB(Vocab(), 1).from_bytes(loaded.to_bytes())) == contents(kb)


@pytest.mark.parametrize("loaded", [False, True])
def test_vectorised_lookups_match_single_ones(loaded):
    kb = random_kb(500, 800)
    if loaded:
        kb = InMemoryLookupKB(Vocab(), 1).from_bytes(kb.to_bytes())
    queries = ["alias 7xxxxxxx", "nope", "alias 799xxxxx", "alias 0", "Alias 0", "alias 12xxxxxxxxxxxx"]
    lengths, rows, priors = kb.alias_candidates_arrays(queries)
    expected = [kb.get_alias_candidates(q) for q in queries]
    assert lengths.tolist() == [len(c) for c in expected]
    assert rows.tolist() == [c.entity_row for cands in expected for c in cands]
    assert priors.tolist() == [c.prior_prob for cands in expected for c in cands]
    ids = kb.get_entity_strings()
    assert kb.entity_rows(ids[::-1] + ["Q0", "missing"]).tolist() == list(range(len(ids)))[::-1] + [-1, -1]
    assert kb.alias_candidates_arrays([])[0].shape == (0,)


def test_lookups_survive_hash_collisions(monkeypatch):
    """Every string hashing alike: lookups still find the right row (hits are checked on bytes)."""
    monkeypatch.setattr(kb_module, "_hash_one", lambda data: 7)
    monkeypatch.setattr(kb_module, "_hash_blob", lambda blob, offsets: numpy.full(
        (offsets.shape[0] - 1,), 7, dtype="uint64"))
    kb = InMemoryLookupKB(Vocab(), 1).from_bytes(make_kb().to_bytes())
    assert [c.entity_ for c in kb.get_alias_candidates("Ralph Waldo Emerson")] == ["Q48226"]
    assert kb.entity_rows(["Q215952", "Q48226", "Q9"]).tolist() == [2, 1, -1]
    assert kb.alias_candidates_arrays(["Ralph Waldo Emerson", "Emerson"])[0].tolist() == [1, 3]


def test_to_disk_replaces_a_kb_but_not_other_directories(tmp_path):
    make_kb().to_disk(tmp_path / "kb")
    random_kb(10, 10).to_disk(tmp_path / "kb")  # an existing KB is replaced
    assert len(InMemoryLookupKB(Vocab(), 1).from_disk(tmp_path / "kb")) == 10
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ArchcliError, match="not a KB"):
        make_kb().to_disk(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kb", "other"]  # no temporaries left


def _edit_meta(**changes):
    def damage(path):
        meta = json.loads((path / "kb.json").read_text())
        meta.update(changes)
        (path / "kb.json").write_text(json.dumps(meta))
        return "kb.json"
    return damage


def _truncate_arrays(path):
    data = (path / "kb.npz").read_bytes()
    (path / "kb.npz").write_bytes(data[: len(data) // 2])
    return "kb.npz"


def _remove(name):
    def damage(path):
        (path / name).unlink()
        return name if name == "kb.json" else "kb.npz"
    return damage


def _swap_arrays_of_another_kb(path):
    """kb.npz from a bigger KB: counts in kb.json no longer match."""
    random_kb(20, 20).to_disk(path.parent / "other")
    (path / "kb.npz").write_bytes((path.parent / "other" / "kb.npz").read_bytes())
    return "kb.npz"


def _damaged_json(path):
    (path / "kb.json").write_text('{"format": "archcli-kb", ')
    return "kb.json"


@pytest.mark.parametrize("damage,needle", [
    (_edit_meta(version=2), "version 2"),
    (_edit_meta(format="something-else"), "not an archcli KB"),
    (_edit_meta(n_entities=4), "counts"),
    (_truncate_arrays, "damaged array file"),
    (_remove("kb.npz"), "missing kb.npz"),
    (_remove("kb.json"), "no kb.json"),
    (_swap_arrays_of_another_kb, "counts"),
    (_damaged_json, "damaged JSON"),
])
def test_bad_kb_directories_are_one_clear_error(tmp_path, damage, needle):
    make_kb().to_disk(tmp_path / "kb")
    named = damage(tmp_path / "kb")
    with pytest.raises(ModelDirError) as info:
        InMemoryLookupKB(Vocab(), 1).from_disk(tmp_path / "kb")
    message = str(info.value)
    assert needle in message
    assert str(tmp_path / "kb") in message and (named in message or named == "kb.json")


def test_missing_file_and_spacy_directories(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        InMemoryLookupKB(Vocab(), 1).from_disk(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelDirError, match="is a file"):
        InMemoryLookupKB(Vocab(), 1).from_disk(tmp_path / "file")
    (tmp_path / "spacy_kb").mkdir()
    (tmp_path / "spacy_kb" / "contents").write_bytes(b"\0" * 8)
    with pytest.raises(ModelDirError, match="written by spaCy"):
        InMemoryLookupKB(Vocab(), 1).from_disk(tmp_path / "spacy_kb")
    with pytest.raises(ModelDirError, match="KB bytes"):
        InMemoryLookupKB(Vocab(), 1).from_bytes(b"not a kb")


def test_damaged_offsets_are_caught(tmp_path):
    make_kb().to_disk(tmp_path / "kb")
    with zipfile.ZipFile(tmp_path / "kb" / "kb.npz") as stored:
        arrays = {name[:-4]: numpy.load(stored.open(name)) for name in stored.namelist()}
    arrays["alias_candidate_rows"][0] = 99
    with open(tmp_path / "kb" / "kb.npz", "wb") as file_:
        numpy.savez(file_, **arrays)
    with pytest.raises(ModelDirError, match="refers to entities that are not in the KB"):
        InMemoryLookupKB(Vocab(), 1).from_disk(tmp_path / "kb")


def test_registered_functions(tmp_path):
    vocab = Vocab()
    resolved = registry.resolve({
        "v1": {"@misc": "spacy.EmptyKB.v1", "entity_vector_length": 64},
        "v2": {"@misc": "spacy.EmptyKB.v2"},
        "file": {"@misc": "spacy.KBFromFile.v1", "kb_path": str(tmp_path / "kb")},
        "gen": {"@misc": "spacy.CandidateGenerator.v1"},
        "batch": {"@misc": "spacy.CandidateBatchGenerator.v1"},
    })
    empty = resolved["v1"](vocab)
    assert isinstance(empty, InMemoryLookupKB) and empty.entity_vector_length == 64 and len(empty) == 0
    assert resolved["v2"](vocab, 12).entity_vector_length == 12
    with pytest.raises(ModelDirError, match=str(tmp_path / "kb")):
        resolved["file"](vocab)
    make_kb().to_disk(tmp_path / "kb")
    kb = resolved["file"](vocab)
    assert kb.entity_vector_length == 3 and kb.vocab is vocab
    doc = Doc(vocab, ["Emerson", "and", "Ralph", "Waldo", "Emerson"])
    assert [c.entity_ for c in resolved["gen"](kb, doc[2:5])] == ["Q48226"]
    assert [[c.entity_ for c in cands] for cands in resolved["batch"](kb, [doc[0:1], doc[1:2]])] == [
        ["Q312545", "Q48226", "Q215952"], []]
    with pytest.raises(ArchcliError, match="positive integer"):
        registry.resolve({"kb": {"@misc": "spacy.EmptyKB.v1", "entity_vector_length": 0}})
