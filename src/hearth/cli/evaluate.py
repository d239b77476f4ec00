"""CLI commands: `hearth eval perplexity|bleu|rouge` (and `retrieval`, from the docs module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hearth.api.tasks import BleuResult, PerplexityResult, RougeResult
from hearth.cli.common import console, err_console, get_services, get_settings, print_json
from hearth.errors import InvalidInput, NotFound, UnsupportedMedia

__all__ = ["eval_app", "register"]

eval_app = typer.Typer(
    help="Measure a model or its outputs: perplexity on your text, BLEU and ROUGE against references.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
TOKENIZE = typer.Option(
    "auto",
    "--tokenize",
    help="auto: Chinese text is scored as characters (BLEU: sacrebleu's zh tokenizer), "
    "other text as words (BLEU: 13a). Or zh / char, 13a / word; BLEU also takes intl.",
)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise NotFound(f"file {str(path)!r} not found: give the path of a UTF-8 text file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMedia(
            f"{str(path)!r} is not UTF-8 text: convert it to UTF-8 first"
        ) from exc


@eval_app.command("perplexity")
def perplexity_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help="UTF-8 text files to score (each scored on its own; the total combines them)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model to measure (default: HEARTH_DEFAULT_MODEL)."
    ),
    n_ctx: int | None = typer.Option(
        None,
        "--ctx",
        help="Window length in tokens (default: the model's context length, HEARTH_NUM_CTX).",
    ),
    stride: int | None = typer.Option(
        None,
        "--stride",
        help="sliding: tokens the window moves each step (default: half the window).",
    ),
    method: str = typer.Option(
        "sliding",
        "--method",
        help="sliding: every token after the first is scored once, with at least ctx-stride tokens of "
        "context after the first window. llama.cpp: non-overlapping windows of --ctx tokens, only the "
        "second half of each scored (llama.cpp's perplexity tool).",
    ),
    json_out: bool = JSON,
) -> None:
    """Perplexity of a model on your text, with tokens scored and bits per byte.

    Perplexity = exp(mean negative log-likelihood of the scored tokens). Bits per byte =
    total NLL in bits / UTF-8 bytes of the text (llama.cpp method: of the scored tokens),
    comparable across tokenizers. Runs in this process (it needs the model's raw logits).
    """
    from hearth.tasks.perplexity import Method, PerplexityProgress, perplexity

    if method not in ("sliding", "llama.cpp"):
        raise InvalidInput(f"unknown --method {method!r}: use sliding or llama.cpp")
    texts = [(str(path), _read_text(path)) for path in files]
    services = get_services(ctx)
    name = model or get_settings(ctx).default_model
    result: PerplexityResult | None = None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} windows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_out or not err_console.is_terminal,
    ) as bars:
        bar = None
        events = perplexity(
            services.engine, name, texts, ctx=n_ctx, stride=stride, method=cast(Method, method)
        )
        for event in events:
            if isinstance(event, PerplexityProgress):
                if bar is None:
                    bar = bars.add_task("scoring", total=event.total)
                bars.update(
                    bar, completed=event.completed, description=f"scoring {escape(event.file)}"
                )
            else:
                result = event
    assert result is not None
    if json_out:
        print_json(result.model_dump())
        return
    table = Table("file", "perplexity", "tokens", "bits/byte", "windows", box=None)
    for f in result.files:
        table.add_row(
            escape(f.name),
            f"{f.perplexity:.4f}",
            str(f.tokens),
            f"{f.bits_per_byte:.4f}",
            str(f.windows),
        )
    if len(result.files) > 1:
        table.add_row(
            "total",
            f"{result.perplexity:.4f}",
            str(result.tokens),
            f"{result.bits_per_byte:.4f}",
            "",
        )
    console.print(table)
    console.print(
        f"model {result.model}, method {result.method}, ctx {result.ctx}, stride {result.stride}"
    )


def _pair(refs: list[Path], hyp: Path) -> tuple[list[list[str]], list[str]]:
    from hearth.tasks.metrics import read_lines

    if not refs:
        raise InvalidInput("give the references with --ref FILE")
    return [read_lines(path, "reference") for path in refs], read_lines(hyp, "hypothesis")


REF = typer.Option(
    ...,
    "--ref",
    "-r",
    help="Reference file, one segment per line (repeat --ref for several references, BLEU only).",
)
HYP = typer.Option(
    ...,
    "--hyp",
    "-y",
    help="Hypothesis file (the system's output), one segment per line, aligned with --ref.",
)


@eval_app.command("bleu")
def bleu_command(
    ref: list[Path] = REF, hyp: Path = HYP, tokenize: str = TOKENIZE, json_out: bool = JSON
) -> None:
    """Corpus BLEU (sacrebleu) and sentence BLEU per line, 0..100.

    Chinese text is detected and tokenized with sacrebleu's zh tokenizer.
    """
    from hearth.tasks.metrics import bleu

    ref_sets, hyps = _pair(ref, hyp)
    result: BleuResult = bleu(ref_sets, hyps, tokenize=tokenize)
    if json_out:
        print_json(result.model_dump())
        return
    table = Table("line", "BLEU", box=None)
    for i, line in enumerate(result.lines, 1):
        table.add_row(str(i), f"{line.bleu:.2f}")
    console.print(table)
    precisions = "/".join(f"{p:.1f}" for p in result.precisions)
    console.print(
        f"BLEU = {result.bleu:.2f} {precisions} (BP = {result.brevity_penalty:.3f} ratio = {result.ratio:.3f} "
        f"hyp_len = {result.hyp_len} ref_len = {result.ref_len})"
    )
    console.print(result.signature)


@eval_app.command("rouge")
def rouge_command(
    ref: Path = typer.Option(..., "--ref", "-r", help="Reference file, one segment per line."),
    hyp: Path = HYP,
    tokenize: str = TOKENIZE,
    json_out: bool = JSON,
) -> None:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 per line and averaged over lines, 0..1.

    English (space-separated text) is compared word by word, lowercased; Chinese
    character by character (detected automatically; --tokenize char|word overrides).
    """
    from hearth.tasks.metrics import rouge

    ref_sets, hyps = _pair([ref], hyp)
    result: RougeResult = rouge(ref_sets, hyps, tokenize=tokenize)
    if json_out:
        print_json(result.model_dump())
        return
    table = Table("line", "ROUGE-1", "ROUGE-2", "ROUGE-L", box=None)
    for i, line in enumerate(result.lines, 1):
        table.add_row(
            str(i), f"{line.rouge1.f1:.4f}", f"{line.rouge2.f1:.4f}", f"{line.rougeL.f1:.4f}"
        )
    table.add_row("mean", f"{result.rouge1:.4f}", f"{result.rouge2:.4f}", f"{result.rougeL:.4f}")
    console.print(table)
    console.print(f"tokens: {'characters' if result.tokenize == 'char' else 'words (lowercased)'}")


def register(app: typer.Typer) -> None:
    """Add the `hearth eval` group (with `retrieval` from the docs module when it has one)."""
    try:
        from hearth.cli import docs
    except ImportError:  # pragma: no cover
        docs = None  # type: ignore[assignment]
    register_eval: Any = getattr(docs, "register_eval", None)
    if register_eval is not None:
        register_eval(eval_app)
    app.add_typer(eval_app, name="eval")
