"""CLI commands: `hearth docs ...` (collections of documents), `hearth ask`, `hearth eval retrieval`."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hearth.api.docs import AddResult, IngestProgress, Source
from hearth.cli.common import console, err_console, get_services, get_settings, print_json
from hearth.errors import NotFound

__all__ = ["register", "register_eval"]

docs_app = typer.Typer(
    help="Collections of your documents to ask questions over (PDF, DOCX, PPTX, HTML, Markdown, text).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

COLLECTION = typer.Option("default", "--collection", "-c", help="Collection name.")


def _rag(ctx: typer.Context) -> Any:
    return get_services(ctx).rag


@docs_app.command("add")
def add(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        ..., help="Files, folders (read recursively), globs or http(s) URLs of pages or files."
    ),
    collection: str = COLLECTION,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Add documents to a collection (created on first use).

    Unchanged files are skipped (content hash); a changed file replaces its old chunks.
    A file that cannot be read is reported and the others are still added; the exit
    code is then 1.
    """
    rag = _rag(ctx)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} chunks"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_out or not err_console.is_terminal,
    ) as bars:
        tasks: dict[str, TaskID] = {}
        done: list[str] = []  # files written, for a report if the user interrupts

        def on_progress(event: IngestProgress) -> None:
            if event.status == "added":
                done.append(event.file)
            if event.status == "embedding":
                if event.file not in tasks:
                    tasks[event.file] = bars.add_task(f"embedding {event.file}", total=event.total)
                bars.update(tasks[event.file], completed=event.completed, total=event.total)
            elif event.status in {"added", "error", "skipped"} and event.file in tasks:
                bars.remove_task(tasks.pop(event.file))

        try:
            result: AddResult = rag.add(paths, collection=collection, progress=on_progress)
        except KeyboardInterrupt:
            bars.stop()
            err_console.print(
                f"Interrupted: {len(done)} file(s) were added completely before it "
                f"({escape(', '.join(done[:5]))}{', ...' if len(done) > 5 else ''}); nothing is "
                "half-added. Run the same command again to add the rest (added files are skipped)."
                if done
                else "Interrupted: nothing was added. Run the same command again to add the files."
            )
            raise typer.Exit(130) from None
    if json_out:
        print_json(result.model_dump())
    else:
        for doc in result.added:
            pages = f", {doc.pages} pages" if doc.pages else ""
            console.print(f"added    {escape(doc.file)} ({doc.chunks} chunks{pages}) id {doc.id}")
        for doc in result.skipped:
            console.print(f"skipped  {escape(doc.file)} (unchanged)")
        for warning in result.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
        for error in result.errors:
            err_console.print(f"[bold red]error:[/] {escape(error.error)}")
        console.print(
            f"{len(result.added)} added, {len(result.errors)} failed, "
            f"{len(result.skipped)} unchanged in collection {escape(repr(collection))}"
        )
    if result.errors:  # the other files are in; the exit code still says not all of them
        raise typer.Exit(1)


@docs_app.command("list")
def list_documents(
    ctx: typer.Context,
    collection: str = COLLECTION,
    json_out: bool = typer.Option(False, "--json", help="Print the documents as JSON."),
) -> None:
    """List the documents of a collection."""
    docs = _rag(ctx).documents(collection)
    if json_out:
        print_json({"documents": [d.model_dump() for d in docs]})
        return
    if not docs:
        console.print(f"collection {collection!r} has no documents")
        return
    console.print(f"{'ID':<17} {'CHUNKS':>6} {'PAGES':>5} {'BYTES':>10}  {'ADDED':<25} FILE")
    names = Counter(d.file for d in docs)
    for d in docs:
        pages = str(d.pages) if d.pages else "-"
        # Two documents of one file name (a/README.md, b/README.md) show where each came from.
        shown = d.source if names[d.file] > 1 and d.source else d.file
        console.print(
            f"{d.id:<17} {d.chunks:>6} {pages:>5} {d.bytes:>10}  {d.added_at:<25} {escape(shown)}"
        )


