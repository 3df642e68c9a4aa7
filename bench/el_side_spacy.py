"""spaCy's side of the entity-linking benchmark, run with the spaCy 3.8 venv's python.

    python bench/el_side_spacy.py export-kb --dump KB_DUMP.npz --out DIR
    python bench/el_side_spacy.py digest FILE.spacy
    python bench/el_side_spacy.py predict --model DIR --gold FILE.spacy --out PRED.spacy [--repeats 3] [--seed 0]
    python bench/el_side_spacy.py score --pred PRED.spacy --gold FILE.spacy

`export-kb` builds spaCy's `InMemoryLookupKB` from archcli's KB, dumped by bench_el.py to a neutral
`.npz` (ids, freqs, vectors, aliases, each alias's candidate rows and priors), through spaCy's own
API (`add_entity`, `add_alias`, `to_disk`), then reloads it with `from_disk` and checks every
entity vector and every alias's candidates and priors against the dump, so both tools link
against the same KB.

`digest` reads a `.spacy` file with spaCy's DocBin and hashes per doc what the linker sees (words,
spaces, sentence starts, entities with labels and kb_ids), for bench_el.py to compare with archcli.

`predict` links the gold mentions of the gold docs: each doc becomes a fresh Doc with the gold
words, spaces and sentence starts and the gold entity spans with their labels but no kb_id; only
`nlp.pipe` over those is timed (one warm-up pass, then `--repeats` passes, the fastest reported).
The predictions are written as a DocBin that archcli scores, so one scorer scores both tools;
spaCy's own `Scorer.score_links` on the same predictions is printed beside, as a cross-check.
spaCy breaks ties between candidates at random (it shuffles them before the argmax): `--seed` seeds
that, and the number of mentions whose id changed between the passes is reported.

`score` is that cross-check for any tool's predictions DocBin: spaCy's `Scorer.score_links` (NIL and
no id as negatives) against the gold DocBin. Every command prints one JSON line. Imports only spaCy.
"""
import argparse
import hashlib
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- export-kb ------------------------------------------------------------------------------
def export_kb(dump_path: Path, out: Path) -> Dict[str, Any]:
    import numpy
    import spacy
    from spacy.kb import InMemoryLookupKB

    dump = numpy.load(dump_path)
    ids = [str(s) for s in dump["entity_ids"]]
    freqs, vectors = dump["freqs"], dump["vectors"].astype("float32")
    aliases = [str(s) for s in dump["aliases"]]
    lengths, rows, priors = dump["cand_lengths"], dump["cand_rows"], dump["cand_priors"]
    bounds = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype("int64")

    vocab = spacy.blank("en").vocab
    start = time.perf_counter()
    kb = InMemoryLookupKB(vocab, entity_vector_length=int(vectors.shape[1]))
    for entity, freq, vector in zip(ids, freqs.tolist(), vectors):
        kb.add_entity(entity=entity, freq=freq, entity_vector=vector)
    for i, alias in enumerate(aliases):
        lo, hi = bounds[i], bounds[i + 1]
        kb.add_alias(alias=alias, entities=[ids[r] for r in rows[lo:hi]], probabilities=priors[lo:hi].tolist())
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    kb.to_disk(out)
    save_s = time.perf_counter() - start

    # Read back what was written and compare it with the dump, entity by entity, alias by alias.
    start = time.perf_counter()
    loaded = InMemoryLookupKB(spacy.blank("en").vocab, entity_vector_length=int(vectors.shape[1]))
    loaded.from_disk(out)
    load_s = time.perf_counter() - start
    problems: List[str] = []
    if loaded.get_size_entities() != len(ids) or loaded.get_size_aliases() != len(aliases):
        problems.append(f"counts {loaded.get_size_entities()}/{loaded.get_size_aliases()} "
                        f"!= {len(ids)}/{len(aliases)}")
    worst_vector = 0.0
    for entity, vector in zip(ids, vectors):
        worst_vector = max(worst_vector, float(numpy.abs(numpy.asarray(loaded.get_vector(entity)) - vector).max()))
    worst_prior = 0.0
    for i, alias in enumerate(aliases):
        lo, hi = bounds[i], bounds[i + 1]
        want = {ids[r]: float(p) for r, p in zip(rows[lo:hi], priors[lo:hi])}
        got = {c.entity_: float(c.prior_prob) for c in loaded.get_alias_candidates(alias)}
        if set(got) != set(want):
            problems.append(f"alias {alias!r}: candidates {sorted(got)} != {sorted(want)}")
            continue
        worst_prior = max([worst_prior] + [abs(got[k] - want[k]) for k in want])
    if worst_vector > 1e-6:
        problems.append(f"entity vectors differ by up to {worst_vector}")
    if worst_prior > 1e-6:
        problems.append(f"priors differ by up to {worst_prior}")
    return {
        "tool": "spacy", "version": spacy.__version__, "n_entities": len(ids), "n_aliases": len(aliases),
        "entity_vector_length": int(vectors.shape[1]), "build_s": build_s, "save_s": save_s, "load_s": load_s,
        "size_bytes": dir_size(out), "max_vector_diff": worst_vector, "max_prior_diff": worst_prior,
        "problems": problems[:20], "n_problems": len(problems), "peak_rss_mib": peak_rss_mib(),
    }


