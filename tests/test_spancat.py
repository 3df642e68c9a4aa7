"""Span categorisation: the spec's block, suggester, span extraction, learning LitBank, save/load."""
import io
import json
import shutil

import numpy
import pytest
from thinc.api import NumpyOps, Ragged
from typer.testing import CliRunner

from archcli import registry
from archcli.cli import app
from archcli.config import load_config
from archcli.errors import ArchcliError, CorpusError
from archcli.language import Pipeline, load
from archcli.ml.spancat import build_ngram_range_suggester, build_ngram_suggester, extract_spans
from archcli.scoring import score_span_groups
from archcli.tokens import Doc, DocBin, Span, Tokenizer, Vocab
from archcli.training.corpus import Corpus
from archcli.tokens.example import Example
from archcli.training.litbank import read_litbank
from archcli.training.loop import train

from .conftest import CORPORA
from .spec_blocks import block_config, spec_blocks
from .util import REPO

SPANCAT_CFG = REPO / "configs" / "spancat.cfg"
SAMPLES = REPO / "corpus_samples" / "spans"
LITBANK = CORPORA / "litbank" / "entities"
# The spec's block elides the tok2vec's settings ("# ..."); these are spaCy's spancat defaults.
TOK2VEC_V1 = {
    "embed": {"@architectures": "spacy.MultiHashEmbed.v1", "width": 96, "rows": [5000, 2500, 2500, 2500],
              "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "include_static_vectors": False},
    "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v1", "width": 96, "window_size": 1, "maxout_pieces": 3,
               "depth": 4},
}
runner = CliRunner()


@pytest.fixture(scope="module")
def blocks(spec_text):
    return spec_blocks(spec_text)


@pytest.fixture
def docs(sample_docs):
    return sample_docs + [Tokenizer(sample_docs[0].vocab)("one two three four five six seven eight")]


def _spec_model(blocks):
    config = block_config(blocks["spacy.SpanCategorizer.v1"])
    for part in ("embed", "encode"):
        config["model"]["tok2vec"][part].update(TOK2VEC_V1[part])
    return registry.resolve(config)["model"]


# --- the spec's block -----------------------------------------------------------------------------
def test_spec_block_resolves_as_written(blocks):
    config = block_config(blocks["spacy.SpanCategorizer.v1"])
    assert config["model"]["reducer"]["@layers"] == 'spacy.mean_max_reducer.v1"'  # the stray quote
    assert registry.has("layers", "spacy.mean_max_reducer.v1") and registry.has("architectures", "spacy.mean_max_reducer.v1")
    model = _spec_model(blocks)
    # The refs are the layers the block names: mean_max_reducer's four poolings, then LinearLogistic.
    assert model.get_ref("reducer").name.startswith("reduce_last|reduce_first|reduce_mean|reduce_max>>maxout")
    assert model.get_ref("scorer").name == "linear>>logistic"
    assert model.get_ref("tok2vec").get_dim("nO") == 96


def test_spec_block_forward_backward(blocks, docs):
    model = _spec_model(blocks)
    spans = build_ngram_suggester([1, 2, 3])(docs)
    n_spans = int(spans.lengths.sum())
    model.initialize(X=(docs, spans), Y=numpy.zeros((n_spans, 5), dtype="f"))
    scores, backprop = model.begin_update((docs, spans))
    assert scores.shape == (n_spans, 5)
    assert ((scores > 0) & (scores < 1)).all()  # LinearLogistic: an independent probability per label
    backprop(scores - 1.0)
    tok2vec_grads = [n.get_grad(p) for n in model.get_ref("tok2vec").walk() for p in n.param_names if n.has_grad(p)]
    assert tok2vec_grads and any(numpy.abs(g).sum() > 0 for g in tok2vec_grads)
    assert model.get_ref("reducer").get_dim("nO") == 128


