"""The spacy-transformers architectures and the `transformer` component (issue 17).

Everything runs on a tiny random BERT the tests write themselves (tests/trf_util.py): 32 wide,
2 layers, at most 64 wordpieces per window, so configs here use windows of at most 60 tokens.
Expected values come from the Hugging Face tokenizer and model themselves, not from archcli.
"""
import collections
import random
import shutil
from pathlib import Path
from typing import Dict, List

import numpy
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from thinc.api import Config, chain, fix_random_seed, reduce_mean  # noqa: E402

from archcli import registry  # noqa: E402
from archcli.errors import ConfigError  # noqa: E402
from archcli.language import Pipeline, load  # noqa: E402
from archcli.ml.span_getters import strided_windows  # noqa: E402
from archcli.ml.transformers import TransformerData, TransformerModel, pool_wordpieces  # noqa: E402
from archcli.ml.wordpiece_alignment import align_wordpieces, group_by_token  # noqa: E402
from archcli.tokens import Doc, Tokenizer, Vocab  # noqa: E402
from archcli.training.corpus import Corpus  # noqa: E402

from .spec_blocks import block_config, spec_blocks  # noqa: E402
from .trf_util import write_tiny_bert  # noqa: E402
from .util import REPO, write_conllu_slice  # noqa: E402

SAMPLE_TRAIN = REPO / "corpus_samples" / "conllu" / "train.conllu"
SPEC_NAMES = ("spacy-transformers.TransformerModel.v3", "spacy-transformers.TransformerListener.v1",
              "spacy-transformers.Tok2VecTransformer.v3")
NO_DROPOUT = '{"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}'


# --- fixtures and config builders -----------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """The tiny BERT (max_position_embeddings 64), written once per session."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "bert")


@pytest.fixture(scope="session")
def tiny_bert_160(tmp_path_factory) -> Path:
    """The same architecture with 160 positions: room for the 128-token windows the spec's blocks use."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert-160") / "bert", max_position_embeddings=160)


@pytest.fixture
def bert_copy(tiny_bert, tmp_path) -> Path:
    """A copy of the tiny BERT a test may delete."""
    return Path(shutil.copytree(tiny_bert, tmp_path / "bert-copy"))


@pytest.fixture(scope="session")
def hf_tokenizer(tiny_bert):
    return transformers.AutoTokenizer.from_pretrained(str(tiny_bert))


@pytest.fixture
def tokenizer():
    return Tokenizer(Vocab())


def transformer_block(name, *, window=48, stride=32, getter="strided", transformer_config="{}",
                      mixed_precision=False) -> str:
    if getter == "strided":
        spans = f'@span_getters = "spacy-transformers.strided_spans.v1"\nwindow = {window}\nstride = {stride}'
    else:
        spans = f'@span_getters = "spacy-transformers.{getter}.v1"'
    return f"""
[components.transformer]
factory = "transformer"
max_batch_items = 4096

[components.transformer.model]
@architectures = "spacy-transformers.TransformerModel.v3"
name = "{name}"
tokenizer_config = {{"use_fast": true}}
transformer_config = {transformer_config}
mixed_precision = {str(bool(mixed_precision)).lower()}

[components.transformer.model.get_spans]
{spans}
"""


def tagger_block(grad_factor=1.0, upstream="*") -> str:
    return f"""
