"""spaCy's side of bench/bench_coref.py, run in the spaCy 3.7 + spacy-experimental venv.

    coref_side_spacy.py --model DIR --gold DEV.spacy --out PRED.spacy --out-gold-heads PRED_HEADS.spacy

Runs the trained pipeline on the dev docs (gold tokens and sentence starts, no clusters; timed
`nlp.pipe`, best of --repeats) and writes the predictions; then runs its span resolver alone on the
same docs carrying the gold head clusters (after the tok2vec, which feeds its listener) and writes those. Prints one JSON line (bench_coref.py's
`side_answer` fields).
"""
import argparse
import json
import resource
import sys
import time
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin, Span

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spacy_hooks  # noqa: E402,F401  (the scorer the benchmark's spaCy models name)

HEADS = "coref_head_clusters"


def main() -> None:
    p = argparse.ArgumentParser()
    for flag in ("--model", "--gold", "--out", "--out-gold-heads"):
        p.add_argument(flag, type=Path, required=True)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    nlp = spacy.load(args.model)
    gold = list(DocBin().from_disk(args.gold).get_docs(nlp.vocab))
    n_words = sum(len(d) for d in gold)

    def fresh(with_heads: bool = False):
        docs = []
        for ref in gold:
            starts = {s.start for s in ref.sents}
            doc = Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref],
                      sent_starts=[i in starts for i in range(len(ref))])
            if with_heads:
                keys = sorted((k for k in ref.spans if k.startswith(HEADS + "_") and k[len(HEADS) + 1:].isdigit()),
                              key=lambda k: int(k[len(HEADS) + 1:]))
                for key in keys:
                    doc.spans[key] = [Span(doc, s.start, s.end) for s in ref.spans[key]]
            docs.append(doc)
        return docs

    list(nlp.pipe(fresh()[:2]))  # warm-up
    timings = []
    for _ in range(max(args.repeats, 1)):
        docs = fresh()
        start = time.perf_counter()
        predicted = list(nlp.pipe(docs))
        timings.append(time.perf_counter() - start)
    DocBin(docs=predicted, store_user_data=False).to_disk(args.out)
    with_heads = fresh(with_heads=True)
    for name, proc in nlp.pipeline:  # the tok2vec feeds the resolver's listener (doc.tensor); coref is skipped
        if name != "coref":
            with_heads = list(proc.pipe(with_heads))
    DocBin(docs=with_heads, store_user_data=False).to_disk(args.out_gold_heads)
    best = min(timings)
    import spacy_experimental

    print(json.dumps({
        "tool": "spacy", "version": f"spaCy {spacy.__version__} + spacy-experimental "
                                    f"{getattr(spacy_experimental, '__version__', '0.6.4')}",
        "model": str(args.model), "n_docs": len(gold), "n_words": n_words, "pipe_seconds": timings,
        "words_per_second": n_words / best if best else 0.0, "predictions": str(args.out),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    sys.exit(main())