def test_mean_max_reducer_pools_last_first_mean_max():
    reducer = registry.resolve({"r": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 8}})["r"]
    rng = numpy.random.default_rng(0)
    X = Ragged(rng.normal(size=(6, 4)).astype("f"), numpy.asarray([2, 1, 3], dtype="i"))
    reducer.initialize(X=X)
    Y = reducer.predict(X)
    assert Y.shape == (3, 8)
    pooled = reducer.layers[0].predict(X)
    seq = X.dataXd[3:6]
    numpy.testing.assert_allclose(pooled[2], numpy.concatenate([seq[-1], seq[0], seq.mean(0), seq.max(0)]), rtol=1e-6)


def test_linear_logistic():
    layer = registry.resolve({"s": {"@layers": "spacy.LinearLogistic.v1", "nO": 3, "nI": 4}})["s"]
    layer.initialize()
    out = layer.predict(numpy.ones((2, 4), dtype="f"))
    assert out.shape == (2, 3) and ((out > 0) & (out < 1)).all()


# --- suggester and span extraction ------------------------------------------------------------
def test_ngram_suggester_yields_exactly_the_ngrams(vocab):
    doc = Doc(vocab, ["a", "b", "c", "d"])
    short, empty = Doc(vocab, ["x"]), Doc(vocab, [])
    suggester = registry.resolve({"s": {"@misc": "spacy.ngram_suggester.v1", "sizes": [1, 2, 3]}})["s"]
    out = suggester([doc, empty, short], ops=NumpyOps())
    assert out.lengths.tolist() == [9, 0, 1]
    assert out.dataXd.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [0, 2], [1, 3], [2, 4], [0, 3], [1, 4], [0, 1]]
    assert build_ngram_range_suggester(2, 3)([doc]).dataXd.tolist() == [[0, 2], [1, 3], [2, 4], [0, 3], [1, 4]]
    nothing = suggester([empty])
    assert nothing.dataXd.shape == (0, 2) and nothing.lengths.tolist() == [0]


def test_suggester_matches_a_per_doc_loop(docs):
    sizes = [3, 1, 5]
    got = build_ngram_suggester(sizes)(docs)
    want, lengths = [], []
    for doc in docs:
        rows = [(s, s + n) for n in sizes for s in range(len(doc) - n + 1)]
        want.extend(rows)
        lengths.append(len(rows))
    assert got.dataXd.tolist() == [list(r) for r in want] and got.lengths.tolist() == lengths


def test_extract_spans_gathers_and_scatters():
    rng = numpy.random.default_rng(1)
    X = Ragged(rng.normal(size=(7, 3)).astype("f"), numpy.asarray([4, 3], dtype="i"))
    spans = Ragged(numpy.asarray([[0, 2], [1, 4], [0, 3], [2, 3]], dtype="i"), numpy.asarray([2, 2], dtype="i"))
    layer = extract_spans()
    Y, backprop = layer((X, spans), is_train=True)
    rows = [0, 1, 1, 2, 3, 4, 5, 6, 6]
    numpy.testing.assert_array_equal(Y.dataXd, X.dataXd[rows])
    assert Y.lengths.tolist() == [2, 3, 3, 1]
    dY = Ragged(rng.normal(size=Y.dataXd.shape).astype("f"), Y.lengths)
    dX, _ = backprop(dY)
    expected = numpy.zeros_like(X.dataXd)
    numpy.add.at(expected, rows, dY.dataXd)
    numpy.testing.assert_allclose(dX.dataXd, expected, rtol=1e-6)


# --- readers ------------------------------------------------------------------------------------
def test_litbank_reader_nested_layers():
    docs = [doc for doc, _ in read_litbank(SAMPLES / "train" / "harbour.tsv", Vocab(), n_sents=1)]
    spans = {(s.text, s.label_) for s in docs[1].spans["sc"]}
    assert spans == {("The keeper of the Saltwick lighthouse", "PER"), ("the Saltwick lighthouse", "FAC"),
                     ("Saltwick", "GPE"), ("her", "PER")}
    grouped = [doc for doc, _ in read_litbank(SAMPLES / "train" / "harbour.tsv", Vocab(), n_sents=3)]
    assert len(grouped) == 3 and grouped[0].sent_start.tolist().count(1) == 3


