"""Coreference benchmark: archcli against spaCy 3.7 + spacy-experimental 0.6.4 on LitBank, train -> dev.

    python bench/bench_coref.py [--seeds 0,1,2] [--max-steps 400] [--spacy-python PATH]

1. Documents. archcli's CoNLL-2012 reader reads ../shared/corpora/litbank/coref/{train,dev} (gold
   tokens, sentences, `coref_clusters_N`, rule heads as `coref_head_clusters_N`) and writes them as
   `.spacy` files that both tools read. spacy-experimental's span resolver pairs the i-th head with
   the i-th gold span of a cluster, so its training file keeps, per head, the one gold span archcli's
   resolver learns (the shortest mention of the cluster containing the head); everything is scored
   on the full gold file.
2. Training, per seed, each tool in its own process with one BLAS/torch thread: configs/coref.cfg
   with the same overrides (paths, max_steps, eval_frequency, patience 0, system.seed, and the
   hidden sizes of --hidden-size, since spacy-experimental's 1024 is ~8 s a step on one CPU thread).
   spaCy reads the training file through `bench.GoldHeadsCorpus.v1` (gold tokens, sentences, and the
   gold heads its span resolver trains on) and dev through `bench.GoldMentionsCorpus.v1`.
3. Prediction: each model-last on the dev docs (gold tokens and sentences, no clusters; timed
   `nlp.pipe`), and its span resolver alone on the gold head clusters. archcli's scorers score both
   tools' predictions: CoNLL F1 (MUC, B3, CEAF-e) and LEA on full spans, LEA on heads (spaCy's coref_f),
   singletons excluded; span accuracy on gold heads (share of heads whose predicted span is exactly the
   gold one), beside the "head word only" and "no links" baselines.
Prints a table and writes bench/results/coref.json. See bench/README.md, "Coreference".
"""
import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tagger import (archcli_step_throughput, check, git_commit, log, rel, run_measured,  # noqa: E402
                          spacy_step_throughput)
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / "work" / "coref"
LITBANK = ROOT.parent / "shared" / "corpora" / "litbank" / "coref"
SIDE = BENCH / "coref_side_spacy.py"
HOOKS = BENCH / "spacy_hooks.py"
CONFIG = "configs/coref.cfg"
HEADS, SPANS = "coref_head_clusters", "coref_clusters"
TOOLS = ("archcli", "spacy")


# --- 1. documents ---------------------------------------------------------------------------
def one_span_per_head(doc) -> int:
    """Rewrite `coref_clusters_N` to one gold span per head of `coref_head_clusters_N`, in head order
    (the span archcli's resolver trains on, `head_target_spans`); return how many mentions that drops."""
    from archcli.coref_scoring import head_target_spans
    from archcli.tokens import Span

    dropped = 0
    for n, targets in head_target_spans(doc, HEADS, SPANS):
        dropped += len(doc.spans[f"{SPANS}_{n}"]) - len(targets)
        doc.spans[f"{SPANS}_{n}"] = [Span(doc, start, end) for _, start, end in targets]
    return dropped


def prepare() -> Dict[str, Any]:
    from archcli.tokens import Vocab
    from archcli.tokens.docbin import DocBin
    from archcli.training.conll2012 import read_conll2012
    from archcli.training.corpus_files import walk_corpus

    WORK.mkdir(parents=True, exist_ok=True)
    info: Dict[str, Any] = {}
    for split in ("train", "dev"):
        vocab = Vocab()
        docs = [doc for path in walk_corpus(LITBANK / split, (".conll",)) for doc, _ in read_conll2012(path, vocab)]
        DocBin(docs=docs).to_disk(WORK / f"{split}.spacy")
        n_mentions = sum(len(g) for d in docs for k, g in d.spans.items() if k.startswith(SPANS + "_"))
        n_clusters = sum(1 for d in docs for k in d.spans if k.startswith(SPANS + "_"))
        dropped = sum(one_span_per_head(doc) for doc in docs)
        DocBin(docs=docs).to_disk(WORK / f"{split}_one_span_per_head.spacy")
        info[split] = {"docs": len(docs), "words": sum(len(d) for d in docs), "clusters": n_clusters,
                       "mentions": n_mentions, "mentions_sharing_a_head": dropped,
                       "file": rel(WORK / f"{split}.spacy")}
        log(f"{split}: {len(docs)} docs, {info[split]['words']} words, {n_clusters} clusters, {n_mentions} mentions "
            f"({dropped} share a head with a shorter mention)")
    return info


