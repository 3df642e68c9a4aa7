"""Pretraining objectives built from the spec's own example blocks, and their building blocks."""
import gzip
from pathlib import Path
from typing import Dict, List

import numpy
import pytest
import srsly
from thinc.api import Adam, Config, fix_random_seed

from archcli.config import load_config
from archcli.errors import ArchcliError, ConfigError
from archcli.ml.pretrain import ByteSoftmax, get_loss, mask_tokens
from archcli import registry
from archcli.tokens import Vocab

from .conftest import SAMPLES
from .spec_blocks import spec_blocks
from .util import REPO, TAGGER_CFG

RAW_TEXT = SAMPLES / "raw" / "texts.jsonl"
CHARS_CFG = REPO / "configs" / "pretrain_characters.cfg"
VECTORS_CFG = REPO / "configs" / "pretrain_vectors.cfg"
# A small tok2vec and head keep each pretraining run in the tests around a second.
SMALL: Dict[str, object] = {
    "components.tok2vec.model.width": 32,
    "components.tok2vec.model.depth": 2,
    "components.tok2vec.model.embed_size": 500,
    "pretraining.objective.hidden_size": 32,
    "pretraining.batcher.size": 400,
    "pretraining.max_epochs": 2,
}


# --- helpers (also used by test_pretrain_cli.py) ------------------------------------------
def small_config(path: Path = CHARS_CFG, **overrides) -> Config:
    values: Dict[str, object] = {"paths.raw_text": str(RAW_TEXT)}
    values.update(SMALL)
    values.update(overrides)
    return load_config(path, overrides=values)


def write_sample_vectors(source: Path, dest: Path) -> Path:
    """The rows of the shared vectors table for the sample's words: loads in milliseconds."""
    words = set()
    for record in srsly.read_jsonl(RAW_TEXT):
        for chunk in record["text"].split():
            words.update((chunk, chunk.strip(".,;:!?'\"")))
    lines = []
    with gzip.open(source, "rt", encoding="utf8") as file_:
        width = int(next(file_).split()[1])
        lines = [line for line in file_ if line.split(" ", 1)[0] in words]
    dest.write_text(f"{len(lines)} {width}\n" + "".join(lines), encoding="utf8")
    return dest


def weight_arrays(data: bytes) -> List[numpy.ndarray]:
    """Every parameter array of a `Model.to_bytes()` payload, in walk order."""
    msg = srsly.msgpack_loads(data)
    return [value for params in msg["params"] for _, value in sorted(params.items()) if value is not None]


def model_arrays(model) -> List[numpy.ndarray]:
    return [node.get_param(name) for node in model.walk() for name in sorted(node.param_names)
            if node.has_param(name)]


@pytest.fixture(scope="session")
def sample_vectors(vectors_path, tmp_path_factory) -> Path:
    return write_sample_vectors(vectors_path, tmp_path_factory.mktemp("vectors") / "sample.vec")


def spec_pretraining_config(spec_text: str, name: str, **overrides) -> Config:
    """configs/tagger.cfg plus the spec's example block for `name` ("..." lines dropped)."""
    block = spec_blocks(spec_text)[name]
    kept = "\n".join(line for line in block.splitlines() if line.strip() not in ("...", "# ..."))
    values: Dict[str, object] = {"components.tok2vec.model.width": 32, "components.tok2vec.model.depth": 2,
                                 "components.tok2vec.model.embed_size": 500}
    values.update(overrides)
    config = load_config(TAGGER_CFG, overrides=values)
    return Config(config).merge(Config().from_str(kept, interpolate=False))


def build_objective(config: Config, docs_texts: List[str]):
    """The pipeline, tok2vec and objective model that `archcli pretrain` would build."""
    from archcli.config import interpolate_config
    from archcli.language import Pipeline
    from archcli.training.initialize import load_vectors_into
    from archcli.training.pretraining import _resolve_pretraining, create_pretraining_model, with_pretraining_defaults

    config = with_pretraining_defaults(config)
    interpolated = interpolate_config(config)
    nlp = Pipeline.from_config(config)
    if interpolated["initialize"].get("vectors"):
        load_vectors_into(nlp, interpolated["initialize"]["vectors"])
    P = _resolve_pretraining(interpolated)
    docs = [nlp.make_doc(text) for text in docs_texts]
    return nlp, docs, create_pretraining_model(nlp, P, docs[:5])


def sample_texts(n: int = 40) -> List[str]:
    return [record["text"] for record in srsly.read_jsonl(RAW_TEXT)][:n]


