"""Tagger benchmark: archcli against spaCy 3.8 on UD English-EWT, same documents, config and budget.

Run with the archcli virtual environment's python, from anywhere:

    python bench/bench_tagger.py [--max-steps 2000] [--spacy-python /work/spacy-venv/bin/python]

1. Converts train/dev CoNLL-U to `.spacy` once (10 sentences per doc), with archcli's reader and
   DocBin, cross-checked against `spacy convert`; falls back to `spacy convert`'s files when
   archcli's conversion fails or yields different documents. Both tools then read the same files.
2. Trains `configs/tagger.cfg` with each tool's `train` CLI, in its own process, with the same
   step budget, evaluation frequency and seed (and no early stopping).
3. Evaluates each `model-best` on dev with gold tokens (bench/tagger_side.py), in its own process.
4. Prints a comparison table and writes JSON (default bench/results/tagger.json).

Working files go to bench/work/ (git-ignored). See bench/README.md for what each number means.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import blas_settings, pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / "work"
SIDE = BENCH / "tagger_side.py"
SPACY_HOOKS = BENCH / "spacy_hooks.py"
TOOLS = ("archcli", "spacy")
# Fields that must agree for both tools to train and score on the same documents.
REQUIRED_FIELDS = ("words", "spaces", "tag")
CHECKED_FIELDS = ("words", "spaces", "tag", "pos", "head", "dep", "sent_start")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- measured subprocesses ------------------------------------------------------------------
@dataclass
class Measured:
    returncode: int
    wall_s: float
    cpu_s: float  # user + system time of the process (and any children it waited for)
    peak_rss_mib: float
    log: str


def run_measured(cmd: Sequence[str], log_path: Path, stdout_path: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None) -> Measured:
    """Run `cmd`, with stderr (and stdout, unless `stdout_path`) to `log_path`; its own rusage."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log_path, "w", encoding="utf8") as log_file:
        out_file = open(stdout_path, "w", encoding="utf8") if stdout_path else log_file
        try:
            start = time.perf_counter()
            proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=full_env, stdout=out_file,
                                    stderr=log_file)
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if stdout_path:
                out_file.close()
    return Measured(proc.returncode, round(wall, 2), round(usage.ru_utime + usage.ru_stime, 2),
                    round(usage.ru_maxrss / 1024, 1), str(log_path.relative_to(ROOT)))


def check(result: Measured, what: str) -> None:
    if result.returncode != 0:
        tail = (ROOT / result.log).read_text(encoding="utf8", errors="replace").splitlines()[-25:]
        sys.exit(f"{what} failed (exit {result.returncode}); last lines of {result.log}:\n" + "\n".join(tail))


def side(python: str, args: Sequence[str], name: str) -> Tuple[Dict[str, Any], Measured]:
    """Run bench/tagger_side.py under `python`; its JSON answer and its measurements."""
    out = WORK / "logs" / f"{name}.json"
    result = run_measured([python, SIDE, *args], WORK / "logs" / f"{name}.log", stdout_path=out)
    check(result, name)
    return json.loads(out.read_text(encoding="utf8").strip().splitlines()[-1]), result


def python_for(tool: str, args: argparse.Namespace) -> str:
    return args.spacy_python if tool == "spacy" else sys.executable


# --- 1. corpus conversion -------------------------------------------------------------------
def convert_with_archcli(src: Path, dst: Path) -> None:
    from archcli.tokens import DocBin, Vocab
    from archcli.training import read_conllu

    vocab = Vocab()
    doc_bin = DocBin()
    for doc, _ in read_conllu(src, vocab, n_sents=10):
        doc_bin.add(doc)
    doc_bin.to_disk(dst)