# --- 2. training ----------------------------------------------------------------------------
def overrides(tool: str, seed: int, args: argparse.Namespace) -> List[str]:
    train_file = WORK / ("train_one_span_per_head.spacy" if tool == "spacy" else "train.spacy")
    flags = ["--paths.train", rel(train_file), "--paths.dev", rel(WORK / "dev.spacy"),
             "--training.max_steps", str(args.max_steps), "--training.eval_frequency", str(args.eval_frequency),
             "--training.patience", "0", "--system.seed", str(seed), "--training.logger.progress_bar", "false",
             "--components.coref.model.hidden_size", str(args.hidden_size),
             "--components.span_resolver.model.hidden_size", str(args.hidden_size)]
    if tool == "spacy":
        flags += ["--code", rel(HOOKS), "--training.logger.@loggers", "bench.StepClockLogger.v1",
                  "--corpora.train.@readers", "bench.GoldHeadsCorpus.v1",
                  "--corpora.dev.@readers", "bench.GoldMentionsCorpus.v1",
                  "--components.span_resolver.scorer.@scorers", "bench.span_resolver_scorer_missing_ok.v1"]
    return flags


def train(tool: str, seed: int, args: argparse.Namespace) -> Dict[str, Any]:
    out = WORK / f"seed{seed}" / tool
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    python = args.spacy_python if tool == "spacy" else sys.executable
    cmd = [python, "-m", tool, "train", CONFIG, "--output", rel(out), *overrides(tool, seed, args)]
    log_path = WORK / "logs" / f"train_seed{seed}_{tool}.log"
    log(f"seed {seed}: training {tool} ({args.max_steps} steps; log: {rel(log_path)})")
    measured = run_measured(cmd, log_path, env={"BENCH_STEP_CLOCK": str(out / "step_clock.json")})
    check(measured, f"{tool} train (seed {seed})")
    words, seconds = (spacy_step_throughput if tool == "spacy" else archcli_step_throughput)(out, args.max_steps)
    result = {"command": " ".join(str(c) for c in cmd), "process": asdict(measured), "step_words": words,
              "step_seconds": round(seconds, 2), "words_per_second": words / seconds if seconds else 0.0}
    log(f"{tool}: {words} words in {seconds:.1f}s of steps -> {result['words_per_second']:.0f} words/s; "
        f"process {measured.wall_s:.0f}s wall, peak RSS {measured.peak_rss_mib:.0f} MiB")
    return result


