"""Command-line overrides must name a setting that exists (in the config or the defaults the run
fills in), as spaCy requires; a misspelling is one message with a 'did you mean'."""
import pytest
from thinc.api import Config
from typer.testing import CliRunner

from archcli.cli import app
from archcli.config import load_config
from archcli.errors import ConfigError

from .conftest import SAMPLES
from .util import REPO, TAGGER_CFG

runner = CliRunner()


@pytest.mark.parametrize("key,value,needles", [
    ("training.max_step", 5, ["[training] has no setting 'max_step'", "Did you mean 'max_steps'?"]),
    ("training.nosuch", 3, ["[training] has no setting 'nosuch'"]),
    ("paths.trian", "x", ["[paths] has no setting 'trian'", "'train'"]),
    ("nosuch.key", 1, ["no section [nosuch]"]),
    ("components.tagger.neg_prefx", "x", ["'neg_prefix'"]),
    ("components.tok2vec.model.widht", 3, ["'width'"]),
    ("training.optimizer.learn_rat", 1, ["'learn_rate'"]),
    ("training.max_steps.x", 1, ["is a value, not a section"]),
])
def test_unknown_override_is_refused(key, value, needles):
    with pytest.raises(ConfigError) as info:
        load_config(TAGGER_CFG, overrides={key: value})
    text = str(info.value)
    assert text.startswith(f"--{key}: ")
    for needle in needles:
        assert needle in text


@pytest.mark.parametrize("key,value", [
    ("training.max_steps", 5),
    ("paths.train", "x"),
    # Not written in tagger.cfg's [training.optimizer] but an argument of Adam.v1.
    ("training.optimizer.L2", 0.0),
    # Keys of free-form sections.
    ("training.score_weights.tag_acc", 1.0),
    ("components.tagger.model.nO", 50),
])
def test_existing_settings_can_be_overridden(key, value):
    config = load_config(TAGGER_CFG, overrides={key: value})
    section = config
    for part in key.split(".")[:-1]:
        section = section[part]
    assert section[key.split(".")[-1]] == value


def test_factory_and_training_defaults_count_as_existing(tmp_path):
    text = TAGGER_CFG.read_text()
    text = text.replace("label_smoothing = 0.0\n", "").replace("patience = 1600\n", "")
    cfg = tmp_path / "short.cfg"
    cfg.write_text(text)
    config = load_config(cfg, overrides={"components.tagger.label_smoothing": 0.1, "training.patience": 10})
    assert config["components"]["tagger"]["label_smoothing"] == 0.1
    assert config["training"]["patience"] == 10


def test_pretraining_defaults_count_when_the_config_pretrains():
    config = load_config(REPO / "configs" / "pretrain_characters.cfg",
                         overrides={"pretraining.max_epochs": 2, "pretraining.objective.n_characters": 3})
    assert config["pretraining"]["max_epochs"] == 2


def test_cli_misspelled_override_exits_1_before_training(tmp_path):
    result = runner.invoke(app, ["train", str(TAGGER_CFG), "--output", str(tmp_path / "out"),
                                 "--paths.train", str(SAMPLES / "conllu" / "train.conllu"),
                                 "--training.max_step", "5"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "max_steps" in result.output
    assert not (tmp_path / "out").exists()


def test_config_syntax_errors_are_config_errors_and_bugs_are_not(tmp_path, monkeypatch):
    from archcli.config import interpolate_config, load_config
    from archcli.errors import ConfigError

    dup = tmp_path / "dup.cfg"
    dup.write_text("[a]\nb = 1\nb = 2\n", encoding="utf8")
    with pytest.raises(ConfigError, match="dup.cfg: cannot parse config: .*'b'"):
        load_config(dup)
    unclosed = tmp_path / "unclosed.cfg"
    unclosed.write_text('[a]\nb = "${c"\n', encoding="utf8")
    with pytest.raises(ConfigError, match="invalid interpolation syntax"):
        load_config(unclosed, interpolate=True)

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Config, "interpolate", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        interpolate_config(Config({"a": {"b": 1}}))
    monkeypatch.setattr(Config, "from_str", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        load_config(dup)
