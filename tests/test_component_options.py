"""Component and batcher options: each one works as in spaCy, or a non-default value is refused
naming its key (none is accepted and dropped)."""
import json

import numpy
import pytest
from thinc.api import Config

from archcli.config import load_config
from archcli.errors import ArchcliError, ConfigError
from archcli.language import Pipeline
from archcli import registry
from archcli.tokens import Doc, Vocab
from archcli.tokens.example import Example
from archcli.training.batchers import minibatch_by_padded_size
from archcli.training.conllu import read_conllu

from .util import REPO

SAMPLE = REPO / "corpus_samples" / "conllu" / "train.conllu"
TAGGER_CFG = REPO / "configs" / "tagger.cfg"
PARSER_CFG = REPO / "configs" / "tagger_parser.cfg"
NER_CFG = REPO / "configs" / "ner.cfg"


def _pipeline(text: str) -> Pipeline:
    return Pipeline.from_config(Config().from_str(text))


def _one_component(factory: str, settings: str = "", name: str = "c") -> str:
    return f"""
[nlp]
lang = "en"
pipeline = ["{name}"]

[components]

[components.{name}]
factory = "{factory}"
{settings}
"""


def _examples(vocab: Vocab, limit: int = 20):
    return [Example.from_gold(doc) for doc, _ in read_conllu(SAMPLE, vocab, limit=limit)]