# --- digest ---------------------------------------------------------------------------------
def doc_fields(doc: Any) -> Dict[str, Any]:
    """What the linker sees of a doc, through the API both tools share."""
    return {
        "words": [t.text for t in doc],
        "spaces": [bool(t.whitespace_) for t in doc],
        "sent_starts": [s.start for s in doc.sents],
        "ents": [[e.start, e.end, e.label_, e.kb_id_] for e in doc.ents],
    }


def hash_fields(fields: Dict[str, Any]) -> Dict[str, str]:
    return {k: hashlib.sha1(json.dumps(v).encode("utf8")).hexdigest()[:12] for k, v in fields.items()}


def digest(path: Path) -> Dict[str, Any]:
    import spacy
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))
    per_doc = [hash_fields(doc_fields(doc)) for doc in docs]
    return {"tool": "spacy", "path": str(path), "n_docs": len(docs), "n_words": sum(len(d) for d in docs),
            "n_ents": sum(len(d.ents) for d in docs), "per_doc": per_doc}


# --- predict --------------------------------------------------------------------------------
def predict(model: Path, gold_path: Path, out: Path, batch_size: int, repeats: int, seed: int) -> Dict[str, Any]:
    import random

    import spacy
    from spacy.scorer import Scorer
    from spacy.tokens import Doc, DocBin, Span
    from spacy.training import Example

    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(gold_path).get_docs(nlp.vocab))
    n_words = sum(len(d) for d in gold)

    def fresh() -> List[Doc]:
        docs = []
        for ref in gold:
            starts = set(s.start for s in ref.sents)
            doc = Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref],
                      sent_starts=[i in starts for i in range(len(ref))])
            doc.ents = [Span(doc, e.start, e.end, label=e.label_) for e in ref.ents]
            docs.append(doc)
        return docs

    # spaCy's EntityLinker.predict shuffles each mention's candidates (random.shuffle) before its
    # argmax, so ties (candidates with the same prior and the same entity vector) go to a random one:
    # seeded here, so a run is reproducible; how many mentions change between passes is reported.
    random.seed(seed)
    passes = [list(nlp.pipe(fresh(), batch_size=batch_size))]  # warm-up
    timings: List[float] = []
    for _ in range(max(repeats, 1)):
        docs = fresh()
        start = time.perf_counter()
        predicted = list(nlp.pipe(docs, batch_size=batch_size))
        timings.append(time.perf_counter() - start)
        passes.append(predicted)
    ids = [[e.kb_id_ for d in docs for e in d.ents] for docs in passes]
    n_unstable = sum(len(set(column)) > 1 for column in zip(*ids))
    out.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=predicted, store_user_data=False).to_disk(out)
    own = Scorer.score_links([Example(p, g) for p, g in zip(predicted, gold)], negative_labels=["NIL", ""])
    best = min(timings)
    return {
        "tool": "spacy", "version": spacy.__version__, "model": str(model), "n_docs": len(gold), "n_words": n_words,
        "n_ents": sum(len(d.ents) for d in gold), "batch_size": batch_size, "pipe_seconds": timings,
        "words_per_second": n_words / best if best > 0 else 0.0,
        "words_per_second_median": n_words / statistics.median(timings),
        "own_scorer": {k: own.get(k) for k in ("nel_micro_p", "nel_micro_r", "nel_micro_f")},
        "seed": seed, "n_passes": len(passes), "n_mentions_changed_between_passes": n_unstable,
        "predictions": str(out), "peak_rss_mib": peak_rss_mib(),
    }


def score(pred_path: Path, gold_path: Path) -> Dict[str, Any]:
    import spacy
    from spacy.scorer import Scorer
    from spacy.tokens import DocBin
    from spacy.training import Example

    vocab = spacy.blank("en").vocab
    gold = list(DocBin().from_disk(gold_path).get_docs(vocab))
    pred = list(DocBin().from_disk(pred_path).get_docs(vocab))
    scores = Scorer.score_links([Example(p, g) for p, g in zip(pred, gold)], negative_labels=["NIL", ""])
    return {k: scores.get(k) for k in ("nel_micro_p", "nel_micro_r", "nel_micro_f", "nel_macro_f")}


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_kb = sub.add_parser("export-kb", help="spaCy's InMemoryLookupKB from a neutral .npz dump, checked")
    p_kb.add_argument("--dump", type=Path, required=True)
    p_kb.add_argument("--out", type=Path, required=True)
    p_digest = sub.add_parser("digest", help="hash what the linker sees of each doc, as spaCy reads it")
    p_digest.add_argument("path", type=Path)
    p_pred = sub.add_parser("predict", help="link the gold mentions; write the predictions as a DocBin")
    p_pred.add_argument("--model", type=Path, required=True)
    p_pred.add_argument("--gold", type=Path, required=True)
    p_pred.add_argument("--out", type=Path, required=True)
    p_pred.add_argument("--batch-size", type=int, default=1000)
    p_pred.add_argument("--repeats", type=int, default=3)
    p_pred.add_argument("--seed", type=int, default=0, help="seeds `random`, which breaks spaCy's ties")
    p_score = sub.add_parser("score", help="spaCy's Scorer.score_links on a predictions DocBin")
    p_score.add_argument("--pred", type=Path, required=True)
    p_score.add_argument("--gold", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "export-kb":
        result = export_kb(args.dump, args.out)
    elif args.command == "digest":
        result = digest(args.path)
    elif args.command == "score":
        result = score(args.pred, args.gold)
    else:
        result = predict(args.model, args.gold, args.out, args.batch_size, args.repeats, args.seed)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
