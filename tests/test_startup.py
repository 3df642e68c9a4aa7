"""Startup: the registry fills itself, `import archcli` has no side effects, --help stays light.

Each check runs in a fresh interpreter (a subprocess, or a fork made before archcli is imported)
so modules the test session already imported cannot hide the defect.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from .conftest import REPO, SPEC

PYTHON = sys.executable


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key != "ARCHCLI_CPU_GEMM"}
    environ.update(env)
    return subprocess.run([PYTHON, "-c", textwrap.dedent(code)], cwd=str(REPO), env=environ,
                          capture_output=True, text=True, timeout=300)


def run_json(code: str, **env: str):
    result = run_python(code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# Runs each snippet in a child forked before archcli is imported (thinc is, once, in the parent).
FORK_EACH = """
import json, os, sys
sys.path.insert(0, {repo!r})
from tests.spec_blocks import block_config, spec_blocks
assert not any(name.split(".")[0] == "archcli" for name in sys.modules)
blocks = spec_blocks(open({spec!r}, encoding="utf8").read())

def in_fresh_child(func):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            out = func()
        except BaseException as err:
            out = type(err).__name__ + ": " + str(err)[:200]
        os.write(write, json.dumps(out).encode("utf8"))
        os._exit(0)
    os.close(write)
    data = b""
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to get a fresh interpreter per block")
def test_registry_resolves_every_spec_block_without_other_imports():
    """`from archcli import registry; registry.resolve(block)` works as the first archcli import."""
    code = FORK_EACH.format(repo=str(REPO), spec=str(SPEC)) + """
def outcomes(names, populate_first):
    # "ok", or the error's type: a placeholder block ("# ...") may fail, but the same way either way.
    def run():
        from archcli import registry
        if populate_first:
            from archcli._registry import ensure_populated
            ensure_populated()
        result = {}
        for name in names:
            try:
                registry.resolve(block_config(blocks[name]))
                result[name] = "ok"
            except Exception as err:
                result[name] = type(err).__name__
        return result
    return run

fresh = {}
for name in blocks:
    fresh.update(in_fresh_child(outcomes([name], False)))
print(json.dumps({"expected": in_fresh_child(outcomes(list(blocks), True)), "fresh": fresh}))
"""
    result = run_json(code)
    expected, fresh = result["expected"], result["fresh"]
    assert "spacy.HashEmbedCNN.v2" in fresh
    assert sum(value == "ok" for value in expected.values()) >= 10, expected
    mismatched = {name: fresh[name] for name in expected if fresh[name] != expected[name]}
    assert not mismatched, f"fresh-interpreter resolve differs from a populated registry: {mismatched}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to get a fresh interpreter per lookup")
def test_every_registry_lookup_populates_the_registry():
    code = FORK_EACH.format(repo=str(REPO), spec=str(SPEC)) + """
name = "spacy.HashEmbedCNN.v2"
lookups = {
    "registry.get": lambda r: r.get("architectures", name) is not None,
    "registry.has": lambda r: r.has("architectures", name),
    "architectures.get": lambda r: callable(r.architectures.get(name)),
    "architectures.find": lambda r: r.architectures.find(name)["module"] == "archcli.ml.tok2vec",
    "architectures.get_all": lambda r: name in r.architectures.get_all(),
    "name in architectures": lambda r: name in r.architectures,
    "layers.get": lambda r: callable(r.layers.get(name)),
    "registry.fill": lambda r: "model" in r.fill(block_config(blocks[name])),
    "readers.get": lambda r: callable(r.readers.get("spacy.Corpus.v1")),
}

def check(lookup):
    def run():
        from archcli import registry
        return lookup(registry)
    return run

print(json.dumps({label: in_fresh_child(check(lookup)) for label, lookup in lookups.items()}))
"""
    results = run_json(code)
    assert results == {label: True for label in results}, results
    assert len(results) == 9


def test_import_archcli_leaves_thinc_ops_alone_and_prints_nothing():
    """A program importing archcli beside spaCy keeps its ops; archcli picks its gemm when it builds."""
    code = """
    import json
    from thinc.api import get_current_ops
    before = get_current_ops()
    import archcli
    after_import = get_current_ops() is before
    import archcli.language
    from archcli import registry
    registry.architectures.get_all()
    after_language = get_current_ops() is before
    nlp = archcli.language.Pipeline()
    print(json.dumps([after_import, after_language, before.use_blis, get_current_ops().use_blis]))
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout) == [True, True, True, False]
    bare = run_python("import archcli; import archcli.cli")
    assert (bare.returncode, bare.stdout, bare.stderr) == (0, "", "")


def test_pipeline_construction_and_cli_choose_the_gemm_backend():
    code = """
    import json
    from archcli.language import Pipeline
    from archcli.cli._util import setup_gpu
    from thinc.api import get_current_ops, set_current_ops, NumpyOps
    Pipeline()
    pipeline = get_current_ops().use_blis
    set_current_ops(NumpyOps())
    setup_gpu(-1)
    print(json.dumps([pipeline, get_current_ops().use_blis]))
    """
    assert run_json(code) == [False, False]
    assert run_json(code, ARCHCLI_CPU_GEMM="blis") == [True, True]
    result = run_python(textwrap.dedent(code) + "Pipeline(); Pipeline()\n", ARCHCLI_CPU_GEMM="mkl")
    assert json.loads(result.stdout.splitlines()[0]) == [False, False]
    # One warning however many pipelines are built.
    assert result.stderr.count("ARCHCLI_CPU_GEMM='mkl'") == 1, result.stderr


def test_cli_help_imports_neither_torch_nor_thinc():
    code = """
    import json, sys
    import archcli.cli
    from archcli.cli import app
    from typer.testing import CliRunner
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "init-config" in result.output, result.output
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "thinc", "numpy"})))
    """
    assert run_json(code) == []


def test_tagger_builds_and_trains_without_torch_and_the_torch_layer_says_what_it_needs():
    """torch is an extra: with it absent, a tagger works and TorchBiLSTMEncoder names the fix."""
    code = """
    import json, sys
    sys.modules["torch"] = None  # as if torch were not installed
    from thinc.api import Config
    from archcli import registry
    from archcli.errors import ConfigError
    from tests.util import TAGGER_CFG
    from archcli.config import load_config
    from archcli.language import Pipeline
    nlp = Pipeline.from_config(load_config(TAGGER_CFG))
    doc = nlp.tokenizer("A small test")
    names = [name for name, _ in nlp.components]
    try:
        registry.resolve(Config().from_str('''
    [model]
    @architectures = "spacy.TorchBiLSTMEncoder.v1"
    width = 16
    depth = 1
    dropout = 0.0
    '''))
        error = None
    except ConfigError as err:
        error = str(err)
    print(json.dumps([names, len(doc), error]))
    """
    names, n_tokens, error = run_json(code)
    assert names == ["tok2vec", "tagger"] and n_tokens == 3
    assert error is not None and "spacy.TorchBiLSTMEncoder.v1" in error and "archcli[torch]" in error
