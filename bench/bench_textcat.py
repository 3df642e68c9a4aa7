"""Text classification benchmark: archcli against spaCy 3.8 on SST-2, TREC and multi-label TREC.

Run with the archcli virtual environment's python, from anywhere:

    python bench/bench_textcat.py [--tasks sst2:bow,trec:ensemble,...] [--max-steps 1000]
                                  [--spacy-python /work/spacy-venv/bin/python]

Each task is CORPUS:ARCH with CORPUS in sst2, trec (exclusive classes, `textcat`) or trec_multilabel
(`textcat_multilabel`) and ARCH in bow, cnn, ensemble (configs/textcat_{bow,cnn,ensemble}.cfg; the
multi-label tasks use the same models with exclusive_classes = false, written to bench/work/).

1. Converts each corpus's train/dev JSONL to `.spacy` once with archcli (reader + DocBin); spaCy and
   archcli then each read those files and must see the same words, spaces and cats.
2. Trains every task with each tool's own `train` CLI in its own process: same config file, same
   `.spacy` files, same step budget, eval frequency and seed, no early stopping. spaCy reads the gold
   tokens (`bench.GoldTokenCorpus.v1`, registered by this file through `--code`), as archcli does.
3. Scores each `model-best` on dev in each tool's own venv (this file's `side` command): fresh docs
   from the gold words, `nlp.pipe`, timed; predictions are scored here, by one function for both.
   The table also gives each tool's own dev score at the last step: model-best is the best of a few
   evaluations on a small dev set, so it carries selection noise that the last step does not.
4. Prints a table and writes JSON (default bench/results/textcat.json).

spaCy's python: --spacy-python, else /work/spacy-venv/bin/python, else a venv created under
bench/work/spacy-venv with `pip install 'spacy>=3.8,<3.9'`. Working files go to bench/work/textcat/.
When spaCy loads this file with `--code`, only the hooks at the bottom run (no archcli import).
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
THIS = Path(__file__).resolve()
CORPORA = ROOT.parent / "shared" / "corpora"
TOOLS = ("archcli", "spacy")
DEFAULT_TASKS = ("sst2:bow,sst2:cnn,sst2:ensemble,trec:bow,trec:cnn,trec:ensemble,"
                 "trec_multilabel:bow,trec_multilabel:ensemble")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


# --- spaCy's interpreter ------------------------------------------------------------------------
def spacy_python(given: Optional[str], work: Path) -> str:
    """The python of a venv with spaCy 3.8: given, /work/spacy-venv, or one created under bench/work."""
    if given:
        return given
    for candidate in (Path("/work/spacy-venv/bin/python"), work / "spacy-venv" / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    venv = work / "spacy-venv"
    log(f"creating {rel(venv)} with spaCy 3.8 (once)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "spacy>=3.8,<3.9"], check=True)
    return str(venv / "bin" / "python")


# --- measured subprocesses ------------------------------------------------------------------------
def run_measured(cmd: Sequence[Any], log_path: Path, stdout_path: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Run `cmd` from the repo root; its exit code, wall and CPU seconds, and peak RSS (ru_maxrss)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log_path, "w", encoding="utf8") as log_file:
        out = open(stdout_path, "w", encoding="utf8") if stdout_path else log_file
        try:
            start = time.perf_counter()
            proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=full_env, stdout=out, stderr=log_file)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        finally:
            if stdout_path:
                out.close()
    result = {"returncode": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 2),
              "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
              "log": rel(log_path)}
    if result["returncode"] != 0:
        tail = log_path.read_text(encoding="utf8", errors="replace").splitlines()[-25:]
        sys.exit(f"{' '.join(map(str, cmd[:4]))} … failed (exit {result['returncode']}); {rel(log_path)}:\n"
                 + "\n".join(tail))
    return result


def side(python: str, args: Sequence[Any], name: str, work: Path) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """This file's `side` command under `python`: its JSON answer and the process's measurements."""
    out = work / "logs" / f"{name}.json"
    measured = run_measured([python, THIS, "side", *args], work / "logs" / f"{name}.log", stdout_path=out)
    return json.loads(out.read_text(encoding="utf8").strip().splitlines()[-1]), measured


# --- 1. corpora -----------------------------------------------------------------------------------
def convert(name: str, sources: Dict[str, Path], work: Path, reader: Callable) -> Dict[str, str]:
    """`.spacy` files written by archcli's reader + DocBin, reused while the sources are unchanged."""
    from archcli.language import Pipeline
    from archcli.tokens import DocBin

    out_dir = work / "corpus" / name
    stamp = [[rel(p), p.stat().st_size, int(p.stat().st_mtime)] for p in sources.values()]
    stamp_path = out_dir / "sources.json"
    files = {split: out_dir / f"{split}.spacy" for split in sources}
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp and all(f.exists() for f in files.values()):
        return {split: rel(f) for split, f in files.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, src in sources.items():
        nlp = Pipeline()
        doc_bin = DocBin()
        for eg in reader(src)(nlp):
            doc_bin.add(eg.reference)
        doc_bin.to_disk(files[split])
        log(f"converted {rel(src)} -> {rel(files[split])}")
    stamp_path.write_text(json.dumps(stamp))
    return {split: rel(f) for split, f in files.items()}


def check_same_docs(files: Dict[str, str], python: str, work: Path, name: str) -> Dict[str, Any]:
    """Both tools must read each `.spacy` file as the same docs: words, spaces, cats and spans."""
    info: Dict[str, Any] = {}
    for split, path in files.items():
        digests = [side(python if tool == "spacy" else sys.executable, ["digest", "--tool", tool, path],
                        f"digest_{name}_{split}_{tool}", work)[0] for tool in TOOLS]
        if digests[0]["per_doc"] != digests[1]["per_doc"]:
            bad = [i for i, (a, b) in enumerate(zip(*(d["per_doc"] for d in digests))) if a != b]
            sys.exit(f"archcli and spaCy read {path} differently ({len(digests[0]['per_doc'])} vs "
                     f"{len(digests[1]['per_doc'])} docs; first differing doc: {bad[:1]})")
        info[split] = {"docs": digests[0]["n_docs"], "words": digests[0]["n_words"]}
    return info


# --- 2. training ----------------------------------------------------------------------------------
def task_config(corpus: str, arch: str, work: Path) -> Path:
    """The config both tools train: configs/textcat_{arch}.cfg, made multi-label for trec_multilabel."""
    base = ROOT / "configs" / f"textcat_{arch}.cfg"
    if corpus != "trec_multilabel":
        return base
    text = base.read_text(encoding="utf8")
    text = (text.replace("components.textcat", "components.textcat_multilabel")
            .replace('factory = "textcat"', 'factory = "textcat_multilabel"')
            .replace('pipeline = ["textcat"]', 'pipeline = ["textcat_multilabel"]')
            .replace("exclusive_classes = true", "exclusive_classes = false")
            .replace("spacy.textcat_scorer.v2", "spacy.textcat_multilabel_scorer.v2")
            .replace("threshold = 0.0", "threshold = 0.5"))
    path = work / "configs" / f"textcat_multilabel_{arch}.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")
    return path


