"""Coreference: the spec's blocks, clustering and losses, training and save/load, edge cases."""
import numpy
import pytest
from thinc.api import Config

from archcli.errors import ArchcliError
from archcli.language import Pipeline, load
from archcli.pipeline.coref import clusters_from_scores, gold_antecedents, head_cluster_ids
from archcli.tokens import Doc, Span, Vocab
from archcli.tokens.example import Example

from .spec_blocks import block_config, spec_blocks

SMALL_TOK2VEC = {
    "@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 32, "depth": 2,
    "embed_size": 500, "window_size": 1, "maxout_pieces": 3, "subword_features": True,
}
WORDS = "John Smith said he would come , and then the old man came .".split()


def _doc(vocab, words=WORDS, clusters=(((0, 2, 1), (3, 4, 3), (9, 12, 11)),)):
    """A doc with full-span clusters and their head clusters: (start, end, head) per mention."""
    doc = Doc(vocab, words, sent_starts=[True] + [False] * (len(words) - 1))
    for n, mentions in enumerate(clusters, start=1):
        doc.spans[f"coref_clusters_{n}"] = [Span(doc, s, e) for s, e, _ in mentions]
        doc.spans[f"coref_head_clusters_{n}"] = [Span(doc, h, h + 1) for _, _, h in mentions]
    return doc


def _pipeline(*, hidden: int = 64) -> Pipeline:
    config = Config({
        "nlp": {"lang": "en", "pipeline": ["coref", "span_resolver"]},
        "components": {
            "coref": {"factory": "experimental_coref", "model": {"hidden_size": hidden, "tok2vec": dict(SMALL_TOK2VEC)}},
            "span_resolver": {"factory": "experimental_span_resolver",
                              "model": {"hidden_size": hidden, "tok2vec": dict(SMALL_TOK2VEC)}},
        },
    })
    return Pipeline.from_config(config)


