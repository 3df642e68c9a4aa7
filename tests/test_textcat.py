"""Text classification: the spec's blocks, resizing, n-gram features, learning real data, save/load."""
import io

import numpy
import pytest
from thinc.api import NumpyOps, SparseLinear

from archcli import registry
from archcli.config import load_config
from archcli.errors import ArchcliError, ConfigError
from archcli.language import Pipeline, load
from archcli.ml.textcat import CompactSparseLinear, ngram_counts
from archcli.scoring import score_cats
from archcli.tokens import Doc, DocBin, Tokenizer, Vocab
from archcli.training.corpus import Corpus
from archcli.tokens.example import Example
from archcli.training.loop import train

from .conftest import CORPORA
from .spec_blocks import block_config, spec_blocks
from .util import REPO

CONFIGS = {name: REPO / "configs" / f"{name}.cfg" for name in
           ("textcat_bow", "textcat_cnn", "textcat_ensemble", "textcat_multilabel")}
TEXTCAT_ARCHS = ["spacy.TextCatEnsemble.v2", "spacy.TextCatCNN.v2", "spacy.TextCatBOW.v2"]


@pytest.fixture(scope="module")
def blocks(spec_text):
    return spec_blocks(spec_text)


@pytest.fixture
def docs(sample_docs):
    return sample_docs + [Tokenizer(sample_docs[0].vocab)("a b c d e f g a b c")]


def _slice(src, dest, n):
    with open(src, encoding="utf8") as file_:
        lines = [line for _, line in zip(range(n), file_)]
    dest.write_text("".join(lines), encoding="utf8")
    return dest


def _targets(n_docs, n_labels, rng):
    Y = numpy.zeros((n_docs, n_labels), dtype="f")
    Y[numpy.arange(n_docs), rng.integers(0, n_labels, n_docs)] = 1.0
    return Y


def _build(blocks, name, **overrides):
    config = block_config(blocks[name])
    for path, value in overrides.items():
        node = config["model"]
        *parents, key = path.split(".")
        for part in parents:
            node = node[part]
        node[key] = value
    return registry.resolve(config)["model"]


def _train_steps(model, docs, Y, steps=5):
    """A few plain SGD steps, so no weight is left at its initial zero."""
    from thinc.api import SGD

    sgd = SGD(0.5)
    for _ in range(steps):
        scores, backprop = model.begin_update(docs)
        backprop(scores - Y)
        model.finish_update(sgd)


# --- the spec's blocks --------------------------------------------------------------------------
def test_spec_has_textcat_blocks(blocks):
    for name in TEXTCAT_ARCHS:
        assert name in blocks, name


@pytest.mark.parametrize("name", TEXTCAT_ARCHS)
def test_spec_block_forward_backward(blocks, docs, name):
    model = _build(blocks, name)
    rng = numpy.random.default_rng(0)
    Y = _targets(len(docs), 4, rng)
    model.initialize(X=docs, Y=Y)
    scores, backprop = model.begin_update(docs)
    assert scores.shape == (len(docs), 4)
    assert numpy.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()
    if not model.attrs["multi_label"]:
        numpy.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    backprop(scores - Y)
    grads = [node.get_grad(p) for node in model.walk() for p in node.param_names if node.has_grad(p)]
    assert grads and any(numpy.abs(g).sum() > 0 for g in grads)


def test_ensemble_takes_exclusivity_from_linear_model(blocks, docs):
    exclusive = _build(blocks, "spacy.TextCatEnsemble.v2")
    multi = _build(blocks, "spacy.TextCatEnsemble.v2", **{"linear_model.exclusive_classes": False})
    assert exclusive.attrs["multi_label"] is False and multi.attrs["multi_label"] is True
    multi.initialize(X=docs, Y=_targets(len(docs), 3, numpy.random.default_rng(1)))
    assert not numpy.allclose(multi.predict(docs).sum(axis=1), 1.0)


def test_bow_no_output_layer_gives_raw_scores(blocks, docs):
    model = _build(blocks, "spacy.TextCatBOW.v2", no_output_layer=True, ngram_size=3)
    Y = _targets(len(docs), 3, numpy.random.default_rng(2))
    model.initialize(X=docs, Y=Y)
    _train_steps(model, docs, Y * 10)
    assert model.predict(docs).max() > 1.0  # no logistic/softmax squashing


