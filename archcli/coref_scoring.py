"""Coreference metrics: MUC, B³, CEAF-e, LEA and CoNLL F1, plus spacy-experimental's scorers.

A cluster is a list of mentions, a mention a (start, end) token span. Every metric is computed
per document as numerator/denominator counts for precision and recall, and the counts are summed
over documents before dividing, as the CoNLL-2012 reference scorer does (a micro average, so long
documents weigh more). The definitions are the published ones, with twinless mentions (in one
partition only) handled as Pradhan et al. (2014, "Scoring coreference partitions of predicted
mentions: a reference implementation") do:

- MUC (Vilain et al. 1995): links. R = Σ_k (|k| - |p(k)|) / Σ_k (|k| - 1), p(k) the parts the
  response cuts k into, each unaligned mention a part of its own; P swaps key and response.
- B³ (Bagga & Baldwin 1998): per mention. R = Σ_k Σ_r |k∩r|² / |k| / Σ_k |k|; P swaps.
- CEAF-e (Luo 2005): entities. φ4(k, r) = 2|k∩r| / (|k| + |r|) under the one-to-one alignment of
  key and response entities that maximises Σ φ4; R = Σ φ4 / #key entities, P = Σ φ4 / #response.
- LEA (Moosavi & Strube 2016): links, weighted by entity size. R = Σ_k |k| · Σ_r link(k∩r) /
  link(k) / Σ_k |k|, link(n) = n(n-1)/2, a singleton's one self-link resolved only when the
  response has it as a singleton too; P swaps.
- CoNLL F1: the mean of the MUC, B³ and CEAF-e F1.

Singleton clusters (one mention) are dropped from both sides before scoring unless
`include_singletons` is set: the CoNLL-2012 convention, and the only fair one for a model that
never predicts singletons (spacy-experimental's coref component does not). Within a document a
mention listed twice counts once, in the first cluster (by group number) that lists it.

Everything is linear in the number of mentions (numpy set operations over encoded spans) except
CEAF-e's alignment, which is over the clusters that overlap at all.
"""
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy

from ._registry import registry
from .tokens.doc import Doc
from .tokens.example import Example

try:  # scipy is optional: the Hungarian algorithm below gives the same optimum without it.
    from scipy.optimize import linear_sum_assignment as _scipy_assignment
except ImportError:  # pragma: no cover - depends on the environment
    _scipy_assignment = None

Mention = Tuple[int, int]
Clusters = Sequence[Sequence[Mention]]

DEFAULT_CLUSTER_PREFIX = "coref_clusters"
DEFAULT_CLUSTER_HEAD_PREFIX = "coref_head_clusters"
METRICS = ("muc", "b3", "ceafe", "lea")


