"""Every Tok2Vec/Tagger architecture of the spec, built from the spec's own example block."""
import numpy
import pytest
from thinc.api import Config, Ragged, fix_random_seed

from archcli import registry
from archcli.tokens.vectors import read_word2vec_text

from .spec_blocks import block_config, spec_blocks


@pytest.fixture(scope="module")
def blocks(spec_text):
    return spec_blocks(spec_text)


@pytest.fixture(scope="module")
def real_vectors(vectors_path):
    from archcli.tokens import Vocab

    vocab = Vocab()
    return read_word2vec_text(vectors_path, vocab.strings)


def _docs_with_vectors(sample_docs, real_vectors):
    sample_docs[0].vocab.set_vectors(real_vectors)
    return sample_docs


def _build(config: Config):
    return registry.resolve(config)["model"]


def _param_grads(model):
    """{(layer, param): (value, gradient)} for every parameter backprop gave a gradient,
    including those of a wrapped PyTorch module (kept by the shim, not by thinc)."""
    grads = {(f"{node.name}#{node.id}", name): (node.get_param(name), node.get_grad(name))
             for node in model.walk() for name in node.param_names if node.has_grad(name)}
    for node in model.walk():
        for shim in node.shims:
            module = getattr(shim, "_model", None)
            for name, param in (module.named_parameters() if hasattr(module, "named_parameters") else []):
                if param.grad is not None:
                    grads[(f"{node.name}#{node.id}", name)] = (param.detach().numpy(), param.grad.numpy())
    return grads


def _check_grads(model, min_nonzero=1.0):
    """Backprop reached the parameters: right shapes, finite, and (most of them) non-zero."""
    grads = _param_grads(model)
    assert grads, "backprop left no gradient on any parameter"
    for key, (value, grad) in grads.items():
        assert grad.shape == value.shape, key
        assert numpy.isfinite(grad).all(), key
    nonzero = [key for key, (_, grad) in grads.items() if numpy.abs(grad).sum() > 0]
    assert len(nonzero) >= min_nonzero * len(grads), sorted(set(grads) - set(nonzero))
    return grads


def _check_list_output(model, docs, width):
    Y, backprop = model.begin_update(docs)
    assert len(Y) == len(docs)
    for y, doc in zip(Y, docs):
        assert y.shape == (len(doc), width)
        assert numpy.isfinite(y).all()
    backprop([y * 0 + 1 for y in Y])
    return Y, _check_grads(model)


def test_spec_has_all_issue_blocks(blocks):
    for name in ["spacy.Tok2Vec.v2", "spacy.HashEmbedCNN.v2", "spacy.Tok2VecListener.v1", "spacy.MultiHashEmbed.v2",
                 "spacy.CharacterEmbed.v2", "spacy.MaxoutWindowEncoder.v2", "spacy.MishWindowEncoder.v2",
                 "spacy.TorchBiLSTMEncoder.v1", "spacy.StaticVectors.v2", "spacy.FeatureExtractor.v1", "spacy.Tagger.v2"]:
        assert name in blocks, name


def test_hash_embed_cnn(blocks, sample_docs):
    model = _build(block_config(blocks["spacy.HashEmbedCNN.v2"]))
    model.initialize(X=sample_docs)
    _check_list_output(model, sample_docs, 96)
    # HashEmbedCNN is Tok2Vec(MultiHashEmbed, MaxoutWindowEncoder): the spec's widths reach both.
    assert model.get_ref("embed").get_dim("nO") == 96 and model.get_ref("encode").get_dim("nO") == 96


def test_tok2vec_with_character_embed_and_maxout(blocks, sample_docs):
    config = block_config(blocks["spacy.Tok2Vec.v2"])
    config["model"]["embed"].update(block_config(blocks["spacy.CharacterEmbed.v2"])["model"])
    config["model"]["encode"].update(block_config(blocks["spacy.MaxoutWindowEncoder.v2"])["model"])
    model = _build(config)
    model.initialize(X=sample_docs)
    _check_list_output(model, sample_docs, 128)


def test_character_embed_as_written_has_static_vectors_off(blocks, sample_docs):
    # spaCy has no default for include_static_vectors; the spec block omits it and must resolve.
    model = _build(block_config(blocks["spacy.CharacterEmbed.v2"]))
    model.initialize(X=sample_docs)
    _check_list_output(model, sample_docs, 128)


def test_multi_hash_embed_with_static_vectors(blocks, sample_docs, real_vectors):
    docs = _docs_with_vectors(sample_docs, real_vectors)
    model = _build(block_config(blocks["spacy.MultiHashEmbed.v2"]))
    model.initialize(X=docs)
    _check_list_output(model, docs, 64)


@pytest.mark.parametrize("name,width", [("spacy.MaxoutWindowEncoder.v2", 128), ("spacy.MishWindowEncoder.v2", 64),
                                        ("spacy.TorchBiLSTMEncoder.v1", 64)])
