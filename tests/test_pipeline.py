"""Components wired through listeners, trained on real UD English data, saved and reloaded."""
import numpy
import pytest

from archcli.language import Pipeline, load
from archcli.training.corpus import Corpus
from archcli.training.loop import train

from .util import tagger_config, write_conllu_slice


@pytest.fixture(scope="module")
def ud_slice(ud_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ud")
    train_path = write_conllu_slice(ud_dir / "train.conllu", tmp / "train.conllu", 0, 1500)
    dev_path = write_conllu_slice(ud_dir / "dev.conllu", tmp / "dev.conllu", 0, 300)
    return train_path, dev_path


def _params(model):
    return {(node.id, name): node.get_param(name).copy() for node in model.walk()
            for name in node.param_names if node.has_param(name)}


def test_listener_gradients_reach_tok2vec(ud_slice):
    config = tagger_config(*ud_slice)
    nlp = Pipeline.from_config(config)
    tok2vec = nlp.get_pipe("tok2vec")
    assert [l.upstream_name for l in tok2vec.listeners] == ["*"]
    examples = list(Corpus(ud_slice[0], limit=8)(nlp))
    optimizer = nlp.initialize(lambda: examples)
    # The softmax starts at zero, so the first step sends no gradient upstream; the second does.
    nlp.update(examples, sgd=optimizer)
    before = _params(tok2vec.model)
    losses = nlp.update(examples, sgd=optimizer)
    after = _params(tok2vec.model)
    assert losses["tagger"] > 0 and losses["tok2vec"] > 0
    changed = [key for key in before if not numpy.array_equal(before[key], after[key])]
    assert len(changed) >= len(before) // 2


def test_frozen_tok2vec_is_not_updated(ud_slice):
    config = tagger_config(*ud_slice)
    nlp = Pipeline.from_config(config)
    examples = list(Corpus(ud_slice[0], limit=8)(nlp))
    optimizer = nlp.initialize(lambda: examples)
    tok2vec = nlp.get_pipe("tok2vec")
    before = _params(tok2vec.model)
    for _ in range(2):
        nlp.update(examples, sgd=optimizer, exclude=["tok2vec"], annotates=["tok2vec"])
    after = _params(tok2vec.model)
    assert all(numpy.array_equal(before[k], after[k]) for k in before)


@pytest.fixture(scope="module")
def trained(ud_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    config = tagger_config(*ud_slice, **{"training.max_steps": 300, "training.eval_frequency": 100})
    nlp = train(config, out)
    return nlp, out


@pytest.mark.slow
def test_tagger_learns_real_data(trained, ud_dir, tmp_path):
    nlp, out = trained
    # Held-back sentences: a later stretch of dev, never seen in training or model selection.
    held_out = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "held.conllu", 1000, 300)
    reloaded = load(out / "model-best")
    scores = reloaded.evaluate(list(Corpus(held_out)(reloaded)))
    # The most frequent tag (NN) alone is ~13% of tokens; the tagger must be far above that.
    assert scores["tag_acc"] > 0.80, scores["tag_acc"]
    assert scores["token_acc"] == 1.0
    assert "NN" in scores["tag_per_type"] and scores["speed"] > 0
    log_lines = (out / "training_log.jsonl").read_text().splitlines()
    assert len(log_lines) == 4  # steps 0, 100, 200, 300


@pytest.mark.slow
def test_save_load_round_trip_gives_identical_predictions(trained, ud_slice):
    nlp, out = trained
    loaded = load(out / "model-last")
    texts = ["The committee approved the plan on Tuesday.", "Where did you put my keys?"]
    first = [(d.words, [t.tag_ for t in d]) for d in nlp.pipe(texts)]
    second = [(d.words, [t.tag_ for t in d]) for d in loaded.pipe(texts)]
    assert first == second
    tok2vec_a = nlp.get_pipe("tok2vec").model.predict([nlp.make_doc(texts[0])])
    tok2vec_b = loaded.get_pipe("tok2vec").model.predict([loaded.make_doc(texts[0])])
    numpy.testing.assert_array_equal(tok2vec_a[0], tok2vec_b[0])
    # The tagger's scores, not only its argmax, survive the round trip.
    scores_a = nlp.get_pipe("tagger").model.predict([nlp.make_doc(texts[0])])[0]
    scores_b = loaded.get_pipe("tagger").model.predict([loaded.make_doc(texts[0])])[0]
    assert scores_a.shape == (8, len(nlp.get_pipe("tagger").labels))
    numpy.testing.assert_array_equal(scores_a, scores_b)


@pytest.mark.slow
def test_interrupted_save_leaves_previous_model(trained, tmp_path, monkeypatch):
    nlp, out = trained
    target = tmp_path / "model-best"
    nlp.to_disk(target)
    good = (target / "tagger" / "model").read_bytes()

    def explode(self, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(nlp.get_pipe("tagger")), "to_disk", explode)
    with pytest.raises(KeyboardInterrupt):
        nlp.to_disk(target)
    assert (target / "tagger" / "model").read_bytes() == good
    assert load(target).pipe_names == ["tok2vec", "tagger"]


def test_listener_batch_mismatch_names_the_real_upstream():
    """upstream = "*" in the config; the message names the component that fed the listener."""
    from archcli.errors import ArchcliError
    from archcli.ml.listener import Tok2VecListener
    from archcli.tokens import Doc, Vocab

    vocab = Vocab()
    listener = Tok2VecListener("*", width=4)
    listener.upstream_component = "tok2vec"
    listener.receive(Tok2VecListener.get_batch_id([Doc(vocab, ["a", "b"])]), [], lambda d: d)
    with pytest.raises(ArchcliError, match="component 'tok2vec' processed"):
        listener.verify_inputs([Doc(vocab, ["other", "words", "here"])])
