"""Coreference metrics against hand-computed values and against definitions written out naively."""
import itertools

import numpy
import pytest

from archcli import coref_scoring
from archcli._registry import registry
from archcli.coref_scoring import (
    cluster_metrics,
    conll_f1,
    hungarian,
    matches_coref_prefix,
    score_clusters,
    score_span_predictions,
)
from archcli.tokens import Vocab
from archcli.tokens.doc import Doc, Span
from archcli.tokens.example import Example

LETTERS = "abcdefghi"


def mentions(*clusters: str):
    """Clusters written as strings of letters, each letter a one-token mention."""
    return [[(LETTERS.index(c), LETTERS.index(c) + 1) for c in cluster] for cluster in clusters]


def prf(score):
    return round(score.precision, 4), round(score.recall, 4), round(score.fscore, 4)


def test_pradhan_example():
    """Pradhan et al. (2014), fig. 1; also Moosavi & Strube (2016)'s LEA example.

    Key K1={a,b,c}, K2={d,e,f,g}; response R1={a,b}, R2={c,d}, R3={f,g,h,i}.
    Overlaps: K1∩R1=2, K1∩R2=1, K2∩R2=1, K2∩R3=2; e, h, i are twinless.

    MUC   R = [(3-2) + (4-3)] / [(3-1) + (4-1)] = 2/5   (K1 cut into {a,b},{c}; K2 into {d},{e},{f,g})
          P = [(2-1) + (2-2) + (4-3)] / [1 + 1 + 3] = 2/5,  F = 0.4
    B³    R = [(2²+1²)/3 + (1²+2²)/4] / 7 = (5/3 + 5/4)/7 = 5/12 = 0.4167
          P = [2²/2 + (1²+1²)/2 + 2²/4] / 8 = 4/8 = 0.5,  F = 5/11 = 0.4545
    CEAFe φ4(K1,R1)=4/5, φ4(K1,R2)=2/5, φ4(K2,R2)=1/3, φ4(K2,R3)=1/2; best alignment
          K1-R1 + K2-R3 = 1.3;  R = 1.3/2 = 0.65, P = 1.3/3 = 0.4333, F = 0.52
    LEA   R = [3·(1/3) + 4·(1/6)] / 7 = (5/3)/7 = 5/21 = 0.2381
          P = [2·(1/1) + 2·(0/1) + 4·(1/6)] / 8 = (8/3)/8 = 1/3 = 0.3333,  F = 5/18 = 0.2778
    CoNLL F1 = (0.4 + 5/11 + 0.52) / 3 = 0.4582
    """
    scores = cluster_metrics(mentions("abc", "defg"), mentions("ab", "cd", "fghi"))
    assert prf(scores["muc"]) == (0.4, 0.4, 0.4)
    assert prf(scores["b3"]) == (0.5, 0.4167, 0.4545)
    assert prf(scores["ceafe"]) == (0.4333, 0.65, 0.52)
    assert prf(scores["lea"]) == (0.3333, 0.2381, 0.2778)
    assert round(conll_f1(scores), 4) == 0.4582


def test_identical_partitions_score_one():
    clusters = mentions("abc", "de", "fghi")
    scores = cluster_metrics(clusters, [list(reversed(c)) for c in reversed(clusters)])
    for name in coref_scoring.METRICS:
        assert prf(scores[name]) == (1.0, 1.0, 1.0), name
    assert conll_f1(scores) == 1.0


def test_no_predicted_clusters_score_zero():
    scores = cluster_metrics(mentions("abc", "de"), [])
    for name in coref_scoring.METRICS:
        assert prf(scores[name]) == (0.0, 0.0, 0.0), name
        assert scores[name].r_den > 0


def test_singletons_excluded_by_default_kept_on_request():
    """Key {a,b},{c},{e}; response {a,b},{d},{e}.

    Excluded (default): both sides are {a,b} alone, every metric 1.0.
    Included: MUC ignores singletons (R = P = 1/1 = 1.0).
    B³  R = (2²/2 + 0 + 1²/1) / 4 = 3/4, P = (2 + 0 + 1) / 4 = 3/4.
    CEAFe φ4(K1,R1) = 1, φ4({e},{e}) = 1, {c} and {d} unmatched: R = P = 2/3.
    LEA R = (2·1 + 0 + 1·1) / 4 = 3/4 ({e} is a singleton on both sides: its self-link resolved;
        {c} is not in the response), P = 3/4.
    """
    key, response = mentions("ab", "c", "e"), mentions("ab", "d", "e")
    excluded = cluster_metrics(key, response)
    for name in coref_scoring.METRICS:
        assert prf(excluded[name]) == (1.0, 1.0, 1.0), name
    kept = cluster_metrics(key, response, include_singletons=True)
    assert prf(kept["muc"]) == (1.0, 1.0, 1.0)
    assert prf(kept["b3"]) == (0.75, 0.75, 0.75)
    assert prf(kept["ceafe"]) == (0.6667, 0.6667, 0.6667)
    assert prf(kept["lea"]) == (0.75, 0.75, 0.75)


