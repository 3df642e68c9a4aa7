"""`--code PATH`: a user's Python file imported before the config resolves (train, evaluate,
pretrain, debug-model), and clear errors when it is missing or raises."""
from typer.testing import CliRunner

from archcli.cli import app

from .conftest import SAMPLES

runner = CliRunner()
CODE = SAMPLES / "custom_code" / "custom_tok2vec.py"
CONFIG = SAMPLES / "custom_code" / "tagger.cfg"
DEV = SAMPLES / "conllu" / "dev.conllu"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_custom_architecture_trains_evaluates_and_debugs(tmp_path):
    result = run("train", CONFIG, "--output", tmp_path, "--code", CODE, "--training.max_steps", "20",
                 "--training.eval_frequency", "10", "--training.logger.progress_bar", "false")
    assert result.exit_code == 0, result.output
    model = tmp_path / "model-last"
    # The saved config names the user's architecture, and the trained layer is in the model.
    assert "user.HashEmbedCNNPlusFF.v1" in (model / "config.cfg").read_text(encoding="utf8")
    from archcli import load

    nlp = load(model)
    tok2vec = nlp.get_pipe("tok2vec").model
    assert any(node.name == "residual(maxout)" or node.name.startswith("residual") for node in tok2vec.walk())
    result = run("evaluate", model, DEV, "--code", CODE)
    assert result.exit_code == 0, result.output
    assert "TAG" in result.output
    result = run("debug-model", CONFIG, "tagger", "--code", CODE, "--steps", "2")
    assert result.exit_code == 0, result.output


def test_without_code_the_message_points_at_it(tmp_path):
    # A fresh process: in this one an earlier test's --code has registered the architecture.
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "archcli", "train", str(CONFIG), "--output", str(tmp_path),
                             "--training.max_steps", "2"], capture_output=True, text=True)
    assert result.returncode == 1
    text = " ".join(result.stderr.split())
    assert "unknown architectures function 'user.HashEmbedCNNPlusFF.v1'" in text and "--code" in text


def test_code_that_raises_names_its_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import math\n\nvalue = math.sqrt(4)\nraise RuntimeError('my registration failed')\n",
                      encoding="utf8")
    for command in (["train", CONFIG, "--output", tmp_path / "out"], ["pretrain", CONFIG, tmp_path / "pre"]):
        result = run(*command, "--code", broken)
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert f"{broken}:4: --code failed on import: RuntimeError: my registration failed" in text
        assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_code_file(tmp_path):
    result = run("evaluate", tmp_path, DEV, "--code", tmp_path / "missing.py")
    assert result.exit_code == 1
    assert "missing.py: --code file not found" in " ".join(result.output.split())