# --- parser / ner -------------------------------------------------------------------------------
def test_parser_labels_and_meta_hide_projectivisation_labels(tmp_path):
    nlp = _pipeline(_one_component("parser", "min_action_freq = 1", name="parser"))
    examples = _examples(nlp.vocab, limit=60)
    nlp.initialize(lambda: examples)
    parser = nlp.get_pipe("parser")
    assert any("||" in label for label in parser.cfg["labels"]), "the sample should need lifted arcs"
    assert parser.labels and not any("||" in label for label in parser.labels)
    gold = {label for eg in examples for label in eg.reference.get_strings("dep")} - {"", "ROOT"}
    assert set(parser.labels) <= gold | {"dep"}
    nlp.to_disk(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["labels"]["parser"] == list(parser.labels)


@pytest.mark.parametrize("factory,key,value", [
    ("parser", "moves", '["L-nsubj"]'),
    ("parser", "learn_tokens", "true"),
    ("ner", "moves", '["B-PER"]'),
    ("ner", "incorrect_spans_key", '"incorrect"'),
])
def test_unsupported_transition_options_are_refused(factory, key, value):
    with pytest.raises(ConfigError, match=f"components.c.{key}"):
        _pipeline(_one_component(factory, f"{key} = {value}"))


def test_transition_option_defaults_build():
    for factory in ("parser", "ner"):
        assert list(_pipeline(_one_component(factory)).get_pipe("c").labels) == []


# --- tagger -------------------------------------------------------------------------------------
def _tagger(settings: str = "") -> Pipeline:
    return _pipeline(_one_component("tagger", settings, name="tagger"))


def _tagged_doc(vocab: Vocab, words, tags) -> Doc:
    doc = Doc(vocab, words=words)
    doc.tag[:] = [vocab.strings.add(t) for t in tags]
    return doc


def test_tagger_neg_prefix_is_negative_evidence():
    nlp = _tagger()
    vocab = nlp.vocab
    train = [Example.from_gold(_tagged_doc(vocab, ["a", "b", "c"], ["X", "Y", "Z"])),
             Example.from_gold(_tagged_doc(vocab, ["a", "b", "c"], ["!X", "", "Y"]))]
    tagger = nlp.get_pipe("tagger")
    nlp.initialize(lambda: train)
    assert tagger.labels == ("X", "Y", "Z"), "a negative tag is evidence about X, not a label"
    x, y = tagger.labels.index("X"), tagger.labels.index("Y")
    scores = [numpy.full((3, 3), 1 / 3, dtype="f")]
    _, (d_scores,) = tagger.get_loss([train[1]], scores)
    # "!X": only X's score is pushed, towards 0; a missing tag is ignored; "Y" is a normal target.
    numpy.testing.assert_allclose(d_scores[0], [1 / 3 if i == x else 0.0 for i in range(3)], rtol=1e-6)
    assert not d_scores[1].any()
    assert d_scores[2, y] == pytest.approx(1 / 3 - 1)


def test_tagger_without_neg_prefix_treats_bang_tags_as_labels():
    nlp = _tagger('neg_prefix = ""')
    vocab = nlp.vocab
    train = [Example.from_gold(_tagged_doc(vocab, ["a", "b"], ["X", "!X"]))]
    nlp.initialize(lambda: train)
    assert list(nlp.get_pipe("tagger").labels) == ["!X", "X"]


def test_tagger_nO_smaller_than_tag_count_names_the_key():
    nlp = _tagger("[components.tagger.model]\nnO = 3")
    examples = _examples(nlp.vocab)
    with pytest.raises(ConfigError, match=r"components\.tagger\.model\.nO.*nO = 3"):
        nlp.initialize(lambda: examples)


@pytest.mark.parametrize("factory", ["tagger", "textcat", "textcat_multilabel", "spancat"])
def test_set_labels_rebuilds_once(factory, monkeypatch):
    # set_labels called _labels_changed after every label: quadratic in the label count (review item 18).
    proc = _pipeline(_one_component(factory)).get_pipe("c")
    calls = []
    original = type(proc)._labels_changed
    monkeypatch.setattr(type(proc), "_labels_changed", lambda self: calls.append(1) or original(self))
    proc.set_labels([f"L{i}" for i in range(50)])
    assert len(calls) == 1 and len(proc.labels) == 50
    assert proc.add_label("NEW") == 1 and proc.add_label("NEW") == 0 and len(calls) == 2
    with pytest.raises(ArchcliError, match="labels must be non-empty strings"):
        proc.set_labels(["A", ""])


# --- listeners ----------------------------------------------------------------------------------
@pytest.mark.parametrize("upstream,problem", [("nosuch", "no component 'nosuch'"),
                                              ("tagger", "no component 'tagger' before")])
def test_listener_with_no_upstream_is_refused(upstream, problem):
    config = load_config(TAGGER_CFG, overrides={"components.tagger.model.tok2vec.upstream": upstream})
    with pytest.raises(ConfigError, match="components.tagger.model.tok2vec.upstream") as err:
        Pipeline.from_config(config)
    assert problem in str(err.value)


def test_listener_naming_a_non_tok2vec_is_refused():
    config = load_config(PARSER_CFG, overrides={"components.parser.model.tok2vec.upstream": "tagger"})
    with pytest.raises(ConfigError, match="components.parser.model.tok2vec.upstream.*not a tok2vec"):
        Pipeline.from_config(config)


def test_listener_without_any_tok2vec_is_refused():
    config = load_config(TAGGER_CFG)
    config["nlp"]["pipeline"] = ["tagger"]
    with pytest.raises(ConfigError, match="components.tagger.model.tok2vec.upstream.*no tok2vec"):
        Pipeline.from_config(config)


@pytest.mark.parametrize("upstream", ["*", "tok2vec"])
def test_listener_upstream_star_or_name_links(upstream):
    config = load_config(PARSER_CFG, overrides={"components.parser.model.tok2vec.upstream": upstream})
    nlp = Pipeline.from_config(config)
    assert set(nlp.get_pipe("tok2vec").listener_map) == {"tagger", "parser"}


def _layers_listener(config, upstream: str = "*"):
    # The listener is registered as a layer too; `@layers` must be found as `@architectures` is.
    block = config["components"]["tagger"]["model"]["tok2vec"]
    config["components"]["tagger"]["model"]["tok2vec"] = {"@layers": block.pop("@architectures"), **block,
                                                          "upstream": upstream}
    return config


def test_layers_listener_with_no_upstream_names_the_key():
    # The two listener walkers disagreed; one shared walker finds the same blocks (review item 17).
    config = _layers_listener(load_config(TAGGER_CFG), "nosuch")
    with pytest.raises(ConfigError) as err:
        Pipeline.from_config(config)
    assert str(err.value).startswith("components.tagger.model.tok2vec.upstream")


def test_excluding_the_tok2vec_of_a_layers_listener_is_refused():
    config = _layers_listener(load_config(TAGGER_CFG))
    assert Pipeline.from_config(config).get_pipe("tok2vec").listener_map.keys() == {"tagger"}
    with pytest.raises(ArchcliError, match="'tagger' listens to the tok2vec 'tok2vec'.*model.tok2vec.upstream"):
        Pipeline.from_config(config, exclude=["tok2vec"])


# --- batchers -----------------------------------------------------------------------------------
def _batcher(block: str):
    return registry.resolve(Config().from_str("[b]\n" + block))["b"]


def test_batch_by_sequence_refuses_get_length():
    with pytest.raises(ConfigError, match="get_length"):
        _batcher('@batchers = "spacy.batch_by_sequence.v1"\nsize = 2\nget_length = {"@misc": "archcli.test_len.v1"}')


@pytest.mark.parametrize("batcher,key", [
    ({"@batchers": "spacy.batch_by_sequence.v1", "size": 2, "get_length": {"@misc": "archcli.test_len.v1"}},
     "training.batcher.get_length"),
    ({"@batchers": "spacy.batch_by_padded.v1", "size": 10, "buffer": 0}, "training.batcher.buffer"),
])
def test_batcher_refusals_name_the_full_config_key(batcher, key):
    from archcli.training.loop import resolve_training

    config = load_config(TAGGER_CFG)
    config["training"]["batcher"] = batcher
    with pytest.raises(ConfigError) as err:
        resolve_training(config)
    assert str(err.value).startswith(key + ":"), str(err.value)


@registry.misc("archcli.test_len.v1")
def _double_len():
    return lambda item: 2 * len(item)


def test_batch_by_words_uses_get_length():
    items = [[0] * 3 for _ in range(4)]
    plain = list(_batcher('@batchers = "spacy.batch_by_words.v1"\nsize = 6\ntolerance = 0.0')(items))
    doubled = list(_batcher('@batchers = "spacy.batch_by_words.v1"\nsize = 6\ntolerance = 0.0\n'
                            'get_length = {"@misc": "archcli.test_len.v1"}')(items))
    assert [len(b) for b in plain] == [2, 2] and [len(b) for b in doubled] == [1, 1, 1, 1]


def test_batch_by_padded_groups_by_length_within_padded_size():
    items = [[0] * n for n in (5, 1, 1, 5, 2, 9)]
    batches = list(minibatch_by_padded_size(items, size=10, buffer=6))
    assert sorted(map(len, sum(batches, []))) == sorted(map(len, items))
    for batch in batches:
        assert len(batch) == 1 or max(map(len, batch)) * len(batch) <= 10
    assert [len(b) for b in batches] == [1, 2, 3]
    assert [items[5]] in list(minibatch_by_padded_size(items, size=8, buffer=6))
    assert [items[5]] not in list(minibatch_by_padded_size(items, size=8, buffer=6, discard_oversize=True))
    doubled = list(minibatch_by_padded_size(items, size=10, buffer=6, get_length=lambda x: 2 * len(x)))
    assert len(doubled) > len(batches)
    resolved = _batcher('@batchers = "spacy.batch_by_padded.v1"\nsize = 10\nbuffer = 6')
    assert list(resolved(items)) == batches