def test_lea_singleton_merged_into_a_cluster_is_not_resolved():
    """Key {a},{b}; response {a,b}, singletons kept. LEA R: each key singleton's self-link is not
    a singleton in the response, so 0/2; P: link(a,b) is no key link, 0/2. B³ R = (1+1)/2 = 1,
    P = (1/2+1/2)/2 = 0.5. MUC R: 0/0 -> 0, P = (2-2)/1 = 0."""
    scores = cluster_metrics(mentions("a", "b"), mentions("ab"), include_singletons=True)
    assert prf(scores["lea"]) == (0.0, 0.0, 0.0)
    assert prf(scores["b3"]) == (0.5, 1.0, 0.6667)
    assert prf(scores["muc"]) == (0.0, 0.0, 0.0)


def test_repeated_mentions_count_once_in_their_first_cluster():
    once = cluster_metrics(mentions("abc", "de"), mentions("ab", "de"))
    twice = cluster_metrics(mentions("abca", "dea", "c"), mentions("abb", "de"))
    for name in coref_scoring.METRICS:
        assert prf(once[name]) == prf(twice[name]), name


def test_counts_are_summed_over_documents_not_averaged():
    """Doc 1 perfect (B³ R = 2/2), doc 2 misses its cluster (B³ R = 0/4): summed 2/6, not 0.5."""
    totals = score_clusters([(mentions("ab"), mentions("ab")), (mentions("abcd"), [])])
    assert round(totals["b3"].recall, 4) == round(2 / 6, 4)
    assert totals["b3"].precision == 1.0
    assert round(totals["muc"].recall, 4) == 0.25  # (1 + 0) / (1 + 3)


# --- the definitions written out, one mention at a time -----------------------------------
def naive_metrics(key, response, include_singletons=False):
    def clean(clusters):
        seen, out = set(), []
        for cluster in clusters:
            kept = []
            for m in cluster:
                if m not in seen:
                    seen.add(m)
                    kept.append(m)
            out.append(kept)
        return [set(c) for c in out if len(c) > (0 if include_singletons else 1)]

    key, response = clean(key), clean(response)

    def muc(a, b):
        num = den = 0
        for c in a:
            parts = {i for i, d in enumerate(b) for m in c if m in d}
            unaligned = sum(1 for m in c if not any(m in d for d in b))
            num += len(c) - len(parts) - unaligned
            den += len(c) - 1
        return num, den

    def b3(a, b):
        return sum(len(c & d) ** 2 / len(c) for c in a for d in b), sum(len(c) for c in a)

    def lea(a, b):
        num = 0.0
        for c in a:
            if len(c) == 1:
                num += 1.0 if any(c == d for d in b) else 0.0
            else:
                links = sum(len(c & d) * (len(c & d) - 1) / 2 for d in b)
                num += len(c) * links / (len(c) * (len(c) - 1) / 2)
        return num, sum(len(c) for c in a)

    def ceafe():
        phi = [[2 * len(k & r) / (len(k) + len(r)) for r in response] for k in key]
        best = 0.0
        if key and response:
            small, large = (len(key), len(response))
            if small <= large:
                for perm in itertools.permutations(range(large), small):
                    best = max(best, sum(phi[i][perm[i]] for i in range(small)))
            else:
                for perm in itertools.permutations(range(small), large):
                    best = max(best, sum(phi[perm[j]][j] for j in range(large)))
        return best

    out = {}
    for name, fn in (("muc", muc), ("b3", b3), ("lea", lea)):
        r_num, r_den = fn(key, response)
        p_num, p_den = fn(response, key)
        out[name] = (p_num, p_den, r_num, r_den)
    sim = ceafe()
    out["ceafe"] = (sim, len(response), sim, len(key))
    return out


def random_partition(rng, n_mentions, n_clusters):
    clusters = [[] for _ in range(n_clusters)]
    for m in rng.choice(12, size=n_mentions, replace=False):
        clusters[rng.integers(n_clusters)].append((int(m), int(m) + 1 + int(rng.integers(2))))
    return [c for c in clusters if c]