def train(tool: str, task: str, config: Path, files: Dict[str, str], args: argparse.Namespace,
          work: Path, score_key: str, seed: int = 0) -> Dict[str, Any]:
    out = work / "train" / task.replace(":", "_") / f"seed{seed}" / tool
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    overrides = ["--paths.train", files["train"], "--paths.dev", files["dev"], "--training.max_steps",
                 str(args.max_steps), "--training.eval_frequency", str(args.eval_frequency),
                 "--training.patience", "0", "--system.seed", str(seed)]
    env: Dict[str, str] = {}
    if tool == "spacy":
        cmd = [args.spacy_python, "-m", "spacy", "train", rel(config), "--output", rel(out), *overrides,
               "--code", rel(THIS), "--training.logger.@loggers", "bench.StepClockLogger.v1",
               "--corpora.train.@readers", "bench.GoldTokenCorpus.v1",
               "--corpora.dev.@readers", "bench.GoldTokenCorpus.v1"]
        env["BENCH_STEP_CLOCK"] = str(out / "step_clock.json")
    else:
        cmd = [sys.executable, "-m", "archcli", "train", rel(config), "--output", rel(out), *overrides]
    log(f"{task}: training {tool} ({args.max_steps} steps, seed {seed})")
    measured = run_measured(cmd, work / "logs" / f"train_{task.replace(':', '_')}_seed{seed}_{tool}.log", env=env)
    words, seconds = (step_throughput_spacy if tool == "spacy" else step_throughput_archcli)(out, args.max_steps)
    meta = json.loads((out / "model-best" / "meta.json").read_text(encoding="utf8"))
    curve = (eval_curve_spacy if tool == "spacy" else eval_curve_archcli)(out)
    return {"eval_scores": curve, "last_step_score": curve[max(curve)] if curve else None,
            "command": " ".join(map(str, cmd)), "process": measured, "model": rel(out / "model-best"),
            "step_words": words, "step_seconds": round(seconds, 3), "words_per_second": words / seconds,
            "own_dev_score": (meta.get("performance") or {}).get(score_key)}


