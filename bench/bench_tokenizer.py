"""Tokenizer benchmark: archcli's and spaCy 3.8's English tokenizers on UD English-EWT's raw sentences.

    python bench/bench_tokenizer.py [--split dev] [--spacy-python PATH] [--skip-spacy] [--errors 30]

Each sentence's `# text =` is tokenised by each tool (bench/tokenizer_side.py, in the tool's own
venv, one process each) and its tokens' character spans are compared with the gold words' spans
(the syntactic words: a multi-word token such as "didn't" counts as its words "did" + "n't", which
spell it in every EWT sentence). Reported per tool: token-boundary precision, recall and F (a
predicted token is right when a gold word has exactly its span), the share of sentences tokenised
exactly, and words/s of the tokenisation loop. The most frequent disagreements are listed (and
written to the JSON) to show what is left to learn. Results go to bench/results/tokenizer.json.
"""
import argparse
import collections
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
UD = ROOT.parent / "shared" / "corpora" / "ud_en_ewt"
SIDE = ROOT / "bench" / "tokenizer_side.py"
DEFAULT_SPACY_PYTHON = Path("/work/spacy-venv/bin/python")
Span = Tuple[int, int]


def read_sentences(path: Path) -> List[Tuple[str, List[str]]]:
    """(text, gold words) per sentence; multi-word-token ranges are skipped (their words count)."""
    sentences, text, words = [], None, []
    with open(path, encoding="utf8") as file_:
        for line in file_:
            line = line.rstrip("\n")
            if line.startswith("# text = "):
                text = line[len("# text = "):]
            elif not line:
                if text is not None and words:
                    sentences.append((text, words))
                text, words = None, []
            elif not line.startswith("#"):
                cols = line.split("\t")
                if cols[0].isdigit():
                    words.append(cols[1])
    if text is not None and words:
        sentences.append((text, words))
    return sentences


def gold_spans(text: str, words: Sequence[str]) -> List[Span]:
    """Each word's span in `text`, found left to right past whitespace."""
    spans, position = [], 0
    for word in words:
        start = text.find(word, position)
        if start < 0 or text[position:start].strip():
            raise ValueError(f"word {word!r} not found at {position} in {text!r}")
        spans.append((start, start + len(word)))
        position = start + len(word)
    return spans


def score(golds: List[List[Span]], preds: List[List[Span]], texts: List[str]) -> Dict[str, Any]:
    correct = n_pred = n_gold = exact = 0
    errors: collections.Counter = collections.Counter()
    for gold, pred, text in zip(golds, preds, texts):
        gold_set, pred_set = set(map(tuple, gold)), set(map(tuple, pred))
        correct += len(gold_set & pred_set)
        n_pred += len(pred_set)
        n_gold += len(gold_set)
        exact += gold_set == pred_set
        for start, end in sorted(gold_set - pred_set):
            # The predicted tokens over this gold word's characters: what the tool did instead.
            over = [text[s:e] for s, e in sorted(pred_set) if s < end and e > start]
            errors[(text[start:end], " ".join(over))] += 1
    p, r = correct / max(n_pred, 1), correct / max(n_gold, 1)
    return {"p": round(100 * p, 2), "r": round(100 * r, 2), "f": round(100 * 2 * p * r / max(p + r, 1e-9), 2),
            "exact_sentences": round(100 * exact / max(len(golds), 1), 2), "n_sentences": len(golds),
            "n_gold_words": n_gold, "errors": errors}


def run_side(python: str, tool: str, texts: List[str]) -> Dict[str, Any]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([python, str(SIDE), tool], input=json.dumps(texts), capture_output=True, text=True,
                          cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(f"{tool} tokenizer failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--spacy-python", default=str(DEFAULT_SPACY_PYTHON))
    parser.add_argument("--skip-spacy", action="store_true")
    parser.add_argument("--errors", type=int, default=30)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "tokenizer.json")
    args = parser.parse_args(argv or None)
    sentences = read_sentences(UD / f"{args.split}.conllu")
    texts = [text for text, _ in sentences]
    golds = [gold_spans(text, words) for text, words in sentences]
    n_words = sum(len(g) for g in golds)
    tools = {"archcli": sys.executable}
    if not args.skip_spacy:
        tools["spacy"] = args.spacy_python
    result: Dict[str, Any] = {
        "settings": {"corpus": os.path.relpath(UD / f"{args.split}.conllu", ROOT), "sentences": len(texts),
                     "gold_words": n_words},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "tools": {},
    }
    rows = []
    for tool, python in tools.items():
        side = run_side(python, tool, texts)
        scores = score(golds, side["spans"], texts)
        errors = scores.pop("errors")
        scores["words_per_s"] = round(n_words / side["seconds"], 1)
        scores["top_errors"] = [{"gold": g, "predicted": p, "count": c} for (g, p), c in errors.most_common(args.errors)]
        result["tools"][tool] = scores
        rows.append((tool, scores))
    print(f"UD English-EWT {args.split}: {len(texts)} sentences, {n_words} gold words")
    print(f"{'tool':8} {'P':>7} {'R':>7} {'F':>7} {'exact %':>8} {'words/s':>10}")
    for tool, s in rows:
        print(f"{tool:8} {s['p']:7.2f} {s['r']:7.2f} {s['f']:7.2f} {s['exact_sentences']:8.2f} {s['words_per_s']:10.0f}")
    for tool, s in rows:
        print(f"\n{tool}: most frequent misses (gold word -> predicted tokens over it)")
        for e in s["top_errors"][: args.errors]:
            print(f"  {e['count']:4}  {e['gold']!r:24} -> {e['predicted']!r}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