def test_litbank_real_file_counts():
    path = sorted((LITBANK / "dev").glob("*.tsv"))[0]
    docs = [doc for doc, _ in read_litbank(path, Vocab(), n_sents=10)]
    starts = sum(1 for line in path.read_text(encoding="utf8").splitlines()
                 for tag in line.split("\t")[1:5] if tag.startswith("B-"))
    # Every B- in any layer is a span, unless the same span and label repeat in two layers.
    n_spans = sum(len(doc.spans["sc"]) for doc in docs)
    assert 0.97 * starts <= n_spans <= starts
    assert any(a.start <= b.start and b.end <= a.end and a != b for doc in docs
               for a in doc.spans["sc"] for b in doc.spans["sc"])  # nesting survives


@pytest.mark.parametrize("line,needle", [("word\tB-PER\tO\n", "expected a token and 4 IOB2 tag columns"),
                                         ("word\tB-PER\tO\tX-Y\tO\t\n", "'X-Y' is not an IOB2 tag"),
                                         ("word\tO\tO\tO\tU-PER\t\n", "'U-PER' is not an IOB2 tag")])
def test_litbank_bad_lines(tmp_path, line, needle):
    path = tmp_path / "bad.tsv"
    path.write_text("The\tO\tO\tO\tO\t\n" + line, encoding="utf8")
    with pytest.raises(CorpusError, match=needle) as err:
        list(read_litbank(path, Vocab()))
    assert err.value.where == f"{path}:2"


def _write(tmp_path, name, records):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    return path


def test_jsonl_spans_nested_and_keyed(tmp_path):
    path = _write(tmp_path, "spans.jsonl", [
        {"text": "The house of Tom Sawyer stood empty .", "spans": [[0, 23, "FAC"], [13, 23, "PER"], [13, 16, "PER"]]},
        {"text": "Tom left .", "spans": {"people": [[0, 3, "PER"]], "sc": []}},
        {"text": "Tom left .", "spans": [[0, 3, "PER"]], "spans_key": "other"},
    ])
    docs = [eg.reference for eg in Corpus(path)(Pipeline())]
    assert [(s.text, s.label_) for s in docs[0].spans["sc"]] == [("The house of Tom Sawyer", "FAC"),
                                                                 ("Tom Sawyer", "PER"), ("Tom", "PER")]
    assert set(docs[1].spans) == {"people", "sc"} and not docs[1].spans["sc"]
    assert set(docs[2].spans) == {"other"}


@pytest.mark.parametrize("spans,needle", [([[4, 7, "PER"]], "does not fall on token boundaries"),
                                          ([[0, 99, "PER"]], "outside the text"),
                                          ([[0, 3]], "must be [start, end, label]"),
                                          ([[0, 3, ""]], "needs a label")])