@docs_app.command("remove")
def remove(
    ctx: typer.Context,
    documents: list[str] = typer.Argument(
        ...,
        help="Document ids (see `hearth docs list`), file names, URLs or the paths they were added by.",
    ),
    collection: str = COLLECTION,
) -> None:
    """Remove documents (and all their chunks) from a collection."""
    rag = _rag(ctx)
    for name in documents:
        doc = _remove_one(rag, collection, name)
        console.print(f"removed {escape(doc.file)} ({doc.id})")


def _remove_one(rag: Any, collection: str, name: str) -> Any:
    """Remove by the path as given here (a/README.md, ./notes.md), else by id or name."""
    try:
        local = Path(name).expanduser()
        resolved = str(local.resolve()) if local.exists() else None
    except (OSError, RuntimeError, ValueError):  # ~nouser, a NUL byte: not a local path
        resolved = None
    if resolved is not None and resolved != name:
        try:
            return rag.remove(collection, resolved)
        except NotFound:
            pass  # added from elsewhere: try the name itself
    return rag.remove(collection, name)


@docs_app.command("collections")
def collections(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print as JSON.")
) -> None:
    """List collections."""
    items = _rag(ctx).collections()
    if json_out:
        print_json({"collections": [c.model_dump() for c in items]})
        return
    if not items:
        console.print("no collections yet; add documents with: hearth docs add PATH")
        return
    console.print(f"{'NAME':<24} {'DOCUMENTS':>9} {'CHUNKS':>7}  EMBEDDING MODEL")
    for c in items:
        console.print(f"{escape(c.name):<24} {c.documents:>9} {c.chunks:>7}  {c.embed_model}")


@docs_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Collection name (letters, digits, . _ -)."),
    embed_model: str = typer.Option(
        None,
        "--embed-model",
        help="Embedding model of this collection (default: HEARTH_EMBED_MODEL).",
    ),
) -> None:
    """Create an empty collection, optionally with its own embedding model."""
    c = _rag(ctx).create_collection(name, embed_model)
    console.print(f"created collection {escape(c.name)} (embedding model {c.embed_model})")


@docs_app.command("drop")
def drop(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Collection to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a collection and all its documents."""
    if not yes and not typer.confirm(f"Delete collection {name!r} and all its documents?"):
        raise typer.Exit(1)
    _rag(ctx).delete_collection(name)
    console.print(f"deleted collection {escape(name)}")


@docs_app.command("search")
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for."),
    collection: str = COLLECTION,
    k: int = typer.Option(5, "--k", "-k", min=1, max=100, help="How many passages."),
    diversity: float = typer.Option(
        0.0,
        "--diversity",
        min=0.0,
        max=0.95,
        help="0 = pure relevance; higher favours varied passages (MMR).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Retrieve passages without asking a model."""
    sources, _hits = _rag(ctx).search(query, collection, k=k, diversity=diversity)
    if json_out:
        print_json({"results": [s.model_dump() for s in sources]})
    else:
        _print_sources(sources)


def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="Your question."),
    collection: str = COLLECTION,
    model: str = typer.Option(
        None, "--model", "-m", help="Chat model (default: HEARTH_DEFAULT_MODEL)."
    ),
    k: int = typer.Option(5, "--k", "-k", min=1, max=50, help="Passages retrieved as sources."),
    diversity: float = typer.Option(
        0.0,
        "--diversity",
        min=0.0,
        max=0.95,
        help="0 = the k most relevant passages; higher favours varied sources (MMR), "
        "e.g. 0.3 when one document repeats itself.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help='Print one JSON object: {"answer", "sources": [...], "cited", ...}.'
    ),
) -> None:
    """Answer a question from your documents, with numbered citations and the sources.

    When the documents do not contain the answer, says so instead of inventing one.
    """
    rag = _rag(ctx)
    if json_out:
        print_json(rag.ask(question, collection, model, k, diversity).model_dump())
        return
    final = None
    for chunk in rag.ask_stream(question, collection, model, k, diversity):
        if chunk.delta:
            sys.stdout.write(chunk.delta)
            sys.stdout.flush()
        if chunk.done:
            final = chunk
    if final is None:
        return
    if final.not_found and not final.sources_fit:
        sys.stdout.write(final.answer or "")
    sys.stdout.write("\n\n")
    sources = final.sources or []
    if final.not_found:
        # Nothing was close enough to answer from: show the nearest passages as such.
        if sources:
            _print_sources(sources, heading="Closest passages (none of them answers it):")
        return
    if final.sources_fit is not None and final.sources_fit < len(sources):
        err_console.print(
            f"[yellow]note:[/] only {final.sources_fit} of {len(sources)} sources fit the model's context"
        )
    _print_sources(sources, final.cited or [])