def step_throughput_archcli(out: Path, max_steps: int) -> Tuple[int, float]:
    """Words and seconds of steps 1..N (archcli's training clock already leaves out evaluation)."""
    rows = {r["step"]: r for r in map(json.loads, (out / "training_log.jsonl").read_text().splitlines())}
    first, last = rows[0], rows[max(rows)]
    return last["words"] - first["words"], last["train_seconds"] - first["train_seconds"]


def eval_curve_archcli(out: Path) -> Dict[int, float]:
    """The weighted dev score at each evaluation step, from archcli's training log."""
    rows = map(json.loads, (out / "training_log.jsonl").read_text().splitlines())
    return {int(r["step"]): float(r["score"]) for r in rows if r.get("score") is not None}


def eval_curve_spacy(out: Path) -> Dict[int, float]:
    """The weighted dev score at each evaluation step, as the step clock logger recorded it."""
    clock = json.loads((out / "step_clock.json").read_text())
    return {int(k): float(v) for k, v in clock.get("scores", {}).items()}


def step_throughput_spacy(out: Path, max_steps: int) -> Tuple[int, float]:
    """Words and seconds of steps 1..N from the step clock; evaluating steps count as an average step."""
    clock = json.loads((out / "step_clock.json").read_text())
    words = {int(k): v for k, v in clock["words"].items()}
    steps = clock["step_seconds"]
    evals = set(clock["eval_steps"])
    plain = [s for i, s in enumerate(steps, start=1) if i not in evals]
    seconds = sum(plain) + statistics.mean(plain) * len(evals & set(range(1, len(steps) + 1)))
    return words[max(words)] - words[0], seconds


# --- 3. scoring (one implementation for both tools) ---------------------------------------------
def cats_scores(preds: List[Dict[str, float]], golds: List[Dict[str, float]], multi_label: bool) -> Dict[str, float]:
    """Exclusive: accuracy and macro F of argmax labels. Multi-label: macro ROC AUC over labels with
    both gold values, and micro F at 0.5. `score` is what spaCy reports as cats_score."""
    labels = sorted({label for g in golds for label in g})
    if not multi_label:
        pred_top = [max(labels, key=lambda l: p.get(l, 0.0)) for p in preds]
        gold_top = [max(g, key=g.get) for g in golds]
        f_scores = []
        for label in labels:
            tp = sum(p == label == g for p, g in zip(pred_top, gold_top))
            fp = sum(p == label != g for p, g in zip(pred_top, gold_top))
            fn = sum(g == label != p for p, g in zip(pred_top, gold_top))
            f_scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        acc = sum(p == g for p, g in zip(pred_top, gold_top)) / len(golds)
        macro_f = sum(f_scores) / len(labels)
        return {"score": macro_f, "macro_f": macro_f, "accuracy": acc}
    aucs, tp, fp, fn = [], 0, 0, 0
    for label in labels:
        pairs = [(p.get(label, 0.0), g[label]) for p, g in zip(preds, golds) if label in g]
        pos = [s for s, y in pairs if y == 1.0]
        neg = [s for s, y in pairs if y != 1.0]
        if pos and neg:
            wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
            aucs.append(wins / (len(pos) * len(neg)))
        else:
            aucs.append(0.0)  # as spaCy: counted, but scores 0
        tp += sum(s >= 0.5 and y > 0 for s, y in pairs)
        fp += sum(s >= 0.5 and y == 0 for s, y in pairs)
        fn += sum(s < 0.5 and y > 0 for s, y in pairs)
    micro_f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"score": sum(aucs) / len(labels), "macro_auc": sum(aucs) / len(labels), "micro_f": micro_f}