@pytest.mark.parametrize("name,exclusive", [(n, e) for n in TEXTCAT_ARCHS for e in (True, False)])
def test_resizing_keeps_old_label_predictions(blocks, docs, name, exclusive):
    key = "linear_model.exclusive_classes" if "Ensemble" in name else "exclusive_classes"
    model = _build(blocks, name, **{key: exclusive})
    rng = numpy.random.default_rng(3)
    Y = _targets(len(docs), 3, rng)
    model.initialize(X=docs, Y=Y)
    _train_steps(model, docs, Y)
    before = model.predict(docs)
    model.attrs["resize_output"](model, 5)
    after = model.predict(docs)
    assert after.shape == (len(docs), 5)
    numpy.testing.assert_allclose(after[:, :3], before, rtol=1e-5, atol=1e-6)
    # The grown model still trains, on all five labels.
    Y5 = _targets(len(docs), 5, rng)
    _train_steps(model, docs, Y5, steps=2)
    assert numpy.isfinite(model.predict(docs)).all()


@pytest.mark.parametrize("config", [
    {"@architectures": "spacy.TextCatBOW.v1", "exclusive_classes": True, "ngram_size": 2, "no_output_layer": False},
    {"@architectures": "spacy.TextCatCNN.v1", "exclusive_classes": False,
     "tok2vec": {"@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 32, "depth": 1,
                 "embed_size": 500, "window_size": 1, "maxout_pieces": 3, "subword_features": True}},
    {"@architectures": "spacy.TextCatEnsemble.v1", "exclusive_classes": True, "pretrained_vectors": None,
     "width": 32, "embed_size": 500, "conv_depth": 1, "window_size": 1, "ngram_size": 2, "dropout": 0.0},
])
def test_v1_architectures_build_and_are_not_resizable(config, docs):
    model = registry.resolve({"model": config})["model"]
    Y = _targets(len(docs), 3, numpy.random.default_rng(4))
    model.initialize(X=docs, Y=Y)
    scores, backprop = model.begin_update(docs)
    assert scores.shape == (len(docs), 3)
    backprop(scores - Y)
    assert "resize_output" not in model.attrs
    assert model.attrs["multi_label"] is not config["exclusive_classes"]


# --- features ---------------------------------------------------------------------------------
def _reference_ngrams(docs, n_max):
    """spaCy's extract_ngrams, one doc at a time."""
    ops = NumpyOps()
    keys, vals, lengths = [], [], []
    for doc in docs:
        unigrams = doc.to_array(["ORTH"])[:, 0]
        grams = [unigrams] + [ops.ngrams(n, unigrams) for n in range(2, n_max + 1) if len(unigrams) >= n]
        k, v = numpy.unique(numpy.concatenate(grams), return_counts=True)
        keys.append(k)
        vals.append(v)
        lengths.append(len(k))
    return numpy.concatenate(keys), numpy.concatenate(vals).astype("f"), numpy.asarray(lengths, dtype="int32")


@pytest.mark.parametrize("n_max", [1, 2, 3])
def test_ngram_features_match_per_doc_extraction(docs, n_max):
    got = ngram_counts(docs, n_max)
    want = _reference_ngrams(docs, n_max)
    for g, w in zip(got, want):
        numpy.testing.assert_array_equal(g, w)


def test_compact_sparse_linear_matches_thinc(docs):
    X = ngram_counts(docs, 2)
    rng = numpy.random.default_rng(5)
    ours, theirs = CompactSparseLinear(nO=4), SparseLinear(nO=4)
    ours.initialize()
    theirs.initialize()
    W = rng.normal(size=ours.get_param("W").shape).astype("f")
    full = theirs.get_param("W")
    full[: W.shape[0]] = W
    ours.set_param("W", W)
    theirs.set_param("W", full)
    Y1, bp1 = ours.begin_update(X)
    Y2, bp2 = theirs.begin_update(X)
    numpy.testing.assert_allclose(Y1, Y2, rtol=1e-5, atol=1e-5)
    dY = rng.normal(size=Y1.shape).astype("f")
    bp1(dY)
    bp2(dY)
    numpy.testing.assert_allclose(ours.get_grad("W"), theirs.get_grad("W")[: W.shape[0]], atol=1e-5)
    assert not theirs.get_grad("W")[W.shape[0]:].any()  # thinc's extra weights are never read


# --- scoring ------------------------------------------------------------------------------------
def _cats_examples(vocab, pairs):
    out = []
    for pred, gold in pairs:
        doc = Doc(vocab, ["x"])
        ref = doc.copy()
        ref.cats = dict(gold)
        doc.cats = dict(pred)
        out.append(Example(doc, ref))
    return out


