"""Span categorisation benchmark: archcli against spaCy 3.8 on LitBank's nested entities.

Run with the archcli virtual environment's python, from anywhere:

    python bench/bench_spancat.py [--max-steps 1000] [--eval-frequency 250]
                                  [--spacy-python /work/spacy-venv/bin/python]

1. Converts LitBank's entity `.tsv` files (train: 80 documents, dev: 10; 4 nested IOB2 layers) to
   `.spacy` once with archcli's reader (10 sentences per doc, all layers into the span group "sc")
   and DocBin; both tools must read the files as the same words, spaces and spans.
2. Trains `configs/spancat.cfg` (tok2vec + spancat, every 1- to 6-token candidate) with each tool's
   `train` CLI: same files, step budget, eval frequency and seed, no early stopping; spaCy on the
   gold tokens (`bench.GoldTokenCorpus.v1` from bench/bench_textcat.py, loaded with `--code`).
3. Predicts dev with each `model-best` in its own venv, timed, and scores exact (start, end, label)
   matches with one function for both tools.
4. Prints a table and writes JSON (default bench/results/spancat.json).

Everything but the corpus and config is shared with bench/bench_textcat.py.
"""
import json
import os
import sys
from pathlib import Path
from typing import Dict, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_textcat as common  # noqa: E402

LITBANK = common.CORPORA / "litbank" / "entities"
CONFIG = common.ROOT / "configs" / "spancat.cfg"


def main(argv: Sequence[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIG)
    common.common_args(parser, steps=1000, eval_frequency=250, output="spancat.json")
    args = parser.parse_args(argv)
    if args.max_steps % args.eval_frequency:
        parser.error("--eval-frequency must divide --max-steps, so both tools evaluate the last step")
    work = common.BENCH / "work" / "spancat"
    args.spacy_python = common.spacy_python(args.spacy_python, common.BENCH / "work")
    load_start = os.getloadavg()[0]
    from archcli.training.litbank import LitBankCorpus

    files = common.convert("litbank", {s: LITBANK / s for s in ("train", "dev")}, work,
                           lambda src: LitBankCorpus(src, spans_key="sc", n_sents=10))
    docs = common.check_same_docs(files, args.spacy_python, work, "litbank")
    row, details = common.run_task("litbank:spancat", "F", args.config, files, "spans", args, work, "spans_sc_f")
    report = {
        "benchmark": "spancat", "archcli_commit": common.git_commit(),
        "command": " ".join(["python", common.rel(Path(__file__).resolve()), *argv]),
        "settings": {k: (common.rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}},
        "corpus": {"files": files, "docs": docs}, "table": [row], "goals": common.goals([row]),
        "task": details,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    print(common.format_table([row]))
    for run in details["runs"]:
        for tool in common.TOOLS:
            s = run["evaluate"][tool]["scores"]
            print(f"seed {run['seed']} {tool}: P {100 * s['p']:.2f}  R {100 * s['r']:.2f}  F {100 * s['f']:.2f}")
    print(f"results: {common.rel(args.output)}; load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
