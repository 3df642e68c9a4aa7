"""One tool's tokenizer over a JSON list of texts (stdin): its tokens' character spans (stdout, JSON).

    python bench/tokenizer_side.py archcli|spacy < texts.json > spans.json

Run under that tool's venv (spaCy: `spacy.blank("en")`, its English tokenizer with its default
rules; archcli: the tokenizer a blank English pipeline gets). Whitespace tokens are left out.
The time of the tokenisation loop alone (after a warm-up pass) is reported as `seconds`.
"""
import json
import sys
import time


def tokenizer_for(tool: str):
    if tool == "spacy":
        import spacy

        return spacy.blank("en").tokenizer
    from thinc.api import Config

    from archcli.language import Pipeline

    blank = Config().from_str('[nlp]\nlang = "en"\npipeline = []\n\n[components]\n')
    return Pipeline.from_config(blank).tokenizer


def main() -> None:
    tool = sys.argv[1]
    texts = json.load(sys.stdin)
    tokenize = tokenizer_for(tool)
    for text in texts[:200]:  # warm-up (caches, lazy imports)
        tokenize(text)
    start = time.perf_counter()
    docs = [tokenize(text) for text in texts]
    seconds = time.perf_counter() - start
    spans = [[[t.idx, t.idx + len(t.text)] for t in doc if not t.text.isspace()] for doc in docs]
    json.dump({"tool": tool, "seconds": seconds, "spans": spans}, sys.stdout)


if __name__ == "__main__":
    main()