def train_pair(seed: int, args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    """Both tools at once, one process each on its own core (the machine has two)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(TOOLS)) as pool:
        futures = {tool: pool.submit(train, tool, seed, args) for tool in TOOLS}
        return {tool: future.result() for tool, future in futures.items()}


# --- 3. prediction and scoring --------------------------------------------------------------
def predict(tool: str, seed: int, args: argparse.Namespace) -> Dict[str, Any]:
    model = WORK / f"seed{seed}" / tool / "model-last"
    pred, pred_heads = (WORK / f"seed{seed}" / f"pred_{tool}{suffix}.spacy" for suffix in ("", "_gold_heads"))
    name = f"predict_seed{seed}_{tool}"
    common = ["--model", rel(model), "--gold", rel(WORK / "dev.spacy"), "--out", rel(pred),
              "--out-gold-heads", rel(pred_heads), "--repeats", str(args.repeats)]
    script = [args.spacy_python, SIDE] if tool == "spacy" else [sys.executable, Path(__file__), "_predict"]
    out = WORK / "logs" / f"{name}.json"
    measured = run_measured([*script, *common], WORK / "logs" / f"{name}.log", stdout_path=out)
    check(measured, name)
    answer = json.loads(out.read_text(encoding="utf8").strip().splitlines()[-1])
    answer["process"] = asdict(measured)
    answer["scores"] = score(pred, pred_heads)
    return answer


def score(pred: Path, pred_heads: Path) -> Dict[str, Any]:
    from archcli.coref_scoring import gold_head_span_accuracy, score_coref_clusters
    from archcli.tokens import Vocab
    from archcli.tokens.docbin import read_docbin
    from archcli.tokens.example import Example

    vocab = Vocab()
    gold = list(read_docbin(WORK / "dev.spacy", vocab))
    predicted = list(read_docbin(pred, vocab))
    if [len(d) for d in gold] != [len(d) for d in predicted]:
        sys.exit(f"{rel(pred)}: its docs are not the gold docs")
    examples = [Example(p, g) for p, g in zip(predicted, gold)]
    spans = score_coref_clusters(examples, span_cluster_prefix=SPANS)
    heads = score_coref_clusters(examples, span_cluster_prefix=HEADS)
    spans_with_singletons = score_coref_clusters(examples, span_cluster_prefix=SPANS, include_singletons=True)
    resolver = gold_head_span_accuracy(list(read_docbin(pred_heads, vocab)), gold, head_prefix=HEADS, span_prefix=SPANS)
    result = {f"span_{k}": v for k, v in spans.items() if k.startswith("coref_") and k.count("_") == 2}
    result.update({"conll_f1": spans["coref_conll_f"], "lea_f": spans["coref_lea_f"],
                   "head_lea_f": heads["coref_f"], "conll_f1_with_singletons": spans_with_singletons["coref_conll_f"],
                   "span_accuracy_gold_heads": resolver["span_accuracy_gold_heads"],
                   "head_only_span_accuracy": resolver["head_only_accuracy"], "gold_heads": resolver["gold_heads"],
                   "predicted_clusters": sum(1 for d in predicted for k in d.spans if k.startswith(SPANS + "_"))})
    return result


def archcli_predict(argv: Sequence[str]) -> None:
    """`bench_coref.py _predict`: archcli's side of `predict`, mirroring coref_side_spacy.py (one JSON line)."""
    import resource

    from archcli.language import load
    from archcli.pipeline.coref import cluster_groups
    from archcli.tokens import Doc, Span
    from archcli.tokens.docbin import DocBin, read_docbin

    args = side_args(argv)
    nlp = load(args.model)
    gold = list(read_docbin(args.gold, nlp.vocab))
    n_words = sum(len(d) for d in gold)

    def fresh(with_heads: bool = False) -> List[Any]:
        docs = []
        for ref in gold:
            doc = Doc(nlp.vocab, [t.text for t in ref], [bool(t.whitespace_) for t in ref])
            doc.sent_start[:] = -1
            doc.sent_start[[s.start for s in ref.sents]] = 1
            if with_heads:
                for n, group in cluster_groups(ref, HEADS):
                    doc.spans[f"{HEADS}_{n}"] = [Span(doc, s.start, s.end) for s in group]
            docs.append(doc)
        return docs

    list(nlp.pipe(fresh()[:2]))  # warm-up
    timings: List[float] = []
    for _ in range(max(args.repeats, 1)):
        docs = fresh()
        start = time.perf_counter()
        predicted = list(nlp.pipe(docs))
        timings.append(time.perf_counter() - start)
    DocBin(docs=predicted).to_disk(args.out)
    with_heads = fresh(with_heads=True)
    for name, proc in nlp.pipeline:  # the tok2vec feeds the resolver's listener (doc.tensor); coref is skipped
        if name != "coref":
            with_heads = list(proc.pipe(with_heads))
    DocBin(docs=with_heads).to_disk(args.out_gold_heads)
    print(json.dumps(side_answer("archcli", str(__import__("archcli").__version__), args, gold, n_words, timings,
                                 resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def side_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    for flag in ("--model", "--gold", "--out", "--out-gold-heads"):
        p.add_argument(flag, type=Path, required=True)
    p.add_argument("--repeats", type=int, default=2)
    return p.parse_args(argv)


def side_answer(tool: str, version: str, args: argparse.Namespace, gold: List[Any], n_words: int,
                timings: List[float], peak_rss_mib: float) -> Dict[str, Any]:
    best = min(timings)
    return {"tool": tool, "version": version, "model": str(args.model), "n_docs": len(gold), "n_words": n_words,
            "pipe_seconds": timings, "words_per_second": n_words / best if best else 0.0,
            "predictions": str(args.out), "peak_rss_mib": peak_rss_mib}


# --- 4. report ------------------------------------------------------------------------------
METRICS = (  # (key, label, kind)
    ("conll_f1", "CoNLL F1 (spans)", "delta"), ("span_coref_muc_f", "MUC F", "delta"),
    ("span_coref_b3_f", "B3 F", "delta"), ("span_coref_ceafe_f", "CEAF-e F", "delta"),
    ("lea_f", "LEA F (spans)", "delta"), ("head_lea_f", "LEA F (heads) = coref_f", "delta"),
    ("span_accuracy_gold_heads", "span accuracy (gold heads)", "delta"),
    ("train_words_per_s", "train words/s", "ratio"), ("infer_words_per_s", "inference words/s", "ratio"),
    ("train_peak_rss_mib", "peak RSS train (MiB)", "ratio"), ("infer_peak_rss_mib", "peak RSS inference (MiB)", "ratio"),
)


def flatten(trained: Dict[str, Any], predicted: Dict[str, Any]) -> Dict[str, Optional[float]]:
    row = {k: predicted["scores"][k] for k, _, kind in METRICS if kind == "delta"}
    row.update({"train_words_per_s": trained["words_per_second"], "infer_words_per_s": predicted["words_per_second"],
                "train_peak_rss_mib": trained["process"]["peak_rss_mib"],
                "infer_peak_rss_mib": predicted["peak_rss_mib"]})
    return row


def spread(values: List[float]) -> Dict[str, Any]:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": values}


def summarize(rows: Dict[int, Dict[str, Dict[str, Any]]]) -> Dict[str, Any]:
    summary: Dict[str, Any] = {}
    for key, _, kind in METRICS:
        entry: Dict[str, Any] = {tool: spread([rows[s][tool][key] for s in sorted(rows)]) for tool in TOOLS}
        pairs = [(rows[s]["archcli"][key], rows[s]["spacy"][key]) for s in sorted(rows)]
        if kind == "delta":
            entry["delta_points"] = spread([100 * (a - b) for a, b in pairs])
        else:
            entry["ratio"] = spread([a / b if b else float("nan") for a, b in pairs])
        summary[key] = entry
    return summary


def format_table(summary: Dict[str, Any], baselines: Dict[str, float], n_seeds: int) -> str:
    lines = [f"{'metric':<30}{'archcli':>16}{'spacy-exp':>16}{'archcli vs spacy-exp':>26}",
             "-" * 88]
    for key, label, kind in METRICS:
        entry = summary[key]
        if kind == "delta":
            cells = [f"{100 * entry[t]['mean']:.2f} ± {100 * entry[t]['sd']:.2f}" for t in TOOLS]
            cmp_ = f"{entry['delta_points']['mean']:+.2f} ± {entry['delta_points']['sd']:.2f} pts"
        else:
            cells = [f"{entry[t]['mean']:.0f} ± {entry[t]['sd']:.0f}" for t in TOOLS]
            cmp_ = f"{entry['ratio']['mean']:.2f}x ± {entry['ratio']['sd']:.2f}"
        lines.append(f"{label:<30}{cells[0]:>16}{cells[1]:>16}{cmp_:>26}")
    lines.append(f"(mean ± sd over {n_seeds} seed(s); baselines on the same dev docs: "
                 + ", ".join(f"{k} {100 * v:.2f}" for k, v in baselines.items()) + ")")
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--eval-frequency", type=int, default=200)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=2, help="timed passes over dev in prediction (best kept)")
    p.add_argument("--spacy-python", default=str(ROOT.parent / "spx-venv" / "bin" / "python"),
                   help="python of a venv with spacy>=3.7,<3.8 and spacy-experimental==0.6.4")
    p.add_argument("--output", type=Path, default=BENCH / "results" / "coref.json")
    p.add_argument("--repredict", default="",
                   help="seeds whose trained models (in bench/work/coref) are predicted and scored again, "
                        "their training records kept from --output, which is then rewritten")
    return p.parse_args(argv)


def report(args: argparse.Namespace, seeds: List[int], data: Dict[str, Any], raw: Dict[str, Any],
           notes: List[str]) -> None:
    per_seed = {seed: {tool: flatten(raw[str(seed)]["train"][tool], raw[str(seed)]["predict"][tool])
                       for tool in TOOLS} for seed in seeds}
    first = raw[str(seeds[0])]["predict"]["archcli"]["scores"]
    baselines = {"no links CoNLL F1": 0.0, "head word only span accuracy": first["head_only_span_accuracy"]}
    summary = summarize(per_seed)
    table = format_table(summary, baselines, len(seeds))
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "benchmark": "coref", "commit": git_commit(), "config": CONFIG, "seeds": seeds, "max_steps": args.max_steps,
        "hidden_size": args.hidden_size, "blas": blas_settings(), "data": data, "baselines": baselines,
        "summary": summary, "per_seed": {str(s): r for s, r in per_seed.items()}, "runs": raw, "table": table,
        "notes": notes,
    }, indent=2), encoding="utf8")
    log(f"wrote {rel(args.output)}")


def repredict(args: argparse.Namespace) -> None:
    previous = json.loads(args.output.read_text(encoding="utf8"))
    raw = previous["runs"]
    args.max_steps, args.hidden_size = previous["max_steps"], previous["hidden_size"]
    notes = list(previous.get("notes", []))
    for seed in [int(s) for s in args.repredict.split(",")]:
        raw[str(seed)]["predict"] = {tool: predict(tool, seed, args) for tool in TOOLS}
        notes.append(f"seed {seed}: predicted and scored again at commit {git_commit()} (bench_coref.py --repredict)")
    report(args, previous["seeds"], previous["data"], raw, notes)


def main(argv: Sequence[str]) -> None:
    if argv[:1] == ["_predict"]:
        return archcli_predict(argv[1:])
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if not Path(args.spacy_python).exists():
        sys.exit(f"--spacy-python {args.spacy_python}: not found (make a venv with spacy>=3.7,<3.8 and "
                 "spacy-experimental==0.6.4; see bench/README.md)")
    if args.repredict:
        return repredict(args)
    data = prepare()
    raw: Dict[str, Any] = {}
    for seed in seeds:
        trained = train_pair(seed, args)
        predicted = {tool: predict(tool, seed, args) for tool in TOOLS}
        raw[str(seed)] = {"train": trained, "predict": predicted}
        log(f"seed {seed}: " + "; ".join(f"{t} CoNLL F1 {100 * predicted[t]['scores']['conll_f1']:.2f}" for t in TOOLS))
    report(args, seeds, data, raw, [])


if __name__ == "__main__":
    main(sys.argv[1:])