def convert_with_spacy(python: str, src: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = run_measured([python, "-m", "spacy", "convert", src, rel(out_dir), "--converter", "conllu",
                           "--n-sents", "10", "--file-type", "spacy"], WORK / "logs" / f"convert_{src.stem}.log")
    check(result, f"spacy convert {src.name}")


def doc_differences(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """Per field: how many docs differ between two digests, and the first one that does."""
    if a["n_docs"] != b["n_docs"]:
        return {"n_docs": [a["n_docs"], b["n_docs"]]}
    diffs: Dict[str, Any] = {}
    for field in CHECKED_FIELDS:
        bad = [i for i, (x, y) in enumerate(zip(a["per_doc"][field], b["per_doc"][field])) if x != y]
        if bad:
            diffs[field] = {"docs": len(bad), "first_doc": bad[0]}
    return diffs


def rel(path: Path) -> str:
    """`path` relative to the repository root, for reports that should not name this machine."""
    return os.path.relpath(path, ROOT)


def source_stamp(paths: Sequence[Path]) -> List[List[Any]]:
    return [[rel(p), p.stat().st_size, int(p.stat().st_mtime)] for p in paths]


def prepare_corpus(args: argparse.Namespace) -> Dict[str, Any]:
    """Convert once; reuse the result while the sources and the converter choice are unchanged."""
    sources = {split: args.corpus_dir / f"{split}.conllu" for split in ("train", "dev")}
    for path in sources.values():
        if not path.exists():
            sys.exit(f"corpus file not found: {path}")
    stamp_path = WORK / "corpus" / "corpus.json"
    stamp = source_stamp(list(sources.values()))
    if stamp_path.exists() and not args.reconvert:
        info = json.loads(stamp_path.read_text(encoding="utf8"))
        if info.get("sources") == stamp and info.get("requested") == args.converter and all(
            (ROOT / p).exists() for p in info["files"].values()
        ):
            log(f"reusing converted corpus ({info['converter']}): {stamp_path.relative_to(ROOT)}")
            return info

    archcli_dir, spacy_dir = WORK / "corpus" / "archcli", WORK / "corpus" / "spacy"
    for d in (archcli_dir, spacy_dir):  # files are overwritten in place: other runs may be reading them
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.spacy"):
            if old.stem not in sources:
                old.unlink()
    info: Dict[str, Any] = {"sources": stamp, "requested": args.converter, "notes": []}
    archcli_error = None
    if args.converter in ("auto", "archcli"):
        log("converting CoNLL-U -> .spacy with archcli (read_conllu + DocBin)")
        try:
            for split, src in sources.items():
                convert_with_archcli(src, archcli_dir / f"{split}.spacy")
        except Exception as err:  # a broken archcli reader/writer: fall back to spaCy's converter
            archcli_error = f"{type(err).__name__}: {err}"
            info["notes"].append(f"archcli conversion failed: {archcli_error}")
            if args.converter == "archcli":
                sys.exit(f"archcli conversion failed: {archcli_error}")
    log("converting CoNLL-U -> .spacy with `spacy convert -c conllu -n 10`")
    for src in sources.values():
        convert_with_spacy(args.spacy_python, src, spacy_dir)

    # Cross-check the two conversions, both read by spaCy (the reference reader).
    mismatch: Dict[str, Any] = {}
    if archcli_error is None and args.converter != "spacy":
        for split in sources:
            a, _ = side(args.spacy_python, ["digest", "--tool", "spacy", rel(archcli_dir / f"{split}.spacy")],
                        f"digest_{split}_archcli-convert")
            b, _ = side(args.spacy_python, ["digest", "--tool", "spacy", rel(spacy_dir / f"{split}.spacy")],
                        f"digest_{split}_spacy-convert")
            diff = doc_differences(a, b)
            if diff:
                mismatch[split] = diff
        info["archcli_vs_spacy_convert"] = mismatch or "identical"
    use_archcli = archcli_error is None and (args.converter == "archcli" or (args.converter == "auto" and not mismatch))
    if args.converter == "auto" and mismatch:
        info["notes"].append(f"archcli's conversion differs from spacy convert ({mismatch}); using spacy convert's files")
        log(f"WARNING: archcli conversion differs from spacy convert: {mismatch}; using spacy convert's files")
    chosen = archcli_dir if use_archcli else spacy_dir
    info["converter"] = "archcli" if use_archcli else "spacy convert"
    info["files"] = {split: rel(chosen / f"{split}.spacy") for split in sources}

    # Both tools must read the chosen files as the same documents.
    readback: Dict[str, Any] = {}
    for split in sources:
        digests = [side(python_for(tool, args), ["digest", "--tool", tool, rel(chosen / f"{split}.spacy")],
                        f"digest_{split}_read-by-{tool}")[0] for tool in TOOLS]
        diff = doc_differences(*digests)
        if any(field in diff for field in REQUIRED_FIELDS + ("n_docs",)):
            sys.exit(f"archcli and spaCy read {chosen / split}.spacy differently: {diff}")
        readback[split] = diff or "identical"
        info[f"{split}_docs"], info[f"{split}_words"] = digests[0]["n_docs"], digests[0]["n_words"]
    info["archcli_vs_spacy_reading"] = readback
    stamp_path.write_text(json.dumps(info, indent=2), encoding="utf8")
    return info


# --- 2. training ----------------------------------------------------------------------------
def train(tool: str, args: argparse.Namespace, corpus: Dict[str, Any]) -> Dict[str, Any]:
    out = WORK / "train" / tool
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    overrides = [
        "--paths.train", corpus["files"]["train"], "--paths.dev", corpus["files"]["dev"],
        "--training.max_steps", str(args.max_steps), "--training.eval_frequency", str(args.eval_frequency),
        "--training.patience", "0", "--system.seed", str(args.seed),
    ]
    env: Dict[str, str] = {}
    if tool == "spacy":
        cmd = [args.spacy_python, "-m", "spacy", "train", rel(args.config), "--output", rel(out), *overrides,
               "--code", rel(SPACY_HOOKS), "--training.logger.@loggers", "bench.StepClockLogger.v1"]
        if args.spacy_gold_tokens:  # control: spaCy on gold tokens, as archcli's reader does
            cmd += ["--corpora.train.@readers", "bench.GoldTokenCorpus.v1",
                    "--corpora.dev.@readers", "bench.GoldTokenCorpus.v1"]
        env["BENCH_STEP_CLOCK"] = str(out / "step_clock.json")
    else:
        cmd = [sys.executable, "-m", "archcli", "train", rel(args.config), "--output", rel(out), *overrides]
    log(f"training {tool} ({args.max_steps} steps; log: {(WORK / 'logs' / f'train_{tool}.log').relative_to(ROOT)})")
    measured = run_measured(cmd, WORK / "logs" / f"train_{tool}.log", env=env)
    check(measured, f"{tool} train")
    words, seconds = (spacy_step_throughput if tool == "spacy" else archcli_step_throughput)(out, args.max_steps)
    meta = json.loads((out / "model-best" / "meta.json").read_text(encoding="utf8"))
    result = {
        "command": " ".join(str(c) for c in cmd), "process": asdict(measured),
        "step_words": words, "step_seconds": round(seconds, 2), "words_per_second": words / seconds,
        "dev_tag_acc_during_training": (meta.get("performance") or {}).get("tag_acc"),
    }
    (out / "bench_train.json").write_text(json.dumps(result, indent=2), encoding="utf8")
    log(f"{tool}: {words} words in {seconds:.1f}s of steps -> {words / seconds:.0f} words/s; "
        f"process {measured.wall_s:.0f}s wall, peak RSS {measured.peak_rss_mib:.0f} MiB")
    return result


def archcli_step_throughput(out: Path, max_steps: int) -> Tuple[int, float]:
    """Words and seconds of steps 1..N from archcli's training_log.jsonl (its clock skips evaluation)."""
    rows = {row["step"]: row for row in map(json.loads, (out / "training_log.jsonl").read_text().splitlines())}
    first, last = rows[0], rows[max(rows)]
    if max(rows) != max_steps:
        log(f"WARNING: archcli's last logged step is {max(rows)}, not {max_steps}")
    return last["words"] - first["words"], last["train_seconds"] - first["train_seconds"]


def spacy_step_throughput(out: Path, max_steps: int) -> Tuple[int, float]:
    """Words and seconds of steps 1..N from the step clock; evaluation steps count as an average step."""
    clock = json.loads((out / "step_clock.json").read_text())
    words = {int(k): v for k, v in clock["words"].items()}
    step_seconds: List[float] = clock["step_seconds"]  # index i: step i + 1
    eval_steps = set(clock["eval_steps"])
    plain = [s for i, s in enumerate(step_seconds, start=1) if i not in eval_steps]
    if max(words) != max_steps or len(step_seconds) != max_steps:
        log(f"WARNING: spaCy's last evaluated step is {max(words)}, not {max_steps}")
    seconds = sum(plain) + statistics.mean(plain) * len(eval_steps & set(range(1, len(step_seconds) + 1)))
    return words[max(words)] - words[0], seconds


# --- 3. evaluation --------------------------------------------------------------------------
def evaluate(tool: str, args: argparse.Namespace, corpus: Dict[str, Any], round_: int) -> Dict[str, Any]:
    model = WORK / "train" / tool / "model-best"
    log(f"evaluating {tool} on dev with gold tokens (round {round_ + 1}/{args.eval_rounds})")
    answer, measured = side(python_for(tool, args), [
        "evaluate", "--tool", tool, "--model", rel(model), "--dev", corpus["files"]["dev"],
        "--batch-size", str(args.batch_size), "--repeats", str(args.repeats)], f"evaluate_{tool}_{round_}")
    answer["process"] = asdict(measured)
    return answer


def evaluate_rounds(args: argparse.Namespace, corpus: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Alternate the tools' evaluation processes, so a burst of other load hits both alike.

    Per tool: the fastest round's numbers, the largest peak RSS, and every round's words/s.
    """
    rounds: Dict[str, List[Dict[str, Any]]] = {tool: [] for tool in TOOLS}
    for round_ in range(max(args.eval_rounds, 1)):
        for tool in TOOLS:
            rounds[tool].append(evaluate(tool, args, corpus, round_))
    merged = {}
    for tool, results in rounds.items():
        if len({r["tag_acc"] for r in results}) > 1:
            log(f"WARNING: {tool}'s tag_acc differs between rounds: {[r['tag_acc'] for r in results]}")
        best = dict(max(results, key=lambda r: r["words_per_second"]))
        best["process"] = dict(best["process"], peak_rss_mib=max(r["process"]["peak_rss_mib"] for r in results))
        best["rounds_words_per_second"] = [round(r["words_per_second"], 1) for r in results]
        merged[tool] = best
    return merged


# --- 4. report ------------------------------------------------------------------------------
def summarize(train_res: Dict[str, Dict], eval_res: Dict[str, Dict]) -> List[Dict[str, Any]]:
    a, s = "archcli", "spacy"
    rows = [
        ("tag_acc (%)", 100 * eval_res[a]["tag_acc"], 100 * eval_res[s]["tag_acc"], "delta"),
        ("train words/s", train_res[a]["words_per_second"], train_res[s]["words_per_second"], "ratio"),
        ("inference words/s", eval_res[a]["words_per_second"], eval_res[s]["words_per_second"], "ratio"),
        ("peak RSS train (MiB)", train_res[a]["process"]["peak_rss_mib"], train_res[s]["process"]["peak_rss_mib"], "ratio"),
        ("peak RSS inference (MiB)", eval_res[a]["process"]["peak_rss_mib"], eval_res[s]["process"]["peak_rss_mib"], "ratio"),
        ("train process wall (s)", train_res[a]["process"]["wall_s"], train_res[s]["process"]["wall_s"], "ratio"),
        ("train process CPU (s)", train_res[a]["process"]["cpu_s"], train_res[s]["process"]["cpu_s"], "ratio"),
    ]
    out = []
    for metric, x, y, kind in rows:
        compare = x - y if kind == "delta" else (x / y if y else float("nan"))
        out.append({"metric": metric, "archcli": round(x, 2), "spacy": round(y, 2), kind: round(compare, 3)})
    return out


def goals(table: List[Dict[str, Any]]) -> Dict[str, bool]:
    by = {row["metric"]: row for row in table}
    return {
        "tag_acc within 0.3 points of spaCy or better": by["tag_acc (%)"]["delta"] >= -0.3,
        "inference words/s >= spaCy": by["inference words/s"]["ratio"] >= 1.0,
        "train words/s >= 0.8x spaCy": by["train words/s"]["ratio"] >= 0.8,
    }


def format_table(table: List[Dict[str, Any]]) -> str:
    lines = ["| metric | archcli | spaCy | archcli vs spaCy |", "|---|---:|---:|---:|"]
    for row in table:
        compare = f"{row['delta']:+.2f} pts" if "delta" in row else f"{row['ratio']:.2f}x"
        lines.append(f"| {row['metric']} | {row['archcli']:,.2f} | {row['spacy']:,.2f} | {compare} |")
    return "\n".join(lines)


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "archcli"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spacy-python", default="/work/spacy-venv/bin/python", help="python of the spaCy venv")
    p.add_argument("--corpus-dir", type=Path, default=ROOT.parent / "shared" / "corpora" / "ud_en_ewt")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "tagger.cfg")
    p.add_argument("--max-steps", type=int, default=2000, help="training steps for both tools")
    p.add_argument("--eval-frequency", type=int, default=500, help="must divide --max-steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1000, help="nlp.pipe batch size for inference")
    p.add_argument("--repeats", type=int, default=5, help="timed inference passes (the fastest is reported)")
    p.add_argument("--eval-rounds", type=int, default=2, help="alternating evaluation processes per tool")
    p.add_argument("--converter", choices=("auto", "archcli", "spacy"), default="auto")
    p.add_argument("--reconvert", action="store_true", help="convert the corpus again")
    p.add_argument("--spacy-gold-tokens", action="store_true",
                   help="train spaCy on gold tokens (bench.GoldTokenCorpus.v1) instead of retokenised text")
    p.add_argument("--skip-train", action="store_true", help="reuse the models trained by the last run")
    p.add_argument("--output", type=Path, default=BENCH / "results" / "tagger.json")
    args = p.parse_args(argv)
    if args.max_steps <= 0 or args.eval_frequency <= 0 or args.max_steps % args.eval_frequency:
        p.error("--eval-frequency must divide --max-steps, so both tools evaluate the last step")
    return args


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    args.corpus_dir = args.corpus_dir.resolve()
    load_start = os.getloadavg()[0]  # other work on the machine skews timings; the report says how busy it was
    corpus = prepare_corpus(args)
    train_res: Dict[str, Dict] = {}
    for tool in TOOLS:
        saved = WORK / "train" / tool / "bench_train.json"
        if args.skip_train and saved.exists():
            train_res[tool] = json.loads(saved.read_text(encoding="utf8"))
        else:
            train_res[tool] = train(tool, args, corpus)
    eval_res = evaluate_rounds(args, corpus)
    table = summarize(train_res, eval_res)
    report = {
        "benchmark": "tagger", "archcli_commit": git_commit(),
        "versions": {tool: eval_res[tool]["version"] for tool in TOOLS},
        "command": " ".join(["python", "bench/bench_tagger.py", *argv]),
        "settings": {k: rel(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "blas": blas_settings(), "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}},
        "corpus": corpus, "table": table, "goals": goals(table),
        "train": train_res, "evaluate": eval_res,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    print(format_table(table))
    for goal, ok in report["goals"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {goal}")
    print(f"corpus converted with: {corpus['converter']}; results: {rel(args.output)}")


if __name__ == "__main__":
    main(sys.argv[1:])
