"""`archcli init-kb` and `archcli debug-kb` on the shared entity-linking corpora, and their
bad inputs: one clear message naming FILE:LINE, exit 1, nothing written."""
import json
from pathlib import Path

import numpy
import pytest

from archcli.kb import InMemoryLookupKB
from archcli.kb import build
from archcli.tokens import Vocab

from .conftest import CORPORA, require
from .test_bad_input import assert_one_clear_error, invoke, snapshot
from .util import REPO, tagger_config

EMERSON = CORPORA / "nel_emerson" / "entities.csv"
LITBANK = CORPORA / "litbank_el"
EMERSON_IDS = ["Q312545", "Q48226", "Q215952"]


@pytest.fixture(scope="module")
def small_vectors(tmp_path_factory) -> Path:
    """A four-word vectors table (fast to load), width 3."""
    path = tmp_path_factory.mktemp("vectors") / "tiny.vec"
    path.write_text("4 3\nstone 1 0 0\nbridge 0 1 0\nbaker 0 0 1\nbread 1 1 1\n", encoding="utf8")
    return path


def write(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path


def entities_jsonl(path: Path) -> Path:
    return write(path, [
        json.dumps({"id": "marlow_town", "name": "Marlow", "description": "A stone bridge.", "freq": 9, "label": "GPE"}),
        json.dumps({"id": "tessa", "name": "Tessa Marlow", "description": "A baker: bread!", "freq": 7}),
        json.dumps({"id": "marlow_boat", "name": "Marlow", "description": "Nothing known here."}),
    ])


def load_kb(path: Path) -> InMemoryLookupKB:
    return InMemoryLookupKB(Vocab(), 1).from_disk(path)


def test_nel_emerson_with_an_alias_file(tmp_path, vectors_path):
    aliases = write(tmp_path / "aliases.jsonl", [
        json.dumps({"alias": "Emerson", "entities": EMERSON_IDS, "probabilities": [0.3, 0.3, 0.3]}),
    ] + [json.dumps({"alias": name, "entities": [qid], "probabilities": [1.0]}) for qid, name in
         zip(EMERSON_IDS, ["Roy Stanley Emerson", "Ralph Waldo Emerson", "Emerson Ferreira da Rosa"])])
    result, output = invoke(["init-kb", require(EMERSON), tmp_path / "kb", "--aliases", aliases,
                             "--vectors", vectors_path])
    assert result.exit_code == 0, output
    kb = load_kb(tmp_path / "kb")
    assert kb.get_entity_strings() == EMERSON_IDS and kb.entity_vector_length == 100
    candidates = kb.get_alias_candidates("Emerson")
    assert [c.entity_ for c in candidates] == EMERSON_IDS
    assert sum(c.prior_prob for c in candidates) <= 1 + 1e-6
    assert kb.get_alias_candidates("emerson") == []
    assert (numpy.linalg.norm(kb.vectors, axis=1) > 0).all()
    # Three different descriptions give three different vectors.
    assert len({kb.vectors[i].tobytes() for i in range(3)}) == 3


def test_nel_emerson_names_are_the_aliases_without_a_file(tmp_path, small_vectors):
    result, output = invoke(["init-kb", require(EMERSON), tmp_path / "kb", "--vectors", small_vectors])
    assert result.exit_code == 0, output
    kb = load_kb(tmp_path / "kb")
    assert kb.get_alias_strings() == ["Roy Stanley Emerson", "Ralph Waldo Emerson", "Emerson Ferreira da Rosa"]
    assert [(c.entity_, c.prior_prob) for c in kb.get_alias_candidates("Ralph Waldo Emerson")] == [("Q48226", 1.0)]
    # No word of these descriptions is in the tiny table: zero vectors, counted and reported.
    assert "3 of 3 entities have a zero vector" in output


def test_litbank_el_with_vectors_and_stats(tmp_path, vectors_path):
    result, output = invoke(["init-kb", require(LITBANK / "kb_entities.jsonl"), tmp_path / "kb",
                             "--aliases", LITBANK / "kb_aliases.jsonl", "--vectors", vectors_path, "--stats"])
    assert result.exit_code == 0, output
    kb = load_kb(tmp_path / "kb")
    assert (len(kb), kb.get_size_aliases(), kb.entity_vector_length) == (1068, 1106, 100)
    with open(LITBANK / "kb_aliases.jsonl", encoding="utf8") as file_:
        mary = next(r for r in map(json.loads, file_) if r["alias"] == "Mary")
    candidates = kb.get_alias_candidates("Mary")
    assert [c.entity_ for c in candidates] == mary["entities"]
    assert [c.prior_prob for c in candidates] == pytest.approx(mary["probabilities"], abs=1e-6)
    assert "1068" in output and "1106" in output and "max 18" in output  # --stats
    stats = build.kb_stats(kb)
    assert (stats["ambiguous_aliases"], stats["max_candidates"], stats["zero_vectors"]) == (114, 18, 0)
    assert stats["prior_sum"]["max"] <= 1 + 1e-6
    result, output = invoke(["debug-kb", tmp_path / "kb"])
    assert result.exit_code == 0, output
    assert "Ambiguous aliases" in output and "114" in output


def test_shared_names_split_the_prior(tmp_path, small_vectors):
    result, output = invoke(["init-kb", entities_jsonl(tmp_path / "e.jsonl"), tmp_path / "kb",
                             "--vectors", small_vectors, "--no-center"])
    assert result.exit_code == 0, output
    kb = load_kb(tmp_path / "kb")
    assert [(c.entity_, c.prior_prob) for c in kb.get_alias_candidates("Marlow")] == [("marlow_town", 0.5),
                                                                                      ("marlow_boat", 0.5)]
    assert kb.freqs.tolist() == [9.0, 7.0, 1.0]  # freq defaults to 1
    assert kb.get_vector("marlow_town").tolist() == pytest.approx([0.5, 0.5, 0.0])  # mean of stone, bridge
    assert kb.get_vector("tessa").tolist() == pytest.approx([0.5, 0.5, 1.0])  # baker, bread
    assert kb.get_vector("marlow_boat").tolist() == [0.0, 0.0, 0.0]
    assert "1 of 3 entities have a zero vector" in output and "'marlow_boat'" in output


def test_vectors_are_centred_by_default(tmp_path, small_vectors):
    """The default subtracts the mean of the entities that have a vector; zero vectors stay zero."""
    result, output = invoke(["init-kb", entities_jsonl(tmp_path / "e.jsonl"), tmp_path / "kb",
                             "--vectors", small_vectors])
    assert result.exit_code == 0, output
    assert "centred" in output
    kb = load_kb(tmp_path / "kb")
    # Raw vectors [0.5, 0.5, 0] and [0.5, 0.5, 1] (see above), mean [0.5, 0.5, 0.5].
    assert kb.get_vector("marlow_town").tolist() == pytest.approx([0.0, 0.0, -0.5])
    assert kb.get_vector("tessa").tolist() == pytest.approx([0.0, 0.0, 0.5])
    assert kb.get_vector("marlow_boat").tolist() == [0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    """A tok2vec + tagger pipeline, initialised on a few sentences and saved."""
    from archcli.language import Pipeline
    from archcli.training.corpus import Corpus

    samples = REPO / "corpus_samples" / "conllu"
    nlp = Pipeline.from_config(tagger_config(samples / "train.conllu", samples / "dev.conllu"))
    examples = list(Corpus(samples / "train.conllu", limit=8)(nlp))
    nlp.initialize(lambda: examples)
    path = tmp_path_factory.mktemp("model") / "model"
    nlp.to_disk(path)
    return path


def test_model_tok2vec_vectors(tmp_path, trained_model):
    result, output = invoke(["init-kb", entities_jsonl(tmp_path / "e.jsonl"), tmp_path / "kb",
                             "--model", trained_model, "--batch-size", "2", "--no-center"])
    assert result.exit_code == 0, output
    kb = load_kb(tmp_path / "kb")
    from archcli.language import load

    nlp = load(trained_model)
    width = nlp.get_pipe("tok2vec").model.get_dim("nO")
    assert kb.entity_vector_length == width and "component 'tok2vec'" in output
    doc = nlp.make_doc("A stone bridge.")
    expected = nlp.get_pipe("tok2vec").predict([doc])[0].mean(axis=0)
    assert kb.get_vector("marlow_town") == pytest.approx(expected, abs=1e-5)
    result, output = invoke(["init-kb", tmp_path / "e.jsonl", tmp_path / "kb2", "--model", trained_model,
                             "--entity-vector-length", width + 1])
    assert_one_clear_error(result, output, ["--entity-vector-length", str(width)])
    assert not (tmp_path / "kb2").exists()


def test_find_tok2vec_refuses_a_pipeline_without_one():
    class Listener:
        name = "tok2vec-listener"

    class Model:
        def has_ref(self, name):
            return True

        def get_ref(self, name):
            return Listener()

    class Proc:
        kind = "tagger"
        model = Model()

    class Nlp:
        components = [("tagger", Proc())]
        pipe_names = ["tagger"]

    with pytest.raises(build.ArchcliError, match="no tok2vec component.*tagger.*--vectors"):
        build.find_tok2vec(Nlp())


def _entities(tmp_path, lines):
    return write(tmp_path / "entities.jsonl", lines)


GOOD = [json.dumps({"id": "a", "name": "A", "description": "stone"}),
        json.dumps({"id": "b", "name": "B", "description": "bread"})]


def bad_aliases(line):
    def make(tmp_path):
        return [_entities(tmp_path, GOOD), "--aliases",
                write(tmp_path / "aliases.jsonl", [json.dumps({"alias": "A", "entities": ["a"], "probabilities": [1]}),
                                                   line])]
    return make


def bad_entities(*lines, name="entities.jsonl"):
    def make(tmp_path):
        return [write(tmp_path / name, list(lines))]
    return make


BAD_INPUTS = {
    "unknown entity in aliases": (bad_aliases(json.dumps({"alias": "X", "entities": ["a", "zz"],
                                                          "probabilities": [0.5, 0.5]})),
                                  ["aliases.jsonl:2", "'zz'", "not in the entities file"]),
    "probabilities above 1": (bad_aliases(json.dumps({"alias": "X", "entities": ["a", "b"],
                                                      "probabilities": [0.7, 0.5]})),
                              ["aliases.jsonl:2", "sum to 1.2", "at most 1"]),
    "lists of different lengths": (bad_aliases(json.dumps({"alias": "X", "entities": ["a", "b"],
                                                           "probabilities": [0.7]})),
                                   ["aliases.jsonl:2", "2 entities but 1 probabilities"]),
    "repeated alias": (bad_aliases(json.dumps({"alias": "A", "entities": ["b"], "probabilities": [1]})),
                       ["aliases.jsonl:2", "already given on line 1"]),
    "bad JSON in aliases": (bad_aliases('{"alias": "X", "entities": ['), ["aliases.jsonl:2", "not valid JSON"]),
    "bad JSON in entities": (bad_entities(GOOD[0], '{"id": "c", "name"'), ["entities.jsonl:2", "not valid JSON"]),
    "duplicate id": (bad_entities(GOOD[0], GOOD[1], json.dumps({"id": "a", "name": "Again"})),
                     ["entities.jsonl:3", "'a'", "already given on line 1"]),
    "missing id": (bad_entities(json.dumps({"name": "A"})), ["entities.jsonl:1", "missing key 'id'"]),
    "bad freq": (bad_entities(json.dumps({"id": "a", "freq": "often"})), ["entities.jsonl:1", "'freq'"]),
    "CSV row with wrong field count": (bad_entities('"Q1","One","first"', '"Q2","Two"', name="entities.csv"),
                                       ["entities.csv:2", "expected 3 comma-separated fields", "found 2"]),
    "CSV duplicate id": (bad_entities('"Q1","One","first"', '"Q1","Uno","again"', name="entities.csv"),
                         ["entities.csv:2", "'Q1'", "already given on line 1"]),
    "empty entity file": (bad_entities("", name="entities.jsonl"), ["entities.jsonl", "holds no entities"]),
    "missing entity file": (lambda tmp_path: [tmp_path / "nowhere.jsonl"], ["nowhere.jsonl", "not found"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, small_vectors, case):
    make, needles = BAD_INPUTS[case]
    args = make(tmp_path)
    out = tmp_path / "kb"
    result, output = invoke(["init-kb", args[0], out, *args[1:], "--vectors", small_vectors])
    assert_one_clear_error(result, output, needles)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporaries


def test_bad_input_leaves_an_existing_kb_untouched(tmp_path, small_vectors):
    entities = _entities(tmp_path, GOOD)
    result, output = invoke(["init-kb", entities, tmp_path / "kb", "--vectors", small_vectors])
    assert result.exit_code == 0, output
    before = snapshot(tmp_path / "kb")
    aliases = write(tmp_path / "aliases.jsonl", [json.dumps({"alias": "A", "entities": ["a", "b"],
                                                             "probabilities": [0.9, 0.9]})])
    result, output = invoke(["init-kb", entities, tmp_path / "kb", "--aliases", aliases, "--vectors", small_vectors])
    assert_one_clear_error(result, output, ["aliases.jsonl:1", "sum to 1.8"])
    assert snapshot(tmp_path / "kb") == before


@pytest.mark.parametrize("flags,needles", [
    ([], ["--vectors", "--model"]),
    (["--vectors", "V", "--model", "M"], ["not both"]),
    (["--vectors", "V", "--batch-size", "0"], ["--batch-size"]),
])
def test_flag_mistakes(tmp_path, small_vectors, flags, needles):
    flags = [str(small_vectors) if f == "V" else str(tmp_path) if f == "M" else f for f in flags]
    result, output = invoke(["init-kb", _entities(tmp_path, GOOD), tmp_path / "kb", *flags])
    assert_one_clear_error(result, output, needles)
    assert not (tmp_path / "kb").exists()


def test_output_that_is_not_a_kb_is_refused(tmp_path, small_vectors):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result, output = invoke(["init-kb", _entities(tmp_path, GOOD), tmp_path / "mine", "--vectors", small_vectors])
    assert_one_clear_error(result, output, [str(tmp_path / "mine"), "not a KB"])
    assert snapshot(tmp_path / "mine") == {"notes.txt": b"keep me"}


def test_bad_vectors_file_is_named(tmp_path):
    vectors = write(tmp_path / "bad.vec", ["2 3", "stone 1 0 0", "bridge 0 1"])
    result, output = invoke(["init-kb", _entities(tmp_path, GOOD), tmp_path / "kb", "--vectors", vectors])
    assert_one_clear_error(result, output, ["bad.vec:3"])
    result, output = invoke(["init-kb", tmp_path / "entities.jsonl", tmp_path / "kb", "--vectors", tmp_path / "x.vec"])
    assert_one_clear_error(result, output, ["x.vec", "not found"])
    assert not (tmp_path / "kb").exists()


def test_debug_kb_on_a_bad_directory(tmp_path):
    result, output = invoke(["debug-kb", tmp_path / "nowhere"])
    assert_one_clear_error(result, output, [str(tmp_path / "nowhere"), "does not exist"])
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "kb.json").write_text(json.dumps({"format": "archcli-kb", "version": 9}))
    result, output = invoke(["debug-kb", tmp_path / "kb"])
    assert_one_clear_error(result, output, ["kb.json", "version 9"])


def test_vectors_from_a_model_directory(tmp_path):
    """--vectors also takes what [initialize] vectors takes: a directory with vocab/vectors.npz."""
    from archcli.tokens import StringStore, Vectors

    strings = StringStore()
    table = Vectors(numpy.asarray([[2.0, 0.0], [0.0, 4.0]], dtype="float32"),
                    keys=[strings.add("stone"), strings.add("bread")])
    (tmp_path / "model" / "vocab").mkdir(parents=True)
    table.to_disk(tmp_path / "model" / "vocab" / "vectors.npz")
    result, output = invoke(["init-kb", _entities(tmp_path, GOOD), tmp_path / "kb", "--vectors", tmp_path / "model",
                             "--no-center"])
    assert result.exit_code == 0, output
    kb = load_kb(tmp_path / "kb")
    assert kb.get_vector("a").tolist() == [2.0, 0.0] and kb.get_vector("b").tolist() == [0.0, 4.0]
    result, output = invoke(["init-kb", tmp_path / "entities.jsonl", tmp_path / "kb2", "--vectors", tmp_path])
    assert_one_clear_error(result, output, [str(tmp_path), "without vocab/vectors.npz"])