def span_scores(preds: List[List[List[Any]]], golds: List[List[List[Any]]]) -> Dict[str, float]:
    """Exact (start, end, label) matches over all docs: P, R, F; `score` is F."""
    tp = fp = fn = 0
    for pred, gold in zip(preds, golds):
        p, g = {tuple(s) for s in pred}, {tuple(s) for s in gold}
        tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
    prec = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * prec * recall / (prec + recall) if prec + recall else 0.0
    return {"score": f, "p": prec, "r": recall, "f": f}


def evaluate_rounds(models: Dict[str, str], dev: str, kind: str, args: argparse.Namespace, work: Path,
                    name: str) -> Dict[str, Dict[str, Any]]:
    """Alternate the tools' evaluation processes; per tool the fastest round, and the largest RSS."""
    rounds: Dict[str, List[Dict[str, Any]]] = {tool: [] for tool in TOOLS}
    for r in range(max(args.eval_rounds, 1)):
        for tool in TOOLS:
            python = args.spacy_python if tool == "spacy" else sys.executable
            answer, measured = side(python, ["evaluate", "--tool", tool, "--model", models[tool], "--dev", dev,
                                             "--kind", kind, "--batch-size", str(args.batch_size),
                                             "--repeats", str(args.repeats)], f"evaluate_{name}_{tool}_{r}", work)
            answer["process"] = measured
            rounds[tool].append(answer)
    merged = {}
    for tool, results in rounds.items():
        best = dict(max(results, key=lambda a: a["words_per_second"]))
        best["process"] = dict(best["process"], peak_rss_mib=max(a["process"]["peak_rss_mib"] for a in results))
        best["rounds_words_per_second"] = [round(a["words_per_second"], 1) for a in results]
        merged[tool] = best
    return merged


