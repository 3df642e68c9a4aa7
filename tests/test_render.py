"""`archcli render`: a self-contained HTML page of a pipeline's predictions, checked as markup
and, where Debian's Chromium is installed, as a real screenshot."""
import html.parser
import shutil
import subprocess
from pathlib import Path

import numpy
import pytest
from typer.testing import CliRunner

from archcli.cli import app
from archcli.render import arc_levels, assign_slots, read_render_texts, render_docs
from archcli.tokens.doc import Doc, Span
from archcli.tokens.vocab import Vocab

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _gold_doc() -> Doc:
    words = "Ada Lovelace met Charles Babbage in London in 1833 .".split()
    heads = [1, 2, 2, 4, 2, 6, 2, 8, 2, 2]
    deps = ["compound", "nsubj", "ROOT", "compound", "obj", "case", "obl", "case", "obl", "punct"]
    tags = ["NNP", "NNP", "VBD", "NNP", "NNP", "IN", "NNP", "IN", "CD", "."]
    spaces = [True] * 8 + [False, False]
    doc = Doc(Vocab(), words, spaces, tags=tags, heads=heads, deps=deps, sent_starts=[True] + [False] * 9)
    doc.ents = [Span(doc, 0, 2, "PERSON", kb_id="Q7259"), Span(doc, 3, 5, "PERSON"), Span(doc, 6, 7, "GPE"),
                Span(doc, 8, 9, "DATE")]
    doc.spans["sc"] = [Span(doc, 0, 2, "PER"), Span(doc, 0, 5, "MEETING"), Span(doc, 6, 9, "WHERE_WHEN")]
    doc.spans["coref_clusters_1"] = [Span(doc, 0, 2), Span(doc, 3, 5)]
    doc.cats = {"HISTORY": 0.93, "SPORT": 0.02}
    return doc


