from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from .app import app
from ._util import code_option, import_code, setup_gpu, user_errors


@app.command("render")
@user_errors
def render_cli(
    model: Path = typer.Argument(..., metavar="MODEL", help="Model directory (e.g. output/model-best)"),
    text_or_file: str = typer.Argument(..., metavar="TEXT_OR_FILE",
                                       help="A text, or a .txt file (one text per line) or .jsonl file ({\"text\": ...} per line)"),
    output: Path = typer.Option(Path("render.html"), "--output", "-o", help="HTML page to write"),
    styles: List[str] = typer.Option([], "--style", "-s", metavar="STYLE",
                                     help="Views to draw: dep, ent, span, cats (repeatable; default: all the model produces)"),
    limit: int = typer.Option(100, "--limit", "-n", help="Render at most this many texts (0: all)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    code_path: Optional[Path] = code_option(),
) -> None:
    """Run a pipeline on texts and write a self-contained HTML page (no external assets) of its
    dependency arcs, entities, span groups and categories, like displaCy."""
    from ..errors import ArchcliError
    from ..fileio import check_output_path, write_text_atomic
    from ..language import load
    from ..render import RENDER_STYLES, read_render_texts, render_docs

    bad = [s for s in styles if s not in RENDER_STYLES]
    if bad:
        raise ArchcliError(f"--style {bad[0]}: choose from {', '.join(RENDER_STYLES)}")
    if limit < 0:
        raise ArchcliError(f"--limit {limit}: give a number of texts >= 0 (0: all)")
    check_output_path(output, directory=False)
    import_code(code_path)
    texts, sources, total = read_render_texts(text_or_file, limit=limit)
    setup_gpu(gpu_id)
    nlp = load(model)
    docs = list(nlp.pipe(texts))
    subtitle = f"{model} · pipeline: {', '.join(nlp.pipe_names) or '(empty)'} · {len(docs)} of {total} texts"
    page = render_docs(docs, title="archcli render", subtitle=subtitle, styles=styles or None, sources=sources)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output, page)
    if total > len(docs):
        msg.warn(f"Rendered the first {len(docs)} of {total} texts (--limit {limit})")
    msg.good(f"Saved {output} ({len(docs)} docs)")
