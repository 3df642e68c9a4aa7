"""One tool's side of the tagger benchmark, run inside that tool's own virtual environment.

    python bench/tagger_side.py digest   --tool spacy|archcli FILE.spacy
    python bench/tagger_side.py evaluate --tool spacy|archcli --model DIR --dev FILE.spacy

`digest` reads a `.spacy` file with the tool's own DocBin reader and prints, as JSON, a hash
per field per doc, so the orchestrator can check that both tools see the same documents.

`evaluate` tags the dev docs with GOLD tokens: each gold doc's words and spaces become a fresh,
unannotated Doc, the pipeline runs over them with `nlp.pipe`, and tag accuracy is counted here
(over tokens that have a gold tag). Only the `nlp.pipe` calls are timed: one warm-up pass, then
`--repeats` timed passes over fresh docs; words/s is taken from the fastest (the median is kept too).
The script imports only the tool under test, so it runs in either virtual environment.
"""
import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

FIELDS = ("words", "spaces", "tag", "pos", "head", "dep", "sent_start")


# --- per-tool plumbing ----------------------------------------------------------------------
def read_docs(tool: str, path: Path, vocab: Any = None) -> Tuple[List[Any], Any]:
    """The docs of a `.spacy` file, read by `tool`; returns (docs, vocab)."""
    if tool == "spacy":
        import spacy
        from spacy.tokens import DocBin

        vocab = vocab if vocab is not None else spacy.blank("en").vocab
        return list(DocBin().from_disk(path).get_docs(vocab)), vocab
    from archcli.tokens import DocBin, Vocab

    vocab = vocab if vocab is not None else Vocab()
    return list(DocBin().from_disk(path).get_docs(vocab)), vocab


def load_pipeline(tool: str, model: Path) -> Tuple[Any, Callable[[Any, List[str], List[bool]], Any]]:
    """(nlp, make_doc): the trained pipeline and a constructor of unannotated Docs."""
    if tool == "spacy":
        import spacy
        from spacy.tokens import Doc

        return spacy.load(model), lambda vocab, words, spaces: Doc(vocab, words=words, spaces=spaces)
    import archcli
    from archcli.tokens import Doc

    load = getattr(archcli, "load", None)
    if load is None:  # `archcli.load` is the documented entry point; fall back to its home
        from archcli.language import load
    return load(model), lambda vocab, words, spaces: Doc(vocab, words, spaces)


def tool_version(tool: str) -> str:
    module = __import__("spacy" if tool == "spacy" else "archcli")
    return str(module.__version__)


def token_fields(doc: Any) -> Dict[str, list]:
    """The annotations compared across tools, read through the Token API both tools share."""
    return {
        "words": [t.text for t in doc],
        "spaces": [bool(t.whitespace_) for t in doc],
        "tag": [t.tag_ for t in doc],
        "pos": [t.pos_ for t in doc],
        "head": [t.head.i for t in doc],
        "dep": [t.dep_ for t in doc],
        "sent_start": [bool(t.is_sent_start) for t in doc],
    }


# --- commands -------------------------------------------------------------------------------
def digest(tool: str, path: Path) -> Dict[str, Any]:
    docs, _ = read_docs(tool, path)
    per_doc: Dict[str, List[str]] = {field: [] for field in FIELDS}
    for doc in docs:
        for field, values in token_fields(doc).items():
            per_doc[field].append(hashlib.sha1(json.dumps(values).encode("utf8")).hexdigest()[:12])
    return {"tool": tool, "path": str(path), "n_docs": len(docs), "n_words": sum(len(d) for d in docs),
            "per_doc": per_doc}


def evaluate(tool: str, model: Path, dev: Path, batch_size: int, repeats: int) -> Dict[str, Any]:
    nlp, make_doc = load_pipeline(tool, model)
    gold, _ = read_docs(tool, dev, nlp.vocab)
    words = [[t.text for t in doc] for doc in gold]
    spaces = [[bool(t.whitespace_) for t in doc] for doc in gold]
    gold_tags = [[t.tag_ for t in doc] for doc in gold]
    n_words = sum(len(w) for w in words)

    def run() -> Tuple[List[Any], float]:
        docs = [make_doc(nlp.vocab, w, s) for w, s in zip(words, spaces)]
        start = time.perf_counter()
        tagged = list(nlp.pipe(docs, batch_size=batch_size))
        return tagged, time.perf_counter() - start

    run()  # warm-up
    timings: List[float] = []
    for _ in range(max(repeats, 1)):
        tagged, seconds = run()
        timings.append(seconds)
    correct = total = 0
    for doc, tags in zip(tagged, gold_tags):
        if len(doc) != len(tags):
            raise SystemExit(f"{tool}: the pipeline changed the tokenisation ({len(doc)} vs {len(tags)} tokens)")
        for token, gold_tag in zip(doc, tags):
            if gold_tag:
                total += 1
                correct += token.tag_ == gold_tag
    best, median = min(timings), statistics.median(timings)
    return {
        "tool": tool, "version": tool_version(tool), "model": str(model), "n_docs": len(gold), "n_words": n_words, "batch_size": batch_size,
        "tag_acc": correct / total if total else 0.0, "tagged_tokens": total,
        "pipe_seconds": timings, "words_per_second": n_words / best if best > 0 else 0.0,
        "words_per_second_median": n_words / median if median > 0 else 0.0,
    }


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_digest = sub.add_parser("digest", help="hash every doc's fields, as the tool reads them")
    p_digest.add_argument("--tool", choices=("spacy", "archcli"), required=True)
    p_digest.add_argument("path", type=Path)
    p_eval = sub.add_parser("evaluate", help="tag accuracy and inference speed on gold tokens")
    p_eval.add_argument("--tool", choices=("spacy", "archcli"), required=True)
    p_eval.add_argument("--model", type=Path, required=True)
    p_eval.add_argument("--dev", type=Path, required=True)
    p_eval.add_argument("--batch-size", type=int, default=1000)
    p_eval.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "digest":
        result = digest(args.tool, args.path)
    else:
        result = evaluate(args.tool, args.model, args.dev, args.batch_size, args.repeats)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
