"""The `hearth` command."""

from __future__ import annotations

import importlib

import typer

from hearth import __version__
from hearth.cli.common import HearthGroup
from hearth.config import env_help_text

__all__ = ["app", "main"]

HELP = f"""hearth {__version__}: a private, local LLM workbench.

Models, chat, the Ollama and OpenAI APIs, questions over your documents, transcripts and
evaluation, all on this machine. Start with `hearth run smollm2:135m` or `hearth serve`.

\b
Environment:
{env_help_text()}
"""

app = typer.Typer(
    name="hearth",
    cls=HearthGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# One module per command group; each adds its commands with register(app).
MODULES = ("models", "run", "serve", "docs", "transcribe", "evaluate", "task")


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", "-v", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(f"hearth version {__version__}")
        raise typer.Exit()


for _name in MODULES:
    _module = importlib.import_module(f"hearth.cli.{_name}")
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
