"""KB scale benchmark: build, save, load and look up a synthetic knowledge base of 1,000,000
entities x 64-dim vectors and 2,000,000 aliases (1-3 candidates each), with archcli's KB and with
spaCy 3.8's InMemoryLookupKB.

Run with the archcli virtual environment's python, from anywhere:

    python bench/bench_kb_scale.py [--scale 1.0] [--lookups 10000] [--seed 0]
                                   [--spacy-python PATH] [--skip-spacy] [--output PATH]

`--scale 0.01` is a quick check (10,000 entities, 20,000 aliases). For each tool, two fresh
processes (one BLAS/OpenMP thread each), so peak memory is the tool's own:

1. build: generate the synthetic data (same seed, same data for both tools; not timed), then
   `set_entities` (ids, frequencies, vectors) and one `add_alias` call per alias; then `to_disk`.
   Reports times, the resident memory the KB added, the size on disk and the peak RSS.
2. load: `from_disk` into a fresh KB, then look up `--lookups` random aliases with
   `get_alias_candidates` (reading each candidate's id and prior), checked against the generated
   candidates; archcli also through its vectorised path (`alias_candidates_arrays` plus the
   candidates' vector rows), which spaCy's KB does not have.

Prints a table and writes JSON (default bench/results/kb_scale.json). KB files go to
bench/work/kb_scale/ (git-ignored) and are removed afterwards.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "kb_scale"
DEFAULT_SPACY_PYTHON = Path("/work/spacy-venv/bin/python")
N_ENTITIES = 1_000_000
N_ALIASES = 2_000_000
WIDTH = 64
SYLLABLES = ["ba", "ro", "ki", "na", "mel", "tor", "shi", "van", "de", "lu", "gra", "pen", "so", "vi", "mar",
             "than", "el", "qu", "ris", "do", "fa", "hil", "or", "ste", "zan", "mo", "ty", "ker", "al", "wen"]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- the synthetic KB (identical in every process for one seed and scale) ------------------------
def sizes(scale: float) -> Dict[str, int]:
    return {"entities": max(10, int(N_ENTITIES * scale)), "aliases": max(10, int(N_ALIASES * scale)),
            "width": WIDTH}


def entity_id(i: int) -> str:
    return f"Q{100_000 + 37 * i}"


def alias_name(i: int) -> str:
    """Name-like strings of 8-20 characters: two pseudo-words and a base-36 number."""
    n = len(SYLLABLES)
    first = SYLLABLES[i % n] + SYLLABLES[(i // n) % n]
    second = SYLLABLES[(i * 7 + 3) % n] + SYLLABLES[(i // 11) % n] + SYLLABLES[(i // 5) % n]
    return f"{first.title()} {second.title()} {_base36(i)}"


def _base36(i: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        i, r = divmod(i, 36)
        out = digits[r] + out
        if not i:
            return out


def candidate_rows(n_entities: int, n_aliases: int, seed: int):
    """(candidates per alias, flat entity rows): 1-3 distinct entities per alias."""
    import numpy

    rng = numpy.random.default_rng([seed, 1])
    counts = rng.integers(1, 4, size=n_aliases)
    base = rng.integers(0, n_entities, size=n_aliases)
    step = rng.integers(1, max(2, n_entities // 3), size=n_aliases)
    owner = numpy.repeat(numpy.arange(n_aliases), counts)
    ends = numpy.cumsum(counts)
    position = numpy.arange(owner.shape[0]) - (ends - counts)[owner]
    return counts, (base[owner] + position * step[owner]) % n_entities


def query_rows(n_aliases: int, n_queries: int, seed: int):
    import numpy

    return numpy.random.default_rng([seed, 2]).integers(0, n_aliases, size=n_queries)


# --- measuring ---------------------------------------------------------------------------------------
def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return max(_status_kb("VmHWM"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as file_:
        for line in file_:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- one tool, one phase (run in its own process) -----------------------------------------------------
def new_kb(tool: str, width: int):
    if tool == "archcli":
        from archcli.kb import InMemoryLookupKB
        from archcli.tokens import Vocab

        return InMemoryLookupKB(Vocab(), entity_vector_length=width)
    import spacy
    from spacy.kb import InMemoryLookupKB

    return InMemoryLookupKB(spacy.blank("en").vocab, entity_vector_length=width)


def phase_build(tool: str, scale: float, seed: int, kb_dir: Path) -> Dict[str, Any]:
    import gc

    import numpy

    n = sizes(scale)
    new_kb(tool, n["width"])  # imports done before the baseline
    t0 = time.perf_counter()
    ids = [entity_id(i) for i in range(n["entities"])]
    freqs = numpy.random.default_rng([seed, 3]).integers(1, 1000, size=n["entities"]).astype("float32")
    vectors = numpy.random.default_rng([seed, 4]).standard_normal((n["entities"], n["width"]), dtype="float32")
    counts, rows = candidate_rows(n["entities"], n["aliases"], seed)
    args = []
    start = 0
    for a, k in enumerate(counts.tolist()):
        args.append((alias_name(a), [ids[r] for r in rows[start : start + k].tolist()], [1.0 / k] * k))
        start += k
    # spaCy's set_entities takes one vector per entity (it converts each to a C++ vector).
    vector_list = list(vectors) if tool == "spacy" else vectors
    del rows
    gc.collect()
    t_data = time.perf_counter() - t0
    rss_data = rss_mb()
    kb = new_kb(tool, n["width"])
    t0 = time.perf_counter()
    kb.set_entities(ids, freqs.tolist() if tool == "spacy" else freqs, vector_list)
    t_entities = time.perf_counter() - t0
    t0 = time.perf_counter()
    add_alias = kb.add_alias
    for alias, entities, priors in args:
        add_alias(alias, entities, priors)
    t_aliases = time.perf_counter() - t0
    rss_built = rss_mb()
    assert kb.get_size_entities() == n["entities"] and kb.get_size_aliases() == n["aliases"]
    if kb_dir.exists():
        shutil.rmtree(kb_dir)
    t0 = time.perf_counter()
    kb.to_disk(kb_dir)
    t_save = time.perf_counter() - t0
    return {
        "data_s": round(t_data, 2), "set_entities_s": round(t_entities, 3), "add_alias_s": round(t_aliases, 3),
        "add_alias_us_per_call": round(t_aliases / n["aliases"] * 1e6, 3), "build_s": round(t_entities + t_aliases, 3),
        "build_rss_added_mb": round(rss_built - rss_data, 1), "save_s": round(t_save, 3),
        "disk_mb": round(dir_bytes(kb_dir) / 2**20, 1), "disk_files": sorted(p.name for p in kb_dir.iterdir()),
        "build_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def phase_load(tool: str, scale: float, seed: int, kb_dir: Path, n_queries: int) -> Dict[str, Any]:
    import numpy

    n = sizes(scale)
    counts, rows = candidate_rows(n["entities"], n["aliases"], seed)
    starts = numpy.cumsum(counts) - counts
    picks = query_rows(n["aliases"], n_queries, seed).tolist()
    queries = [alias_name(a) for a in picks]
    expected = [[entity_id(r) for r in rows[starts[a] : starts[a] + counts[a]].tolist()] for a in picks]
    del counts, rows, starts
    kb = new_kb(tool, 1)
    rss_base = rss_mb()
    t0 = time.perf_counter()
    kb.from_disk(kb_dir)
    t_load = time.perf_counter() - t0
    rss_loaded = rss_mb()
    assert kb.get_size_entities() == n["entities"] and kb.get_size_aliases() == n["aliases"]
    get = kb.get_alias_candidates
    t0 = time.perf_counter()
    found = [[(c.entity_, c.prior_prob) for c in get(alias)] for alias in queries]
    t_single = time.perf_counter() - t0
    wrong = sum([e for e, _ in cands] != exp for cands, exp in zip(found, expected))
    result = {
        "load_s": round(t_load, 3), "load_rss_added_mb": round(rss_loaded - rss_base, 1),
        "lookups": n_queries, "lookup_s": round(t_single, 4), "lookup_us_per_alias": round(t_single / n_queries * 1e6, 2),
        "lookup_wrong": wrong,
    }
    if tool == "archcli":
        t0 = time.perf_counter()
        lengths, cand_rows, priors = kb.alias_candidates_arrays(queries)
        cand_vectors = kb.vectors[cand_rows]
        t_vec = time.perf_counter() - t0
        ids = kb.get_entity_strings() if n["entities"] <= 20_000 else None
        if ids is not None:
            flat = [ids[r] for r in cand_rows.tolist()]
            assert flat == [e for exp in expected for e in exp]
        assert lengths.tolist() == [len(exp) for exp in expected] and cand_vectors.shape[1] == n["width"]
        result.update({"vectorised_s": round(t_vec, 4), "vectorised_us_per_alias": round(t_vec / n_queries * 1e6, 3)})
    result["load_peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


# --- the driver ----------------------------------------------------------------------------------------
def run_side(python: str, tool: str, phase: str, args, kb_dir: Path) -> Dict[str, Any]:
    command = [python, str(Path(__file__).resolve()), "--side", tool, "--phase", phase, "--scale", str(args.scale),
               "--seed", str(args.seed), "--lookups", str(args.lookups), "--kb-dir", str(kb_dir)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) if tool == "archcli" else "")
    log(f"{tool} {phase} ...")
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        log(f"{tool} {phase}: timed out after {args.timeout} s")
        return {"error": f"timed out after {args.timeout} s"}
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        log(f"{tool} {phase} failed:\n{done.stderr[-3000:]}")
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result[f"{phase}_process_wall_s"] = round(wall, 2)
    log(f"{tool} {phase}: {result}")
    return result


ROWS = [
    ("build: set_entities (s)", "set_entities_s"), ("build: add_alias, all (s)", "add_alias_s"),
    ("build: add_alias (us/call)", "add_alias_us_per_call"), ("build: memory the KB added (MB)", "build_rss_added_mb"),
    ("build process peak RSS (MB)", "build_peak_rss_mb"), ("save: to_disk (s)", "save_s"),
    ("size on disk (MB)", "disk_mb"), ("load: from_disk (s)", "load_s"),
    ("load: memory the KB added (MB)", "load_rss_added_mb"), ("load process peak RSS (MB)", "load_peak_rss_mb"),
    ("lookup: get_alias_candidates (us/alias)", "lookup_us_per_alias"),
    ("lookup: vectorised + vectors (us/alias)", "vectorised_us_per_alias"), ("lookups wrong", "lookup_wrong"),
]


def print_table(results: Dict[str, Dict[str, Any]]) -> None:
    tools = list(results)
    print(f"{'':44}" + "".join(f"{t:>14}" for t in tools))
    for label, key in ROWS:
        values = [results[t].get(key) for t in tools]
        print(f"{label:44}" + "".join(f"{'-' if v is None else v:>14}" for v in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Fraction of 1M entities / 2M aliases")
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spacy-python", type=Path, default=DEFAULT_SPACY_PYTHON)
    parser.add_argument("--skip-spacy", action="store_true")
    parser.add_argument("--timeout", type=int, default=1800, help="Seconds per process before giving up")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "kb_scale.json")
    parser.add_argument("--side", choices=["archcli", "spacy"], help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["build", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--kb-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        if args.phase == "build":
            result = phase_build(args.side, args.scale, args.seed, args.kb_dir)
        else:
            result = phase_load(args.side, args.scale, args.seed, args.kb_dir, args.lookups)
        print(json.dumps(result))
        return
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    tools = {"archcli": sys.executable}
    if not args.skip_spacy:
        if not args.spacy_python.exists():
            parser.error(f"no spaCy python at {args.spacy_python}; give --spacy-python or --skip-spacy")
        tools["spacy"] = str(args.spacy_python)
    results: Dict[str, Dict[str, Any]] = {}
    for tool, python in tools.items():
        kb_dir = WORK / f"{tool}_kb"
        WORK.mkdir(parents=True, exist_ok=True)
        results[tool] = run_side(python, tool, "build", args, kb_dir)
        if "error" not in results[tool]:
            results[tool].update(run_side(python, tool, "load", args, kb_dir))
        shutil.rmtree(kb_dir, ignore_errors=True)
    versions = {}
    for tool, python in tools.items():
        probe = "import spacy; print(spacy.__version__)" if tool == "spacy" else "import archcli; print(archcli.__version__)"
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT) if tool == "archcli" else ""))
        versions[tool] = out.stdout.strip() or None
    report = {
        "benchmark": "kb_scale", "scale": args.scale, "sizes": sizes(args.scale), "lookups": args.lookups,
        "seed": args.seed, "versions": versions, "results": results,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "threads": {var: os.environ.get(var) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "notes": [
            "One process per tool and phase: build (data generation untimed, set_entities, one add_alias call per "
            "alias, to_disk) and load (from_disk, lookups).",
            "'memory the KB added' = resident set size after the step minus before it; the build process's peak "
            "also holds the generated input lists.",
            "lookup = get_alias_candidates for each alias, reading each candidate's id and prior; spaCy's "
            "Candidate copies the entity vector when made, archcli's reads it when asked.",
            "vectorised = archcli's alias_candidates_arrays for all aliases at once plus the candidates' vector rows "
            "(spaCy's KB has no such path).",
        ],
    }
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
