"""`archcli init-kb` (build a knowledge base directory from files) and `archcli debug-kb`."""
from pathlib import Path
from typing import Any, Dict, Optional

import typer
from wasabi import msg

from .app import app, debug_app, init_app
from ._util import setup_gpu, user_errors

NO_VECTORS = ("init-kb needs a source of entity vectors: give --vectors FILE (a word2vec/fastText .vec or "
              ".vec.gz file, or a model directory with vocab/vectors.npz) or --model DIR (a trained pipeline "
              "with a tok2vec)")


@app.command("init-kb")
@user_errors(interrupted="Interrupted: no KB was written (the output directory is as it was)")
def init_kb_cli(
    entities_path: Path = typer.Argument(..., metavar="ENTITIES",
                                         help="Entities: JSONL {\"id\", \"name\", \"description\", \"freq\"} or "
                                              "headerless CSV id,name,description"),
    output_dir: Path = typer.Argument(..., metavar="OUTPUT_DIR", help="KB directory to write"),
    aliases_path: Optional[Path] = typer.Option(
        None, "--aliases", "-a", help="Aliases: JSONL {\"alias\", \"entities\", \"probabilities\"}. Without it each "
                                      "entity's name is an alias (prior 1, shared equally by entities of one name)"),
    vectors_path: Optional[Path] = typer.Option(
        None, "--vectors", "-v", help="Static vectors (word2vec/fastText .vec(.gz), or a model directory with "
                                      "vocab/vectors.npz): an entity's vector is the mean over its description"),
    model_path: Optional[Path] = typer.Option(
        None, "--model", "-m", help="Trained pipeline: an entity's vector is the mean of its tok2vec output over "
                                    "the description"),
    entity_vector_length: Optional[int] = typer.Option(
        None, "--entity-vector-length", "-l", help="Expected vector width (checked against the vectors' width)"),
    center: bool = typer.Option(True, "--center/--no-center",
                                help="Subtract the mean entity vector, so cosine similarity tells entities apart "
                                     "(mean word vectors all point much the same way)"),
    batch_size: int = typer.Option(256, "--batch-size", "-b", help="Descriptions encoded per batch"),
    stats: bool = typer.Option(False, "--stats", help="Also print the KB's statistics (as debug-kb does)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id for --model, or -1 for CPU"),
) -> None:
    """Build a knowledge base directory for the entity linker from entity and alias files."""
    from ..errors import ArchcliError
    from ..fileio import check_output_path
    from ..kb import build
    from ..kb.knowledge_base import META_FILE
    from ..tokens import Vocab

    if vectors_path is not None and model_path is not None:
        raise ArchcliError("give --vectors or --model, not both: entity vectors come from one of them")
    if vectors_path is None and model_path is None:
        raise ArchcliError(NO_VECTORS)
    if batch_size < 1:
        raise ArchcliError(f"--batch-size must be at least 1, got {batch_size}")
    if entity_vector_length is not None and entity_vector_length < 1:
        raise ArchcliError(f"--entity-vector-length must be at least 1, got {entity_vector_length}")
    # Refused before any work: an output path that cannot be written, or a directory that is
    # not a KB (writing replaces the directory as a whole).
    check_output_path(output_dir, directory=True)
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / META_FILE).exists():
        raise ArchcliError(f"is a non-empty directory that is not a KB (no {META_FILE}); writing the KB would "
                           "replace it, so choose a new or empty directory", where=str(output_dir))
    entities = build.read_entities(entities_path)
    aliases = build.read_aliases(aliases_path, entities.ids) if aliases_path is not None else None
    msg.info(f"Read {len(entities.ids)} entities from {entities_path}"
             + (f" and {len(aliases)} aliases from {aliases_path}" if aliases is not None
                else " (their names are the aliases)"))
    vocab = Vocab()
    if vectors_path is not None:
        vectors = build.load_static_vectors(vectors_path, vocab)
        report = build.description_vectors_static(entities.descriptions, vectors, batch_size=batch_size)
    else:
        from ..language import load

        setup_gpu(gpu_id)
        nlp = load(model_path)
        report = build.description_vectors_model(entities.descriptions, nlp, batch_size=batch_size)
        vocab = nlp.vocab
    if center:
        report = build.center_vectors(report)
    kb = build.build_kb(entities, aliases, report, vocab=vocab, entity_vector_length=entity_vector_length)
    if report.zero_rows:
        examples = ", ".join(f"'{entities.ids[i]}'" for i in report.zero_rows[:3])
        msg.warn(f"{len(report.zero_rows)} of {len(entities.ids)} entities have a zero vector (no word of their "
                 f"description has a vector), e.g. {examples}")
    kb.to_disk(output_dir)
    msg.good(f"Saved KB to {output_dir}: {len(kb)} entities, {kb.get_size_aliases()} aliases, vectors of width "
             f"{kb.entity_vector_length} from the {report.source}")
    if stats:
        print_kb_stats(build.kb_stats(kb))


init_app.command("kb")(init_kb_cli)


@app.command("debug-kb")
@user_errors
def debug_kb_cli(
    kb_dir: Path = typer.Argument(..., metavar="KB_DIR", help="KB directory (made by init-kb, or a model's "
                                                             "entity_linker/kb)"),
) -> None:
    """Print a KB's entity and alias counts, ambiguity, prior sums and vector norms."""
    from ..kb import InMemoryLookupKB
    from ..kb.build import kb_stats
    from ..tokens import Vocab

    kb = InMemoryLookupKB(Vocab(), entity_vector_length=1).from_disk(kb_dir)
    msg.info(f"KB {kb_dir}")
    print_kb_stats(kb_stats(kb))


debug_app.command("kb")(debug_kb_cli)


def _summary(values: Dict[str, Optional[float]]) -> str:
    if values["min"] is None:
        return "-"
    return f"min {values['min']:.4g}, mean {values['mean']:.4g}, max {values['max']:.4g}"


def print_kb_stats(stats: Dict[str, Any]) -> None:
    msg.divider("Knowledge base")
    rows = [
        ("Entities", stats["entities"]),
        ("Aliases", stats["aliases"]),
        ("Candidates (alias-entity pairs)", stats["candidates"]),
        ("Entity vector length", stats["entity_vector_length"]),
        ("Ambiguous aliases (>1 candidate)", stats["ambiguous_aliases"]),
        ("Candidates per alias", f"mean {stats['mean_candidates']:.3g}, max {stats['max_candidates']}"),
        ("Prior sum per alias", _summary(stats["prior_sum"])),
        ("Aliases with prior sum < 1", stats["aliases_prior_sum_below_1"]),
        ("Entities no alias points to", stats["entities_without_alias"]),
        ("Vector norm", _summary(stats["vector_norm"])),
        ("Zero vectors", stats["zero_vectors"]),
    ]
    msg.table(rows, aligns=("l", "r"))
