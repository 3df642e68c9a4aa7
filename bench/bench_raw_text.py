"""Raw-text training and scoring: tagger + parser trained with `gold_preproc = false` in archcli and
spaCy 3.8, scored on UD English-EWT dev on gold tokens and on re-tokenised raw text.

    python bench/bench_raw_text.py [--steps 2000] [--eval-frequency 500] [--seeds 0,1,2] [--spacy-python PATH]

1. Corpus: EWT train/dev as .spacy (archcli's DocBin, 10 sentences per doc; the parser bench's files).
2. Training: `configs/tagger_parser.cfg` (spacy.Corpus.v1 with `gold_preproc = false`: each tool
   tokenises every doc's raw text with its own tokenizer and aligns the gold annotation to it),
   the same `--paths.*`, `--training.max_steps`, `--training.eval_frequency`, `--training.patience 0`
   and `--system.seed` for both; one BLAS thread per process. Train words/s as in the tagger bench
   (archcli's training_log.jsonl; spaCy's bench.StepClockLogger.v1), evaluations left out.
3. Scoring (`bench/raw_text_side.py`, each tool's own scorer, a fresh process): model-last on dev
   with gold tokens and re-tokenised (`spacy evaluate`'s way). Per seed, archcli minus spaCy;
   mean ± sd over seeds. Writes bench/results/raw_text.json.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tagger import archcli_step_throughput, check, run_measured, spacy_step_throughput  # noqa: E402
from ewt_docbins import ewt_docbins  # noqa: E402
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "raw_text"
CONFIG = ROOT / "configs" / "tagger_parser.cfg"
SIDE = ROOT / "bench" / "raw_text_side.py"
HOOKS = ROOT / "bench" / "spacy_hooks.py"
SCORES = ("token_f", "tag_acc", "dep_uas", "dep_las", "sents_f")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def corpus() -> Dict[str, Path]:
    return ewt_docbins(WORK)


def train(tool: str, seed: int, files: Dict[str, Path], args: argparse.Namespace) -> Dict[str, Any]:
    out = WORK / f"train_{tool}_s{seed}"
    shutil.rmtree(out, ignore_errors=True)
    overrides = ["--paths.train", files["train"], "--paths.dev", files["dev"], "--training.max_steps", args.steps,
                 "--training.eval_frequency", args.eval_frequency, "--training.patience", "0", "--system.seed", seed]
    env: Dict[str, str] = {}
    if tool == "spacy":
        cmd = [args.spacy_python, "-m", "spacy", "train", CONFIG, "--output", out, *overrides, "--code", HOOKS,
               "--training.logger.@loggers", "bench.StepClockLogger.v1"]
        env["BENCH_STEP_CLOCK"] = str(out / "step_clock.json")
        out.mkdir(parents=True)
    else:
        cmd = [sys.executable, "-m", "archcli", "train", CONFIG, "--output", out, *overrides,
               "--training.logger.progress_bar", "false"]
    log(f"train {tool} seed {seed}")
    measured = run_measured([str(c) for c in cmd], WORK / "logs" / f"train_{tool}_s{seed}.log", env=env)
    check(measured, f"{tool} train")
    words, seconds = (spacy_step_throughput if tool == "spacy" else archcli_step_throughput)(out, args.steps)
    return {"model": str(out / "model-last"), "train_words_per_s": round(words / seconds, 1),
            "train_wall_s": measured.wall_s, "train_peak_rss_mib": measured.peak_rss_mib}


def score(tool: str, python: str, model: str, dev: Path, name: str) -> Dict[str, Any]:
    out = WORK / "logs" / f"{name}.json"
    measured = run_measured([python, str(SIDE), tool, model, str(dev)], WORK / "logs" / f"{name}.log", stdout_path=out)
    check(measured, name)
    return json.loads(out.read_text(encoding="utf8").strip().splitlines()[-1])


def mean_sd(values: List[float]) -> str:
    return f"{statistics.mean(values):+.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:+.2f}"


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-frequency", type=int, default=500)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--spacy-python", default="/work/spacy-venv/bin/python")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "raw_text.json")
    args = parser.parse_args(argv or None)
    pin_one_blas_thread()
    files = corpus()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: Dict[str, Dict[str, Any]] = {}
    for seed in seeds:
        for tool in ("archcli", "spacy"):
            result = train(tool, seed, files, args)
            python = args.spacy_python if tool == "spacy" else sys.executable
            result["scores"] = score(tool, python, result["model"], files["dev"], f"score_{tool}_s{seed}")
            runs.setdefault(tool, {})[str(seed)] = result
            log(f"  {tool} s{seed}: gold {result['scores']['gold']}; raw {result['scores']['raw']}")
    rows = []
    for way in ("gold", "raw"):
        for key in SCORES:
            a = [100 * (runs["archcli"][str(s)]["scores"][way][key] or 0) for s in seeds]
            b = [100 * (runs["spacy"][str(s)]["scores"][way][key] or 0) for s in seeds]
            rows.append({"way": way, "key": key, "archcli": round(statistics.mean(a), 2),
                         "spacy": round(statistics.mean(b), 2), "delta": mean_sd([x - y for x, y in zip(a, b)])})
    for key, label in (("train_words_per_s", "train words/s"),):
        ratios = [runs["archcli"][str(s)][key] / runs["spacy"][str(s)][key] for s in seeds]
        rows.append({"way": "-", "key": label, "archcli": round(statistics.mean(runs["archcli"][str(s)][key] for s in seeds)),
                     "spacy": round(statistics.mean(runs["spacy"][str(s)][key] for s in seeds)),
                     "delta": f"{statistics.mean(ratios):.2f}x ± {statistics.stdev(ratios) if len(ratios) > 1 else 0:.2f}"})
    for way in ("gold", "raw"):
        ratios = [runs["archcli"][str(s)]["scores"][way]["speed"] / runs["spacy"][str(s)]["scores"][way]["speed"]
                  for s in seeds]
        rows.append({"way": way, "key": "inference words/s", "archcli": None, "spacy": None,
                     "delta": f"{statistics.mean(ratios):.2f}x ± {statistics.stdev(ratios) if len(ratios) > 1 else 0:.2f}"})
    result = {"settings": {"config": os.path.relpath(CONFIG, ROOT), "steps": args.steps, "seeds": seeds,
                           "eval_frequency": args.eval_frequency},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "blas": blas_settings(), "load_avg": os.getloadavg()},
              "runs": runs, "table": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")
    print(f"{'scored on':10} {'metric':18} {'archcli':>9} {'spaCy':>9} {'archcli - spaCy (mean ± sd)':>28}")
    for row in rows:
        a = "" if row["archcli"] is None else f"{row['archcli']:.2f}" if isinstance(row["archcli"], float) else str(row["archcli"])
        b = "" if row["spacy"] is None else f"{row['spacy']:.2f}" if isinstance(row["spacy"], float) else str(row["spacy"])
        print(f"{row['way']:10} {row['key']:18} {a:>9} {b:>9} {row['delta']:>28}")


if __name__ == "__main__":
    main()
