"""`archcli evaluate` as a CI gate: --min, --baseline/--max-drop, the exit codes, --per-component."""
import json

import pytest
from typer.testing import CliRunner

from archcli.cli import app
from archcli.errors import ArchcliError
from archcli.gates import check_gates, parse_min, read_baseline

from .conftest import SAMPLES
from .util import TAGGER_CFG

runner = CliRunner()
DEV = SAMPLES / "conllu" / "dev.conllu"


def test_parse_min_reads_fractions_and_percentages():
    assert parse_min("tag_acc=0.92") == ("tag_acc", 0.92)
    assert parse_min("tag_acc=92") == ("tag_acc", pytest.approx(0.92))
    assert parse_min("speed=5000") == ("speed", 5000.0)  # words/s: never a percentage
    for bad in ("tag_acc", "tag_acc=high", "=0.5", "tag_acc=150", "tag_acc=nan"):
        with pytest.raises(ArchcliError, match="--min"):
            parse_min(bad)


def test_check_gates_outcomes():
    scores = {"tag_acc": 0.90, "dep_las": 0.80, "speed": 1000.0, "tag_acc_per_type": {"NN": {"p": 1}}}
    gates = check_gates(scores, [("tag_acc", 0.92), ("dep_las", 0.78)])
    assert [(g.key, g.passed) for g in gates] == [("tag_acc", False), ("dep_las", True)]
    # Baseline: a drop of 0.5 points allowed; 0.904 -> 0.90 is a 0.4-point drop, 0.81 -> 0.80 is 1 point.
    gates = check_gates(scores, [], {"tag_acc": 0.904, "dep_las": 0.81, "ents_f": 0.7}, max_drop=0.5)
    outcome = {g.key: g.passed for g in gates}
    assert outcome == {"tag_acc": True, "dep_las": False, "ents_f": False}  # ents_f went missing
    assert next(g for g in gates if g.key == "ents_f").value is None
    with pytest.raises(ArchcliError, match="no such score.*dep_las, speed, tag_acc"):
        check_gates(scores, [("ents_f", 0.5)])


def test_read_baseline_refuses_what_is_not_scores(tmp_path):
    with pytest.raises(ArchcliError, match="not found"):
        read_baseline(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf8")
    with pytest.raises(ArchcliError, match="not valid JSON"):
        read_baseline(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf8")
    with pytest.raises(ArchcliError, match="JSON object"):
        read_baseline(tmp_path / "list.json")


@pytest.fixture(scope="module")
def tagger_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("gates")
    result = runner.invoke(app, ["train", str(TAGGER_CFG), "--output", str(out), "--training.max_steps", "30",
                                 "--training.eval_frequency", "15", "--training.logger.progress_bar", "false"])
    assert result.exit_code == 0, result.output
    return out / "model-last"


def evaluate(model, *args):
    return runner.invoke(app, ["evaluate", str(model), str(DEV), *map(str, args)])


def test_gates_pass_fail_and_exit_codes(tagger_model, tmp_path):
    base = tmp_path / "base.json"
    result = evaluate(tagger_model, "--output", base, "--min", "token_acc=0.99", "--per-component")
    assert result.exit_code == 0, result.output
    saved = json.loads(base.read_text(encoding="utf8"))
    tag_acc = saved["tag_acc"]
    assert 0.2 < tag_acc < 1.0  # the model learned something, and is not perfect: both gates below can fire
    assert saved["gates"]["passed"] is True
    assert saved["per_component"]["tagger"]["tag_acc"] == tag_acc
    assert "Component 'tagger'" in result.output

    # A threshold above the score fails: exit 2, the key marked, the JSON records why.
    out = tmp_path / "fail.json"
    result = evaluate(tagger_model, "--min", f"tag_acc={100 * tag_acc + 1:.2f}", "--output", out)
    assert result.exit_code == 2, result.output
    assert "FAIL" in result.output and "1 gate(s) failed: tag_acc" in result.output
    record = json.loads(out.read_text(encoding="utf8"))["gates"]
    assert record["passed"] is False
    assert record["checks"][0]["key"] == "tag_acc" and record["checks"][0]["value"] == tag_acc

    # The same model against its own baseline passes with no drop allowed...
    assert evaluate(tagger_model, "--baseline", base).exit_code == 0
    # ...and fails against a better baseline when the drop exceeds the allowance.
    better = dict(saved, tag_acc=tag_acc + 0.02)
    (tmp_path / "better.json").write_text(json.dumps(better), encoding="utf8")
    assert evaluate(tagger_model, "--baseline", tmp_path / "better.json", "--max-drop", "1").exit_code == 2
    assert evaluate(tagger_model, "--baseline", tmp_path / "better.json", "--max-drop", "3").exit_code == 0


@pytest.mark.parametrize("args,message", [
    (["--min", "dep_las=0.8"], "produces no such score"),
    (["--min", "tag_acc"], "expected KEY=VALUE"),
    (["--max-drop", "1"], "--max-drop needs --baseline"),
])
def test_gate_mistakes_exit_1(tagger_model, args, message):
    result = evaluate(tagger_model, *args)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_evaluate_both_ways(tagger_model, tmp_path):
    """--gold-tokens (the corpus's tokens) and --retokenize (the raw text through the model's
    tokenizer, scored through the alignment, as spacy evaluate)."""
    gold = evaluate(tagger_model, "--output", tmp_path / "gold.json")
    raw = evaluate(tagger_model, "--retokenize", "--output", tmp_path / "raw.json")
    assert gold.exit_code == 0 and raw.exit_code == 0, raw.output
    gold_scores = json.loads((tmp_path / "gold.json").read_text(encoding="utf8"))
    raw_scores = json.loads((tmp_path / "raw.json").read_text(encoding="utf8"))
    assert gold_scores["token_f"] == 1.0 and 0.9 < raw_scores["token_f"] <= 1.0
    assert abs(raw_scores["tag_acc"] - gold_scores["tag_acc"]) < 0.1