def test_spec_blocks_build_with_a_transformer(spec_text, tmp_path):
    """Both spec blocks as written (TransformerListener to "transformer") in one pipeline."""
    pytest.importorskip("transformers")
    from .trf_util import write_tiny_bert

    blocks = spec_blocks(spec_text)
    bert = write_tiny_bert(tmp_path / "bert", max_position_embeddings=256)
    coref = block_config(blocks["spacy-experimental.Coref.v1"])["model"]
    resolver = block_config(blocks["spacy-experimental.SpanResolver.v1"])["model"]
    assert coref["tok2vec"]["upstream"] == resolver["tok2vec"]["upstream"] == "transformer"
    config = Config({
        "nlp": {"lang": "en", "pipeline": ["transformer", "coref", "span_resolver"]},
        "components": {
            "transformer": {"factory": "transformer", "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3", "name": str(bert),
                "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 64, "stride": 48}}},
            "coref": {"factory": "experimental_coref", "model": coref},
            "span_resolver": {"factory": "experimental_span_resolver", "model": resolver},
        },
    })
    nlp = Pipeline.from_config(config)
    examples = [Example.from_gold(_doc(nlp.vocab))]
    optimizer = nlp.initialize(lambda: examples)
    losses = nlp.update([eg.copy() for eg in examples], sgd=optimizer)
    assert losses["coref"] > 0 and losses["span_resolver"] > 0
    doc = nlp(Doc(nlp.vocab, WORDS))
    assert all(key.startswith(("coref_head_clusters_", "coref_clusters_")) for key in doc.spans)


def test_clusters_from_scores_follow_best_links():
    # Word 2 links to 0, word 3 to 2, word 4 to none, word 5 to 4: clusters {0, 2, 3} and {4, 5}.
    indices = numpy.asarray([[1, 2], [0, 2], [0, 1], [2, 0], [1, 3], [4, 0]])
    scores = numpy.full((6, 3), -5.0)
    scores[:, 0] = 0.0
    scores[2, 1] = scores[3, 1] = scores[5, 1] = 3.0
    clusters = clusters_from_scores(scores, indices)
    assert [c.tolist() for c in clusters] == [[0, 2, 3], [4, 5]]
    # A link to a later word (an invalid candidate) is ignored.
    scores[1, 2] = 9.0
    assert [c.tolist() for c in clusters_from_scores(scores, indices)] == [[0, 2, 3], [4, 5]]


def test_gold_antecedents_and_no_antecedent_column():
    vocab = Vocab()
    doc = _doc(vocab)
    ids = head_cluster_ids(doc, "coref_head_clusters")
    assert ids[[1, 3, 11]].tolist() == [1, 1, 1] and (numpy.delete(ids, [1, 3, 11]) == -1).all()
    indices = numpy.asarray([[0, 1]] * 4 + [[1, 3]] * 10)[: len(doc)]
    gold = gold_antecedents(ids, indices)
    assert gold.shape == (len(doc), 3)
    assert gold[3].tolist() == [False, False, True]  # "he" -> "Smith" (index 1)
    assert gold[11].tolist() == [False, True, True]  # "man" -> Smith and he
    assert gold[1].tolist() == [True, False, False]  # first mention: no antecedent
    assert gold[5, 0]  # not a mention


def test_trains_predicts_and_round_trips(tmp_path):
    nlp = _pipeline()
    examples = [Example.from_gold(_doc(nlp.vocab)) for _ in range(2)]
    optimizer = nlp.initialize(lambda: examples)
    first = None
    for i in range(60):
        losses = nlp.update([eg.copy() for eg in examples], sgd=optimizer)
        first = losses if first is None else first
    assert losses["coref"] < first["coref"] / 10 and losses["span_resolver"] < first["span_resolver"] / 10
    doc = nlp(Doc(nlp.vocab, WORDS, sent_starts=[True] + [False] * (len(WORDS) - 1)))
    assert [s.text for s in doc.spans["coref_head_clusters_1"]] == ["Smith", "he", "man"]
    assert [s.text for s in doc.spans["coref_clusters_1"]] == ["John Smith", "he", "the old man"]
    nlp.to_disk(tmp_path / "model")
    again = load(tmp_path / "model")
    doc2 = again(Doc(again.vocab, WORDS, sent_starts=[True] + [False] * (len(WORDS) - 1)))
    assert {k: [(s.start, s.end) for s in g] for k, g in doc2.spans.items()} == \
        {k: [(s.start, s.end) for s in g] for k, g in doc.spans.items()}


def test_one_token_and_empty_docs_predict_no_clusters():
    nlp = _pipeline()
    examples = [Example.from_gold(_doc(nlp.vocab)), Example.from_gold(Doc(nlp.vocab, ["Hi"])),
                Example.from_gold(Doc(nlp.vocab, []))]
    optimizer = nlp.initialize(lambda: examples)
    nlp.update([eg.copy() for eg in examples], sgd=optimizer)
    for words in (["Hi"], []):
        assert nlp(Doc(nlp.vocab, words)).spans == {}


def test_rough_scores_never_hold_words_squared():
    """A 3,000-word doc with antecedent_limit 5: outputs are words x (limit + 1)."""
    nlp = _pipeline(hidden=16)
    vocab = nlp.vocab
    examples = [Example.from_gold(_doc(vocab))]
    nlp.initialize(lambda: examples)
    long_doc = Doc(vocab, ["word"] * 3000)
    model = nlp.get_pipe("coref").model
    model.get_ref("coref_scorer").layers[0].shims[0]._model.limit = 5
    (scores, indices), = model.predict([long_doc])
    assert scores.shape == (3000, 6) and indices.shape == (3000, 5)


def test_no_head_clusters_is_a_clear_error():
    nlp = _pipeline()
    examples = [Example.from_gold(Doc(nlp.vocab, WORDS))]
    with pytest.raises(ArchcliError, match="no doc.spans\\['coref_head_clusters_N'\\] head clusters"):
        nlp.initialize(lambda: examples)



def test_head_cluster_without_span_cluster_names_the_example():
    from archcli.errors import CorpusError

    nlp = _pipeline()
    good = Example.from_gold(_doc(nlp.vocab))
    optimizer = nlp.initialize(lambda: [good])
    doc = _doc(nlp.vocab)
    doc.spans["coref_head_clusters_2"] = [Span(doc, 5, 6)]  # "come": no coref_clusters_2
    bad = Example.from_gold(doc, source="corpus.spacy: doc 7")
    with pytest.raises(CorpusError, match=r"corpus\.spacy: doc 7.*coref_head_clusters_2.*'come'.*no 'coref_clusters_2' group"):
        nlp.update([bad], sgd=optimizer)


def test_span_scores_do_not_depend_on_padding():
    """Heads are scored in length buckets; the result equals scoring them all in one padded batch."""
    import torch

    from archcli.ml.coref import _span_module

    torch.manual_seed(0)
    module = _span_module()(16, 32, 8, 4, 1, 128).eval()
    words = torch.randn(300, 16)
    lengths = torch.tensor([3, 40, 5, 200, 17, 1, 64, 65])
    heads = torch.tensor([1, 50, 100, 150, 230, 260, 270, 280])
    first = (heads - lengths // 2).clamp_min(0)
    bucketed = module(words, heads, first, lengths)
    padded = module.score_rows(words, heads, first, lengths)
    assert bucketed.shape == (int(lengths.sum()), 2)
    assert torch.allclose(bucketed, padded, atol=1e-5)
    # One head alone gets the same scores as inside the batch.
    alone = module.score_rows(words, heads[3:4], first[3:4], lengths[3:4])
    assert torch.allclose(alone, padded[48:248], atol=1e-5)


def test_byte_mask_dropout_rate_and_scale():
    import torch

    from archcli.ml.coref import _dropout_class

    dropout = _dropout_class()(0.3).train()
    x = torch.ones(200_000)
    y = dropout(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - (1 - 77 / 256)) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.02  # kept values are scaled up
    assert torch.equal(dropout.eval()(x), x)


def test_resolver_trains_on_gold_sentences_of_blank_docs():
    """A reader's blank predicted doc has no sentence starts; training copies the gold ones (as
    evaluation does), so each head's candidates stay within its sentence."""
    nlp = _pipeline()
    words = WORDS + ["He", "left", "."]
    doc = _doc(nlp.vocab, words=words)
    doc.sent_start[len(WORDS)] = 1
    eg = Example.from_gold(doc)
    assert not eg.predicted.sent_start.any()
    nlp.get_pipe("span_resolver").use_gold_heads([eg])
    assert eg.predicted.sent_start.tolist() == doc.sent_start.tolist()
    assert [s.start for s in eg.predicted.spans["coref_head_clusters_1"]] == [1, 3, 11]
