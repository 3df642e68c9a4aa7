"""Sizes that cannot build a layer: refused naming the argument (and, located in the block, the
config key), instead of an IndexError deep inside thinc or a model that silently builds nothing."""
from pathlib import Path

import pytest
from thinc.api import Config
from typer.testing import CliRunner

from archcli.cli import app
from archcli.config import interpolate_config, load_config, resolve_block
from archcli.errors import ConfigError
from archcli.language import Pipeline
from archcli.config import with_block_path
from archcli.pipeline.factories import get_factory

from .util import REPO

CONFIGS = REPO / "configs"

BAD_SIZES = [
    ("tagger", "components.tok2vec.model.width", 0, "width = 0", "tok2vec"),
    ("tagger", "components.tok2vec.model.depth", -1, "depth = -1", "tok2vec"),
    ("tagger", "components.tok2vec.model.embed_size", 0, "embed_size = 0", "tok2vec"),
    ("tagger", "components.tagger.model.nO", 0, "nO = 0", "tagger"),
    ("tagger", "components.tagger.model.tok2vec.width", 0, "width = 0", "tagger"),
    ("textcat_ensemble", "components.textcat.model.tok2vec.embed.width", 0, "width = 0", "textcat"),
    ("textcat_ensemble", "components.textcat.model.tok2vec.embed.rows", [100, 0, 10, 10, 10], "rows[1] = 0",
     "textcat"),
    ("textcat_ensemble", "components.textcat.model.tok2vec.encode.depth", 0, "depth = 0", "textcat"),
    ("ner", "components.ner.model.hidden_width", 0, "hidden_width = 0", "ner"),
    ("spancat", "components.spancat.suggester.sizes", [1, 0], "sizes[1] = 0", "spancat"),
]


@pytest.mark.parametrize("cfg,key,value,needle,component", BAD_SIZES)
def test_bad_size_is_a_config_error_naming_the_argument(cfg, key, value, needle, component):
    config = load_config(CONFIGS / f"{cfg}.cfg", overrides={key: value})
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        Pipeline.from_config(config)


@pytest.mark.parametrize("cfg,key,value,needle,component", BAD_SIZES)
def test_bad_size_error_can_be_located_in_its_block(cfg, key, value, needle, component):
    """`with_block_path` turns the architecture's error into one naming the full config key."""
    config = interpolate_config(load_config(CONFIGS / f"{cfg}.cfg", overrides={key: value}))
    block = dict(config["components"][component])
    merged = get_factory(block.pop("factory")).default_config.merge(Config(block))
    with pytest.raises(ConfigError) as err:
        resolve_block(merged, f"components.{component}")
    located = with_block_path(err.value, merged, f"components.{component}")
    assert str(located).startswith(f"{key}: {needle}")


def test_train_with_zero_width_exits_cleanly(tmp_path: Path):
    result = CliRunner().invoke(app, ["train", str(CONFIGS / "tagger.cfg"), "--output", str(tmp_path / "out"),
                                      "--components.tok2vec.model.width", "0"])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "IndexError" not in output
    assert "width = 0" in output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cfg,key,value,labels", [
    ("textcat_bow", "components.textcat.model.nO", "5", 2),
    ("spancat", "components.spancat.model.scorer.nO", "3", 6),
    ("tagger", "components.tagger.model.nO", "3", None),
])
def test_output_nO_other_than_the_label_count_names_the_key(tmp_path: Path, cfg, key, value, labels):
    result = CliRunner().invoke(app, ["train", str(CONFIGS / f"{cfg}.cfg"), "--output", str(tmp_path / "out"),
                                      f"--{key}", value, "--training.max_steps", "1"])
    output = " ".join((result.output + (result.stderr if result.stderr_bytes is not None else "")).split())
    assert result.exit_code == 1, output
    assert "Traceback" not in output and not isinstance(result.exception, (IndexError, ValueError))
    assert f"{key}: nO = {value}, but there are" in output
    if labels is not None:
        assert f"there are {labels} labels" in output