def fixed_mask_loss(model, docs) -> float:
    """Loss per scored token with the same mask every call (the mask uses numpy's global RNG)."""
    numpy.random.seed(1234)
    loss, n_scored, _ = get_loss(model, docs, model.predict(docs))
    return loss / n_scored


def train_steps(model, docs, n_steps: int, learn_rate: float = 0.005) -> None:
    optimizer = Adam(learn_rate)
    for step in range(n_steps):
        batch = docs[(step * 8) % len(docs):][:8] or docs[:8]
        output, backprop = model.begin_update(batch)
        _, _, d_scores = get_loss(model, batch, output)
        backprop(d_scores)
        model.finish_update(optimizer)


# --- the objectives from the spec's blocks -------------------------------------------------
def test_pretrain_characters_from_spec_block_learns(spec_text):
    fix_random_seed(0)
    config = spec_pretraining_config(spec_text, "spacy.PretrainCharacters.v1")
    assert config["pretraining"]["objective"]["n_characters"] == 4
    nlp, docs, model = build_objective(config, sample_texts())
    assert model.get_ref("tok2vec") is nlp.get_pipe("tok2vec").model
    head = model.get_ref("output_layer")
    assert head.get_dim("nO") == 8 * 256  # first 4 and last 4 bytes, 256 classes each
    before = fixed_mask_loss(model, docs)
    assert before == pytest.approx(8 * numpy.log(256), rel=0.01)  # zero-initialised softmaxes: uniform
    train_steps(model, docs, 12)
    after = fixed_mask_loss(model, docs)
    assert after < before * 0.8, (before, after)


# L2 on raw (unnormalised) vectors overshoots at first with a large step; it needs a smaller one.
@pytest.mark.parametrize("loss,learn_rate,n_steps", [("cosine", 0.005, 12), ("L2", 0.001, 24)])
def test_pretrain_vectors_from_spec_block_learns(spec_text, sample_vectors, loss, learn_rate, n_steps):
    fix_random_seed(0)
    config = spec_pretraining_config(spec_text, "spacy.PretrainVectors.v1")
    assert config["initialize"]["vectors"] == "en_core_web_lg"
    config["initialize"]["vectors"] = str(sample_vectors)
    config["pretraining"]["objective"]["loss"] = loss
    nlp, docs, model = build_objective(config, sample_texts())
    assert model.get_ref("output_layer").get_dim("nO") == 100  # the vectors' width
    before = fixed_mask_loss(model, docs)
    train_steps(model, docs, n_steps, learn_rate)
    after = fixed_mask_loss(model, docs)
    assert after < before * 0.9, (before, after)


def test_spec_vectors_package_name_is_a_clear_error(spec_text):
    config = spec_pretraining_config(spec_text, "spacy.PretrainVectors.v1")
    with pytest.raises(ConfigError, match=r"initialize.vectors.*en_core_web_lg.*cannot be loaded"):
        build_objective(config, sample_texts(3))


def test_pretrain_vectors_without_vectors_says_so(spec_text):
    config = spec_pretraining_config(spec_text, "spacy.PretrainVectors.v1")
    config["initialize"]["vectors"] = None
    with pytest.raises(ConfigError, match=r"initialize.vectors: spacy.PretrainVectors.v1 .* no vectors table"):
        build_objective(config, sample_texts(3))


def test_bad_objective_settings():
    with pytest.raises(ConfigError, match=r"pretraining.objective.loss: .*'cosine', 'L2'"):
        registry.resolve({"o": {"@architectures": "spacy.PretrainVectors.v1", "maxout_pieces": 3,
                                "hidden_size": 8, "loss": "dot"}})
    with pytest.raises(ConfigError, match=r"n_characters"):
        registry.resolve({"o": {"@architectures": "spacy.PretrainCharacters.v1", "maxout_pieces": 3,
                                "hidden_size": 8, "n_characters": 0}})


def test_objective_resolves_under_layers_too():
    block = {"@layers": "spacy.PretrainCharacters.v1", "maxout_pieces": 2, "hidden_size": 8, "n_characters": 2}
    assert callable(registry.resolve({"o": block})["o"])


# --- building blocks ---------------------------------------------------------------------
def test_byte_softmax_normalises_each_position():
    model = ByteSoftmax(3, nI=5)
    model.initialize()
    model.set_param("W", numpy.random.default_rng(0).normal(size=(768, 5)).astype("f"))
    probs = model.predict(numpy.random.default_rng(1).normal(size=(4, 5)).astype("f"))
    numpy.testing.assert_allclose(probs.reshape((4, 3, 256)).sum(axis=-1), 1.0, rtol=1e-5)


