"""What the CLI says in the cases a first-time user meets: repeated component names, Ctrl-C
before anything was saved, copyable command hints."""
import pytest
import typer

from archcli.cli._util import user_errors
from archcli.cli.train import _what_survives

from .test_bad_input import ANSI, DEV, TAGGER_CFG, TRAIN, error_messages, invoke


def test_repeated_component_name_in_config_is_refused(tmp_path):
    text = TAGGER_CFG.read_text(encoding="utf8").replace('pipeline = ["tok2vec","tagger"]',
                                                         'pipeline = ["tok2vec","tagger","tagger"]')
    assert '"tagger","tagger"' in text
    cfg = tmp_path / "twice.cfg"
    cfg.write_text(text, encoding="utf8")
    result, output = invoke(["train", cfg, "--output", tmp_path / "out", "--paths.train", TRAIN,
                             "--paths.dev", DEV, "--training.max_steps", 1])
    assert result.exit_code == 1, output
    [error] = error_messages(output)
    assert "nlp.pipeline" in error and "'tagger'" in error
    assert not (tmp_path / "out" / "model-last").exists()


def test_init_config_refuses_a_repeated_component(tmp_path):
    result, output = invoke(["init", "config", tmp_path / "c.cfg", "--pipeline", "tagger,tagger"])
    assert result.exit_code == 1, output
    [error] = error_messages(output)
    assert "tagger more than once" in error
    assert not (tmp_path / "c.cfg").exists()


def test_ctrl_c_says_what_was_saved(tmp_path):
    out = tmp_path / "out"
    assert _what_survives({"output_path": out}) == "Interrupted before any model was saved"
    assert _what_survives({"output_path": None}) == "Interrupted before any model was saved"
    (out / "model-last").mkdir(parents=True)
    assert _what_survives({"output_path": out}) == f"Interrupted: the last saved model-last in {out} are intact"
    (out / "model-best").mkdir()
    assert "model-best and model-last" in _what_survives({"output_path": out})


def test_interrupted_message_may_depend_on_the_arguments(capsys):
    @user_errors(interrupted=lambda kwargs: f"stopped at {kwargs['where']}")
    def command(where: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit) as exit_:
        command(where="step 3")
    assert exit_.value.exit_code == 130
    assert "stopped at step 3" in capsys.readouterr().out


def test_init_config_hint_is_one_copyable_line(tmp_path):
    long_name = tmp_path / ("a-rather-long-config-file-name-" * 2 + ".cfg")
    result, output = invoke(["init", "config", long_name, "--pipeline", "tok2vec,tagger"])
    assert result.exit_code == 0, output
    hint = [line for line in output.splitlines() if "archcli train" in line]
    assert len(hint) == 1 and hint[0].strip().endswith("--paths.dev DEV"), output


def test_installed_command_reports_errors_on_stderr_without_colour_codes(tmp_path):
    """CI scripts redirect stdout (`archcli evaluate … > scores.txt`): the error must still show,
    and a log file must not fill with ANSI escapes."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("archcli")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "archcli"]
    result = subprocess.run([*cmd, "evaluate", str(tmp_path / "no-model"), str(DEV)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    stderr = " ".join(result.stderr.split())  # wasabi wraps long messages
    assert "no-model" in stderr and "model directory does not exist" in stderr
    assert "no-model" not in result.stdout
    assert "\x1b[" not in result.stderr + result.stdout


def test_a_refused_setting_is_the_only_thing_train_prints(tmp_path):
    result, output = invoke(["train", TAGGER_CFG, "--output", tmp_path / "out", "--training.max_steps", "abc"])
    assert result.exit_code == 1, output
    assert "Saving to output directory" not in output
    lines = [line for line in ANSI.sub("", output).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("✘ training.max_steps"), output
