"""Pass/fail gates on evaluation scores, for CI: `--min KEY=VALUE` and `--baseline FILE --max-drop POINTS`.

Scores are fractions (0-1) and print as percentages; a threshold may be written either way
(`tag_acc=0.92` or `tag_acc=92`). Raw-valued keys (`speed`, words/s) are compared as they are.
"""
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import ArchcliError

# Keys that are not fractions: thresholds on them are taken literally, never as percentages.
RAW_SCORE_KEYS = frozenset({"speed"})
EXIT_GATE_FAILED = 2


@dataclass
class Gate:
    key: str
    kind: str  # "min" or "max_drop"
    threshold: float  # min: the lowest value allowed; max_drop: the baseline value minus the drop allowed
    value: Optional[float]
    passed: bool
    baseline: Optional[float] = None


def parse_min(spec: str) -> Tuple[str, float]:
    """'tag_acc=0.92' or 'tag_acc=92' -> ('tag_acc', 0.92)."""
    key, sep, raw = spec.partition("=")
    key = key.strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not sep or not key or not math.isfinite(value):
        raise ArchcliError(f"--min '{spec}': expected KEY=VALUE with a number, e.g. --min tag_acc=0.92")
    if key not in RAW_SCORE_KEYS and value > 1.0:
        if value > 100.0:
            raise ArchcliError(f"--min '{spec}': {value} is above 100; scores are 0-1 or 0-100")
        value /= 100.0
    return key, value


def numeric_scores(scores: Mapping[str, Any]) -> Dict[str, float]:
    """The scalar scores a gate can name (per-type tables and nested blocks left out)."""
    return {k: float(v) for k, v in scores.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def read_baseline(path: Path) -> Dict[str, float]:
    """The scalar scores of a JSON file written by `archcli evaluate --output`."""
    import srsly

    if not path.is_file():
        raise ArchcliError("--baseline file not found", where=str(path))
    try:
        data = srsly.read_json(path)
    except ValueError as err:
        raise ArchcliError(f"--baseline is not valid JSON ({err})", where=str(path))
    if not isinstance(data, dict):
        raise ArchcliError("--baseline should hold a JSON object of scores, as `archcli evaluate --output` "
                           "writes", where=str(path))
    baseline = {k: v for k, v in numeric_scores(data).items() if k not in RAW_SCORE_KEYS}
    if not baseline:
        raise ArchcliError("--baseline has no scores to compare with", where=str(path))
    return baseline


def check_gates(scores: Mapping[str, Any], mins: Sequence[Tuple[str, float]],
                baseline: Optional[Mapping[str, float]] = None, max_drop: float = 0.0) -> List[Gate]:
    """Every gate with its outcome. A --min on a key the pipeline does not produce is refused
    (ArchcliError), since a gate that never fires is worse than none; a baseline key the new
    scores lack fails its gate (a component or score went missing)."""
    values = numeric_scores(scores)
    unknown = [key for key, _ in mins if key not in values]
    if unknown:
        raise ArchcliError(f"--min on {', '.join(repr(k) for k in unknown)}: the pipeline produces no such "
                           f"score. Scores it produces: {', '.join(sorted(values))}")
    gates = [Gate(key, "min", threshold, values[key], values[key] >= threshold) for key, threshold in mins]
    for key, base in sorted((baseline or {}).items()):
        allowed = base - max_drop / (1.0 if key in RAW_SCORE_KEYS else 100.0)
        value = values.get(key)
        # A tiny tolerance: the same model on the same data can differ in the last float bits.
        passed = value is not None and value >= allowed - 1e-9
        gates.append(Gate(key, "max_drop", allowed, value, passed, baseline=base))
    return gates


def gates_record(gates: Sequence[Gate], max_drop: Optional[float]) -> Dict[str, Any]:
    """What the JSON output says about the gates."""
    return {"passed": all(g.passed for g in gates), "max_drop_points": max_drop,
            "checks": [asdict(g) for g in gates]}
