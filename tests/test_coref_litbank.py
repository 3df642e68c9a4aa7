"""Coreference on real text: a small tok2vec + coref + span resolver trained on a slice of LitBank
(../shared/corpora/litbank/coref: the first ~600 words of 12 train documents) beats the trivial
baselines on the first ~1,200 words of 3 held-out dev documents."""
from pathlib import Path

import pytest
from thinc.api import Config

from archcli.coref_scoring import gold_head_span_accuracy, score_coref_clusters
from archcli.language import Pipeline
from archcli.pipeline.coref import cluster_groups
from archcli.tokens import Doc, Span
from archcli.tokens.example import Example
from archcli.training.conll2012 import read_conll2012

LITBANK = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "litbank" / "coref"
N_TRAIN, N_DEV, STEPS, WORDS = 12, 3, 150, 600

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not LITBANK.is_dir(), reason=f"LitBank coreference not found at {LITBANK}")]

LISTENER = {"@architectures": "spacy.Tok2VecListener.v1", "width": 64, "upstream": "*"}


def _read(split: str, n: int, vocab, words: int):
    """The first `n` documents, each cut at the first sentence start after `words` words."""
    docs = [doc for path in sorted((LITBANK / split).glob("*.conll"))[:n] for doc, _ in read_conll2012(path, vocab)]
    cut = []
    for doc in docs:
        later = [s.start for s in doc.sents if s.start >= words]
        cut.append(doc.slice_doc(0, later[0]) if later else doc)
    return cut


def _bare(ref: Doc, vocab, *, heads: bool = False) -> Doc:
    """The reference's words and sentences; with `heads`, its gold head clusters too."""
    doc = Doc(vocab, [t.text for t in ref], [bool(t.whitespace_) for t in ref])
    doc.sent_start[:] = -1
    doc.sent_start[[s.start for s in ref.sents]] = 1
    if heads:
        for n, group in cluster_groups(ref, "coref_head_clusters"):
            doc.spans[f"coref_head_clusters_{n}"] = [Span(doc, s.start, s.end) for s in group]
    return doc


@pytest.fixture(scope="module")
def trained():
    config = Config({
        "nlp": {"lang": "en", "pipeline": ["tok2vec", "coref", "span_resolver"]},
        "components": {
            "tok2vec": {"factory": "tok2vec", "model": {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 64,
                          "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "rows": [5000, 1000, 2500, 2500],
                          "include_static_vectors": False},
                "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 64, "depth": 2,
                           "window_size": 1, "maxout_pieces": 3}}},
            "coref": {"factory": "experimental_coref", "model": {
                "hidden_size": 64, "antecedent_limit": 20, "tok2vec": dict(LISTENER)}},
            "span_resolver": {"factory": "experimental_span_resolver", "model": {
                "hidden_size": 64, "tok2vec": dict(LISTENER)}},
        },
    })
    nlp = Pipeline.from_config(config)
    train = [Example(_bare(doc, nlp.vocab), doc) for doc in _read("train", N_TRAIN, nlp.vocab, WORDS)]
    dev = _read("dev", N_DEV, nlp.vocab, 2 * WORDS)
    optimizer = nlp.initialize(lambda: train)
    for step in range(STEPS):
        eg = train[step % len(train)]
        nlp.update([eg.copy()], sgd=optimizer, drop=0.1)
    return nlp, dev


def test_coref_links_far_above_no_links(trained):
    """LEA on head clusters (spaCy's coref_f), singletons excluded: a system that links nothing scores 0."""
    nlp, dev = trained
    predicted = list(nlp.pipe([_bare(doc, nlp.vocab) for doc in dev]))
    heads = score_coref_clusters([Example(p, g) for p, g in zip(predicted, dev)], span_cluster_prefix="coref_head_clusters")
    spans = score_coref_clusters([Example(p, g) for p, g in zip(predicted, dev)], span_cluster_prefix="coref_clusters")
    assert heads["coref_f"] > 0.15, heads
    assert spans["coref_conll_f"] > 0.15, spans


def test_span_resolver_beats_the_head_word_alone(trained):
    nlp, dev = trained
    docs = [_bare(doc, nlp.vocab, heads=True) for doc in dev]
    # The tok2vec first: it feeds the resolver's listener (doc.tensor). The coref component is skipped.
    docs = list(nlp.get_pipe("span_resolver").pipe(nlp.get_pipe("tok2vec").pipe(docs)))
    result = gold_head_span_accuracy(docs, dev)
    assert result["gold_heads"] > 300
    assert result["span_accuracy_gold_heads"] > result["head_only_accuracy"] + 0.1, result
