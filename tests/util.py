"""Small builders shared by the tests."""
from pathlib import Path
from typing import Dict, Optional

from thinc.api import Config

REPO = Path(__file__).resolve().parent.parent
TAGGER_CFG = REPO / "configs" / "tagger.cfg"


def tagger_config(train: Path, dev: Path, **overrides) -> Config:
    from archcli.config import load_config

    values: Dict[str, object] = {"paths.train": str(train), "paths.dev": str(dev)}
    values.update(overrides)
    return load_config(TAGGER_CFG, overrides=values)


def write_conllu_slice(src: Path, dest: Path, start: int, n_sents: int) -> Path:
    """Copy sentences [start, start + n_sents) of a CoNLL-U file to a temporary file."""
    out = []
    index = -1
    block = []
    with open(src, encoding="utf8") as file_:
        for line in file_:
            block.append(line)
            if not line.strip():
                index += 1
                if start <= index < start + n_sents:
                    out.extend(block)
                block = []
                if index >= start + n_sents:
                    break
    dest.write_text("".join(out), encoding="utf8")
    return dest


def interrupt_pretraining_at(monkeypatch, n_update: int) -> None:
    """Make pretraining's `n_update`-th update raise KeyboardInterrupt (as Ctrl-C would)."""
    from archcli.training import pretraining

    calls = {"n": 0}
    original = pretraining.make_update

    def interrupt_later(model, docs, optimizer):
        calls["n"] += 1
        if calls["n"] == n_update:
            raise KeyboardInterrupt
        return original(model, docs, optimizer)

    monkeypatch.setattr(pretraining, "make_update", interrupt_later)
