"""Long documents: peak memory and time of one coref + span resolver pass over one long document.

    python bench/coref_long_doc.py [--copies 1,2] [--seed 0] [--spacy-python PATH]

Takes the seed's model-last of each tool from bench/bench_coref.py's work directory, joins the dev
documents (gold tokens and sentences) end to end `copies` times into ONE document (21,018 words per
copy), and runs each tool's pipeline on it in a fresh process (its own interpreter: archcli's venv,
or the spaCy 3.7 + spacy-experimental venv), one thread. Reports the process's peak RSS and the
seconds of the pass. spacy-experimental's rough scorer builds words x words matrices; archcli's keeps
words x antecedent_limit. Writes bench/results/coref_long_doc.json.

The same file is the per-tool worker: `coref_long_doc.py _run TOOL MODEL GOLD COPIES`.
"""
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blas_threads import pin_one_blas_thread  # noqa: E402

pin_one_blas_thread()

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "coref"
MEMORY_CAP_GB = 18


def run(tool: str, model: str, gold: str, copies: int) -> None:
    # Fail with MemoryError instead of driving the machine into swap (spacy-experimental's rough
    # scorer needs words x words floats: 28 GB at 84k words).
    limit = int(MEMORY_CAP_GB * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if tool == "spacy":
        import spacy
        import spacy_hooks  # noqa: F401  (the scorer the benchmark's spaCy models name)
        from spacy.tokens import Doc, DocBin

        nlp = spacy.load(model)
        refs = list(DocBin().from_disk(gold).get_docs(nlp.vocab))
    else:
        from archcli.language import load
        from archcli.tokens import Doc
        from archcli.tokens.docbin import read_docbin

        nlp = load(model)
        refs = list(read_docbin(gold, nlp.vocab))
    words, spaces, starts = [], [], []
    for _ in range(copies):
        for ref in refs:
            sent_starts = {s.start for s in ref.sents}
            words += [t.text for t in ref]
            spaces += [True] * len(ref)
            starts += [i in sent_starts for i in range(len(ref))]
    if tool == "spacy":
        doc = Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=starts)
    else:
        doc = Doc(nlp.vocab, words, spaces)
        doc.sent_start[:] = -1
        doc.sent_start[[i for i, s in enumerate(starts) if s]] = 1
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    doc = nlp(doc)
    seconds = time.perf_counter() - start
    clusters = sum(1 for key in doc.spans if key.startswith("coref_clusters_"))
    print(json.dumps({"tool": tool, "words": len(words), "seconds": seconds, "clusters": clusters,
                      "rss_before_mib": before,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main(argv) -> None:
    import argparse

    if argv[:1] == ["_run"]:
        return run(argv[1], argv[2], argv[3], int(argv[4]))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--copies", default="1,2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spacy-python", default=str(ROOT.parent / "spx-venv" / "bin" / "python"))
    p.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "coref_long_doc.json")
    args = p.parse_args(argv)
    results = []
    for copies in [int(c) for c in args.copies.split(",")]:
        for tool, python in (("archcli", sys.executable), ("spacy", args.spacy_python)):
            model = WORK / f"seed{args.seed}" / tool / "model-last"
            proc = subprocess.run([python, __file__, "_run", tool, str(model), str(WORK / "dev.spacy"), str(copies)],
                                  cwd=ROOT, capture_output=True, text=True)
            if proc.returncode:
                tail = proc.stderr.strip().splitlines()[-3:]
                row = {"tool": tool, "copies": copies, "failed": proc.returncode, "error": " / ".join(tail)}
            else:
                row = dict(json.loads(proc.stdout.strip().splitlines()[-1]), copies=copies)
            results.append(row)
            print(json.dumps(row), flush=True)
    print(f"{'tool':<10}{'words':>8}{'seconds':>10}{'peak RSS MiB':>14}")
    for row in results:
        if "failed" in row:
            print(f"{row['tool']:<10}{row['copies']:>8}  failed (exit {row['failed']}): {row['error'][:80]}")
        else:
            print(f"{row['tool']:<10}{row['words']:>8}{row['seconds']:>10.1f}{row['peak_rss_mib']:>14.0f}")
    args.output.write_text(json.dumps({"benchmark": "coref_long_doc", "seed": args.seed, "results": results},
                                      indent=2), encoding="utf8")


if __name__ == "__main__":
    main(sys.argv[1:])