def run_task(task: str, metric: str, config: Path, files: Dict[str, str], kind: str, args: argparse.Namespace,
             work: Path, score_key: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Train and score both tools once per seed; the table row averages seeds (speeds: mean, RSS: max)."""
    per_seed = []
    for seed in args.seeds:
        train_res = {tool: train(tool, task, config, files, args, work, score_key, seed) for tool in TOOLS}
        eval_res = evaluate_rounds({t: train_res[t]["model"] for t in TOOLS}, files["dev"], kind, args, work,
                                   f"{task.replace(':', '_')}_seed{seed}")
        per_seed.append({"seed": seed, "train": train_res, "evaluate": eval_res})
    agg_train, agg_eval, scores = {}, {}, {}
    for tool in TOOLS:
        runs_t = [r["train"][tool] for r in per_seed]
        runs_e = [r["evaluate"][tool] for r in per_seed]
        agg_train[tool] = {"words_per_second": statistics.mean(r["words_per_second"] for r in runs_t),
                           "process": {"peak_rss_mib": max(r["process"]["peak_rss_mib"] for r in runs_t)}}
        agg_eval[tool] = {"words_per_second": statistics.mean(r["words_per_second"] for r in runs_e),
                          "process": {"peak_rss_mib": max(r["process"]["peak_rss_mib"] for r in runs_e)}}
        values = [r["scores"]["score"] for r in runs_e]
        last = [r["last_step_score"] for r in runs_t if r.get("last_step_score") is not None]
        scores[tool] = {"score": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "per_seed": values, "last": statistics.mean(last) if len(last) == len(runs_t) else None,
                        "last_per_seed": last}
    row = task_row(task, metric, agg_train, agg_eval, scores)
    return row, {"config": rel(config), "scores": scores, "runs": per_seed}


# --- 4. report ------------------------------------------------------------------------------------
def task_row(task: str, metric: str, train_res: Dict[str, Dict], eval_res: Dict[str, Dict],
             scores: Dict[str, Dict[str, float]]) -> Dict[str, Any]:
    a, s = "archcli", "spacy"

    def ratio(x: float, y: float) -> float:
        return round(x / y, 3) if y else float("nan")

    return {
        "task": task, "metric": metric, "seeds": len(scores[a].get("per_seed", [0])),
        "score_archcli": round(100 * scores[a]["score"], 2), "score_spacy": round(100 * scores[s]["score"], 2),
        "score_sd_archcli": round(100 * scores[a].get("sd", 0.0), 2), "score_sd_spacy": round(100 * scores[s].get("sd", 0.0), 2),
        "score_delta": round(100 * (scores[a]["score"] - scores[s]["score"]), 2),
        "last_step_archcli": _pct(scores[a].get("last")), "last_step_spacy": _pct(scores[s].get("last")),
        "last_step_delta": (_pct(scores[a]["last"] - scores[s]["last"])
                            if scores[a].get("last") is not None and scores[s].get("last") is not None else None),
        "train_wps_archcli": round(train_res[a]["words_per_second"]), "train_wps_spacy": round(train_res[s]["words_per_second"]),
        "train_ratio": ratio(train_res[a]["words_per_second"], train_res[s]["words_per_second"]),
        "infer_wps_archcli": round(eval_res[a]["words_per_second"]), "infer_wps_spacy": round(eval_res[s]["words_per_second"]),
        "infer_ratio": ratio(eval_res[a]["words_per_second"], eval_res[s]["words_per_second"]),
        "rss_train_archcli": train_res[a]["process"]["peak_rss_mib"], "rss_train_spacy": train_res[s]["process"]["peak_rss_mib"],
        "rss_infer_archcli": eval_res[a]["process"]["peak_rss_mib"], "rss_infer_spacy": eval_res[s]["process"]["peak_rss_mib"],
    }


def _pct(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(100 * value, 2)


def format_table(rows: List[Dict[str, Any]]) -> str:
    def score(r: Dict[str, Any], tool: str) -> str:
        sd = f" ± {r[f'score_sd_{tool}']:.2f}" if r.get("seeds", 1) > 1 else ""
        return f"{r[f'score_{tool}']:.2f}{sd}"

    def last(r: Dict[str, Any]) -> str:
        if r.get("last_step_delta") is None:
            return "n/a"
        return f"{r['last_step_archcli']:.2f} / {r['last_step_spacy']:.2f} ({r['last_step_delta']:+.2f})"

    lines = ["| task | metric | archcli | spaCy | Δ pts | last step archcli / spaCy (Δ) | "
             "train w/s archcli / spaCy (ratio) | "
             "inference w/s archcli / spaCy (ratio) | peak RSS train MiB | peak RSS inference MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['metric']}{' (' + str(r['seeds']) + ' seeds)' if r.get('seeds', 1) > 1 else ''} | "
            f"{score(r, 'archcli')} | {score(r, 'spacy')} | {r['score_delta']:+.2f} | {last(r)} | "
            f"{r['train_wps_archcli']:,} / {r['train_wps_spacy']:,} ({r['train_ratio']:.2f}x) | "
            f"{r['infer_wps_archcli']:,} / {r['infer_wps_spacy']:,} ({r['infer_ratio']:.2f}x) | "
            f"{r['rss_train_archcli']:.0f} / {r['rss_train_spacy']:.0f} | {r['rss_infer_archcli']:.0f} / {r['rss_infer_spacy']:.0f} |")
    return "\n".join(lines)


def goals(rows: List[Dict[str, Any]]) -> Dict[str, bool]:
    out = {}
    for r in rows:
        out[f"{r['task']}: score within 0.5 points of spaCy or better"] = r["score_delta"] >= -0.5
        out[f"{r['task']}: inference words/s >= spaCy"] = r["infer_ratio"] >= 1.0
        out[f"{r['task']}: train words/s >= spaCy"] = r["train_ratio"] >= 1.0
    return out


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "archcli"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def common_args(parser: argparse.ArgumentParser, steps: int, eval_frequency: int, output: str) -> None:
    parser.add_argument("--spacy-python", default=None, help="python of a venv with spaCy 3.8")
    parser.add_argument("--max-steps", type=int, default=steps, help="training steps for both tools")
    parser.add_argument("--eval-frequency", type=int, default=eval_frequency, help="must divide --max-steps")
    parser.add_argument("--seeds", default="0", type=lambda text: [int(s) for s in text.split(",")],
                        help="comma-separated seeds; each task trains once per seed and the table averages them")
    parser.add_argument("--batch-size", type=int, default=1000, help="nlp.pipe batch size for inference")
    parser.add_argument("--repeats", type=int, default=5, help="timed inference passes (the fastest is reported)")
    parser.add_argument("--eval-rounds", type=int, default=2, help="alternating evaluation processes per tool")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / output)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help="comma-separated CORPUS:ARCH")
    common_args(parser, steps=1000, eval_frequency=250, output="textcat.json")
    args = parser.parse_args(argv)
    if args.max_steps % args.eval_frequency:
        parser.error("--eval-frequency must divide --max-steps, so both tools evaluate the last step")
    work = BENCH / "work" / "textcat"
    args.spacy_python = spacy_python(args.spacy_python, BENCH / "work")
    load_start = os.getloadavg()[0]
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    from archcli.training.corpus import Corpus

    corpora: Dict[str, Any] = {}
    rows, details = [], {}
    for task in tasks:
        corpus, arch = task.split(":")
        multi = corpus == "trec_multilabel"
        if corpus not in corpora:
            files = convert(corpus, {s: CORPORA / corpus / f"{s}.jsonl" for s in ("train", "dev")}, work, Corpus)
            corpora[corpus] = {"files": files, "docs": check_same_docs(files, args.spacy_python, work, corpus)}
        files = corpora[corpus]["files"]
        config = task_config(corpus, arch, work)
        row, details[task] = run_task(task, "macro AUC" if multi else "macro F", config, files,
                                      "multilabel" if multi else "exclusive", args, work, "cats_score")
        rows.append(row)
        log(f"{task}: {row['metric']} {row['score_archcli']} vs {row['score_spacy']}; train {row['train_ratio']}x, "
            f"inference {row['infer_ratio']}x")
    report = {
        "benchmark": "textcat", "archcli_commit": git_commit(), "command": " ".join(["python", rel(THIS), *argv]),
        "settings": {k: (rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "blas": blas_settings(), "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}},
        "corpora": corpora, "table": rows, "goals": goals(rows), "tasks": details,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    print(format_table(rows))
    print(f"results: {rel(args.output)}; load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}")


# --- the side of one tool, run in that tool's own venv ------------------------------------------
def _read_docs(tool: str, path: str, vocab: Any = None) -> Tuple[List[Any], Any]:
    if tool == "spacy":
        import spacy
        from spacy.tokens import DocBin

        vocab = vocab if vocab is not None else spacy.blank("en").vocab
        return list(DocBin().from_disk(path).get_docs(vocab)), vocab
    from archcli.tokens import DocBin, Vocab

    vocab = vocab if vocab is not None else Vocab()
    return list(DocBin().from_disk(path).get_docs(vocab)), vocab


def _doc_fields(doc: Any) -> Dict[str, Any]:
    return {"words": [t.text for t in doc], "spaces": [bool(t.whitespace_) for t in doc],
            "cats": sorted(doc.cats.items()),
            "spans": {k: sorted([s.start, s.end, s.label_] for s in g) for k, g in sorted(doc.spans.items())}}


def side_digest(tool: str, path: str) -> Dict[str, Any]:
    docs, _ = _read_docs(tool, path)
    per_doc = [hashlib.sha1(json.dumps(_doc_fields(d)).encode("utf8")).hexdigest()[:12] for d in docs]
    return {"tool": tool, "n_docs": len(docs), "n_words": sum(len(d) for d in docs), "per_doc": per_doc}


def side_evaluate(tool: str, model: str, dev: str, kind: str, batch_size: int, repeats: int) -> Dict[str, Any]:
    """Predict dev on gold tokens with `nlp.pipe`; the fastest of `repeats` timed passes after a warm-up."""
    if tool == "spacy":
        import spacy
        from spacy.tokens import Doc

        nlp = spacy.load(model)
        version = spacy.__version__
    else:
        import archcli
        from archcli.language import load
        from archcli.tokens import Doc

        nlp = load(model)
        version = archcli.__version__
    gold, _ = _read_docs(tool, dev, nlp.vocab)
    words = [[t.text for t in d] for d in gold]
    spaces = [[bool(t.whitespace_) for t in d] for d in gold]
    n_words = sum(len(w) for w in words)

    def make(vocab, w, s):
        return Doc(vocab, words=w, spaces=s) if tool == "spacy" else Doc(vocab, w, s)

    def run() -> Tuple[List[Any], float]:
        docs = [make(nlp.vocab, w, s) for w, s in zip(words, spaces)]
        start = time.perf_counter()
        out = list(nlp.pipe(docs, batch_size=batch_size))
        return out, time.perf_counter() - start

    run()
    timings = []
    for _ in range(max(repeats, 1)):
        predicted, seconds = run()
        timings.append(seconds)
    if kind == "spans":
        preds = [sorted([s.start, s.end, s.label_] for s in d.spans.get("sc", [])) for d in predicted]
        golds = [sorted([s.start, s.end, s.label_] for s in d.spans.get("sc", [])) for d in gold]
        scores = span_scores(preds, golds)
    else:
        scores = cats_scores([dict(d.cats) for d in predicted], [dict(d.cats) for d in gold], kind == "multilabel")
    best = min(timings)
    return {"tool": tool, "version": version, "n_docs": len(gold), "n_words": n_words, "scores": scores,
            "pipe_seconds": timings, "words_per_second": n_words / best,
            "words_per_second_median": n_words / statistics.median(timings)}


def side_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_textcat.py side")
    sub = parser.add_subparsers(dest="command", required=True)
    p_digest = sub.add_parser("digest")
    p_digest.add_argument("--tool", choices=TOOLS, required=True)
    p_digest.add_argument("path")
    p_eval = sub.add_parser("evaluate")
    p_eval.add_argument("--tool", choices=TOOLS, required=True)
    p_eval.add_argument("--model", required=True)
    p_eval.add_argument("--dev", required=True)
    p_eval.add_argument("--kind", choices=("exclusive", "multilabel", "spans"), required=True)
    p_eval.add_argument("--batch-size", type=int, default=1000)
    p_eval.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "digest":
        result = side_digest(args.tool, args.path)
    else:
        result = side_evaluate(args.tool, args.model, args.dev, args.kind, args.batch_size, args.repeats)
    sys.stdout.write(json.dumps(result) + "\n")


# --- spaCy hooks, registered when `spacy train --code bench/bench_textcat.py` imports this file ----
def register_spacy_hooks() -> None:
    from spacy.tokens import Doc, DocBin
    from spacy.training import Example
    from spacy.util import registry

    @registry.loggers("bench.StepClockLogger.v1")
    def step_clock_logger(progress_bar: bool = False) -> Callable:
        """spacy.ConsoleLogger.v1, plus the time between consecutive per-step calls, to $BENCH_STEP_CLOCK."""
        console = registry.get("loggers", "spacy.ConsoleLogger.v1")(progress_bar=progress_bar)
        out_path = os.environ.get("BENCH_STEP_CLOCK", "step_clock.json")

        def setup(nlp: Any, stdout: Any, stderr: Any) -> Tuple[Callable, Callable]:
            log_step, finalize = console(nlp, stdout, stderr)
            steps: List[float] = []
            evals: List[int] = []
            words: Dict[int, int] = {}
            scores: Dict[int, float] = {}
            state: Dict[str, Any] = {"last": None}

            def log_info(info: Optional[Dict[str, Any]]) -> None:
                now = time.perf_counter()
                if state["last"] is not None:
                    steps.append(now - state["last"])
                if info is not None:
                    words[int(info["step"])] = int(info["words"])
                    if info.get("score") is not None:
                        scores[int(info["step"])] = float(info["score"])
                    if info["step"]:
                        evals.append(int(info["step"]))
                log_step(info)
                state["last"] = time.perf_counter()

            def done() -> None:
                finalize()
                with open(out_path, "w", encoding="utf8") as file_:
                    json.dump({"step_seconds": steps, "eval_steps": evals, "words": words, "scores": scores}, file_)

            return log_info, done

        return setup

    @registry.readers("bench.GoldTokenCorpus.v1")
    def gold_token_corpus(path: str, max_length: int = 0, gold_preproc: bool = False, limit: int = 0,
                          augmenter: Optional[Callable] = None) -> Callable[[Any], Iterator[Any]]:
        """Examples predicting on the reference's own tokens (whole docs), as archcli's reader gives them."""

        def read(nlp: Any) -> Iterator[Any]:
            for ref in DocBin().from_disk(path).get_docs(nlp.vocab):
                if len(ref):
                    yield Example(Doc(nlp.vocab, words=[t.text for t in ref],
                                      spaces=[bool(t.whitespace_) for t in ref]), ref)

        return read


if __name__ == "__main__":
    if sys.argv[1:2] == ["side"]:
        side_main(sys.argv[2:])
    else:
        main(sys.argv[1:])
elif "spacy" in sys.modules and "archcli" not in sys.modules:
    register_spacy_hooks()
