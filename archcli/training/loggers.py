"""Training loggers: spaCy's console table, optionally with a progress bar between evaluations."""
import sys
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import srsly
import tqdm
from wasabi import row as table_row

from .._registry import registry
from ..ml.checks import bad_argument

LogStep = Callable[[Optional[Dict[str, Any]]], None]
Finalize = Callable[[], None]


def _score_columns(nlp, score_weights: Dict[str, Optional[float]]) -> List[str]:
    return [key for key, weight in score_weights.items() if weight is not None]


def console_logger(progress_bar: Union[bool, str, None] = False, console_output: bool = True,
                   output_file: Optional[str] = None):
    def setup_printer(nlp, stdout: Optional[IO] = None, stderr: Optional[IO] = None) -> Tuple[LogStep, Finalize]:
        stdout = stdout or sys.stdout
        stderr = stderr or sys.stderr
        write = (lambda text: stdout.write(text + "\n")) if console_output else (lambda text: None)
        score_weights = nlp.meta.get("score_weights", {})
        trainable = [name for name, proc in nlp.pipeline if proc.is_trainable]
        frozen = set(nlp.meta.get("frozen_components", []))
        loss_cols = [name for name in trainable if name not in frozen]
        score_cols = _score_columns(nlp, score_weights)
        headers = ["E", "#"] + [f"LOSS {c.upper()}" for c in loss_cols] + [c.upper() for c in score_cols] + ["SCORE"]
        widths = [3, 6] + [max(len(h), 10) for h in headers[2:]]
        aligns = ["r"] * len(headers)
        log_file = open(output_file, "a", encoding="utf8") if output_file else None
        state: Dict[str, Any] = {"bar": None, "header_done": False}
        show_bar = progress_bar in (True, "train") and console_output

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            if not state["header_done"]:
                write(table_row(headers, widths=widths, aligns=aligns))
                write(table_row(["-" * w for w in widths], widths=widths, aligns=aligns))
                state["header_done"] = True
            if info is None:
                return
            if info.get("score") is None:
                if show_bar:
                    if state["bar"] is None:
                        state["bar"] = tqdm.tqdm(total=info.get("eval_frequency", 200), leave=False,
                                                 file=stderr, desc=f"Epoch {info['epoch'] + 1}", disable=None)
                    state["bar"].update(1)
                return
            if state["bar"] is not None:
                state["bar"].close()
                state["bar"] = None
            losses = [f"{info['losses'].get(c, 0.0):.2f}" for c in loss_cols]
            scores = []
            for col in score_cols:
                value = info["other_scores"].get(col)
                scores.append("" if value is None else f"{float(value) * 100:.2f}")
            row = [str(info["epoch"]), str(info["step"])] + losses + scores + [f"{info['score']:.2f}"]
            write(table_row(row, widths=widths, aligns=aligns))
            if log_file is not None:
                log_file.write(srsly.json_dumps(_jsonable(info)) + "\n")
                log_file.flush()
            stdout.flush()

        def finalize() -> None:
            if state["bar"] is not None:
                state["bar"].close()
            if log_file is not None:
                log_file.close()

        return log_step, finalize

    return setup_printer


def _jsonable(info: Dict[str, Any]) -> Dict[str, Any]:
    keep = ("epoch", "step", "score", "other_scores", "losses", "words", "seconds", "checkpoints")
    return {k: info[k] for k in keep if k in info}


@registry.loggers("spacy.ConsoleLogger.v1")
def console_logger_v1(progress_bar: bool = False):
    return console_logger(progress_bar=progress_bar)


@registry.loggers("spacy.ConsoleLogger.v2")
def console_logger_v2(progress_bar: bool = False, console_output: bool = True, output_file: Optional[str] = None):
    return console_logger(progress_bar=progress_bar, console_output=console_output, output_file=output_file)


@registry.loggers("spacy.ConsoleLogger.v3")
def console_logger_v3(progress_bar: Optional[str] = None, console_output: bool = True,
                      output_file: Optional[str] = None):
    """progress_bar: "train" (a bar between evaluations) or null; spaCy's "eval" (a bar while
    the dev corpus is scored) is refused rather than drawn as "train"."""
    if progress_bar not in (None, "train"):
        hint = " (a bar during evaluation is not supported)" if progress_bar == "eval" else ""
        raise bad_argument("spacy.ConsoleLogger.v3", "progress_bar",
                           f'must be "train" or null, not {progress_bar!r}{hint}')
    return console_logger(progress_bar=progress_bar, console_output=console_output, output_file=output_file)