def test_mask_tokens_follows_bert_proportions():
    fix_random_seed(0)
    vocab = Vocab()
    lex = vocab.lex_ids([f"w{i % 700}" for i in range(200000)])
    picked, masked = mask_tokens(lex, vocab, 0.15)
    assert 0.14 < picked.size / lex.size < 0.16
    unpicked = numpy.setdiff1d(numpy.arange(lex.size), picked)
    assert (masked[unpicked] == lex[unpicked]).all()
    assert 0.78 < (masked[picked] == vocab.lex_id("[MASK]")).mean() < 0.82
    assert 0.09 < (masked[picked] == lex[picked]).mean() < 0.115
    # A one-token batch still predicts something.
    picked, _ = mask_tokens(lex[:1], vocab, 0.15)
    assert picked.tolist() == [0]


def test_character_targets_are_first_and_last_bytes():
    vocab = Vocab()
    rows = vocab.lex_ids(["elephant", "ox", "café"])
    table = vocab.char_table(4)[rows]  # n_characters = 2: first two and last two bytes
    assert bytes(table[0]) == b"elnt"
    assert bytes(table[1]) == b"oxox"
    assert bytes(table[2]) == b"ca\xc3\xa9"


def test_unpicked_tokens_get_no_gradient():
    """Only the picked tokens' rows reach the tok2vec, as with spaCy's masked gradient."""
    fix_random_seed(0)
    config = small_config()
    nlp, docs, model = build_objective(config, sample_texts(4))
    tok2vec = model.get_ref("tok2vec")
    softmax = model.get_ref("output_layer").layers[-1]
    softmax.set_param("W", numpy.random.default_rng(0).normal(size=softmax.get_param("W").shape).astype("f"))
    seen = {}
    original = tok2vec._func

    def spy(layer, X, is_train):
        Y, backprop = original(layer, X, is_train)

        def wrapped(dY):
            seen["dY"] = numpy.concatenate(dY)
            return backprop(dY)

        return Y, wrapped

    tok2vec._func = spy
    output, backprop = model.begin_update(docs)
    backprop(get_loss(model, docs, output)[2])
    nonzero = numpy.flatnonzero(numpy.abs(seen["dY"]).sum(axis=1))
    assert set(nonzero) <= set(output.picked.tolist()) and len(nonzero) > 0
    assert output.scores.shape[0] == output.picked.size < output.n_tokens


def test_configs_pretrain_the_tagger_tok2vec_unchanged():
    tagger = load_config(TAGGER_CFG)
    for path in (CHARS_CFG, VECTORS_CFG):
        config = load_config(path)
        assert config["components"] == tagger["components"], path
        assert config["pretraining"]["component"] == "tok2vec" and config["pretraining"]["layer"] == ""
        assert "raw_text" in config["paths"] and "vectors" in config["paths"]
    assert load_config(VECTORS_CFG)["pretraining"]["objective"]["@architectures"] == "spacy.PretrainVectors.v1"


def test_layout_check_names_both_shapes():
    from archcli.training.init_tok2vec import check_weights_fit

    small = registry.resolve({"m": {"@architectures": "spacy.HashEmbedCNN.v2", "width": 16, "depth": 1,
                                    "embed_size": 100, "window_size": 1, "maxout_pieces": 2,
                                    "subword_features": False, "pretrained_vectors": None}})["m"]
    wide = registry.resolve({"m": {"@architectures": "spacy.HashEmbedCNN.v2", "width": 24, "depth": 1,
                                   "embed_size": 100, "window_size": 1, "maxout_pieces": 2,
                                   "subword_features": False, "pretrained_vectors": None}})["m"]
    vocab = Vocab()
    from archcli.tokens import Tokenizer

    docs = [Tokenizer(vocab)("A tiny doc.")]
    small.initialize(X=docs)
    wide.initialize(X=docs)
    check_weights_fit(small, small.to_bytes(), where="w.bin", target="x")
    with pytest.raises(ArchcliError, match=r"output width 16.*output width 24.*\(100, 16\) in the file but \(100, 24\)"):
        check_weights_fit(wide, small.to_bytes(), where="w.bin", target="the tok2vec")
    with pytest.raises(ArchcliError, match=r"not a weights file"):
        check_weights_fit(wide, b"\x00not msgpack", where="w.bin", target="the tok2vec")
