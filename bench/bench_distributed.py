"""Data-parallel scaling: `archcli train --n-workers N` for N = 1 and 2 on these cores.

Run with the archcli virtual environment's python, from anywhere (on an otherwise idle machine:
the two workers need both cores):

    python bench/bench_distributed.py [--workers 1,2] [--steps 1000] [--eval-frequency 250] [--seeds 0]

1. Corpus: UD English-EWT train and dev, converted once to .spacy (archcli's DocBin, 10 sentences
   per doc) under bench/work/distributed/.
2. For each seed and worker count, `python -m archcli train configs/tagger_parser.cfg --n-workers N`
   with the same overrides (steps, eval frequency, patience 0, seed, and `--batch-size` as a fixed
   `training.batcher.size`): the same global batch per step (the batcher's sizes are global; each
   worker gets a word-balanced shard), one BLAS thread per worker (the launcher sets it). With the
   config's own batcher (compounding 100 to 1,000 words) most early batches are a single 10-sentence
   doc, which one worker trains while the other waits: pass e.g. `--batch-size 2000` to measure scaling.
3. From each run: training words/s (rank 0's training_log.jsonl: words / train_seconds, whose clock
   skips evaluation; waiting for the all-reduce is included), the dev scores at the last step,
   the peak RSS of each worker (gathered by the workers at every evaluation, in meta.json), and the
   whole process's wall time. Speed-up = words/s(N) / words/s(1); efficiency = speed-up / N.
4. Prints a table and writes JSON (bench/results/distributed.json). spaCy has no data-parallel
   training of its own (spacy-ray is unmaintained), so there is no side-by-side run.
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
from ewt_docbins import ewt_docbins  # noqa: E402
from blas_threads import blas_settings  # noqa: E402
from bench_pretrain import log, rel, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "distributed"
CONFIG = ROOT / "configs" / "tagger_parser.cfg"


def corpus() -> Dict[str, Path]:
    return ewt_docbins(WORK)


def train_run(n_workers: int, seed: int, data: Dict[str, Path], args: argparse.Namespace) -> Dict[str, Any]:
    out = WORK / f"train_w{n_workers}_s{seed}"
    if out.exists():
        shutil.rmtree(out)
    cmd: List[Any] = [sys.executable, "-m", "archcli", "train", CONFIG, "--output", out, "--n-workers", n_workers,
                      "--paths.train", data["train"], "--paths.dev", data["dev"],
                      "--training.max_steps", args.steps, "--training.eval_frequency", args.eval_frequency,
                      "--training.patience", "0", "--system.seed", seed, "--training.logger.progress_bar", "false"]
    if args.batch_size:  # words per global batch, fixed (the config's compounding 100-1000 otherwise)
        cmd += ["--training.batcher.size", args.batch_size]
    log(f"{n_workers} worker(s), seed {seed}")
    # One BLAS thread for the single worker too: the same per-worker setting as the launcher's.
    measured = run(cmd, WORK / "logs" / f"train_w{n_workers}_s{seed}.log",
                   env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    rows = [json.loads(line) for line in (out / "training_log.jsonl").read_text(encoding="utf8").splitlines()]
    last = rows[-1]
    meta = json.loads((out / "model-last" / "meta.json").read_text(encoding="utf8"))
    peaks = meta.get("distributed", {}).get("peak_rss_mib") or [measured["peak_rss_mib"]]
    result = dict(measured, words=last["words"], train_seconds=last["train_seconds"],
                  words_per_s=round(last["words"] / last["train_seconds"], 1),
                  words_per_step=round(last["words"] / (last["step"] + 1), 1),
                  scores={k: last["scores"].get(k) for k in ("tag_acc", "dep_uas", "dep_las", "sents_f")},
                  losses=last["losses"], worker_peak_rss_mib=peaks, step=last["step"],
                  allreduce_seconds=meta["training"].get("allreduce_seconds"),
                  params=_n_params(out / "model-last"))
    log(f"  {result['words_per_s']} words/s, tag_acc {result['scores']['tag_acc']}, "
        f"LAS {result['scores']['dep_las']}, worker peak RSS {peaks} MiB")
    return result


def _n_params(model_dir: Path) -> int:
    from archcli import load

    nlp = load(model_dir)
    return sum(node.get_param(name).size for _, proc in nlp.components for node in proc.model.walk()
               for name in node.param_names if node.has_param(name))


def summarise(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    base = statistics.mean(r["words_per_s"] for r in runs["1"])
    summary = {}
    for n, items in runs.items():
        speed = statistics.mean(r["words_per_s"] for r in items)
        summary[n] = {
            "words_per_s": round(speed, 1), "speed_up": round(speed / base, 3),
            "efficiency": round(speed / base / int(n), 3),
            "tag_acc": [r["scores"]["tag_acc"] for r in items], "dep_las": [r["scores"]["dep_las"] for r in items],
            "worker_peak_rss_mib": max(max(r["worker_peak_rss_mib"]) for r in items),
            "wall_s": [r["wall_s"] for r in items],
            "allreduce_share": [round(r["allreduce_seconds"] / r["train_seconds"], 3) if r.get("allreduce_seconds")
                                else None for r in items],
        }
    return summary


def table(summary: Dict[str, Any]) -> str:
    lines = [f"{'workers':>7} {'words/s':>9} {'speed-up':>9} {'efficiency':>10} {'tag_acc':>16} {'dep_las':>16} "
             f"{'peak RSS/worker':>16} {'all-reduce share':>17}"]
    for n, row in summary.items():
        tags = "/".join(f"{100 * v:.2f}" for v in row["tag_acc"])
        las = "/".join(f"{100 * v:.2f}" for v in row["dep_las"])
        lines.append(f"{n:>7} {row['words_per_s']:>9.0f} {row['speed_up']:>8.2f}x {row['efficiency']:>10.2f} "
                     f"{tags:>16} {las:>16} {row['worker_peak_rss_mib']:>12.0f} MiB "
                     f"{'/'.join('-' if v is None else f'{100 * v:.1f}%' for v in row['allreduce_share']):>17}")
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-frequency", type=int, default=250)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="words per global batch (default: the config's, compounding from 100 to 1,000)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "distributed.json")
    args = parser.parse_args(argv or None)
    WORK.mkdir(parents=True, exist_ok=True)
    data = corpus()
    workers = [int(n) for n in args.workers.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    load_start = os.getloadavg()
    runs: Dict[str, List[Dict[str, Any]]] = {}
    for seed in seeds:
        for n in workers:  # alternating, so a burst of other load hits both alike
            runs.setdefault(str(n), []).append(train_run(n, seed, data, args))
    summary = summarise(runs)
    result = {
        "settings": {"config": rel(CONFIG), "steps": args.steps, "eval_frequency": args.eval_frequency,
                     "batch_size": args.batch_size,
                     "seeds": seeds, "workers": workers, "train": rel(data["train"]), "dev": rel(data["dev"])},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "blas": blas_settings(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()},
        "runs": runs, "summary": summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")
    print(table(summary))
    log(f"wrote {rel(args.output)}")


if __name__ == "__main__":
    main()