def test_score_cats_exclusive_and_multilabel(vocab):
    examples = _cats_examples(vocab, [
        ({"A": 0.7, "B": 0.3}, {"A": 1.0, "B": 0.0}),
        ({"A": 0.6, "B": 0.4}, {"A": 0.0, "B": 1.0}),
        ({"A": 0.2, "B": 0.8}, {"A": 0.0, "B": 1.0}),
        ({"A": 0.9, "B": 0.1}, {"A": 1.0, "B": 0.0}),
    ])
    exclusive = score_cats(examples, labels=["A", "B"], multi_label=False)
    # A: tp 2, fp 1 -> p 2/3, r 1; B: tp 1, fn 1 -> p 1, r 1/2.
    assert exclusive["cats_f_per_type"]["A"]["p"] == pytest.approx(2 / 3)
    assert exclusive["cats_f_per_type"]["B"]["r"] == pytest.approx(0.5)
    assert exclusive["cats_score"] == exclusive["cats_macro_f"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert exclusive["cats_micro_f"] == pytest.approx(0.75)
    assert exclusive["cats_auc_per_type"]["A"] == pytest.approx(1.0)
    binary = score_cats(examples, labels=["A", "B"], multi_label=False, positive_label="B")
    assert binary["cats_score"] == pytest.approx(2 / 3) and binary["cats_score_desc"] == "F (B)"
    multi = score_cats(examples, labels=["A", "B"], multi_label=True)
    assert multi["cats_score_desc"] == "macro AUC" and multi["cats_score"] == pytest.approx(1.0)
    # Ties count half: scores [0.5, 0.5] for one positive and one negative give AUC 0.5.
    tied = score_cats(_cats_examples(vocab, [({"A": 0.5}, {"A": 1.0}), ({"A": 0.5}, {"A": 0.0})]),
                      labels=["A"], multi_label=True)
    assert tied["cats_auc_per_type"]["A"] == pytest.approx(0.5)
    # A label the gold leaves out is missing in multi-label scoring, not a negative.
    missing = score_cats(_cats_examples(vocab, [({"A": 0.9, "B": 0.9}, {"A": 1.0})]), labels=["A", "B"])
    assert missing["cats_f_per_type"]["B"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert missing["cats_micro_p"] == 1.0


# --- components on real data ------------------------------------------------------------------
def _train(config_name, train_path, dev_path, steps, **overrides):
    values = {"paths.train": str(train_path), "paths.dev": str(dev_path), "training.max_steps": steps,
              "training.eval_frequency": steps}
    values.update(overrides)
    return train(load_config(CONFIGS[config_name], overrides=values), stdout=io.StringIO())


def _dev_scores(nlp, path):
    return nlp.evaluate(list(Corpus(path)(nlp)))


def test_bow_learns_sst2(tmp_path):
    train_path = _slice(CORPORA / "sst2" / "train.jsonl", tmp_path / "train.jsonl", 1500)
    dev_path = _slice(CORPORA / "sst2" / "dev.jsonl", tmp_path / "dev.jsonl", 300)
    nlp = _train("textcat_bow", train_path, dev_path, 300)
    scores = _dev_scores(nlp, dev_path)
    assert scores["cats_score_desc"] == "macro F"
    assert scores["cats_score"] > 0.62, scores["cats_f_per_type"]  # two balanced classes: chance is 0.5


@pytest.mark.slow
@pytest.mark.parametrize("config_name", ["textcat_cnn", "textcat_ensemble"])
def test_neural_textcats_learn_trec(tmp_path, config_name):
    train_path = _slice(CORPORA / "trec" / "train.jsonl", tmp_path / "train.jsonl", 1500)
    dev_path = _slice(CORPORA / "trec" / "dev.jsonl", tmp_path / "dev.jsonl", 300)
    nlp = _train(config_name, train_path, dev_path, 200)
    scores = _dev_scores(nlp, dev_path)
    # Exclusive classes: one gold and one predicted label per doc, so micro F is accuracy.
    assert scores["cats_micro_f"] > 0.55, scores["cats_f_per_type"]  # six classes: the majority class is ~22%
    assert scores["cats_macro_auc"] > 0.85


@pytest.mark.slow
def test_multilabel_learns_trec_coarse_and_fine(tmp_path):
    train_path = _slice(CORPORA / "trec_multilabel" / "train.jsonl", tmp_path / "train.jsonl", 1500)
    dev_path = _slice(CORPORA / "trec_multilabel" / "dev.jsonl", tmp_path / "dev.jsonl", 300)
    nlp = _train("textcat_multilabel", train_path, dev_path, 300)
    scores = _dev_scores(nlp, dev_path)
    assert scores["cats_score_desc"] == "macro AUC"
    aucs = [v for v in scores["cats_auc_per_type"].values() if v is not None]
    assert numpy.mean(aucs) > 0.65 and scores["cats_micro_f"] > 0.5, scores["cats_micro_f"]
    doc = nlp("What is the capital city of France ?")
    assert len(doc.cats) == 56 and sum(v >= 0.5 for v in doc.cats.values()) >= 1


def test_save_load_round_trip_and_add_label(tmp_path):
    train_path, dev_path = REPO / "corpus_samples/textcat/train.jsonl", REPO / "corpus_samples/textcat/dev.jsonl"
    for name in ("textcat_bow", "textcat_ensemble"):
        nlp = _train(name, train_path, dev_path, 20)
        nlp.to_disk(tmp_path / name)
        loaded = load(tmp_path / name)
        texts = ["The soup was lovely .", "A dull and noisy evening .", ""]
        for a, b in zip(nlp.pipe(texts), loaded.pipe(texts)):
            assert a.cats.keys() == b.cats.keys()
            numpy.testing.assert_allclose(list(a.cats.values()), list(b.cats.values()), rtol=1e-5, atol=1e-6)
        # A new label on the trained, reloaded v2 model leaves the old labels' scores alone.
        textcat = loaded.get_pipe("textcat")
        before = [dict(d.cats) for d in loaded.pipe(texts[:2])]
        assert textcat.add_label("MIXED") == 1 and textcat.add_label("MIXED") == 0
        after = [d.cats for d in loaded.pipe([loaded.make_doc(t) for t in texts[:2]])]
        for old, new in zip(before, after):
            assert set(new) == set(old) | {"MIXED"}
            for label, value in old.items():
                assert new[label] == pytest.approx(value, abs=1e-6)
        loaded.to_disk(tmp_path / f"{name}-resized")
        assert load(tmp_path / f"{name}-resized").get_pipe("textcat").labels[-1] == "MIXED"


def test_v1_model_refuses_new_labels_after_training(tmp_path):
    train_path, dev_path = REPO / "corpus_samples/textcat/train.jsonl", REPO / "corpus_samples/textcat/dev.jsonl"
    nlp = _train("textcat_bow", train_path, dev_path, 5, **{"components.textcat.model.@architectures": "spacy.TextCatBOW.v1"})
    with pytest.raises(ArchcliError, match="not resizable"):
        nlp.get_pipe("textcat").add_label("MIXED")


def test_docbin_cats_train_like_jsonl(tmp_path):
    vocab = Vocab()
    nlp = Pipeline(vocab)
    doc_bin = DocBin()
    for eg in Corpus(REPO / "corpus_samples/textcat/train.jsonl")(nlp):
        doc_bin.add(eg.reference)
    doc_bin.to_disk(tmp_path / "train.spacy")
    docs = list(DocBin().from_disk(tmp_path / "train.spacy").get_docs(Vocab()))
    assert docs[0].cats and set(docs[0].cats) == {"POSITIVE", "NEGATIVE"}
    nlp = _train("textcat_bow", tmp_path / "train.spacy", REPO / "corpus_samples/textcat/dev.jsonl", 10)
    assert nlp.get_pipe("textcat").labels == tuple(docs[0].cats)


# --- init-config ------------------------------------------------------------------------------
@pytest.mark.parametrize("optimize,arch", [("efficiency", "spacy.TextCatBOW.v2"), ("accuracy", "spacy.TextCatEnsemble.v2")])
def test_init_config_textcat(tmp_path, optimize, arch):
    from archcli.init_config import init_config

    config = init_config(["textcat"], optimize=optimize)
    assert config["components"]["textcat"]["model"]["@architectures"] == arch
    assert ("tok2vec" in config["nlp"]["pipeline"]) is False
    path = tmp_path / "textcat.cfg"
    config.to_disk(path)
    nlp = train(load_config(path, overrides={
        "paths.train": str(REPO / "corpus_samples/textcat/train.jsonl"),
        "paths.dev": str(REPO / "corpus_samples/textcat/dev.jsonl"),
        "training.max_steps": 4, "training.eval_frequency": 2}), stdout=io.StringIO())
    assert nlp("A fine day .").cats.keys() == {"POSITIVE", "NEGATIVE"}
    shared = init_config(["tok2vec", "textcat_multilabel"], optimize=optimize)
    model = shared["components"]["textcat_multilabel"]["model"]
    if optimize == "accuracy":
        assert model["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"
        assert model["linear_model"]["exclusive_classes"] is False
    else:
        assert model["exclusive_classes"] is False


def test_factory_refuses_model_with_other_exclusivity():
    config = load_config(CONFIGS["textcat_ensemble"], overrides={
        "components.textcat.model.linear_model.exclusive_classes": False})
    with pytest.raises(ConfigError, match="exclusive_classes") as err:
        Pipeline.from_config(config)
    assert err.value.where == "components.textcat.model.linear_model.exclusive_classes"