@pytest.mark.parametrize("include_singletons", [False, True])
def test_vectorised_metrics_match_the_definitions(include_singletons):
    rng = numpy.random.default_rng(13)
    for _ in range(150):
        key = random_partition(rng, int(rng.integers(0, 9)), int(rng.integers(1, 5)))
        response = random_partition(rng, int(rng.integers(0, 9)), int(rng.integers(1, 5)))
        got = cluster_metrics(key, response, include_singletons=include_singletons)
        want = naive_metrics(key, response, include_singletons)
        for name in coref_scoring.METRICS:
            s = got[name]
            assert numpy.allclose((s.p_num, s.p_den, s.r_num, s.r_den), want[name]), (name, key, response)


def test_hungarian_finds_the_optimum():
    rng = numpy.random.default_rng(0)
    for _ in range(100):
        cost = rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 6))))
        rows, cols = hungarian(cost)
        n, m = cost.shape
        assert len(rows) == len(set(rows.tolist())) == len(set(cols.tolist())) == min(n, m)
        if n <= m:
            best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
        else:
            best = min(sum(cost[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
        assert cost[rows, cols].sum() == pytest.approx(best)


def test_ceafe_without_scipy(monkeypatch):
    monkeypatch.setattr(coref_scoring, "_scipy_assignment", None)
    scores = cluster_metrics(mentions("abc", "defg"), mentions("ab", "cd", "fghi"))
    assert prf(scores["ceafe"]) == (0.4333, 0.65, 0.52)


# --- docs and the registered scorers ----------------------------------------------------------
def make_doc(vocab, clusters, prefix="coref_clusters", n_words=9):
    doc = Doc(vocab, list(LETTERS[:n_words]))
    for i, cluster in enumerate(clusters, 1):
        doc.spans[f"{prefix}_{i}"] = [Span(doc, s, e) for s, e in cluster]
    return doc


def example(vocab, gold, pred, prefix="coref_clusters"):
    return Example(make_doc(vocab, pred, prefix), make_doc(vocab, gold, prefix))


def test_prefix_matching():
    assert matches_coref_prefix("coref_clusters", "coref_clusters_12")
    assert not matches_coref_prefix("coref_clusters", "coref_clusters_x")
    assert not matches_coref_prefix("coref_clusters", "coref_clustersX1")
    assert not matches_coref_prefix("coref_clusters", "coref_clusters_")
    assert not matches_coref_prefix("coref_clusters", "coref_head_clusters_1")


def test_coref_scorer_keys_and_values():
    vocab = Vocab()
    scorer = registry.scorers.get("spacy-experimental.coref_scorer.v1")()
    eg = example(vocab, mentions("abc", "defg"), mentions("ab", "cd", "fghi"))
    eg.reference.spans["other_1"] = [Span(eg.reference, 0, 9)]
    scores = scorer([eg])
    assert (round(scores["coref_p"], 4), round(scores["coref_r"], 4), round(scores["coref_f"], 4)) == (
        0.3333, 0.2381, 0.2778)
    assert scores["coref_lea_f"] == scores["coref_f"]
    assert round(scores["coref_muc_f"], 4) == 0.4
    assert round(scores["coref_b3_r"], 4) == 0.4167
    assert round(scores["coref_ceafe_p"], 4) == 0.4333
    assert round(scores["coref_conll_f"], 4) == 0.4582
    expected = {"coref_f", "coref_p", "coref_r", "coref_conll_f"} | {
        f"coref_{m}_{x}" for m in coref_scoring.METRICS for x in "prf"}
    assert set(scores) == expected


def test_coref_scorer_prefix_and_singletons():
    vocab = Vocab()
    heads = example(vocab, mentions("ab", "c"), mentions("ab", "c"), prefix="coref_head_clusters")
    scorer = registry.scorers.get("spacy-experimental.coref_scorer.v1")()
    assert scorer([heads])["coref_f"] is None  # nothing under "coref_clusters"
    assert scorer([heads], span_cluster_prefix="coref_head_clusters")["coref_f"] == 1.0
    eg = example(vocab, mentions("ab", "c"), mentions("ab"))
    assert scorer([eg])["coref_f"] == 1.0
    kept = registry.scorers.get("spacy-experimental.coref_scorer.v1")(include_singletons=True)([eg])
    assert round(kept["coref_r"], 4) == round(2 / 3, 4) and kept["coref_p"] == 1.0


def test_empty_docs_give_none():
    vocab = Vocab()
    scorer = registry.scorers.get("spacy-experimental.coref_scorer.v1")()
    for examples in ([], [example(vocab, [], [])], [Example.from_gold(Doc(vocab, []))]):
        scores = scorer(examples)
        assert all(value is None for value in scores.values()), scores
    resolver = registry.scorers.get("spacy-experimental.span_resolver_scorer.v1")()
    assert all(value is None for value in resolver([example(vocab, [], [])]).values())


def test_no_predictions_score_zero_through_the_scorer():
    vocab = Vocab()
    scores = registry.scorers.get("spacy-experimental.coref_scorer.v1")()([example(vocab, mentions("abc"), [])])
    assert scores["coref_f"] == 0.0 and scores["coref_conll_f"] == 0.0


def test_span_resolver_accuracy_is_the_mean_over_docs():
    """Doc 1: gold [(0,2),(3,5)] | [(6,7)] vs predicted [(0,2),(3,4)] | [(6,7)]: 2/3 correct.
    Doc 2: gold [(0,1),(2,4)] vs [(0,1),(2,4)]: 1.0. Mean over docs (2/3 + 1) / 2 = 0.8333, not
    the pooled 4/5. Doc 3 has no gold clusters and is left out."""
    vocab = Vocab()
    egs = [
        example(vocab, [[(0, 2), (3, 5)], [(6, 7)]], [[(0, 2), (3, 4)], [(6, 7)]]),
        example(vocab, [[(0, 1), (2, 4)]], [[(0, 1), (2, 4)]]),
        example(vocab, [], [[(0, 1), (2, 4)]]),
    ]
    scorer = registry.scorers.get("spacy-experimental.span_resolver_scorer.v1")()
    scores = scorer(egs)
    assert round(scores["span_coref_clusters_accuracy"], 4) == 0.8333
    assert "coref_f" not in scores and "coref_conll_f" in scores
    # Full-span cluster metrics: doc 1 (0,2)-(3,5) vs (0,2)-(3,4) misses its link; doc 2 right.
    assert round(scores["coref_muc_r"], 4) == 0.5


def test_span_resolver_pairs_by_position_like_zip():
    """Gold group 1 has 3 mentions, the predicted one 2: the third is unpaired (spacy-experimental
    zips); gold group 2 has no predicted group: no pairs. Accuracy 1/2."""
    vocab = Vocab()
    eg = example(vocab, [[(0, 1), (2, 3), (4, 5)], [(6, 7), (8, 9)]], [[(0, 1), (2, 4)]])
    scores = score_span_predictions([eg])
    assert scores["span_coref_clusters_accuracy"] == 0.5
    heads = example(vocab, [[(0, 1), (2, 3)]], [[(0, 1), (2, 3)]], prefix="my_spans")
    scorer = registry.scorers.get("spacy-experimental.span_resolver_scorer.v1")(output_prefix="my_spans")
    assert scorer([heads])["span_my_spans_accuracy"] == 1.0


def test_scorer_is_linear_in_mentions():
    """A 100k-token doc with 20k mentions in 2k clusters scores in well under a second's work
    per metric (no mention-by-mention pairing)."""
    import time

    rng = numpy.random.default_rng(1)
    starts = numpy.sort(rng.choice(100_000, size=20_000, replace=False))
    gold_ids = rng.integers(0, 2000, size=20_000)
    pred_ids = numpy.where(rng.random(20_000) < 0.8, gold_ids, rng.integers(0, 2000, size=20_000))

    def clusters(ids):
        out = [[] for _ in range(2000)]
        for s, c in zip(starts.tolist(), ids.tolist()):
            out[c].append((s, s + 1))
        return out

    gold, pred = clusters(gold_ids), clusters(pred_ids)
    start = time.perf_counter()
    scores = score_clusters([(gold, pred)])
    assert time.perf_counter() - start < 10.0
    assert 0.5 < scores["muc"].fscore < 1.0


def test_scorers_resolve_from_config_blocks():
    """The blocks the coref components' default configs use (spacy-experimental's arguments)."""
    from thinc.api import Config

    cfg = Config().from_str(
        """
[coref]
@scorers = "spacy-experimental.coref_scorer.v1"
span_cluster_prefix = "coref_head_clusters"

[resolver]
@scorers = "spacy-experimental.span_resolver_scorer.v1"
input_prefix = "coref_head_clusters"
output_prefix = "coref_clusters"
include_singletons = true
"""
    )
    resolved = registry.resolve(cfg)
    vocab = Vocab()
    heads = example(vocab, mentions("ab"), mentions("ab"), prefix="coref_head_clusters")
    assert resolved["coref"]([heads])["coref_f"] == 1.0
    spans = example(vocab, mentions("ab", "c"), mentions("ab", "c"))
    scores = resolved["resolver"]([spans])
    assert scores["span_coref_clusters_accuracy"] == 1.0 and scores["coref_b3_f"] == 1.0
