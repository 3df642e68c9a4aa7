from pathlib import Path
from typing import Any, Dict, Optional

import srsly
import typer
from wasabi import msg

from . import app
from ._util import setup_gpu, user_errors

SCORE_NAMES = {
    "token_acc": "TOK", "tag_acc": "TAG", "pos_acc": "POS", "morph_acc": "MORPH", "lemma_acc": "LEMMA",
    "dep_uas": "UAS", "dep_las": "LAS", "sents_f": "SENT F", "ents_p": "NER P", "ents_r": "NER R",
    "ents_f": "NER F", "cats_score": "TEXTCAT", "speed": "SPEED",
}


@app.command("evaluate")
@user_errors
def evaluate_cli(
    model: Path = typer.Argument(..., help="Model directory (e.g. output/model-best)"),
    data_path: Path = typer.Argument(..., help="Evaluation data: a file or directory"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores as JSON here"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b"),
) -> None:
    """Score a trained pipeline on gold data with the reader its dev corpus uses."""
    from ..evaluate import evaluate

    setup_gpu(gpu_id)
    scores = evaluate(model, data_path, batch_size=batch_size)
    print_scores(scores)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, scores)
        msg.good(f"Saved scores to {output}")


def print_scores(scores: Dict[str, Any]) -> None:
    rows = []
    for key, name in SCORE_NAMES.items():
        value = scores.get(key)
        if value is None:
            continue
        rows.append((name, f"{value:.0f}" if key == "speed" else f"{value * 100:.2f}"))
    msg.divider("Results")
    msg.table(rows, aligns=("l", "r"))
    for key, value in scores.items():
        if key.endswith("_per_type") and isinstance(value, dict) and value:
            data = [(label, f"{v['p'] * 100:.2f}", f"{v['r'] * 100:.2f}", f"{v['f'] * 100:.2f}")
                    for label, v in sorted(value.items())]
            msg.table(data, header=("", "P", "R", "F"), aligns=("l", "r", "r", "r"),
                      title=key.replace("_per_type", "").upper() + " (per type)")