class _Collector(html.parser.HTMLParser):
    """Tags and text of a page, and every URL-bearing attribute (there should be none)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags, self.text, self.urls = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    return collector


def test_page_draws_every_view_and_needs_no_assets():
    page = render_docs([_gold_doc()], title="check")
    parsed = _parse(page)
    text = "".join(parsed.text)
    assert parsed.urls == [] and "@import" not in page and "<script" not in page
    assert parsed.tags.count("svg") == 1 and parsed.tags.count("path") == 2 * 9  # an arc and a head per non-root
    for label in ("nsubj", "obj", "obl", "compound", "NNP", "VBD"):
        assert label in text
    assert parsed.tags.count("mark") == 4 and "Q7259" in text
    assert "Spans: sc (3)" in text and "MEETING" in text and "WHERE_WHEN" in text
    assert "Clusters: coref_clusters_N (1)" in text and "#1" in text
    assert "HISTORY" in text and "0.930" in text


def test_styles_choose_views_and_docs_without_annotation_show_tokens():
    doc = _gold_doc()
    page = render_docs([doc], styles=["ent"])
    assert "<svg" not in page and "<mark" in page and "Spans:" not in page
    plain = Doc(Vocab(), ["just", "words"])
    page = render_docs([plain])
    assert "Tokens" in page and "just words" in page and "<svg" not in page
    with pytest.raises(ValueError, match="unknown render style 'arcs'"):
        render_docs([doc], styles=["arcs"])


def test_unsafe_characters_are_escaped_or_replaced():
    doc = Doc(Vocab(), ["<b>", "a\x00b", "&amp;"])
    labelled = Doc(Vocab(), ["x"])
    labelled.cats = {"\ud800": 0.5}  # a label is any string; a lone surrogate cannot be written as UTF-8
    page = render_docs([doc, labelled], title="<script>alert(1)</script>")
    assert "<b>" not in page.replace("<body>", "") and "&lt;b&gt;" in page and "&amp;amp;" in page
    assert "<script>" not in page and "\x00" not in page and "\ud800" not in page
    page.encode("utf8")


def test_undecodable_argument_is_refused():
    from archcli.errors import ArchcliError

    with pytest.raises(ArchcliError, match="not valid UTF-8"):
        read_render_texts("caf\udce9 au lait")  # how Python passes the byte 0xe9 of a Latin-1 argv


def test_arc_levels_nest_and_stay_linear():
    # (0,1) and (1,3) inside (0,4); (2,3) inside (1,3)
    assert arc_levels([(0, 4), (0, 1), (1, 3), (2, 3)]) == [3, 1, 2, 1]
    chain = [(i, i + 1) for i in range(5000)]
    assert set(arc_levels(chain)) == {1}
    nested = [(i, 10000 - i) for i in range(100)]
    assert arc_levels(nested)[0] == 100


def test_slots_never_put_overlapping_spans_on_one_row():
    rng = numpy.random.default_rng(0)
    starts = rng.integers(0, 200, 400)
    spans = [(int(s), int(s + rng.integers(1, 8))) for s in starts]
    slots = assign_slots(spans)
    for a in range(len(spans)):
        for b in range(a + 1, len(spans)):
            if slots[a] == slots[b]:
                assert spans[a][1] <= spans[b][0] or spans[b][1] <= spans[a][0]
    depth = max(sum(start <= i < end for start, end in spans) for i in range(210))
    assert max(slots) + 1 == depth  # the lowest free row: exactly as many rows as the deepest overlap


def test_read_texts_from_argument_and_files(tmp_path):
    assert read_render_texts("One text here.") == (["One text here."], ["argument"], 1)
    txt = tmp_path / "texts.txt"
    txt.write_text("first line\n\nsecond line\nthird\n", encoding="utf8")
    assert read_render_texts(str(txt), limit=2) == (["first line", "second line"], ["texts.txt:1", "texts.txt:3"], 3)
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text('{"text": "a b"}\n{"meta": 1}\n', encoding="utf8")
    from archcli.errors import ArchcliError

    with pytest.raises(ArchcliError, match="texts.jsonl:2"):
        read_render_texts(str(jsonl))
    with pytest.raises(ArchcliError, match="no such file"):
        read_render_texts(str(tmp_path / "missing.txt"))
    with pytest.raises(ArchcliError, match="is a directory"):
        read_render_texts(str(tmp_path))


@pytest.fixture(scope="module")
def parser_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    result = runner.invoke(app, ["train", str(ROOT / "configs/tagger_parser.cfg"), "--output", str(out),
                                 "--training.max_steps", "30", "--training.eval_frequency", "15",
                                 "--training.logger.progress_bar", "false"])
    assert result.exit_code == 0, result.output
    return out / "model-last"


def test_cli_renders_what_a_model_without_ner_has(parser_model, tmp_path):
    page_path = tmp_path / "page.html"
    texts = tmp_path / "texts.txt"
    texts.write_text("The cat sat on the mat.\nDogs bark at night.\nA third text.\n", encoding="utf8")
    result = runner.invoke(app, ["render", str(parser_model), str(texts), "--output", str(page_path), "-n", "2"])
    assert result.exit_code == 0, result.output
    assert "first 2 of 3 texts" in result.output
    page = page_path.read_text(encoding="utf8")
    parsed = _parse(page)
    assert parsed.tags.count("svg") >= 2 and "<mark" not in page  # arcs drawn, no entity view invented
    assert "texts.txt:1" in page and "texts.txt:2" in page and "A third text" not in page
    assert "pipeline: tok2vec, tagger, parser" in page


def test_cli_bad_input_is_one_message(parser_model, tmp_path):
    result = runner.invoke(app, ["render", str(parser_model), "Some text.", "--style", "arcs"])
    assert result.exit_code == 1 and "--style arcs" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["render", str(tmp_path / "nomodel"), "Some text.", "-o", str(tmp_path / "p.html")])
    assert result.exit_code == 1 and "model directory does not exist" in " ".join(result.output.split())
    assert not (tmp_path / "p.html").exists()
    result = runner.invoke(app, ["render", str(parser_model), str(tmp_path / "texts.jsonl"), "-o", str(tmp_path / "p.html")])
    assert result.exit_code == 1 and "no such file" in " ".join(result.output.split())


def screenshot(page: Path, png: Path, tmp_path: Path) -> None:
    """Debian's Chromium, headless, with the flags this closed network needs (no background
    connections) and a fresh profile."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1000,800",
                    f"--screenshot={png}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium)")
def test_page_in_a_real_browser_is_not_blank(tmp_path):
    from matplotlib.image import imread

    page = tmp_path / "page.html"
    page.write_text(render_docs([_gold_doc()], title="browser check"), encoding="utf8")
    png = tmp_path / "shot.png"
    screenshot(page, png, tmp_path)
    pixels = imread(png)[..., :3]
    assert pixels.shape[0] >= 700 and pixels.shape[1] >= 900
    ink = (pixels < 0.9).any(axis=-1)
    assert 0.01 < ink.mean() < 0.5  # text and arcs drawn, not a blank or solid page
    rows = numpy.flatnonzero(ink.any(axis=1))
    assert rows.max() - rows.min() > 400  # every view laid out down the page, not one line
    # The PERSON entity colour (#aa9cfc) is painted: the marks are styled, not raw text.
    person = numpy.array([0xAA, 0x9C, 0xFC]) / 255
    assert (numpy.abs(pixels - person).max(axis=-1) < 0.03).sum() > 200
