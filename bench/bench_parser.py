"""Parser and NER benchmark: archcli against spaCy 3.8, same documents, configs and step budget.

    python bench/bench_parser.py [--max-steps 1000] [--tasks parser,ner] [--spacy-python PATH]

1. Converts UD English-EWT (train/dev CoNLL-U, 10 sentences per doc) and UniversalNER English-EWT
   (train/dev IOB2, 10 sentences per doc) to `.spacy` once with archcli's DocBin writer; spaCy reads
   the same files, so both tools see identical documents, sentence grouping and gold tokens.
2. Trains configs/tagger_parser.cfg and configs/ner.cfg with each tool's `train` CLI in its own
   process: same seed, same max_steps, same eval_frequency, patience off. spaCy reads the files with
   `bench.GoldTokenCorpus.v1` (bench/spacy_hooks.py), i.e. on the gold tokens as archcli does;
   `--spacy-retokenise` keeps spaCy's own `spacy.Corpus.v1` (re-tokenised text aligned to gold).
3. Scores each model-last on dev with gold tokens in a fresh process (bench/parser_side.py).
4. Prints a table and writes bench/results/parser.json.
Training speed is compared as the wall time of each training process for the same step budget
and batch schedule (so the same number of words), evaluations at the same steps included.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "parser"
SHARED = ROOT.parent / "shared" / "corpora"
TASKS = {
    "parser": {"config": "configs/tagger_parser.cfg", "source": ("ud_en_ewt", "conllu"),
               "keys": ("tag_acc", "dep_uas", "dep_las", "sents_f")},
    "ner": {"config": "configs/ner.cfg", "source": ("uner_en_ewt", "iob2"), "keys": ("ents_p", "ents_r", "ents_f")},
}


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def spacy_python(given: Optional[str]) -> str:
    if given:
        return given
    if Path("/work/spacy-venv/bin/python").exists():
        return "/work/spacy-venv/bin/python"
    env_dir = ROOT / "bench" / "work" / "spacy-venv"
    if not (env_dir / "bin" / "python").exists():
        log("creating bench/work/spacy-venv with spaCy 3.8 (one-off)")
        venv.create(env_dir, with_pip=True)
        subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "spacy>=3.8,<3.9"], check=True)
    return str(env_dir / "bin" / "python")


def convert(task: str) -> Dict[str, Path]:
    """Write train/dev .spacy files with archcli (once); both tools read these."""
    from archcli.tokens import Vocab
    from archcli.tokens.docbin import DocBin
    from archcli.training.conllu import read_conllu
    from archcli.training.iob import read_iob

    folder, ext = TASKS[task]["source"]
    out = {}
    for split in ("train", "dev"):
        target = WORK / f"{task}-{split}.spacy"
        if not target.exists():
            reader = read_conllu if ext == "conllu" else read_iob
            docs = [doc for doc, _ in reader(SHARED / folder / f"{split}.{ext}", Vocab(), n_sents=10)]
            DocBin(docs=docs).to_disk(target)
            log(f"wrote {target.relative_to(ROOT)} ({len(docs)} docs, {sum(map(len, docs))} words)")
        out[split] = target
    return out


def measured(cmd: List[str], log_path: Path) -> Dict[str, float]:
    with open(log_path, "w", encoding="utf8") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed, see {log_path}: {' '.join(cmd)}")
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024}


def run(task: str, tool: str, files: Dict[str, Path], steps: int, eval_every: int, python: str,
        spacy_gold_tokens: bool = True, seed: int = 0) -> Dict[str, float]:
    out_dir = WORK / f"{task}-{tool}"
    log_path = WORK / f"{task}-{tool}-train.log"
    overrides = ["--paths.train", str(files["train"]), "--paths.dev", str(files["dev"]),
                 "--training.max_steps", str(steps), "--training.eval_frequency", str(eval_every),
                 "--training.patience", "0", "--training.logger.progress_bar", "false",
                 "--system.seed", str(seed)]
    module = "archcli" if tool == "archcli" else "spacy"
    if tool == "spacy" and spacy_gold_tokens:
        overrides += ["--code", str(ROOT / "bench" / "spacy_hooks.py"),
                      "--corpora.train.@readers", "bench.GoldTokenCorpus.v1",
                      "--corpora.dev.@readers", "bench.GoldTokenCorpus.v1"]
    log(f"training {tool} {task} ({steps} steps) → {log_path.relative_to(ROOT)}")
    train = measured([python, "-m", module, "train", TASKS[task]["config"], "--output", str(out_dir)] + overrides,
                     log_path)
    log(f"scoring {tool} {task}")
    side = subprocess.run([python, str(ROOT / "bench" / "parser_side.py"), tool, str(out_dir / "model-last"),
                           str(files["dev"])], cwd=ROOT, capture_output=True, text=True)
    if side.returncode:
        raise SystemExit(side.stderr)
    scores = json.loads(side.stdout.strip().splitlines()[-1])
    result = {k: scores[k] for k in TASKS[task]["keys"] if k in scores}
    result.update(train_wall_s=train["wall_s"], train_peak_rss_mib=train["peak_rss_mib"],
                  infer_words_per_s=scores["speed"], infer_peak_rss_mib=scores["peak_rss_mib"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--eval-frequency", type=int, default=500)
    parser.add_argument("--tasks", default="parser,ner")
    parser.add_argument("--seed", type=int, default=0, help="system.seed for both tools")
    parser.add_argument("--spacy-python", default=None)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "parser.json"))
    parser.add_argument("--spacy-retokenise", action="store_true",
                        help="let spaCy re-tokenise the text (its default) instead of training on gold tokens")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    WORK.mkdir(parents=True, exist_ok=True)
    pythons = {"archcli": sys.executable, "spacy": spacy_python(args.spacy_python)}
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for task in args.tasks.split(","):
        files = convert(task)
        results[task] = {tool: run(task, tool, files, args.max_steps, args.eval_frequency, python,
                                   not args.spacy_retokenise, args.seed)
                         for tool, python in pythons.items()}
    rows = []
    for task, by_tool in results.items():
        a, s = by_tool["archcli"], by_tool["spacy"]
        for key in list(TASKS[task]["keys"]) + ["train_wall_s", "train_peak_rss_mib", "infer_words_per_s",
                                                 "infer_peak_rss_mib"]:
            if key not in a or key not in s:
                continue
            if key in TASKS[task]["keys"]:
                rows.append((task, key, f"{a[key] * 100:.2f}", f"{s[key] * 100:.2f}", f"{(a[key] - s[key]) * 100:+.2f} pts"))
            else:
                rows.append((task, key, f"{a[key]:,.1f}", f"{s[key]:,.1f}", f"{a[key] / s[key]:.2f}x"))
    print("| task | metric | archcli | spaCy 3.8 | archcli vs spaCy |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    report = {"max_steps": args.max_steps, "eval_frequency": args.eval_frequency, "seed": args.seed,
              "spacy_gold_tokens": not args.spacy_retokenise, "archcli_commit": commit.stdout.strip(),
              "blas": blas_settings(), "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}, "results": results}
    Path(args.output).write_text(json.dumps(report, indent=2))
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