def test_encoders(blocks, name, width):
    fix_random_seed(0)
    model = _build(block_config(blocks[name]))
    rng = numpy.random.default_rng(0)
    X = [rng.normal(size=(n, width)).astype("float32") for n in (5, 1, 9)]
    model.initialize(X=X)
    Y, backprop = model.begin_update(X)
    assert [y.shape for y in Y] == [x.shape for x in X]
    R = [rng.normal(size=y.shape).astype("float32") for y in Y]  # loss = sum(Y * R)
    dX = backprop(R)
    assert [d.shape for d in dX] == [x.shape for x in X]
    assert all(numpy.isfinite(d).all() and numpy.abs(d).sum() > 0 for d in dX)
    _check_grads(model, min_nonzero=0.9)
    # Finite differences on a few inputs: the analytic gradient is the loss's slope.
    def loss(X_):
        return sum(float((numpy.asarray(y, dtype="float64") * r).sum()) for y, r in zip(model.predict(X_), R))

    # Two step sizes: a small one can drown in float32 rounding of the summed loss (how much
    # depends on the gemm backend), a large one can cross a maxout kink; a correct gradient
    # matches at least one of them at every point.
    def slope(doc_i, row, col, eps):
        plus = [x.copy() for x in X]
        minus = [x.copy() for x in X]
        plus[doc_i][row, col] += eps
        minus[doc_i][row, col] -= eps
        return (loss(plus) - loss(minus)) / (2 * eps)

    for doc_i, row, col in [(0, 0, 0), (0, 4, 7), (2, 3, 1), (2, 8, width - 1)]:
        analytic = float(dX[doc_i][row, col])
        numeric = [slope(doc_i, row, col, eps) for eps in (1e-3, 1e-2)]
        assert any(n == pytest.approx(analytic, rel=0.05, abs=0.02) for n in numeric), (doc_i, row, col, numeric)


def test_encoder_window_does_not_cross_docs(blocks):
    # Padding by the receptive field: a doc's output is the same alone or in a batch.
    model = _build(block_config(blocks["spacy.MaxoutWindowEncoder.v2"]))
    rng = numpy.random.default_rng(1)
    X = [rng.normal(size=(n, 128)).astype("float32") for n in (4, 6)]
    model.initialize(X=X)
    together = model.predict(X)
    alone = model.predict([X[1]])
    numpy.testing.assert_allclose(together[1], alone[0], rtol=1e-4, atol=1e-5)


def test_static_vectors_block(blocks, sample_docs, real_vectors):
    docs = _docs_with_vectors(sample_docs, real_vectors)
    model = _build(block_config(blocks["spacy.StaticVectors.v2"]))
    lengths = [len(d) for d in docs]
    model.initialize(X=docs, Y=Ragged(numpy.zeros((sum(lengths), 32), dtype="f"), numpy.asarray(lengths, dtype="i")))
    Y, backprop = model.begin_update(docs)
    assert Y.data.shape == (sum(lengths), 32)
    assert model.get_dim("nM") == 100
    # Unknown words map to zero rows.
    from archcli.tokens import Doc

    unk = Doc(docs[0].vocab, ["qwzxv-not-a-word"])
    assert not model.predict([unk]).data.any()
    backprop(Y)
    assert model.get_grad("W").shape == (32, 100)


def test_static_vectors_without_table_is_a_clear_error(blocks, sample_docs):
    from archcli.errors import ArchcliError

    model = _build(block_config(blocks["spacy.StaticVectors.v2"]))
    with pytest.raises(ArchcliError, match="vectors"):
        model.initialize(X=sample_docs)


def test_feature_extractor(blocks, sample_docs):
    model = _build(block_config(blocks["spacy.FeatureExtractor.v1"]))
    features = model.predict(sample_docs)
    assert [f.shape for f in features] == [(len(d), 5) for d in sample_docs]
    doc = sample_docs[0]
    assert features[0].dtype == numpy.uint64
    assert (features[0] == doc.to_array(["NORM", "PREFIX", "SUFFIX", "SHAPE", "ORTH"])).all()


def test_tagger_block_with_normalize(blocks, sample_docs):
    config = block_config(blocks["spacy.Tagger.v2"])
    config["model"]["tok2vec"] = block_config(blocks["spacy.HashEmbedCNN.v2"])["model"]
    config["model"]["normalize"] = True
    model = _build(config)
    model.initialize(X=sample_docs, Y=[numpy.zeros((len(d), 7), dtype="f") for d in sample_docs])
    scores = model.predict(sample_docs)
    assert [s.shape for s in scores] == [(len(d), 7) for d in sample_docs]
    for s in scores:
        if len(s):
            numpy.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-5)


def test_spec_layers_also_resolve_as_layers():
    # spaCy registers these as @layers; the spec writes @architectures: both work here.
    for name in ["spacy.StaticVectors.v2", "spacy.FeatureExtractor.v1"]:
        assert registry.has("layers", name) and registry.has("architectures", name)


def test_listener_spec_block_builds_a_pipeline(blocks, ud_dir):
    """The spec's listener example (tok2vec width 342, defaults filled from the factory) trains."""
    from archcli.language import Pipeline
    from archcli.training.corpus import Corpus

    # The spec shows the component blocks only; confection wants their parent section declared.
    text = "[components]\n" + blocks["spacy.Tok2VecListener.v1"] + '\n[nlp]\nlang = "en"\npipeline = ["tok2vec","tagger"]\n'
    nlp = Pipeline.from_config(Config().from_str(text, interpolate=False))
    tok2vec, tagger = nlp.get_pipe("tok2vec"), nlp.get_pipe("tagger")
    assert [l.get_dim("nO") for l in tok2vec.listeners] == [342]
    examples = list(Corpus(ud_dir / "dev.conllu", limit=3)(nlp))
    optimizer = nlp.initialize(lambda: examples)
    losses = {}
    for _ in range(2):
        nlp.update(examples, sgd=optimizer, losses=losses)
    assert losses["tagger"] > 0 and losses["tok2vec"] > 0
    assert tagger.model.get_ref("softmax").get_dim("nI") == 342
