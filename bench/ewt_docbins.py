"""UD English-EWT train/dev as .spacy files (archcli's DocBin, 10 sentences per doc), converted
once into a benchmark's work folder; both tools read these same files."""
import sys
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[1]
UD = ROOT.parent / "shared" / "corpora" / "ud_en_ewt"


def ewt_docbins(work: Path) -> Dict[str, Path]:
    sys.path.insert(0, str(ROOT))
    from archcli.tokens import DocBin, Vocab
    from archcli.training import read_conllu

    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in ("train", "dev"):
        dest = work / f"ewt_{split}.spacy"
        if not dest.exists():
            doc_bin = DocBin()
            for doc, _ in read_conllu(UD / f"{split}.conllu", Vocab(), n_sents=10):
                doc_bin.add(doc)
            doc_bin.to_disk(dest)
        files[split] = dest
    return files
