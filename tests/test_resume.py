"""`archcli train --resume`: N steps + resume + N steps is the uninterrupted 2N-step run, bit for
bit (CPU, same seed), also after the process is killed during a save; and clear refusals."""
import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from archcli.cli import app

from .conftest import CORPORA, REPO
from .util import write_conllu_slice

runner = CliRunner()
CONFIG = REPO / "configs" / "tagger_parser.cfg"
TIMING_KEYS = ("train_seconds",)


@pytest.fixture(scope="module")
def ewt_slice(tmp_path_factory, ud_dir):
    out = tmp_path_factory.mktemp("resume_data")
    return (write_conllu_slice(ud_dir / "train.conllu", out / "train.conllu", 0, 160),
            write_conllu_slice(ud_dir / "dev.conllu", out / "dev.conllu", 0, 40))


def args(data, output, max_steps, *extra):
    train, dev = data
    return ["train", str(CONFIG), "--output", str(output), "--paths.train", str(train), "--paths.dev", str(dev),
            "--training.max_steps", str(max_steps), "--training.eval_frequency", "10",
            "--training.logger.progress_bar", "false", "--training.batcher.size.start", "50",
            "--training.batcher.size.stop", "300", *extra]


def invoke(*argv):
    result = runner.invoke(app, [str(a) for a in argv])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())


def weights(model_dir):
    from archcli import load

    return {name: proc.model.to_bytes() for name, proc in load(model_dir).components}


def log_rows(run_dir):
    rows = [json.loads(line) for line in (run_dir / "training_log.jsonl").read_text(encoding="utf8").splitlines()]
    for row in rows:
        for key in TIMING_KEYS:
            row.pop(key)
        row["scores"].pop("speed")
    return rows


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, ewt_slice):
    out = tmp_path_factory.mktemp("full")
    invoke(*args(ewt_slice, out, 40))
    return out


def test_resume_reproduces_the_uninterrupted_run(uninterrupted, ewt_slice, tmp_path):
    invoke(*args(ewt_slice, tmp_path, 20))
    assert (tmp_path / "model-last" / "training_state" / "state.msgpack").is_file()
    output = invoke(*args(ewt_slice, tmp_path, 40, "--resume"))
    assert "Resuming from" in output and "after step 20" in output
    assert weights(tmp_path / "model-last") == weights(uninterrupted / "model-last")
    assert weights(tmp_path / "model-best") == weights(uninterrupted / "model-best")
    assert log_rows(tmp_path) == log_rows(uninterrupted)
    assert [row["step"] for row in log_rows(tmp_path)] == [0, 10, 20, 30, 40]


def test_resume_after_kill_during_a_save(uninterrupted, ewt_slice, tmp_path):
    # The process dies (os._exit: no cleanup, like kill -9) while writing the step-30 checkpoint.
    script = textwrap.dedent(f"""
        import os, sys
        from archcli.training import resume
        original = resume.write_state
        def dying(directory, state, config):
            if state["progress"]["step"] == 30:
                (directory / "training_state").mkdir()
                (directory / "training_state" / "state.msgpack").write_bytes(b"half a file")
                os._exit(137)
            original(directory, state, config)
        resume.write_state = dying
        from archcli.cli import app
        sys.argv = ["archcli"] + {args(ewt_slice, tmp_path, 40)!r}
        app()
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert killed.returncode == 137, killed.stderr
    # model-last is the step-20 checkpoint; the log has the step-30 row the dead run wrote.
    assert [row["step"] for row in log_rows(tmp_path)] == [0, 10, 20, 30]
    invoke(*args(ewt_slice, tmp_path, 40, "--resume"))
    assert weights(tmp_path / "model-last") == weights(uninterrupted / "model-last")
    assert log_rows(tmp_path) == log_rows(uninterrupted)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the dead run's temporary is gone


def test_resume_refusals(ewt_slice, tmp_path, uninterrupted):
    result = runner.invoke(app, args(ewt_slice, tmp_path / "empty", 20, "--resume"))
    assert result.exit_code == 1
    assert "no training state to resume from" in " ".join(result.output.split())
    result = runner.invoke(app, args(ewt_slice, uninterrupted, 60, "--resume", "--training.dropout", "0.3"))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "the config differs" in text and "training.dropout" in text and "max_steps" in text
    # A longer budget is the one change allowed, and leaves the earlier checkpoint's rows in the log.
    invoke(*args(ewt_slice, uninterrupted, 50, "--resume"))
    assert [row["step"] for row in log_rows(uninterrupted)] == [0, 10, 20, 30, 40, 50]


def test_resumed_log_drops_rows_after_the_checkpoint_and_torn_lines(tmp_path):
    from archcli.training.loop import _open_log

    log_path = tmp_path / "training_log.jsonl"
    log_path.write_text('{"step": 0}\n{"step": 10}\n{"step": 20}\n{"step": 3', encoding="utf8")
    with _open_log(log_path, keep_until_step=10) as log:
        log.write('{"step": 20}\n')
    assert log_path.read_text(encoding="utf8") == '{"step": 0}\n{"step": 10}\n{"step": 20}\n'