def test_jsonl_bad_spans_name_file_and_line(tmp_path, spans, needle):
    path = _write(tmp_path, "bad.jsonl", [{"text": "Tom left .", "spans": [[0, 3, "PER"]]},
                                          {"text": "Tom left home .", "spans": spans}])
    result = runner.invoke(app, ["train", str(SPANCAT_CFG), "--paths.train", str(path), "--paths.dev", str(path),
                                 "--training.max_steps", "1"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in output
    assert f"{path}:2" in output and needle in output, output


def test_docbin_keeps_overlapping_spans(tmp_path):
    docs = [eg.reference for eg in Corpus(SAMPLES / "train")(Pipeline())]
    doc_bin = DocBin()
    for doc in docs:
        doc_bin.add(doc)
    doc_bin.to_disk(tmp_path / "train.spacy")
    back = list(DocBin().from_disk(tmp_path / "train.spacy").get_docs(Vocab()))
    for a, b in zip(docs, back):
        assert [(s.start, s.end, s.label_) for s in a.spans["sc"]] == [(s.start, s.end, s.label_) for s in b.spans["sc"]]


# --- component ------------------------------------------------------------------------------------
def _component(threshold=0.5, max_positive=None, labels=("A", "B", "C")):
    config = load_config(SPANCAT_CFG, overrides={"components.spancat.threshold": threshold,
                                                 "components.spancat.max_positive": max_positive})
    nlp = Pipeline.from_config(config)
    spancat = nlp.get_pipe("spancat")
    spancat.cfg["labels"] = list(labels)
    return nlp, spancat


def test_set_annotations_threshold_max_positive_and_overlaps(vocab):
    doc = Doc(vocab, ["w", "x", "y"])
    indices = Ragged(numpy.asarray([[0, 1], [0, 2], [1, 2]], dtype="i"), numpy.asarray([3], dtype="i"))
    scores = numpy.asarray([[0.9, 0.6, 0.1], [0.2, 0.7, 0.8], [0.4, 0.3, 0.2]], dtype="f")
    _, spancat = _component()
    spancat.set_annotations([doc], (indices, scores))
    assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [(0, 1, "A"), (0, 1, "B"), (0, 2, "B"), (0, 2, "C")]
    _, top1 = _component(max_positive=1)
    top1.set_annotations([doc], (indices, scores))
    assert [(s.start, s.end, s.label_) for s in doc.spans["sc"]] == [(0, 1, "A"), (0, 2, "C")]


def test_gold_targets_match_candidates(vocab):
    _, spancat = _component()
    ref = Doc(vocab, ["a", "b", "c"])
    ref.spans["sc"] = [Span(ref, 0, 2, "B"), Span(ref, 0, 2, "C"), Span(ref, 2, 3, "A"), Span(ref, 0, 3, "A")]
    eg = Example(ref.copy(annotations=False), ref)
    other = Example(Doc(vocab, ["d"]), Doc(vocab, ["d"]))
    spans = build_ngram_suggester([1, 2])([eg.predicted, other.predicted])
    target = spancat.gold_targets([eg, other], spans, 3)
    rows = {tuple(r): t.tolist() for r, t in zip(spans.dataXd.tolist(), target)}
    assert target.shape == (6, 3) and target.sum() == 3  # (0, 3) is not a candidate of sizes 1-2
    assert rows[(0, 2)] == [0, 1, 1] and rows[(2, 3)] == [1, 0, 0]


def test_score_span_groups(vocab):
    ref = Doc(vocab, ["a", "b", "c", "d"])
    pred = ref.copy(annotations=False)
    ref.spans["sc"] = [Span(ref, 0, 2, "X"), Span(ref, 1, 2, "Y"), Span(ref, 3, 4, "X")]
    pred.spans["sc"] = [Span(pred, 0, 2, "X"), Span(pred, 1, 2, "X"), Span(pred, 3, 4, "X")]
    scores = score_span_groups([Example(pred, ref)], "sc")
    assert scores["spans_sc_p"] == pytest.approx(2 / 3) and scores["spans_sc_r"] == pytest.approx(2 / 3)
    assert scores["spans_sc_per_type"]["Y"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert scores["spans_sc_per_type"]["X"]["p"] == pytest.approx(2 / 3)
    unannotated = Doc(vocab, ["a"])
    assert score_span_groups([Example(unannotated.copy(), unannotated)], "sc")["spans_sc_f"] is None


@pytest.mark.slow
def test_spancat_learns_litbank_and_round_trips(tmp_path):
    train_dir, dev_dir = tmp_path / "train", tmp_path / "dev"
    train_dir.mkdir()
    dev_dir.mkdir()
    for path in sorted((LITBANK / "train").glob("*.tsv"))[:4]:
        shutil.copy(path, train_dir)
    shutil.copy(sorted((LITBANK / "dev").glob("*.tsv"))[0], dev_dir)
    config = load_config(SPANCAT_CFG, overrides={
        "paths.train": str(train_dir), "paths.dev": str(dev_dir), "training.max_steps": 300,
        "training.eval_frequency": 150, "components.spancat.suggester.sizes": [1, 2, 3]})
    nlp = train(config, tmp_path / "out", stdout=io.StringIO())
    best = load(tmp_path / "out" / "model-best")
    dev = list(Corpus(dev_dir)(best))
    scores = best.evaluate(dev)
    # Thousands of candidate spans per doc: guessing scores ~0.
    assert scores["spans_sc_f"] > 0.15 and scores["spans_sc_p"] > 0.25, scores
    assert {"PER", "FAC"} <= set(scores["spans_sc_per_type"])
    texts = [eg.reference.text for eg in dev[:3]]
    # Round trip: the pipeline trained in memory and the model-last it saved predict the same spans.
    last = load(tmp_path / "out" / "model-last")
    in_memory = [[(s.start, s.end, s.label_) for s in doc.spans["sc"]] for doc in nlp.pipe(texts)]
    reloaded = [[(s.start, s.end, s.label_) for s in doc.spans["sc"]] for doc in last.pipe(texts)]
    assert in_memory == reloaded and any(in_memory)
    weights = [[n.get_param(p) for n in m.get_pipe("spancat").model.walk() for p in n.param_names if n.has_param(p)]
               for m in (nlp, last)]
    assert len(weights[0]) == len(weights[1]) > 0
    for a, b in zip(*weights):
        numpy.testing.assert_array_equal(a, b)
    predicted = [s for doc in best.pipe(texts) for s in doc.spans["sc"]]
    assert predicted and all(len(s) <= 3 for s in predicted)
    with pytest.raises(ArchcliError, match="not resizable"):
        nlp.get_pipe("spancat").add_label("NEW")


def test_spancat_trains_from_docbin_and_jsonl(tmp_path):
    doc_bin = DocBin()
    for eg in Corpus(SAMPLES / "train")(Pipeline()):
        doc_bin.add(eg.reference)
    doc_bin.to_disk(tmp_path / "train.spacy")
    config = load_config(SPANCAT_CFG, overrides={"paths.train": str(tmp_path / "train.spacy"),
                                                 "paths.dev": str(SAMPLES / "dev.jsonl"), "training.max_steps": 6,
                                                 "training.eval_frequency": 3})
    nlp = train(config, stdout=io.StringIO())
    assert set(nlp.get_pipe("spancat").labels) == {"PER", "FAC", "GPE", "VEH", "ORG", "LOC"}


def test_spancat_without_gold_spans_is_a_clear_error(tmp_path):
    path = _write(tmp_path, "plain.jsonl", [{"text": "No spans here .", "spans": {"other": [[0, 2, "X"]]}}])
    result = runner.invoke(app, ["train", str(SPANCAT_CFG), "--paths.train", str(path), "--paths.dev", str(path),
                                 "--training.max_steps", "1"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "doc.spans['sc']" in output and "['other']" in output, output


def test_init_config_spancat(tmp_path):
    from archcli.init_config import init_config

    config = init_config(["tok2vec", "spancat"], optimize="efficiency")
    block = config["components"]["spancat"]
    assert block["suggester"] == {"@misc": "spacy.ngram_suggester.v1", "sizes": [1, 2, 3]}
    assert block["model"]["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"
    config.to_disk(tmp_path / "spancat.cfg")
    nlp = train(load_config(tmp_path / "spancat.cfg", overrides={
        "paths.train": str(SAMPLES / "train"), "paths.dev": str(SAMPLES / "dev"),
        "training.max_steps": 3, "training.eval_frequency": 3}), stdout=io.StringIO())
    assert "sc" in nlp("Tomas sailed home .").spans
