"""Self-contained HTML pictures of what a pipeline predicts: dependency arcs, entities, span
groups (coreference clusters among them) and categories, for a quick look at a model's output.

The page needs nothing but a browser: inline CSS and SVG, no script, no external assets, so it
can be mailed or attached to a CI run. Each view is drawn only where the doc has its annotation,
so a model without a parser or NER renders what it has. Every piece of text goes through
`_escape`, which also replaces characters a page cannot carry (control characters, lone
surrogates), so any input renders.
"""
import heapq
import html
import re
import zlib
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from .tokens.doc import Doc, Span

RENDER_STYLES = ("dep", "ent", "span", "cats")
# Layout of the dependency view, in pixels: a character's width at the word font size, the
# least room a word gets, the height one nesting level adds to an arc, and the tallest arc.
CHAR_WIDTH = 8.5
MIN_WORD_WIDTH = 56
WORD_GAP = 18
LEVEL_HEIGHT = 34
MAX_LEVELS = 12
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_NUMBERED_KEY = re.compile(r"^(.+)_(\d+)$")
# Colours of the labels spaCy's English models use; any other label gets a hue from its hash.
LABEL_COLOURS = {
    "PERSON": "#aa9cfc", "PER": "#aa9cfc", "ORG": "#7aecec", "GPE": "#feca74", "LOC": "#ff9561",
    "NORP": "#c887fb", "FAC": "#9cc9cc", "PRODUCT": "#bfeeb7", "EVENT": "#ffeb80", "WORK_OF_ART": "#f0d0ff",
    "LAW": "#ff8197", "LANGUAGE": "#ff8197", "DATE": "#bfe1d9", "TIME": "#bfe1d9", "MONEY": "#e4e7d2",
    "QUANTITY": "#e4e7d2", "ORDINAL": "#e4e7d2", "CARDINAL": "#e4e7d2", "PERCENT": "#e4e7d2", "MISC": "#ddd",
}
PAGE_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #666; margin-bottom: 1.5em; }
.doc { border-top: 1px solid #ddd; padding: 1em 0; }
.doc h2 { font-size: 1em; color: #555; margin: 0 0 0.6em; font-weight: 600; }
.view { margin: 0.8em 0; }
.view h3 { font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.05em; color: #888; margin: 0 0 0.3em; }
.scroll { overflow-x: auto; }
.ents { line-height: 2.6; font-size: 16px; white-space: pre-wrap; }
.ents mark { padding: 0.25em 0.4em; margin: 0 0.15em; border-radius: 0.3em; line-height: 1; }
.ents mark .label { font-size: 0.65em; font-weight: bold; text-transform: uppercase; margin-left: 0.4em;
  vertical-align: middle; }
.ents mark .kb { font-size: 0.65em; color: #333; margin-left: 0.3em; vertical-align: middle; }
.spans { font-size: 16px; line-height: 1.3; }
.spans .tok { display: inline-block; position: relative; vertical-align: top; padding-bottom: var(--pad); }
.spans .bar { position: absolute; left: 0; right: 0; height: 4px; }
.spans .slabel { position: absolute; left: 0; font-size: 10px; font-weight: bold; white-space: nowrap;
  padding: 0 3px; border-radius: 2px; transform: translateY(-2px); }
.cats td { padding: 2px 8px; font-size: 14px; }
.cats .meter { display: inline-block; height: 10px; background: #4c78a8; vertical-align: middle; }
svg text { font-family: inherit; }
"""


def render_docs(
    docs: Iterable[Doc],
    *,
    title: str = "archcli render",
    subtitle: str = "",
    styles: Optional[Sequence[str]] = None,
    sources: Optional[Sequence[str]] = None,
) -> str:
    """The HTML page for `docs`: each doc's views among `styles` (default: all) that it has."""
    wanted = tuple(styles or RENDER_STYLES)
    unknown = [s for s in wanted if s not in RENDER_STYLES]
    if unknown:
        raise ValueError(f"unknown render style '{unknown[0]}' (choose from {', '.join(RENDER_STYLES)})")
    sections = []
    for i, doc in enumerate(docs):
        source = sources[i] if sources is not None and i < len(sources) else ""
        sections.append(_doc_section(doc, i, wanted, source))
    body = "\n".join(sections) or '<p class="meta">No documents.</p>'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_escape(title)}</h1>\n<div class=\"meta\">{_escape(subtitle)}</div>\n{body}\n</body>\n</html>\n"
    )


def _doc_section(doc: Doc, index: int, styles: Tuple[str, ...], source: str) -> str:
    views = []
    if "dep" in styles and doc.has_annotation("dep"):
        svgs = [dep_svg(doc, sent.start, sent.end) for sent in doc.sents]
        views.append(_view("Dependencies", "".join(f'<div class="scroll">{svg}</div>' for svg in svgs)))
    if "ent" in styles and doc.has_annotation("ents"):
        views.append(_view(f"Entities ({len(doc.ents)})", ents_html(doc)))
    if "span" in styles:
        for name, spans, numbered in _span_views(doc):
            views.append(_view(name, spans_html(doc, spans, numbered=numbered)))
    if "cats" in styles and doc.cats:
        views.append(_view("Categories", cats_html(doc.cats)))
    if not views:
        views.append(_view("Tokens", f'<div class="ents">{_escape(doc.text)}</div>'))
    where = f" · {_escape(source)}" if source else ""
    return (f'<div class="doc"><h2>Doc {index + 1} · {len(doc)} tokens{where}</h2>\n'
            + "\n".join(views) + "</div>")


def _view(name: str, content: str) -> str:
    return f'<div class="view"><h3>{_escape(name)}</h3>{content}</div>'


# --- dependencies ---------------------------------------------------------------------------
def arc_levels(arcs: Sequence[Tuple[int, int]]) -> List[int]:
    """A height level per (left, right) arc: 1 + the highest level of the arcs it encloses, so
    nested arcs never cross. One pass with a stack over the arcs sorted by (left, -right);
    a crossing arc (non-projective) is placed by what it encloses, which keeps it linear."""
    order = sorted(range(len(arcs)), key=lambda k: (arcs[k][0], -arcs[k][1]))
    levels = [1] * len(arcs)
    stack: List[int] = []

    def close(k: int) -> None:
        if stack:
            parent = stack[-1]
            levels[parent] = max(levels[parent], levels[k] + 1)

    for k in order:
        left, right = arcs[k]
        while stack and arcs[stack[-1]][1] < right:
            close(stack.pop())
        stack.append(k)
    while stack:
        close(stack.pop())
    return levels


def dep_svg(doc: Doc, start: int, end: int) -> str:
    """An SVG of tokens start..end with their tags below and labelled arcs above, head to dependent."""
    words = doc.words[start:end]
    tags = doc.get_strings("tag")[start:end] if doc.has_annotation("tag") else [""] * len(words)
    if not any(tags) and doc.has_annotation("pos"):
        tags = doc.get_strings("pos")[start:end]
    deps = doc.get_strings("dep")[start:end]
    heads = doc.head[start:end].tolist()
    widths = [max(MIN_WORD_WIDTH, CHAR_WIDTH * max(len(w), len(t)) + WORD_GAP) for w, t in zip(words, tags)]
    centres, x = [], 10.0
    for width in widths:
        centres.append(x + width / 2)
        x += width
    total_width = x + 10
    arcs, labels, children = [], [], []
    roots = []
    for i, head in enumerate(heads):
        head -= start
        if head == i or not 0 <= head < len(words):
            roots.append(i)
            continue
        arcs.append((min(i, head), max(i, head)))
        labels.append(deps[i])
        children.append(i)
    levels = [min(level, MAX_LEVELS) for level in arc_levels(arcs)]
    top = (max(levels) if levels else 1) * LEVEL_HEIGHT + 24
    baseline = top + 8
    height = baseline + 58
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {total_width:.0f} {height:.0f}" role="img">']
    for (left, right), label, child, level in zip(arcs, labels, children, levels):
        x1, x2 = centres[left] + 6, centres[right] - 6
        rise = level * LEVEL_HEIGHT
        control = baseline - rise / 0.75  # a cubic's apex lies 3/4 of the way to its control points
        parts.append(f'<path d="M{x1:.1f},{baseline} C{x1:.1f},{control:.1f} {x2:.1f},{control:.1f} '
                     f'{x2:.1f},{baseline}" fill="none" stroke="#555" stroke-width="1.6"/>')
        tip = x1 if child == left else x2
        parts.append(f'<path d="M{tip - 4:.1f},{baseline - 7} L{tip:.1f},{baseline} L{tip + 4:.1f},{baseline - 7}" '
                     'fill="none" stroke="#555" stroke-width="1.6"/>')
        parts.append(f'<text x="{(x1 + x2) / 2:.1f}" y="{baseline - rise - 3:.1f}" text-anchor="middle" '
                     'font-size="11" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">'
                     f'{_escape(label)}</text>')
    for i in roots:  # below the tag, where no arc ends
        parts.append(f'<text x="{centres[i]:.1f}" y="{baseline + 52}" text-anchor="middle" font-size="10" '
                     f'fill="#a33">{_escape(deps[i] or "ROOT")}</text>')
    for centre, word, tag in zip(centres, words, tags):
        parts.append(f'<text x="{centre:.1f}" y="{baseline + 20}" text-anchor="middle" font-size="15" '
                     f'fill="#111">{_escape(word)}</text>')
        if tag:
            parts.append(f'<text x="{centre:.1f}" y="{baseline + 37}" text-anchor="middle" font-size="11" '
                         f'fill="#4c78a8">{_escape(tag)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- entities -------------------------------------------------------------------------------
def ents_html(doc: Doc) -> str:
    """The doc's text with each entity marked, its label (and KB identifier) beside it."""
    pieces = _token_texts(doc)
    out, position = [], 0
    for ent in doc.ents:
        out.append(_escape("".join(pieces[position:ent.start])))
        colour = label_colour(ent.label_)
        text = "".join(pieces[ent.start:ent.end]).rstrip()
        trailing = "".join(pieces[ent.start:ent.end])[len(text):]
        kb = f'<span class="kb">{_escape(ent.kb_id_)}</span>' if ent.kb_id_ else ""
        out.append(f'<mark style="background:{colour}">{_escape(text)}'
                   f'<span class="label">{_escape(ent.label_)}</span>{kb}</mark>{_escape(trailing)}')
        position = ent.end
    out.append(_escape("".join(pieces[position:])))
    return f'<div class="ents">{"".join(out)}</div>'


# --- span groups ------------------------------------------------------------------------------
def _span_views(doc: Doc) -> List[Tuple[str, List[Tuple[Span, str]], bool]]:
    """(title, [(span, label)], numbered) per view: one per span key, except that numbered keys
    sharing a prefix (coref_clusters_1, coref_clusters_2, …) form one view labelled by number."""
    plain: Dict[str, List[Tuple[Span, str]]] = {}
    numbered: Dict[str, List[Tuple[Span, str]]] = {}
    for key, spans in doc.spans.items():
        if not spans:
            continue
        match = _NUMBERED_KEY.match(key)
        if match:
            numbered.setdefault(match.group(1), []).extend((span, match.group(2)) for span in spans)
        else:
            plain[key] = [(span, span.label_) for span in spans]
    views = [(f"Spans: {key} ({len(spans)})", spans, False) for key, spans in plain.items()]
    views += [(f"Clusters: {prefix}_N ({len({label for _, label in spans})})", spans, True)
              for prefix, spans in numbered.items()]
    return views


def assign_slots(spans: Sequence[Tuple[int, int]]) -> List[int]:
    """A row per (start, end) span so overlapping spans never share one: the lowest row free at
    the span's start (interval colouring with a heap of rows that become free, O(n log n))."""
    order = sorted(range(len(spans)), key=lambda k: (spans[k][0], -spans[k][1]))
    slots = [0] * len(spans)
    busy: List[Tuple[int, int]] = []  # (end, slot)
    free: List[int] = []
    next_slot = 0
    for k in order:
        start, end = spans[k]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            slot = heapq.heappop(free)
        else:
            slot, next_slot = next_slot, next_slot + 1
        slots[k] = slot
        heapq.heappush(busy, (end, slot))
    return slots


def spans_html(doc: Doc, spans: Sequence[Tuple[Span, str]], *, numbered: bool = False) -> str:
    """Tokens with a coloured bar under them per span covering them, one row per overlap level,
    the label on the span's first token."""
    slots = assign_slots([(span.start, span.end) for span, _ in spans])
    n_rows = max(slots) + 1 if slots else 0
    # The spans over each token: the page holds a bar per (span, token) anyway, so this is linear in the output.
    by_token: List[List[int]] = [[] for _ in range(len(doc))]
    for k, (span, _) in enumerate(spans):
        for i in range(span.start, min(span.end, len(doc))):
            by_token[i].append(k)
    pieces = _token_texts(doc)
    row_height = 16
    out = [f'<div class="spans" style="--pad:{n_rows * row_height + 6}px">']
    for i, text in enumerate(pieces):
        marks = []
        for k in by_token[i]:
            span, label = spans[k]
            colour = label_colour(label, numbered=numbered)
            top = f"calc(100% - {n_rows * row_height - slots[k] * row_height}px)"
            marks.append(f'<span class="bar" style="top:{top};background:{colour}"></span>')
            if span.start == i:
                shown = f"#{label}" if numbered else label
                marks.append(f'<span class="slabel" style="top:calc({top} + 5px);background:{colour}">'
                             f'{_escape(shown)}</span>')
        out.append(f'<span class="tok">{_escape(text).replace(" ", "&nbsp;") or "&nbsp;"}{"".join(marks)}</span>')
    out.append("</div>")
    return "".join(out)


# --- categories -------------------------------------------------------------------------------
def cats_html(cats: Dict[str, float]) -> str:
    rows = []
    for label, score in sorted(cats.items(), key=lambda item: -float(item[1])):
        width = max(0.0, min(1.0, float(score))) * 160
        rows.append(f'<tr><td>{_escape(label)}</td><td>{float(score):.3f}</td>'
                    f'<td><span class="meter" style="width:{width:.0f}px"></span></td></tr>')
    return f'<table class="cats">{"".join(rows)}</table>'


# --- helpers ----------------------------------------------------------------------------------
def label_colour(label: str, *, numbered: bool = False) -> str:
    """A fixed colour for spaCy's usual entity labels, else a light hue from the label's hash
    (cluster numbers are spread round the wheel by the golden angle, so neighbours differ)."""
    if not numbered and label in LABEL_COLOURS:
        return LABEL_COLOURS[label]
    if numbered and label.isdigit():
        hue = (int(label) * 137.508) % 360
    else:
        hue = zlib.crc32(label.encode("utf8", "surrogatepass")) % 360
    return f"hsl({hue:.0f}, 70%, 72%)"


def _token_texts(doc: Doc) -> List[str]:
    return [word + (" " if space else "") for word, space in zip(doc.words, doc.spaces.tolist())]


def _escape(text: str) -> str:
    return html.escape(_UNSAFE.sub("\ufffd", text))


# --- input ------------------------------------------------------------------------------------
TEXT_FILE_SUFFIXES = (".txt", ".text", ".jsonl")


def read_render_texts(text_or_file: str, *, limit: int = 0) -> Tuple[List[str], List[str], int]:
    """(texts, where each came from, how many there were in all) for `archcli render`'s argument.

    An existing file gives one text per non-blank line (a `.jsonl` file: each line's "text");
    anything else is the text itself, unless it looks like a file name, which is then missing.
    Only the first `limit` texts are kept (0: all), but all are counted.
    """
    from pathlib import Path

    from .errors import ArchcliError, CorpusError
    from .training.corpus_files import read_jsonl_objects, read_lines

    path = Path(text_or_file) if len(text_or_file) < 4096 and "\n" not in text_or_file else None
    if path is not None and path.is_dir():
        raise ArchcliError("is a directory; give a text, or a .txt/.jsonl file of texts (one per line)",
                           where=str(path))
    if path is None or not path.is_file():
        if path is not None and " " not in text_or_file and text_or_file.lower().endswith(TEXT_FILE_SUFFIXES):
            raise ArchcliError("no such file (to render this string as text, put a space in it)", where=text_or_file)
        if not text_or_file.strip():
            raise ArchcliError("the text to render is empty")
        bad = re.search("[\ud800-\udfff]", text_or_file)
        if bad:  # undecodable bytes of the command line arrive as lone surrogates
            raise ArchcliError(f"the text is not valid UTF-8 (character {bad.start() + 1}); "
                               "pass the text in a UTF-8 file instead")
        return [text_or_file], ["argument"], 1
    texts: List[str] = []
    sources: List[str] = []
    total = 0
    if path.suffix == ".jsonl":
        records: Iterable[Tuple[int, str]] = _jsonl_texts(path, read_jsonl_objects(path), CorpusError)
    else:
        records = ((line_no, line) for line_no, line in read_lines(path) if line.strip())
    for line_no, text in records:
        total += 1
        if not limit or len(texts) < limit:
            texts.append(text)
            sources.append(f"{path.name}:{line_no}")
    if not texts:
        raise CorpusError("the file holds no texts", where=str(path))
    return texts, sources, total


def _jsonl_texts(path, records, error) -> Iterator[Tuple[int, str]]:
    for line_no, record in records:
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise error('expected an object with a non-empty "text" string', where=f"{path}:{line_no}")
        yield line_no, text