[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = {grad_factor}
upstream = "{upstream}"

[components.tagger.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""


def parser_block(grad_factor=1.0) -> str:
    return f"""
[components.parser]
factory = "parser"
min_action_freq = 1

[components.parser.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "parser"
extra_state_tokens = false
hidden_width = 16
maxout_pieces = 2
use_upper = true
nO = null

[components.parser.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = {grad_factor}

[components.parser.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""


def inline_tagger_block(name, *, window=48, stride=32, get_spans=True, pooling=True) -> str:
    """A tagger whose tok2vec is a Tok2VecTransformer.v3 of its own (no transformer component)."""
    text = f"""
[components.tagger]
factory = "tagger"

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null

[components.tagger.model.tok2vec]
@architectures = "spacy-transformers.Tok2VecTransformer.v3"
name = "{name}"
tokenizer_config = {{"use_fast": true}}
transformer_config = {{}}
grad_factor = 1.0
mixed_precision = false
"""
    if get_spans:
        text += f"""
[components.tagger.model.tok2vec.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = {window}
stride = {stride}
"""
    if pooling:
        text += '\n[components.tagger.model.tok2vec.pooling]\n@layers = "reduce_mean.v1"\n'
    return text


TRAINING_BLOCKS = """
[paths]
train = null
dev = null
vectors = null
init_tok2vec = null

[system]
gpu_allocator = null
seed = 0

[corpora]

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[training]
dev_corpus = "corpora.dev"
train_corpus = "corpora.train"
seed = ${system.seed}
dropout = 0.1
max_steps = 2
eval_frequency = 1

[training.batcher]
@batchers = "spacy.batch_by_words.v1"
discard_oversize = false
tolerance = 0.2

[training.batcher.size]
@schedules = "compounding.v1"
start = 100
stop = 1000
compound = 1.001

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.001

[training.score_weights]
tag_acc = 1.0

[initialize]
"""


def pipeline_text(*blocks: str, pipeline=("transformer", "tagger"), training=False) -> str:
    names = ",".join(f'"{n}"' for n in pipeline)
    text = f'[nlp]\nlang = "en"\npipeline = [{names}]\nbatch_size = 64\n\n[components]\n' + "".join(blocks)
    return text + (TRAINING_BLOCKS if training else "")


def build_pipeline(*blocks: str, pipeline=("transformer", "tagger")) -> Pipeline:
    return Pipeline.from_config(Config().from_str(pipeline_text(*blocks, pipeline=pipeline), interpolate=False))


def sample_examples(nlp, limit=3):
    return list(Corpus(SAMPLE_TRAIN, limit=limit)(nlp))


def hf_params(model: TransformerModel) -> Dict[str, numpy.ndarray]:
    return {name: p.detach().numpy().copy() for name, p in model.shim._model.named_parameters()}


def resolve_model(block: str):
    return registry.resolve(Config().from_str(block, interpolate=False))["model"]


def transformer_model(name, *, window=48, stride=32, getter="strided", transformer_config="{}") -> TransformerModel:
    spans = (f'@span_getters = "spacy-transformers.strided_spans.v1"\nwindow = {window}\nstride = {stride}'
             if getter == "strided" else f'@span_getters = "spacy-transformers.{getter}.v1"')
    model = resolve_model(f"""
[model]
@architectures = "spacy-transformers.TransformerModel.v3"
name = "{name}"
transformer_config = {transformer_config}

[model.get_spans]
{spans}
""")
    model.initialize()
    return model


def words_doc(vocab, words: List[str]) -> Doc:
    return Doc(vocab, words, [True] * (len(words) - 1) + [False])


# --- 1. the spec's blocks -------------------------------------------------------------------

@pytest.fixture(scope="module")
def blocks(spec_text):
    found = spec_blocks(spec_text)
    for name in SPEC_NAMES:
        assert name in found, name
    return found


def test_spec_transformer_model_block_builds(blocks, tiny_bert_160, tokenizer):
    config = block_config(blocks["spacy-transformers.TransformerModel.v3"])
    assert config["model"]["name"] == "roberta-base"
    config["model"]["name"] = str(tiny_bert_160)
    model = registry.resolve(config)["model"]
    assert isinstance(model, TransformerModel)
    assert (model.attrs["get_spans"].window, model.attrs["get_spans"].stride) == (128, 96)
    model.initialize()
    assert model.get_dim("nO") == 32
    # mixed_precision = true is honoured on CUDA only: on the CPU the model runs in float32.
    assert not model.shim._mixed_precision
    doc = tokenizer("The quick brown fox jumped over the lazy dog.")
    (data,) = model.predict([doc])
    assert isinstance(data, TransformerData)
    assert data.vectors.dtype == numpy.float32 and data.vectors.shape[1] == 32
    assert len(data.align.lengths) == len(doc) and data.align.lengths.min() >= 1


def test_spec_transformer_model_block_window_too_long_for_the_tiny_model(blocks, tiny_bert):
    config = block_config(blocks["spacy-transformers.TransformerModel.v3"])
    config["model"]["name"] = str(tiny_bert)
    model = registry.resolve(config)["model"]
    with pytest.raises(ConfigError, match=r"get_spans\.window.*window = 128.*at most 62"):
        model.initialize()


def test_spec_listener_block_builds(blocks):
    from archcli.ml.transformers import TransformerListener

    model = registry.resolve(block_config(blocks["spacy-transformers.TransformerListener.v1"]))["model"]
    assert isinstance(model, TransformerListener)
    assert model.grad_factor == 1.0 and model.upstream_name == "*"
    assert model.layers[0].layers[0].name == "reduce_mean"


def test_spec_listener_block_in_a_pipeline(blocks, tiny_bert):
    """The spec's listener block, as written, under a tagger after a transformer component."""
    listener = blocks["spacy-transformers.TransformerListener.v1"].replace("[model", "[components.tagger.model.tok2vec")
    tagger = '\n[components.tagger]\nfactory = "tagger"\n\n[components.tagger.model]\n@architectures = "spacy.Tagger.v2"\n'
    nlp = build_pipeline(transformer_block(tiny_bert), tagger + "\n" + listener)
    examples = sample_examples(nlp, limit=2)
    nlp.initialize(lambda: examples)
    assert [l.get_dim("nO") for l in nlp.get_pipe("transformer").listeners] == [32]


def test_spec_tok2vec_transformer_block_as_written(blocks, tiny_bert_160, tokenizer):
    """No get_spans and no pooling in the block: strided 128/96 windows and mean pooling."""
    config = block_config(blocks["spacy-transformers.Tok2VecTransformer.v3"])
    assert "get_spans" not in config["model"] and "pooling" not in config["model"]
    config["model"]["name"] = str(tiny_bert_160)
    model = registry.resolve(config)["model"]
    transformer = model.get_ref("transformer")
    assert (transformer.attrs["get_spans"].window, transformer.attrs["get_spans"].stride) == (128, 96)
    assert model.layers[1].layers[0].name == "reduce_mean"
    model.initialize()
    docs = [tokenizer("The quick brown fox jumped over the lazy dog."), tokenizer("Hello")]
    Y = model.predict(docs)
    assert [y.shape for y in Y] == [(len(d), 32) for d in docs]


def test_spec_tok2vec_transformer_block_default_window_too_long_for_the_tiny_model(blocks, tiny_bert):
    config = block_config(blocks["spacy-transformers.Tok2VecTransformer.v3"])
    config["model"]["name"] = str(tiny_bert)
    model = registry.resolve(config)["model"]
    with pytest.raises(ConfigError, match=r"window = 128.*at most 62"):
        model.initialize()


def test_use_fast_false_still_aligns_by_the_fast_tokenizer(tiny_bert, tokenizer):
    """The spec's Tok2VecTransformer block asks for use_fast = false; offsets need the fast one."""
    model = resolve_model(f"""
[model]
@architectures = "spacy-transformers.TransformerModel.v3"
name = "{tiny_bert}"
tokenizer_config = {{"use_fast": false}}

[model.get_spans]
@span_getters = "spacy-transformers.doc_spans.v1"
""")
    model.initialize()
    assert model.shim.tokenizer.is_fast
    (data,) = model.predict([tokenizer("Hello world")])
    assert list(data.align.lengths) == [4, 5]


@pytest.mark.parametrize("version,extra", [("v1", ""), ("v2", "transformer_config = {}\n")])
def test_transformer_model_v1_v2_build(tiny_bert, tokenizer, version, extra):
    model = resolve_model(f"""
[model]
@architectures = "spacy-transformers.TransformerModel.{version}"
name = "{tiny_bert}"
tokenizer_config = {{"use_fast": true}}
{extra}
[model.get_spans]
@span_getters = "spacy-transformers.doc_spans.v1"
""")
    assert isinstance(model, TransformerModel)
    model.initialize()
    (data,) = model.predict([tokenizer("Hello world")])
    assert data.vectors.shape[1] == 32 and list(data.align.lengths) == [4, 5]


@pytest.mark.parametrize("version,extra", [("v1", ""), ("v2", "transformer_config = {}\n")])
def test_tok2vec_transformer_v1_v2_build(tiny_bert, tokenizer, version, extra):
    model = resolve_model(f"""
[model]
@architectures = "spacy-transformers.Tok2VecTransformer.{version}"
name = "{tiny_bert}"
tokenizer_config = {{"use_fast": true}}
grad_factor = 1.0
{extra}
[model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 32
stride = 24

[model.pooling]
@layers = "reduce_mean.v1"
""")
    model.initialize()
    docs = [tokenizer("Hello world"), tokenizer("")]
    assert [y.shape for y in model.predict(docs)] == [(2, 32), (0, 32)]


# --- 2. strided windows ---------------------------------------------------------------------

@pytest.mark.parametrize("length,window,stride,expected", [
    (0, 128, 96, []),                                            # empty doc: no window
    (1, 128, 96, [(0, 1)]),                                      # one token
    (50, 128, 96, [(0, 50)]),                                    # shorter than a stride
    (96, 128, 96, [(0, 96)]),                                    # exactly one stride
    (192, 128, 96, [(0, 128), (96, 192)]),                       # exact multiple of the stride
    (300, 128, 96, [(0, 128), (96, 224), (192, 300)]),           # the documented overlap
    (200, 96, 96, [(0, 96), (96, 192), (192, 200)]),             # window == stride: no overlap
    (192, 96, 96, [(0, 96), (96, 192)]),
    (10, 4, 3, [(0, 4), (3, 7), (6, 10)]),
])
def test_strided_windows(length, window, stride, expected):
    assert strided_windows(length, window, stride) == expected


def test_strided_windows_cover_every_token_in_order():
    for length in range(0, 70):
        for window, stride in [(8, 8), (8, 5), (8, 1), (3, 2)]:
            windows = strided_windows(length, window, stride)
            covered = numpy.zeros(length, dtype=int)
            for start, end in windows:
                assert 0 < end - start <= window
                covered[start:end] += 1
            assert (covered >= 1).all(), (length, window, stride)
            assert [s for s, _ in windows] == sorted({s for s, _ in windows})
            if windows:
                assert windows[-1][1] == length


def test_strided_spans_getter(tokenizer):
    getter = registry.get("span_getters", "spacy-transformers.strided_spans.v1")(window=4, stride=3)
    docs = [tokenizer("a b c d e f g h i j"), tokenizer(""), tokenizer("one")]
    spans = getter(docs)
    assert [[(s.start, s.end) for s in doc_spans] for doc_spans in spans] == [[(0, 4), (3, 7), (6, 10)], [], [(0, 1)]]
    assert spans[0][1].text == "d e f g"


def test_sent_and_doc_spans(vocab):
    doc = Doc(vocab, ["A", "b", ".", "C", "d", "."], sent_starts=[True, False, False, True, False, False])
    sents = registry.get("span_getters", "spacy-transformers.sent_spans.v1")()([doc])
    assert [[(s.start, s.end) for s in d] for d in sents] == [[(0, 3), (3, 6)]]
    whole = registry.get("span_getters", "spacy-transformers.doc_spans.v1")()([doc, Doc(vocab, [])])
    assert [[(s.start, s.end) for s in d] for d in whole] == [[(0, 6)], []]


@pytest.mark.parametrize("window,stride", [(0, 1), (4, 0), (-1, 1)])
def test_strided_spans_refuses_non_positive_sizes(window, stride):
    from archcli.errors import ArchcliError

    with pytest.raises(ArchcliError):
        registry.get("span_getters", "spacy-transformers.strided_spans.v1")(window=window, stride=stride)


def test_strided_spans_refuses_stride_over_window():
    from archcli.errors import ArchcliError

    with pytest.raises(ArchcliError, match="stride"):
        registry.get("span_getters", "spacy-transformers.strided_spans.v1")(window=4, stride=5)


# --- 3. aligning wordpieces to tokens -------------------------------------------------------

def _pairs(token_offsets, piece_offsets):
    t = numpy.asarray(token_offsets, dtype="int64").reshape(-1, 2)
    p = numpy.asarray(piece_offsets, dtype="int64").reshape(-1, 2)
    tokens, pieces = align_wordpieces(t[:, 0], t[:, 1], p[:, 0], p[:, 1])
    return sorted(zip(tokens.tolist(), pieces.tolist()))


def test_align_word_split_into_pieces():
    # "hello world": hello = he ##ll ##o, world = world
    assert _pairs([(0, 5), (6, 11)], [(0, 2), (2, 4), (4, 5), (6, 11)]) == [(0, 0), (0, 1), (0, 2), (1, 3)]


def test_align_piece_covering_two_tokens():
    # "don't" tokenised "do" + "n't"; wordpieces "don" "'" "t": "don" belongs to both tokens.
    assert _pairs([(0, 2), (2, 5)], [(0, 3), (3, 4), (4, 5)]) == [(0, 0), (1, 0), (1, 1), (1, 2)]


def test_align_whitespace_token_gets_nothing():
    # "a   b": tokens "a", "  " (a whitespace token), "b"; no wordpiece covers spaces.
    assert _pairs([(0, 1), (2, 4), (4, 5)], [(0, 1), (4, 5)]) == [(0, 0), (2, 1)]


def test_align_special_tokens_and_empty_pieces_align_to_nothing():
    # [CLS] and [SEP] come with (0, 0) offsets.
    assert _pairs([(0, 1), (2, 3)], [(0, 0), (0, 1), (2, 3), (0, 0)]) == [(0, 1), (1, 2)]


def test_align_truncated_tokens_get_nothing():
    assert _pairs([(0, 1), (2, 3), (4, 5)], [(0, 1)]) == [(0, 0)]
    assert _pairs([(0, 1), (2, 3)], []) == []


def test_align_empty_tokens_get_nothing():
    # An empty token between two tokens a piece spans, and one at a piece's boundary.
    assert _pairs([(0, 1), (1, 1), (1, 2)], [(0, 2)]) == [(0, 0), (2, 0)]
    assert _pairs([(0, 1), (1, 1), (1, 2)], [(0, 1), (1, 2)]) == [(0, 0), (2, 1)]
    assert _pairs([], [(0, 1)]) == []


def test_align_matches_a_brute_force_overlap():
    rng = numpy.random.default_rng(0)
    for _ in range(50):
        cuts = numpy.sort(rng.choice(numpy.arange(1, 40), size=8, replace=False))
        bounds = numpy.concatenate([[0], cuts])
        tokens = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if rng.random() > 0.2]
        pieces = []
        for _ in range(10):
            a = int(rng.integers(0, 40))
            pieces.append((a, a + int(rng.integers(0, 5))))
        pieces.sort()
        expected = sorted((t, p) for t, (ts, te) in enumerate(tokens) for p, (ps, pe) in enumerate(pieces)
                          if ps < pe and ts < te and ps < te and ts < pe)
        assert _pairs(tokens, pieces) == expected


def test_group_by_token():
    data, lengths = group_by_token(numpy.asarray([2, 0, 2, 0]), numpy.asarray([5, 1, 6, 2]), 4)
    assert data.tolist() == [1, 2, 5, 6] and lengths.tolist() == [2, 0, 2, 0]


def test_overlapping_windows_align_a_token_to_both(tiny_bert, vocab):
    """Window 4, stride 2 over 6 one-piece words: tokens 2 and 3 are in both windows."""
    model = transformer_model(tiny_bert, window=4, stride=2)
    doc = words_doc(vocab, ["the", "of", "and", "to", "a", "in"])
    (data,) = model.predict([doc])
    assert len(data.wordpieces) == 2
    assert data.vectors.shape == (8, 32)
    assert data.align.lengths.tolist() == [1, 1, 2, 2, 1, 1]
    rows = numpy.split(data.align.dataXd, numpy.cumsum(data.align.lengths)[:-1])
    assert [r.tolist() for r in rows] == [[0], [1], [2, 4], [3, 5], [6], [7]]
    # The two rows of a shared token come from different contexts.
    assert not numpy.allclose(data.vectors[2], data.vectors[4])


# --- 4. TransformerModel forward on real docs -----------------------------------------------

def _window_oracle(hf_model, hf_tokenizer, text):
    """The HF model's own output for one window, special tokens dropped."""
    enc = hf_tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask")[0].bool()
    hf_model.eval()
    with torch.no_grad():
        hidden = hf_model(**enc).last_hidden_state[0]
    return hidden[~special].numpy()


def test_forward_matches_the_hf_model_window_by_window(tiny_bert, hf_tokenizer, vocab):
    # Mostly one-piece words; "walked" and "3.5" are several pieces in the tiny vocabulary.
    words = (["the", "people", "said", "walked", ",", "first", "3.5"] + ["time", "over", "year", "and", "of"] * 3) * 5
    doc = words_doc(vocab, words)
    model = transformer_model(tiny_bert, window=40, stride=30)
    (data,) = model.predict([doc])
    windows = strided_windows(len(doc), 40, 30)
    assert windows == [(0, 40), (30, 70), (60, 100), (90, 110)]
    assert len(data.wordpieces) == len(windows)
    expected_rows, expected_lengths = [], numpy.zeros(len(doc), dtype=int)
    for start, end in windows:
        rows = _window_oracle(model.shim._model, hf_tokenizer, doc[start:end].text)
        assert len(rows) <= 62  # nothing truncated: every token has its pieces
        expected_rows.append(rows)
        for i in range(start, end):
            expected_lengths[i] += len(hf_tokenizer(doc[i].text, add_special_tokens=False)["input_ids"])
    expected = numpy.concatenate(expected_rows)
    assert data.vectors.shape == expected.shape
    numpy.testing.assert_allclose(data.vectors, expected, rtol=1e-4, atol=1e-5)
    assert data.align.lengths.tolist() == expected_lengths.tolist()
    assert expected_lengths[3] > 1 and expected_lengths[6] == 3  # "walked", "3.5": several pieces each
    assert expected_lengths[35] == 2 * expected_lengths[20] == 2  # "over" in two windows, "and" in one


def test_forward_batch_of_real_docs(tiny_bert, hf_tokenizer, tokenizer):
    texts = ["The quick brown fox jumped over the lazy dog.", "I can't go", "", "Hello",
             "Prices rose 3.5% in 2024, analysts said.", "  spaced   out  "]
    docs = [tokenizer(t) for t in texts]
    model = transformer_model(tiny_bert, window=8, stride=6)
    datas = model.predict(docs)
    assert len(datas) == len(docs)
    for doc, data in zip(docs, datas):
        windows = strided_windows(len(doc), 8, 6)
        n_pieces = sum(len(hf_tokenizer(doc[s:e].text, add_special_tokens=False)["input_ids"]) for s, e in windows)
        assert data.vectors.shape == (n_pieces, 32), doc.text
        assert len(data.align.lengths) == len(doc)
        assert data.align.lengths.sum() == len(data.align.dataXd)
        assert len(data.wordpieces) == len(windows)
        if len(data.align.dataXd):
            assert data.align.dataXd.max() < n_pieces
        for token, n in zip(doc, data.align.lengths):
            if not token.text.strip():
                assert n == 0, repr(token.text)
            else:
                assert n >= 1, token.text
    # "can't" is tokenised "ca" + "n't" and split into the wordpieces "can" "'" "t": the piece
    # "can" (row 1, after "i") belongs to both tokens.
    cant = datas[1]
    assert cant.align.lengths.tolist() == [1, 1, 3, 2]
    assert cant.align.dataXd.tolist() == [0, 1, 1, 2, 3, 4, 5]
    assert datas[2].vectors.shape == (0, 32) and datas[2].wordpieces == []


def test_doc_spans_truncate_a_long_doc_without_crashing(tiny_bert, vocab):
    """One window of 80 one-piece words: the model takes 64 pieces (62 without [CLS]/[SEP])."""
    doc = words_doc(vocab, ["the"] * 80)
    model = transformer_model(tiny_bert, getter="doc_spans")
    (data,) = model.predict([doc])
    assert data.vectors.shape == (62, 32)
    assert data.align.lengths.tolist() == [1] * 62 + [0] * 18
    pooled = pool_wordpieces(reduce_mean())
    (vectors,) = pooled.predict([data])
    assert vectors.shape == (80, 32)
    assert numpy.abs(vectors[:62]).sum(axis=1).min() > 0
    assert not vectors[62:].any()


def test_sent_spans_one_window_per_sentence(tiny_bert, vocab):
    doc = Doc(vocab, ["the", "of", ".", "and", "to", "."], sent_starts=[True, False, False, True, False, False])
    model = transformer_model(tiny_bert, getter="sent_spans")
    (data,) = model.predict([doc])
    assert len(data.wordpieces) == 2 and all(len(w) == 5 for w in data.wordpieces)  # [CLS] 3 pieces [SEP]
    assert data.vectors.shape == (6, 32)


def test_sub_batches_give_the_same_vectors(tiny_bert, tokenizer):
    texts = ["The quick brown fox jumped over the lazy dog.", "Hello", "Prices rose 3.5% in 2024, analysts said."]
    model = transformer_model(tiny_bert, window=6, stride=4)
    docs = [tokenizer(t) for t in texts]
    together = model.predict(docs)
    model.attrs["max_batch_items"] = 1  # every window in a sub-batch of its own
    alone = model.predict(docs)
    for a, b in zip(together, alone):
        numpy.testing.assert_allclose(a.vectors, b.vectors, rtol=1e-4, atol=1e-5)
        assert a.align.dataXd.tolist() == b.align.dataXd.tolist()


def test_tok2vec_transformer_zero_vectors_for_tokens_without_pieces(tiny_bert, tokenizer):
    model = resolve_model(f"""
[model]
@architectures = "spacy-transformers.Tok2VecTransformer.v3"
name = "{tiny_bert}"

[model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 16
stride = 12

[model.pooling]
@layers = "reduce_mean.v1"
""")
    model.initialize()
    doc = tokenizer("  spaced   out  ")
    (vectors,) = model.predict([doc])
    blank = [i for i, t in enumerate(doc) if not t.text.strip()]
    assert blank and not vectors[blank].any()
    assert all(vectors[i].any() for i in range(len(doc)) if i not in blank)
    # A batch with no wordpiece at all keeps the width.
    assert [v.shape for v in model.predict([tokenizer(""), tokenizer("   ")])] == [(0, 32), (len(tokenizer("   ")), 32)]


# --- 5. gradients ---------------------------------------------------------------------------

def test_backprop_is_the_loss_slope(tiny_bert, tokenizer):
    """Directional finite differences on the word embeddings (no dropout) match backprop."""
    fix_random_seed(0)
    transformer = transformer_model(tiny_bert, window=6, stride=4, transformer_config=NO_DROPOUT)
    model = chain(transformer, pool_wordpieces(reduce_mean(), grad_factor=1.0))
    model.layers[1].set_dim("nO", 32)
    docs = [tokenizer("The quick brown fox jumped over the lazy dog."), tokenizer("Isn't it strange?")]
    rng = numpy.random.default_rng(0)
    Y, backprop = model.begin_update(docs)
    R = [rng.normal(size=y.shape).astype("float32") for y in Y]
    backprop(R)
    embeddings = transformer.shim._model.embeddings.word_embeddings.weight
    grad = embeddings.grad.numpy().copy()
    direction = rng.normal(size=grad.shape).astype("float32")
    analytic = float((grad * direction).sum())

    def loss():
        return sum(float((numpy.asarray(y, dtype="float64") * r).sum()) for y, r in zip(model.predict(docs), R))

    eps = 1e-2
    original = embeddings.detach().clone()
    with torch.no_grad():
        embeddings.copy_(original + eps * torch.from_numpy(direction))
    plus = loss()
    with torch.no_grad():
        embeddings.copy_(original - eps * torch.from_numpy(direction))
    minus = loss()
    with torch.no_grad():
        embeddings.copy_(original)
    assert abs(analytic) > 1e-3
    assert (plus - minus) / (2 * eps) == pytest.approx(analytic, rel=0.03)


def test_pooling_grad_factor_scales_the_gradient(tiny_bert, tokenizer):
    transformer = transformer_model(tiny_bert, window=8, stride=6)
    datas = transformer.predict([tokenizer("The quick brown fox."), tokenizer("Hello"), tokenizer("  spaced   out  ")])
    grads = {}
    for factor in (1.0, 2.5, 0.0):
        pool = pool_wordpieces(reduce_mean(), grad_factor=factor)
        Y, backprop = pool.begin_update(datas)
        grads[factor] = backprop([numpy.ones_like(y) for y in Y])
        assert [g.shape for g in grads[factor]] == [d.vectors.shape for d in datas]
    for a, b, c in zip(grads[1.0], grads[2.5], grads[0.0]):
        assert a.any() and numpy.isfinite(a).all()  # tokens without pieces pool to zeros, not NaN
        numpy.testing.assert_allclose(b, 2.5 * a, rtol=1e-6)
        assert not c.any()


def _warm_up(nlp, examples):
    """One update: the tagger's and parser's zero-initialised output layers become non-zero, so the
    next updates pass a gradient back to the transformer."""
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)
    return optimizer


def test_listener_backprop_reaches_the_hf_weights(tiny_bert):
    fix_random_seed(0)
    nlp = build_pipeline(transformer_block(tiny_bert), tagger_block())
    examples = sample_examples(nlp)
    optimizer = _warm_up(nlp, examples)
    trf = nlp.get_pipe("transformer")
    hf = trf.model.shim._model
    assert all(p.grad is None or not p.grad.any() for p in hf.parameters())  # finish_update zeroed them
    losses = nlp.update(examples, losses={})
    assert losses["transformer"] > 0
    with_grad = [name for name, p in hf.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert "embeddings.word_embeddings.weight" in with_grad
    assert "encoder.layer.1.output.dense.weight" in with_grad
    # Everything but the pooler (whose output no listener uses) gets a gradient.
    assert {n for n, _ in hf.named_parameters()} - set(with_grad) <= {"pooler.dense.weight", "pooler.dense.bias"}
    before = hf_params(trf.model)
    nlp.finish_update(optimizer)
    after = hf_params(trf.model)
    changed = [name for name in with_grad if not numpy.array_equal(before[name], after[name])]
    assert set(changed) == set(with_grad)


def test_grad_factor_zero_freezes_the_transformer(tiny_bert, monkeypatch):
    fix_random_seed(0)
    nlp = build_pipeline(transformer_block(tiny_bert), tagger_block(grad_factor=0.0))
    examples = sample_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    trf, tagger = nlp.get_pipe("transformer"), nlp.get_pipe("tagger")

    def no_backward_pass(*args, **kwargs):
        raise AssertionError("the transformer ran a backward pass although every listener has grad_factor 0")

    monkeypatch.setattr(trf.model, "begin_update", no_backward_pass)
    before = hf_params(trf.model)
    softmax_before = tagger.model.get_ref("softmax").get_param("W").copy()
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    after = hf_params(trf.model)
    assert all(numpy.array_equal(before[name], after[name]) for name in before)
    assert all(p.grad is None for p in trf.model.shim._model.parameters())
    # The tagger itself still learns.
    assert not numpy.array_equal(softmax_before, tagger.model.get_ref("softmax").get_param("W"))


def test_two_listeners_sum_their_gradients_and_update_once(tiny_bert, monkeypatch):
    fix_random_seed(0)
    nlp = build_pipeline(transformer_block(tiny_bert), tagger_block(), parser_block(),
                         pipeline=("transformer", "tagger", "parser"))
    trf = nlp.get_pipe("transformer")
    assert sorted(trf.listener_map) == ["parser", "tagger"]
    examples = sample_examples(nlp)
    optimizer = _warm_up(nlp, examples)
    sent: Dict[str, List[numpy.ndarray]] = {}
    received: List[List[numpy.ndarray]] = []
    updates = []

    for component, (listener,) in trf.listener_map.items():
        def receive(batch_id, outputs, callback, _component=component, _original=listener.receive):
            def record(d_outputs):
                sent[_component] = [numpy.array(d, copy=True) for d in d_outputs]
                return callback(d_outputs)

            return _original(batch_id, outputs, record)

        monkeypatch.setattr(listener, "receive", receive)

    original_begin = trf.begin_listened_update

    def begin(docs):
        outputs, bp_outputs = original_begin(docs)

        def bp(d_outputs):
            received.append([numpy.array(d, copy=True) for d in d_outputs])
            return bp_outputs(d_outputs)

        return outputs, bp

    monkeypatch.setattr(trf, "begin_listened_update", begin)
    original_finish = trf.model.shim.finish_update
    monkeypatch.setattr(trf.model.shim, "finish_update", lambda sgd: (updates.append(1), original_finish(sgd)))
    before = hf_params(trf.model)
    nlp.update(examples, sgd=optimizer)
    assert sorted(sent) == ["parser", "tagger"]
    assert len(received) == 1, "the transformer ran its backward pass more than once for one batch"
    assert len(updates) == 1, "the transformer's weights were updated more than once for one batch"
    for d_tagger, d_parser, d_total in zip(sent["tagger"], sent["parser"], received[0]):
        assert d_tagger.any() and d_parser.any()
        numpy.testing.assert_allclose(d_total, d_tagger + d_parser, rtol=1e-5, atol=1e-7)
    after = hf_params(trf.model)
    assert not numpy.array_equal(before["embeddings.word_embeddings.weight"], after["embeddings.word_embeddings.weight"])


def test_two_listeners_with_an_empty_doc_in_the_batch(tiny_bert):
    """The parser leaves empty docs out of its own batch; the transformer's listeners must still
    accept it (a .spacy corpus or the Python API can hand one over)."""
    from archcli.tokens.example import Example

    nlp = build_pipeline(transformer_block(tiny_bert), tagger_block(), parser_block(),
                         pipeline=("transformer", "tagger", "parser"))
    examples = sample_examples(nlp)
    optimizer = _warm_up(nlp, examples)
    empty = Doc(nlp.vocab, [])
    losses = nlp.update(examples[:2] + [Example(empty.copy(annotations=False), empty)], sgd=optimizer, losses={})
    assert losses["tagger"] > 0 and losses["parser"] > 0 and losses["transformer"] > 0


# --- 6. it learns ---------------------------------------------------------------------------

@pytest.mark.slow
def test_transformer_tagger_learns_ud_tags(tiny_bert, ud_dir, tmp_path):
    train = write_conllu_slice(ud_dir / "train.conllu", tmp_path / "train.conllu", 0, 300)
    dev = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "dev.conllu", 0, 100)
    fix_random_seed(0)
    nlp = build_pipeline(transformer_block(tiny_bert), tagger_block())
    train_examples = list(Corpus(train, n_sents=2)(nlp))
    dev_examples = list(Corpus(dev, n_sents=2)(nlp))
    assert sum(len(eg.reference.sents) for eg in dev_examples) == 100
    counts = collections.Counter(t for eg in train_examples for t in eg.reference.get_strings("tag"))
    most_frequent = counts.most_common(1)[0][0]
    dev_tags = [t for eg in dev_examples for t in eg.reference.get_strings("tag")]
    baseline = sum(t == most_frequent for t in dev_tags) / len(dev_tags)
    optimizer = nlp.initialize(lambda: train_examples)
    untrained = nlp.evaluate(dev_examples)["tag_acc"]
    rng = random.Random(0)
    for _ in range(150):
        nlp.update(rng.sample(train_examples, 8), sgd=optimizer)
    tag_acc = nlp.evaluate(dev_examples)["tag_acc"]
    assert tag_acc > max(2 * baseline, baseline + 0.15, untrained + 0.15), (tag_acc, baseline, untrained)


# --- 7. saving and loading ------------------------------------------------------------------

TEXTS = ["The quick brown fox jumped over the lazy dog.", "Isn't it strange?", "",
         " ".join(["people said the first year was new"] * 12)]


def _trained(nlp, steps=2):
    examples = sample_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def test_save_load_round_trip_without_the_source_dir(bert_copy, tmp_path):
    fix_random_seed(0)
    nlp = _trained(build_pipeline(transformer_block(bert_copy), tagger_block()))
    before = list(nlp.pipe(TEXTS))
    assert any(t for doc in before for t in doc.get_strings("tag"))
    out = tmp_path / "model"
    nlp.to_disk(out)
    hf_dir = out / "transformer" / "hf_model"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        assert (hf_dir / name).is_file(), name
    assert not [p for p in (out / "transformer").iterdir() if p.suffix == ".bin"]
    # The thinc weights file does not carry a second copy of the HF weights.
    assert (out / "transformer" / "model").stat().st_size < (hf_dir / "model.safetensors").stat().st_size / 2
    shutil.rmtree(bert_copy)
    loaded = load(out)
    after = list(loaded.pipe(TEXTS))
    for a, b in zip(before, after):
        assert a.get_strings("tag") == b.get_strings("tag")
        numpy.testing.assert_allclose(a.trf_data.vectors, b.trf_data.vectors, rtol=1e-5, atol=1e-6)
        assert a.trf_data.align.dataXd.tolist() == b.trf_data.align.dataXd.tolist()
        assert a.trf_data.align.lengths.tolist() == b.trf_data.align.lengths.tolist()
        assert a.trf_data.wordpieces == b.trf_data.wordpieces
    # A loaded pipeline trains on (no source directory needed for that either).
    examples = sample_examples(loaded, limit=2)
    loaded.update(examples, sgd=loaded.create_optimizer())


def test_save_load_round_trip_inline_tok2vec_transformer(bert_copy, tmp_path):
    fix_random_seed(0)
    nlp = _trained(build_pipeline(inline_tagger_block(bert_copy), pipeline=("tagger",)))
    tagger = nlp.get_pipe("tagger")
    docs_before = list(nlp.pipe(TEXTS))
    scores_before = tagger.model.predict([nlp.make_doc(t) for t in TEXTS])
    out = tmp_path / "model"
    nlp.to_disk(out)
    shutil.rmtree(bert_copy)
    loaded = load(out)
    docs_after = list(loaded.pipe(TEXTS))
    scores_after = loaded.get_pipe("tagger").model.predict([loaded.make_doc(t) for t in TEXTS])
    assert [d.get_strings("tag") for d in docs_before] == [d.get_strings("tag") for d in docs_after]
    for a, b in zip(scores_before, scores_after):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mixed_precision_on_cpu_runs_in_float32(tiny_bert):
    nlp = build_pipeline(transformer_block(tiny_bert, mixed_precision=True), tagger_block())
    nlp = _trained(nlp, steps=1)
    trf = nlp.get_pipe("transformer")
    assert not trf.model.shim._mixed_precision
    assert all(p.dtype == torch.float32 for p in trf.model.shim._model.parameters())
    doc = nlp("Hello world")
    assert doc.trf_data.vectors.dtype == numpy.float32


# --- the component's settings ---------------------------------------------------------------

def test_component_defaults_and_null_annotation_setter(tiny_bert):
    nlp = build_pipeline(transformer_block(tiny_bert), tagger_block())
    trf = nlp.get_pipe("transformer")
    assert trf.model.attrs["max_batch_items"] == 4096
    setter = registry.get("annotation_setters", "spacy-transformers.null_annotation_setter.v1")()
    assert setter([], []) is None
    filled = nlp.config["components"]["transformer"]
    assert filled["set_extra_annotations"]["@annotation_setters"] == "spacy-transformers.null_annotation_setter.v1"


def test_max_batch_items_reaches_the_model(tiny_bert):
    block = transformer_block(tiny_bert).replace("max_batch_items = 4096", "max_batch_items = 7")
    nlp = build_pipeline(block, tagger_block())
    assert nlp.get_pipe("transformer").model.attrs["max_batch_items"] == 7


def test_prediction_sets_trf_data_and_listener_reads_it(tiny_bert):
    nlp = _trained(build_pipeline(transformer_block(tiny_bert), tagger_block()), steps=1)
    doc = nlp("The quick brown fox jumped.")
    assert isinstance(doc.trf_data, TransformerData)
    assert len(doc.trf_data.align.lengths) == len(doc)
    listener = nlp.get_pipe("transformer").listeners[0]
    (tokvecs,) = listener.predict([doc])
    pooled = [doc.trf_data.vectors[doc.trf_data.align.dataXd[s: s + n]].mean(axis=0)
              for s, n in zip(numpy.cumsum(doc.trf_data.align.lengths) - doc.trf_data.align.lengths,
                              doc.trf_data.align.lengths)]
    numpy.testing.assert_allclose(tokvecs, numpy.stack(pooled), rtol=1e-5, atol=1e-6)
