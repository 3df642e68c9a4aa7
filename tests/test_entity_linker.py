"""The entity linker: spec blocks, linking rules, training, save/load, bad input."""
import json
from pathlib import Path

import numpy
import pytest
from thinc.api import Config

from archcli import registry
from archcli.errors import ArchcliError
from archcli.kb import InMemoryLookupKB
from archcli.language import Pipeline
from archcli.pipeline.entity_linker import NIL, segment_argmax
from archcli.tokens import Doc, Span, Vocab
from archcli.tokens.example import Example

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "entity_linker.cfg"
SAMPLES = ROOT / "corpus_samples"

SPEC_BLOCK = """
[model]
@architectures = "spacy.EntityLinker.v2"
nO = null

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 2
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""


def _doc(vocab, words, ents, sent_starts=None):
    doc = Doc(vocab, words, sent_starts=sent_starts)
    doc.ents = [Span(doc, s, e, label, kb) for s, e, label, kb in ents]
    return doc


def _kb(vocab, length=4):
    kb = InMemoryLookupKB(vocab, entity_vector_length=length)
    kb.add_entity("town", 5, [1.0, 0.0, 0.0, 0.0][:length])
    kb.add_entity("baker", 3, [0.0, 1.0, 0.0, 0.0][:length])
    kb.add_entity("boat", 1, [0.0, 0.0, 1.0, 0.0][:length])
    kb.add_alias("Marlow", ["town", "baker"], [0.6, 0.3])
    kb.add_alias("Kestrel", ["boat"], [0.9])
    return kb


def test_spec_block_is_the_spec_text(spec_text):
    from tests.spec_blocks import spec_blocks

    assert Config().from_str(spec_blocks(spec_text)["spacy.EntityLinker.v2"]) == Config().from_str(SPEC_BLOCK)


@pytest.mark.parametrize("name", ["spacy.EntityLinker.v2", "spacy.EntityLinker.v1"])
def test_spec_block_builds_and_predicts(name):
    block = Config().from_str(SPEC_BLOCK.replace("spacy.EntityLinker.v2", name))
    model = registry.resolve(block)["model"]
    vocab = Vocab()
    doc = _doc(vocab, "Marlow sang . Then Marlow left town .".split(), [(0, 1, "PER", ""), (4, 5, "PER", "")],
               sent_starts=[True, False, False, True, False, False, False, False])
    model.get_ref("output_layer").set_dim("nO", 8)
    model.initialize(X=[doc])
    out = model.predict([doc])
    rows = 2 if name.endswith("v2") else 1  # v2: one row per mention; v1: one per input doc
    assert out.shape == (rows, 8)
    assert numpy.isfinite(out).all()
    if name.endswith("v2"):
        # Both mentions of different sentences get different contexts.
        assert not numpy.allclose(out[0], out[1])


def test_context_ranges_follow_sentences():
    from archcli.ml.entity_linker import context_ranges

    vocab = Vocab()
    words = "A b . C d . E f . G h .".split()
    starts = [i % 3 == 0 for i in range(len(words))]
    doc = _doc(vocab, words, [(0, 1, "X", ""), (3, 4, "X", ""), (10, 11, "X", "")], sent_starts=starts)
    assert context_ranges(doc, 0).tolist() == [[0, 3], [3, 6], [9, 12]]
    assert context_ranges(doc, 1).tolist() == [[0, 6], [0, 9], [6, 12]]
    no_sents = _doc(vocab, words, [(3, 4, "X", "")])
    assert context_ranges(no_sents, 0).tolist() == [[0, 12]]


def test_segment_argmax_first_on_ties_and_empty_segments():
    scores = numpy.asarray([0.1, 0.5, 0.5, 0.9, 0.2], dtype="f")
    best, best_score = segment_argmax(scores, numpy.asarray([3, 0, 2]))
    assert best.tolist() == [1, 0, 0]
    assert best_score[0] == pytest.approx(0.5) and best_score[1] == -numpy.inf and best_score[2] == pytest.approx(0.9)


def _linker(nlp_config: str = "", **settings):
    """A pipeline with only an entity_linker (inline tok2vec) and the hand-made KB."""
    text = CONFIG.read_text()
    config = Config().from_str(text, interpolate=False)
    config["nlp"]["pipeline"] = ["entity_linker"]
    del config["components"]["tok2vec"]
    config["components"]["entity_linker"]["model"]["tok2vec"] = dict(
        Config().from_str(SPEC_BLOCK)["model"]["tok2vec"])
    config["components"]["entity_linker"].update(settings)
    del config["initialize"]["components"]["entity_linker"]  # set_kb below gives the KB
    nlp = Pipeline.from_config(config)
    el = nlp.get_pipe("entity_linker")
    el.set_kb(lambda vocab: _kb(vocab))
    return nlp, el


def test_linking_rules_prior_context_threshold():
    nlp, el = _linker()
    vocab = nlp.vocab
    doc = _doc(vocab, "Marlow met Kestrel and Ada".split(), [(0, 1, "PER", ""), (2, 3, "VEH", ""), (4, 5, "PER", "")])
    mentions = doc.ents
    # Encodings: the first mention looks like "baker", so context outweighs the prior.
    enc = numpy.asarray([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype="f")
    assert el.link(mentions, enc) == ["baker", "boat", NIL]  # one candidate: taken; no candidate: NIL
    el.cfg["incl_context"] = False
    assert el.link(mentions, enc) == ["town", "boat", NIL]  # prior only
    el.cfg["incl_context"], el.cfg["incl_prior"] = True, False
    assert el.link(mentions, enc) == ["baker", "boat", NIL]
    # A threshold applies to single candidates too: the boat's score is 0 (orthogonal context, no prior).
    el.cfg["threshold"] = 0.5
    assert el.link(mentions, enc) == ["baker", NIL, NIL]
    el.cfg["labels_discard"] = ["PER"]
    assert el.link(mentions, enc) == [NIL, NIL, NIL]


def _sample_kb(tmp_path: Path) -> Path:
    from archcli.kb import InMemoryLookupKB

    vocab = Vocab()
    rng = numpy.random.default_rng(0)
    entities = [json.loads(line) for line in (SAMPLES / "kb_entities.jsonl").read_text().splitlines()]
    kb = InMemoryLookupKB(vocab, entity_vector_length=16)
    for entity in entities:
        kb.add_entity(entity["id"], float(entity.get("freq", 1)), rng.normal(size=16).astype("f"))
    for line in (SAMPLES / "kb_aliases.jsonl").read_text().splitlines():
        alias = json.loads(line)
        kb.add_alias(alias["alias"], alias["entities"], alias["probabilities"])
    kb.to_disk(tmp_path / "kb")
    return tmp_path / "kb"


def _train(tmp_path: Path, *overrides: str) -> Path:
    from typer.testing import CliRunner

    from archcli.cli.app import app
    import archcli.cli  # noqa: F401  (registers the commands)

    kb = _sample_kb(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["train", str(CONFIG), "--output", str(out), "--paths.kb", str(kb),
                                      "--training.max_steps", "60", "--training.eval_frequency", "30", *overrides])
    assert result.exit_code == 0, result.output
    return out


def test_trains_saves_and_links_without_the_kb(tmp_path):
    from archcli.language import load
    from archcli.training.corpus import create_docbin_reader

    out = _train(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "kb")  # the model carries its own KB
    nlp = load(out / "model-last")
    examples = list(create_docbin_reader(SAMPLES / "el_dev.jsonl")(nlp))
    scores = nlp.evaluate(examples)
    assert scores["nel_micro_f"] is not None and scores["nel_acc"] is not None
    assert 0.0 <= scores["nel_acc"] <= 1.0
    again = load(out / "model-last").evaluate(examples)
    assert again["nel_micro_f"] == scores["nel_micro_f"]
    from tests.test_bad_input import invoke

    result, output = invoke(["evaluate", out / "model-last", SAMPLES / "el_dev.jsonl", "--output", tmp_path / "s.json"])
    assert result.exit_code == 0, output
    assert "NEL F" in output and "NEL ACC" in output and "NEL (per type)" in output
    assert json.loads((tmp_path / "s.json").read_text())["nel_acc"] == pytest.approx(scores["nel_acc"])
    doc = nlp.make_doc("Marlow sang with the choir .")
    doc.ents = [Span(doc, 0, 1, "PER")]
    linked = nlp(doc)
    assert linked.ents[0].kb_id_ in {"marlow_town", "tessa_marlow", NIL} or linked.ents[0].kb_id_


def test_empty_kb_is_a_clear_error(tmp_path):
    nlp, el = _linker()
    el.kb = InMemoryLookupKB(nlp.vocab, 4)
    with pytest.raises(ArchcliError, match="empty knowledge base"):
        el.initialize(lambda: [], nlp=nlp)


def test_gold_id_outside_the_kb_is_a_clear_error():
    nlp, el = _linker()
    doc = _doc(nlp.vocab, "Marlow sang".split(), [(0, 1, "PER", "nobody")])
    with pytest.raises(ArchcliError, match="'nobody'.*not in the knowledge base"):
        el.initialize(lambda: [Example.from_gold(doc, "x.jsonl:1")], nlp=nlp)


def test_output_width_must_match_the_kb():
    from archcli.errors import ConfigError

    nlp, el = _linker()
    el.model.get_ref("output_layer").set_dim("nO", 7)
    doc = _doc(nlp.vocab, "Marlow sang".split(), [(0, 1, "PER", "town")])
    with pytest.raises(ConfigError, match="nO = 7.*4 dimensions"):
        el.initialize(lambda: [Example.from_gold(doc)], nlp=nlp)


@pytest.mark.parametrize("key,value,match", [
    ("threshold", 2.0, "threshold"),
    ("n_sents", -1, "n_sents"),
    ("candidates_batch_size", 0, "candidates_batch_size"),
])
def test_bad_settings_name_their_key(key, value, match):
    with pytest.raises(ArchcliError, match=match):
        _linker(**{key: value})


def test_after_an_ner_from_init_config(tmp_path):
    """tok2vec + ner + entity_linker as init-config writes it: trains, and links what the ner finds."""
    from typer.testing import CliRunner

    import archcli.cli  # noqa: F401
    from archcli.cli.app import app
    from archcli.language import load

    runner = CliRunner()
    cfg = tmp_path / "el.cfg"
    result = runner.invoke(app, ["init-config", str(cfg), "--pipeline", "tok2vec,ner,entity_linker"])
    assert result.exit_code == 0, result.output
    assert "--paths.kb" in result.output
    kb = _sample_kb(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["train", str(cfg), "--output", str(out), "--paths.kb", str(kb),
                                 "--paths.train", str(SAMPLES / "el_train.jsonl"),
                                 "--paths.dev", str(SAMPLES / "el_dev.jsonl"),
                                 "--training.max_steps", "40", "--training.eval_frequency", "20"])
    assert result.exit_code == 0, result.output
    nlp = load(out / "model-last")
    assert nlp.pipe_names == ["tok2vec", "ner", "entity_linker"]
    assert not nlp.get_pipe("entity_linker").gold_mentions  # the ner's mentions are linked
    kb_ids = set(nlp.get_pipe("entity_linker").kb.get_entity_strings()) | {NIL}
    doc = nlp("Tessa Marlow opened the bakery in Marlow at five .")
    assert all(ent.kb_id_ in kb_ids for ent in doc.ents)


def _train_cli(tmp_path: Path, *args: str):
    from typer.testing import CliRunner

    import archcli.cli  # noqa: F401
    from archcli.cli.app import app

    result = CliRunner().invoke(app, ["train", str(CONFIG), "--output", str(tmp_path / "out"),
                                      "--training.max_steps", "2", *args])
    return result, result.output


def test_cli_empty_kb_and_unknown_gold_id(tmp_path):
    from tests.test_bad_input import assert_one_clear_error

    empty = tmp_path / "empty_kb"
    InMemoryLookupKB(Vocab(), 16).to_disk(empty)
    result, output = _train_cli(tmp_path, "--paths.kb", str(empty))
    assert_one_clear_error(result, output, ["initialize.components.entity_linker.kb_loader", "empty knowledge base"])
    assert not (tmp_path / "out" / "model-last").exists()

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "Marlow sang .", "entities": [[0, 6, "PER", "nobody"]]}) + "\n")
    result, output = _train_cli(tmp_path, "--paths.kb", str(_sample_kb(tmp_path)), "--paths.train", str(bad))
    assert_one_clear_error(result, output, [f"{bad}:1", "'nobody'", "not in the knowledge base"])

    result, output = _train_cli(tmp_path, "--paths.kb", str(tmp_path / "missing"))
    assert_one_clear_error(result, output, ["missing"])
    result, output = _train_cli(tmp_path)  # the shipped config leaves paths.kb to the user
    assert_one_clear_error(result, output, ["kb_path = null", "--paths.kb"])


def test_v1_needs_its_own_tok2vec(tmp_path):
    from tests.test_bad_input import assert_one_clear_error

    kb = _sample_kb(tmp_path)
    result, output = _train_cli(tmp_path, "--paths.kb", str(kb),
                                "--components.entity_linker.model.@architectures", "spacy.EntityLinker.v1")
    assert_one_clear_error(result, output, ["components.entity_linker.model.tok2vec", "cannot listen"])


def test_v1_with_an_inline_tok2vec_trains_and_links(tmp_path):
    nlp, el = _linker()
    config = nlp.config.copy()
    config["components"]["entity_linker"]["model"]["@architectures"] = "spacy.EntityLinker.v1"
    nlp = Pipeline.from_config(config)
    el = nlp.get_pipe("entity_linker")
    el.set_kb(lambda vocab: _kb(vocab))
    docs = [_doc(nlp.vocab, "Marlow baked bread . Marlow is a town .".split(),
                 [(0, 1, "PER", "baker"), (4, 5, "GPE", "town")], sent_starts=[1, 0, 0, 0, 1, 0, 0, 0, 0])]
    examples = [Example.from_gold(doc) for doc in docs]
    optimizer = nlp.initialize(lambda: examples)
    losses = {}
    for _ in range(30):
        el.update([eg.copy() for eg in examples], sgd=optimizer, losses=losses)
    assert losses["entity_linker"] > 0
    doc = _doc(nlp.vocab, "Marlow baked bread . Marlow is a town .".split(), [(0, 1, "PER", ""), (4, 5, "GPE", "")],
               sent_starts=[1, 0, 0, 0, 1, 0, 0, 0, 0])
    assert [ent.kb_id_ for ent in el(doc).ents] == ["baker", "town"]


@pytest.mark.slow
def test_learns_litbank_el_above_the_prior_baseline(tmp_path, vectors_path):
    """On LitBank-EL's held-back (dev) sentences the trained linker beats choosing the candidate with
    the highest prior (the dataset README's baseline a), with the same KB, mentions and model."""
    from tests.conftest import CORPORA, require
    from tests.test_bad_input import invoke

    from archcli.language import load
    from archcli.training.corpus import create_docbin_reader

    data = require(CORPORA / "litbank_el")
    result, output = invoke(["init-kb", data / "kb_entities.jsonl", tmp_path / "kb", "--aliases",
                             data / "kb_aliases.jsonl", "--vectors", vectors_path])
    assert result.exit_code == 0, output
    result, output = invoke(["train", CONFIG, "--output", tmp_path / "out", "--paths.kb", tmp_path / "kb",
                             "--paths.train", data / "train.jsonl", "--paths.dev", data / "dev.jsonl",
                             "--training.max_steps", "1000", "--training.eval_frequency", "500"])
    assert result.exit_code == 0, output
    nlp = load(tmp_path / "out" / "model-last")
    el = nlp.get_pipe("entity_linker")
    dev = list(create_docbin_reader(data / "dev.jsonl")(nlp))
    trained = nlp.evaluate(dev)
    el.cfg["incl_context"] = False
    prior_only = nlp.evaluate(dev)
    # 307 dev mentions (2 nested ones are dropped); the prior-only figure is the README's 0.79.
    assert prior_only["nel_acc"] == pytest.approx(0.7948, abs=0.001)
    assert trained["nel_acc"] > prior_only["nel_acc"] and trained["nel_micro_f"] > prior_only["nel_micro_f"]


def test_batches_with_docs_without_mentions_train_through_a_listener(tmp_path):
    """A doc with no entity in the batch must not break the tok2vec listener's batch check."""
    extra = tmp_path / "train.jsonl"
    lines = (SAMPLES / "el_train.jsonl").read_text().splitlines()
    lines.insert(1, json.dumps({"text": "Nothing here is a name .", "entities": []}))
    extra.write_text("\n".join(lines) + "\n")
    out = _train(tmp_path, "--paths.train", str(extra), "--training.batcher.size.start", "2000")
    assert (out / "model-last").exists()