class ClusterScore:
    """Summed numerators and denominators of one metric's precision and recall."""

    def __init__(self, p_num: float = 0.0, p_den: float = 0.0, r_num: float = 0.0, r_den: float = 0.0) -> None:
        self.p_num, self.p_den, self.r_num, self.r_den = p_num, p_den, r_num, r_den

    def __iadd__(self, other: "ClusterScore") -> "ClusterScore":
        self.p_num += other.p_num
        self.p_den += other.p_den
        self.r_num += other.r_num
        self.r_den += other.r_den
        return self

    def __repr__(self) -> str:
        return f"ClusterScore(p={self.precision:.4f}, r={self.recall:.4f}, f={self.fscore:.4f})"

    @property
    def precision(self) -> float:
        # 0/0 reads as 0, as the CoNLL scorer and coval report it.
        return self.p_num / self.p_den if self.p_den else 0.0

    @property
    def recall(self) -> float:
        return self.r_num / self.r_den if self.r_den else 0.0

    @property
    def fscore(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> Dict[str, float]:
        return {"p": self.precision, "r": self.recall, "f": self.fscore}


# --- partitions as arrays ---------------------------------------------------------------------
def _partition(clusters: Clusters, include_singletons: bool) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Sorted unique mention codes and their cluster ids (0..K-1), singletons dropped unless kept.

    A code packs (start, end) into one int64 so set operations run on flat arrays.
    """
    sizes = [len(cluster) for cluster in clusters]
    n = sum(sizes)
    if not n:
        return numpy.zeros((0,), dtype="int64"), numpy.zeros((0,), dtype="int64")
    spans = numpy.fromiter((x for cluster in clusters for m in cluster for x in m), dtype="int64", count=2 * n)
    codes = (spans[0::2] << 32) | spans[1::2]
    ids = numpy.repeat(numpy.arange(len(sizes), dtype="int64"), sizes)
    codes, first = numpy.unique(codes, return_index=True)  # a repeated mention stays in its first cluster
    ids = ids[first]
    if not include_singletons:
        keep = numpy.bincount(ids)[ids] > 1
        codes, ids = codes[keep], ids[keep]
    _, ids = numpy.unique(ids, return_inverse=True)
    return codes, ids.reshape(-1).astype("int64")


def cluster_metrics(gold: Clusters, pred: Clusters, *, include_singletons: bool = False) -> Dict[str, ClusterScore]:
    """MUC, B³, CEAF-e and LEA counts of one document's predicted clusters against gold."""
    g_codes, g_ids = _partition(gold, include_singletons)
    p_codes, p_ids = _partition(pred, include_singletons)
    n_g, n_p = len(g_codes), len(p_codes)
    k = int(g_ids.max()) + 1 if n_g else 0
    r = int(p_ids.max()) + 1 if n_p else 0
    g_sizes = numpy.bincount(g_ids, minlength=k).astype("float64")
    p_sizes = numpy.bincount(p_ids, minlength=r).astype("float64")
    # Sparse contingency table: n[i] mentions shared by gold cluster pk[i] and predicted pr[i].
    _, gi, pi = numpy.intersect1d(g_codes, p_codes, assume_unique=True, return_indices=True)
    pairs, n = numpy.unique(g_ids[gi] * max(r, 1) + p_ids[pi], return_counts=True)
    pk, pr = pairs // max(r, 1), pairs % max(r, 1)
    n = n.astype("float64")
    gs, ps = g_sizes[pk], p_sizes[pr]
    # MUC: Σ_k (|k| - parts) = common mentions - overlapping cluster pairs, on both sides.
    muc_num = float(len(gi) - len(pairs))
    scores = {
        "muc": ClusterScore(muc_num, n_p - r, muc_num, n_g - k),
        "b3": ClusterScore(float((n * n / ps).sum()), n_p, float((n * n / gs).sum()), n_g),
        "ceafe": ClusterScore(0.0, r, 0.0, k),
        "lea": ClusterScore(_lea_num(n, ps, gs), n_p, _lea_num(n, gs, ps), n_g),
    }
    if len(pairs):
        similarity = _ceafe_similarity(pk, pr, 2 * n / (gs + ps))
        scores["ceafe"].p_num = scores["ceafe"].r_num = similarity
    return scores


def _lea_num(n: numpy.ndarray, own: numpy.ndarray, other: numpy.ndarray) -> float:
    """Σ over one side's entities e of |e| · Σ link(e∩o) / link(e), from the contingency pairs."""
    links = n * (n - 1) / 2
    big = own > 1
    resolved = (own[big] * links[big] / (own[big] * (own[big] - 1) / 2)).sum()
    singletons = ((own == 1) & (other == 1)).sum()  # a self-link kept only as a singleton there too
    return float(resolved + singletons)


def _ceafe_similarity(rows: numpy.ndarray, cols: numpy.ndarray, phi: numpy.ndarray) -> float:
    """Σ φ4 under the best one-to-one alignment, solved per connected group of overlapping clusters.

    Clusters that share no mention have φ4 = 0, so the alignment splits into the connected parts
    of the overlap graph; most are one key and one response entity, solved without a matrix.
    """
    n_rows = int(rows.max()) + 1
    group = _components(rows, cols + n_rows, n_rows + int(cols.max()) + 1)[rows]
    order = numpy.argsort(group, kind="stable")
    bounds = numpy.flatnonzero(numpy.diff(group[order])) + 1
    total = 0.0
    for part in numpy.split(order, bounds):
        if len(part) == 1:
            total += float(phi[part[0]])
            continue
        row_ids, sub_rows = numpy.unique(rows[part], return_inverse=True)
        col_ids, sub_cols = numpy.unique(cols[part], return_inverse=True)
        sim = numpy.zeros((len(row_ids), len(col_ids)), dtype="float64")
        sim[sub_rows.reshape(-1), sub_cols.reshape(-1)] = phi[part]
        matched_rows, matched_cols = max_assignment(sim)
        total += float(sim[matched_rows, matched_cols].sum())
    return total


def _components(a: numpy.ndarray, b: numpy.ndarray, n: int) -> numpy.ndarray:
    """Component label of each of n nodes joined by the edges (a[i], b[i]): union-find."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[rx] = ry
    return numpy.fromiter((find(x) for x in range(n)), dtype="int64", count=n)


def max_assignment(sim: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Rows and columns of the one-to-one matching with the largest total (scipy's if present)."""
    if _scipy_assignment is not None:
        return _scipy_assignment(sim, maximize=True)
    return hungarian(sim.max(initial=0.0) - sim)


def hungarian(cost: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Minimum-cost matching of a rectangular cost matrix (rows, cols sorted by row), O(n²m).

    The shortest-augmenting-path form with row and column potentials, its inner loop over
    columns vectorised; used when scipy is not installed.
    """
    cost = numpy.asarray(cost, dtype="float64")
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape
    u, v = numpy.zeros(n + 1), numpy.zeros(m + 1)
    owner = numpy.zeros(m + 1, dtype="int64")  # owner[j]: 1-based row on column j, 0 = free
    way = numpy.zeros(m + 1, dtype="int64")
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        minv = numpy.full(m + 1, numpy.inf)
        used = numpy.zeros(m + 1, dtype="bool")
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free[1:] & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = numpy.where(free[1:], minv[1:], numpy.inf)
            j1 = int(candidates.argmin()) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            minv[free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = numpy.flatnonzero(owner[1:])
    rows = owner[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = numpy.argsort(rows)
    return rows[order], cols[order]


def score_clusters(
    documents: Iterable[Tuple[Clusters, Clusters]], *, include_singletons: bool = False
) -> Dict[str, ClusterScore]:
    """Counts of every metric summed over (gold, predicted) cluster pairs, one per document."""
    totals = {name: ClusterScore() for name in METRICS}
    for gold, pred in documents:
        for name, score in cluster_metrics(gold, pred, include_singletons=include_singletons).items():
            totals[name] += score
    return totals


def conll_f1(scores: Dict[str, ClusterScore]) -> float:
    return (scores["muc"].fscore + scores["b3"].fscore + scores["ceafe"].fscore) / 3


# --- docs ---------------------------------------------------------------------------------------
def matches_coref_prefix(prefix: str, key: str) -> bool:
    """Whether a span key is `{prefix}_N` with N a number: "coref_clusters_2", not "coref_clusters_x"."""
    suffix = key[len(prefix) + 1 :]
    return key.startswith(prefix + "_") and suffix.isascii() and suffix.isdigit()


def cluster_keys(doc: Doc, prefix: str) -> List[str]:
    """The doc's `{prefix}_N` span keys in the order of N."""
    keys = [key for key in doc.spans if matches_coref_prefix(prefix, key)]
    return sorted(keys, key=lambda key: int(key[len(prefix) + 1 :]))


def doc_clusters(doc: Doc, prefix: str = DEFAULT_CLUSTER_PREFIX) -> List[List[Mention]]:
    """The doc's clusters under `prefix` as lists of (start, end) token spans."""
    return [[(span.start, span.end) for span in doc.spans[key]] for key in cluster_keys(doc, prefix)]


def score_coref_clusters(
    examples: Iterable[Example],
    *,
    span_cluster_prefix: str = DEFAULT_CLUSTER_PREFIX,
    include_singletons: bool = False,
    **kwargs: Any,
) -> Dict[str, Optional[float]]:
    """spaCy's coref keys and the literature's metrics of `{span_cluster_prefix}_N` clusters.

    `coref_p/r/f` are LEA, as spacy-experimental's coref scorer reports them: its counts are
    pooled over the examples (coval's ClusterEvaluator), as here. spacy-experimental keeps
    singletons; `include_singletons=True` gives its numbers. `coref_{muc,b3,ceafe,lea}_{p,r,f}`
    and `coref_conll_f` are the CoNLL-2012 figures. All values are None when no example has a
    mention on either side (spacy-experimental would give 0).
    """
    return _coref_keys(examples, span_cluster_prefix, include_singletons, spacy_keys=True)


def _coref_keys(
    examples: Iterable[Example], prefix: str, include_singletons: bool, *, spacy_keys: bool
) -> Dict[str, Optional[float]]:
    docs = [(doc_clusters(eg.reference, prefix), doc_clusters(eg.predicted, prefix)) for eg in examples]
    totals = score_clusters(docs, include_singletons=include_singletons)
    empty = not any(score.p_den or score.r_den for score in totals.values())
    results: Dict[str, Optional[float]] = {}
    if spacy_keys:
        lea = totals["lea"]
        results.update({"coref_f": lea.fscore, "coref_p": lea.precision, "coref_r": lea.recall})
    for name in METRICS:
        for part, value in totals[name].to_dict().items():
            results[f"coref_{name}_{part}"] = value
    results["coref_conll_f"] = conll_f1(totals)
    return {key: None for key in results} if empty else results


def score_span_predictions(
    examples: Iterable[Example],
    *,
    output_prefix: str = DEFAULT_CLUSTER_PREFIX,
    include_singletons: bool = False,
    **kwargs: Any,
) -> Dict[str, Optional[float]]:
    """spacy-experimental's `span_{output_prefix}_accuracy`, plus the full-span cluster metrics.

    The accuracy is spacy-experimental's definition: for every non-empty gold group
    `{output_prefix}_N`, its i-th mention is paired with the i-th mention of the predicted
    group of the same key (positions, not clusters, are compared; a shorter predicted group
    leaves the extra gold mentions unpaired, as zip does, and a missing one pairs nothing where
    spacy-experimental raises); a pair is correct when start and end both match. Each doc with
    a pair scores correct/pairs, and the accuracy is the mean over those docs (a macro average),
    None when no doc has a pair (spacy-experimental gives 0). It measures the span resolver on
    its own when the predicted head clusters are the gold ones; singletons are always counted.

    The cluster metrics are those of `score_coref_clusters` over the output clusters, without
    spaCy's `coref_p/r/f` (which stay the coref component's, as in spacy-experimental).
    """
    examples = list(examples)
    accuracies = [acc for acc in (_span_accuracy(eg, output_prefix) for eg in examples) if acc is not None]
    results: Dict[str, Optional[float]] = {
        f"span_{output_prefix}_accuracy": float(numpy.mean(accuracies)) if accuracies else None
    }
    results.update(_coref_keys(examples, output_prefix, include_singletons, spacy_keys=False))
    return results


def _span_accuracy(eg: Example, prefix: str) -> Optional[float]:
    """Share of gold mentions whose same-position predicted mention has the same boundaries."""
    correct = total = 0
    for key in cluster_keys(eg.reference, prefix):
        gold = eg.reference.spans[key]
        pred = eg.predicted.spans.get(key, [])
        for g, p in zip(gold, pred):
            correct += g.start == p.start and g.end == p.end
            total += 1
    return correct / total if total else None


def head_target_spans(doc: Doc, head_prefix: str = DEFAULT_CLUSTER_HEAD_PREFIX,
                      span_prefix: str = DEFAULT_CLUSTER_PREFIX) -> List[Tuple[int, List[Tuple[int, int, int]]]]:
    """(N, [(head, start, end), …]) per head cluster N: the span a resolver should grow each head
    into, the shortest mention of span cluster N that contains the head ((-1, -1) where none does;
    head clusters may hold fewer mentions than span clusters, see coref_heads.py)."""
    spans_by_n = {int(key[len(span_prefix) + 1:]): doc.spans[key] for key in cluster_keys(doc, span_prefix)}
    result = []
    for key in cluster_keys(doc, head_prefix):
        n = int(key[len(head_prefix) + 1:])
        spans = spans_by_n.get(n, [])
        targets = []
        for head in doc.spans[key]:
            around = [s for s in spans if s.start <= head.start < s.end]
            best = min(around, key=lambda s: (s.end - s.start, s.start)) if around else None
            targets.append((head.start, best.start, best.end) if best is not None else (head.start, -1, -1))
        result.append((n, targets))
    return result


def gold_head_span_accuracy(predicted: Iterable[Doc], gold: Iterable[Doc], *,
                            head_prefix: str = DEFAULT_CLUSTER_HEAD_PREFIX,
                            span_prefix: str = DEFAULT_CLUSTER_PREFIX) -> Dict[str, Optional[float]]:
    """A span resolver on its own: `predicted` are docs that carried the gold head clusters into the
    resolver and hold its `{span_prefix}_N` output. Per gold head, whether the predicted span is its
    target span (`head_target_spans`); `head_only_accuracy` is the same for a resolver that returns
    the head word alone. Micro averages over heads; None without heads."""
    right = head_only = total = 0
    for pred, ref in zip(predicted, gold):
        got = {int(key[len(span_prefix) + 1:]): pred.spans[key] for key in cluster_keys(pred, span_prefix)}
        for n, targets in head_target_spans(ref, head_prefix, span_prefix):
            spans = got.get(n, [])
            for i, (head, start, end) in enumerate(targets):
                span = spans[i] if i < len(spans) else None
                right += span is not None and (span.start, span.end) == (start, end)
                head_only += (head, head + 1) == (start, end)
                total += 1
    if not total:
        return {"span_accuracy_gold_heads": None, "head_only_accuracy": None, "gold_heads": 0}
    return {"span_accuracy_gold_heads": right / total, "head_only_accuracy": head_only / total, "gold_heads": total}


@registry.scorers("spacy-experimental.coref_scorer.v1")
def make_coref_scorer(
    span_cluster_prefix: str = DEFAULT_CLUSTER_PREFIX, include_singletons: bool = False
) -> Callable[..., Dict[str, Any]]:
    def coref_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        kwargs.setdefault("span_cluster_prefix", span_cluster_prefix)
        kwargs.setdefault("include_singletons", include_singletons)
        return score_coref_clusters(examples, **kwargs)

    return coref_score


@registry.scorers("spacy-experimental.span_resolver_scorer.v1")
def make_span_resolver_scorer(
    input_prefix: str = DEFAULT_CLUSTER_HEAD_PREFIX,
    output_prefix: str = DEFAULT_CLUSTER_PREFIX,
    include_singletons: bool = False,
) -> Callable[..., Dict[str, Any]]:
    # input_prefix is spacy-experimental's argument; its scorer does not read it either.
    def span_resolver_score(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        kwargs.setdefault("output_prefix", output_prefix)
        kwargs.setdefault("include_singletons", include_singletons)
        kwargs.pop("input_prefix", None)
        return score_span_predictions(examples, **kwargs)

    return span_resolver_score