def _print_sources(
    sources: list[Source], cited: list[int] | None = None, heading: str = "Sources:"
) -> None:
    console.print(heading)
    for s in sources:
        where = escape(s.file)
        if s.page is not None:
            where += f", page {s.page}"
        if s.anchor:
            where += f", {escape(s.anchor)}"
        mark = "*" if cited and s.n in cited else " "
        text = " ".join(s.text.split())
        quote = text if len(text) <= 300 else text[:297] + "..."
        console.print(f"{mark}[{s.n}] {where}  (score {s.score:.3f})")
        console.print(f"     > {escape(quote)}")


def retrieval(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="SQuAD-format JSON file (e.g. DRCD_dev.json)."),
    json_out: bool = typer.Option(
        False,
        "--json",
        help='Print {"recall@1", "recall@5", "mrr@10", "questions", "index_seconds", ...}.',
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Use only the first N paragraphs (and their questions)."
    ),
    method: str = typer.Option(
        "hybrid", "--method", help="hybrid (default), bm25, dense, rrf, or all to compare them."
    ),
    dense_tokens: int = typer.Option(
        72,
        "--dense-tokens",
        min=0,
        help="Embed the first N tokens of each chunk (hearth's default 72); 0 = whole chunks (slower).",
    ),
) -> None:
    """Retrieval quality: index every paragraph, ask every question, report recall@1/@5 and MRR@10."""
    from hearth.errors import InvalidInput
    from hearth.rag import RagOptions
    from hearth.rag.evaluate import EvalProgress, evaluate_retrieval, load_squad

    methods: list[Any] = ["hybrid", "bm25", "dense", "rrf"] if method == "all" else [method]
    if any(m not in {"hybrid", "bm25", "dense", "rrf"} for m in methods):
        raise InvalidInput(f"unknown --method {method!r}: use hybrid, bm25, dense, rrf or all")
    dataset = load_squad(file, limit)
    services = get_services(ctx)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_out or not err_console.is_terminal,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def on_progress(event: EvalProgress) -> None:
            if event.stage not in tasks:
                tasks[event.stage] = bars.add_task(event.stage, total=event.total)
            bars.update(tasks[event.stage], completed=event.completed)

        reports = evaluate_retrieval(
            dataset,
            get_settings(ctx),
            services.engine,
            methods=methods,
            options=RagOptions(dense_tokens=dense_tokens),
            progress=on_progress,  # type: ignore[arg-type]
        )
    if json_out:
        if len(reports) == 1:
            print_json(next(iter(reports.values())).model_dump(by_alias=True))
        else:
            print_json({m: r.model_dump(by_alias=True) for m, r in reports.items()})
        return
    first = next(iter(reports.values()))
    console.print(
        f"{first.questions} questions over {first.paragraphs} paragraphs ({first.chunks} chunks); "
        f"indexed in {first.index_seconds:.1f} s (embedding {first.embed_seconds:.1f} s)"
    )
    console.print(f"{'METHOD':<8} {'R@1':>6} {'R@5':>6} {'MRR@10':>7} {'P50 ms':>7} {'P95 ms':>7}")
    for m, r in reports.items():
        console.print(
            f"{m:<8} {r.recall_at_1:>6.3f} {r.recall_at_5:>6.3f} {r.mrr_at_10:>7.3f} "
            f"{r.latency_p50_ms:>7.1f} {r.latency_p95_ms:>7.1f}"
        )


def register(app: typer.Typer) -> None:
    """Add `hearth docs ...` and `hearth ask` to the app."""
    app.add_typer(docs_app, name="docs")
    app.command("ask")(ask)


def register_eval(eval_app: typer.Typer) -> None:
    """Add `retrieval` to the `hearth eval` group."""
    eval_app.command("retrieval")(retrieval)
