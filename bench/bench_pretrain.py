"""Pretraining benchmark: does `archcli pretrain` help a small tagger, and how fast is it next to spaCy?

Run with the archcli virtual environment's python, from anywhere:

    python bench/bench_pretrain.py [--paragraphs 10000] [--steps 1000] [--seeds 0,1,2]
                                   [--spacy-python PATH] [--skip-spacy] [--quick]

1. Budget: the first `--paragraphs` lines of the shared raw text (../shared/corpora/raw_text) are
   copied to bench/work/pretrain/raw.jsonl; both tools pretrain one epoch over exactly that file
   (spaCy's JsonlCorpus ignores `limit`, so the file itself is the budget).
2. For each objective (configs/pretrain_characters.cfg, configs/pretrain_vectors.cfg), archcli and
   then spaCy 3.8 (`python -m spacy pretrain`, from its own venv, same config file) pretrain the
   tok2vec of configs/tagger.cfg. Each run is a separate process; words come from the tool's own
   log.jsonl, wall and CPU seconds from the process (rusage), so startup is included for both.
   spaCy reads the vectors through `spacy init vectors` (converted once); archcli reads the .vec.gz.
3. archcli trains configs/tagger.cfg on the first `--train-sents` sentences of UD English-EWT train
   for `--steps` steps, once per seed, without and with `--paths.init_tok2vec` from each objective,
   and scores fine-grained tags (tag_acc) on the full dev set: the final step's score and the best.
4. Prints a table and writes JSON (default bench/results/pretrain.json).

If neither --spacy-python nor /work/spacy-venv exists, a venv with spaCy 3.8 is created under
bench/work/spacy-venv with pip. Working files go to bench/work/pretrain/ (git-ignored).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "pretrain"
SHARED = ROOT.parent / "shared" / "corpora"
RAW_TEXT = SHARED / "raw_text" / "litbank_books.jsonl"
VECTORS = SHARED / "vectors" / "word2vec_en_100d.vec.gz"
UD = SHARED / "ud_en_ewt"
CONFIGS = {"characters": ROOT / "configs" / "pretrain_characters.cfg",
           "vectors": ROOT / "configs" / "pretrain_vectors.cfg"}
TAGGER_CFG = ROOT / "configs" / "tagger.cfg"
DEFAULT_SPACY_PYTHON = Path("/work/spacy-venv/bin/python")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


# --- measured subprocesses ----------------------------------------------------------------
def run(cmd: Sequence[Any], log_path: Path, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Run `cmd` from the repo root with output to `log_path`; wall/CPU seconds and peak RSS."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log_path, "w", encoding="utf8") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log_path.read_text(encoding="utf8", errors="replace").splitlines()[-25:]
        sys.exit(f"command failed (exit {code}): {' '.join(map(str, cmd))}\nlast lines of {rel(log_path)}:\n"
                 + "\n".join(tail))
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "log": rel(log_path)}


def spacy_python(args: argparse.Namespace) -> str:
    if args.spacy_python:
        return str(args.spacy_python)
    if DEFAULT_SPACY_PYTHON.exists():
        return str(DEFAULT_SPACY_PYTHON)
    venv = ROOT / "bench" / "work" / "spacy-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {rel(venv)} with spaCy 3.8 (pip)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "spacy>=3.8,<3.9"], check=True)
    return str(python)


# --- data ------------------------------------------------------------------------------------
def prepare_raw_text(n_paragraphs: int) -> Path:
    dest = WORK / f"raw_{n_paragraphs}.jsonl"
    if not dest.exists():
        with open(RAW_TEXT, encoding="utf8") as src, open(dest, "w", encoding="utf8") as out:
            for i, line in enumerate(src):
                if i >= n_paragraphs:
                    break
                out.write(line)
    return dest


def prepare_ud(n_train: int) -> Dict[str, Path]:
    sys.path.insert(0, str(ROOT))
    from tests.util import write_conllu_slice

    train = WORK / f"ud_train_{n_train}.conllu"
    if not train.exists():
        write_conllu_slice(UD / "train.conllu", train, 0, n_train)
    return {"train": train, "dev": UD / "dev.conllu"}


def spacy_vectors(python: str) -> Path:
    out = WORK / "spacy_vectors"
    if not (out / "config.cfg").exists():
        log("converting the vectors for spaCy (`spacy init vectors`)")
        run([python, "-m", "spacy", "init", "vectors", "en", VECTORS, out], WORK / "logs" / "spacy_init_vectors.log")
    return out


# --- runs ------------------------------------------------------------------------------------
def pretrain(tool: str, python: str, objective: str, raw: Path, vectors: Optional[Path]) -> Dict[str, Any]:
    out = WORK / f"pretrain_{tool}_{objective}"
    if out.exists():
        shutil.rmtree(out)
    cmd: List[Any] = ([python, "-m", "archcli"] if tool == "archcli" else [python, "-m", "spacy"])
    cmd += ["pretrain", CONFIGS[objective], out, "--paths.raw_text", raw, "--pretraining.max_epochs", "1"]
    if objective == "vectors":
        cmd += ["--paths.vectors", vectors]
    log(f"pretraining with {tool}, {objective} objective")
    measured = run(cmd, WORK / "logs" / f"pretrain_{tool}_{objective}.log")
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text(encoding="utf8").splitlines()]
    words = rows[-1]["nr_word"]
    result = dict(measured, words=words, words_per_s=round(words / measured["wall_s"], 1),
                  words_per_cpu_s=round(words / measured["cpu_s"], 1), weights=rel(out / "model0.bin"))
    if tool == "archcli":
        result["loop_words_per_s"] = rows[0].get("words_per_second")
    log(f"  {words} words, {result['words_per_s']} words/s (wall), {result['words_per_cpu_s']} words/CPU-s")
    return result


def train_tagger(name: str, seed: int, ud: Dict[str, Path], steps: int, init_tok2vec: Optional[str]) -> Dict[str, Any]:
    out = WORK / f"train_{name}_seed{seed}"
    if out.exists():
        shutil.rmtree(out)
    eval_frequency = max(steps // 10, 1)
    cmd: List[Any] = [sys.executable, "-m", "archcli", "train", TAGGER_CFG, "--output", out,
                      "--paths.train", ud["train"], "--paths.dev", ud["dev"], "--system.seed", str(seed),
                      "--training.max_steps", str(steps), "--training.eval_frequency", str(eval_frequency),
                      "--training.patience", "0"]
    if init_tok2vec:
        cmd += ["--paths.init_tok2vec", ROOT / init_tok2vec]
    measured = run(cmd, WORK / "logs" / f"train_{name}_seed{seed}.log")
    rows = [json.loads(line) for line in (out / "training_log.jsonl").read_text(encoding="utf8").splitlines()]
    scores = [row["scores"]["tag_acc"] for row in rows]
    shutil.rmtree(out)  # model directories are not needed afterwards
    return {"seed": seed, "final_tag_acc": scores[-1], "best_tag_acc": max(scores), "curve": scores,
            "wall_s": measured["wall_s"]}


# --- report ----------------------------------------------------------------------------------
def summarise(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    finals = [r["final_tag_acc"] for r in runs]
    bests = [r["best_tag_acc"] for r in runs]
    return {"final_mean": statistics.mean(finals), "final_sd": statistics.pstdev(finals),
            "best_mean": statistics.mean(bests), "runs": runs}


def table(result: Dict[str, Any]) -> str:
    """Accuracy with and without init_tok2vec, then pretraining speed of both tools."""
    base = result["training"]["none"]
    n = len(base["runs"])
    lines = [f"| init_tok2vec | tag_acc final, mean ± sd of {n} seeds | gain | tag_acc best (mean) | gain |",
             "|---|---|---|---|---|",
             f"| none | {base['final_mean'] * 100:.2f} ± {base['final_sd'] * 100:.2f} | | "
             f"{base['best_mean'] * 100:.2f} | |"]
    for objective in result["objectives"]:
        t = result["training"][objective]
        lines.append(
            f"| {objective} | {t['final_mean'] * 100:.2f} ± {t['final_sd'] * 100:.2f} | "
            f"{(t['final_mean'] - base['final_mean']) * 100:+.2f} | {t['best_mean'] * 100:.2f} | "
            f"{(t['best_mean'] - base['best_mean']) * 100:+.2f} |")
    lines += ["", "| pretraining (1 epoch) | words archcli / spaCy | archcli words/s | spaCy 3.8 words/s | ratio | "
              "archcli words/CPU-s | spaCy 3.8 words/CPU-s | ratio |", "|---|---|---|---|---|---|---|---|"]
    for objective in result["objectives"]:
        a = result["pretraining"][objective]["archcli"]
        s = result["pretraining"][objective].get("spacy")
        if s:
            lines.append(
                f"| {objective} | {a['words']} / {s['words']} | {a['words_per_s']:.0f} | {s['words_per_s']:.0f} | "
                f"{a['words_per_s'] / s['words_per_s']:.2f}× | {a['words_per_cpu_s']:.0f} | "
                f"{s['words_per_cpu_s']:.0f} | {a['words_per_cpu_s'] / s['words_per_cpu_s']:.2f}× |")
        else:
            lines.append(f"| {objective} | {a['words']} / – | {a['words_per_s']:.0f} | n/a | | "
                         f"{a['words_per_cpu_s']:.0f} | n/a | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paragraphs", type=int, default=10000, help="raw-text lines pretrained on (one epoch)")
    parser.add_argument("--train-sents", type=int, default=1000, help="UD EWT train sentences for the tagger")
    parser.add_argument("--steps", type=int, default=1000, help="tagger training steps per run")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--objectives", default="characters,vectors")
    parser.add_argument("--spacy-python", type=Path, default=None)
    parser.add_argument("--skip-spacy", action="store_true", help="measure archcli only")
    parser.add_argument("--quick", action="store_true", help="tiny budget: a smoke test of the script")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "pretrain.json")
    parser.add_argument("--report-only", action="store_true", help="reprint the table of an existing --output")
    args = parser.parse_args()
    if args.report_only:
        result = json.loads(args.output.read_text(encoding="utf8"))
        result["table"] = table(result)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        print(result["table"])
        return
    if args.quick:
        args.paragraphs, args.train_sents, args.steps, args.seeds = 300, 200, 40, "0"
    for path in (RAW_TEXT, VECTORS, UD / "train.conllu", UD / "dev.conllu"):
        if not path.exists():
            sys.exit(f"missing data: {path}")
    WORK.mkdir(parents=True, exist_ok=True)
    objectives = [o for o in args.objectives.split(",") if o]
    seeds = [int(s) for s in args.seeds.split(",")]
    python = None if args.skip_spacy else spacy_python(args)
    raw = prepare_raw_text(args.paragraphs)
    ud = prepare_ud(args.train_sents)
    started = time.time()
    result: Dict[str, Any] = {
        "settings": {"paragraphs": args.paragraphs, "raw_text": rel(RAW_TEXT), "train_sents": args.train_sents,
                     "steps": args.steps, "seeds": seeds, "objectives": objectives,
                     "pretraining_epochs": 1, "configs": {k: rel(v) for k, v in CONFIGS.items()}},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_at_start": os.getloadavg(), "blas": blas_settings()},
        "objectives": objectives, "pretraining": {}, "training": {},
    }
    for objective in objectives:
        entry: Dict[str, Any] = {"archcli": pretrain("archcli", sys.executable, objective, raw, VECTORS)}
        if python:
            vectors = spacy_vectors(python) if objective == "vectors" else None
            entry["spacy"] = pretrain("spacy", python, objective, raw, vectors)
        result["pretraining"][objective] = entry
    for name in ["none"] + objectives:
        weights = None if name == "none" else result["pretraining"][name]["archcli"]["weights"]
        runs = []
        for seed in seeds:
            log(f"training the tagger: init_tok2vec={name}, seed {seed}")
            runs.append(train_tagger(name, seed, ud, args.steps, weights))
            log(f"  tag_acc final {runs[-1]['final_tag_acc']:.4f}, best {runs[-1]['best_tag_acc']:.4f}")
        result["training"][name] = summarise(runs)
    result["total_minutes"] = round((time.time() - started) / 60, 1)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    result["table"] = table(result)
    from archcli.fileio import write_text_atomic

    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output, json.dumps(result, indent=2) + "\n")
    print(result["table"])
    print(f"\n(written to {rel(args.output)}; {result['total_minutes']} minutes)")


if __name__ == "__main__":
    main()
