"""One-line errors through the real CLI: shown literally by its handler; a mistyped file name
for `hearth task` is an error, not the text."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hearth.cli.main import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # Port 9 on loopback: nothing listens, so the CLI runs in-process.
    return {"HEARTH_HOME": str(tmp_path / "home"), "HEARTH_HOST": "127.0.0.1:9"}


def test_error_messages_with_brackets_are_printed_literally(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    odd = tmp_path / "notes[draft].xyz"
    odd.write_bytes(b"\xff\xfe\xfd\x00\x81" * 20)
    out = runner.invoke(app, ["task", "sentiment", str(odd)], env=env)
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "notes[draft].xyz' is not UTF-8 text" in out.output

    out = runner.invoke(app, ["docs", "add", str(odd), "--collection", "a[/]b[bold]"], env=env)
    assert out.exit_code == 1 and "unexpected" not in out.output
    assert "invalid collection name 'a[/]b[bold]'" in out.output


@pytest.mark.parametrize("arg", ["missing-review.txt", "./drafts/review", "../My notes/a b.md"])
def test_task_with_a_mistyped_file_name_is_an_error_not_text(env: dict[str, str], arg: str) -> None:
    out = CliRunner().invoke(app, ["task", "sentiment", arg], env=env)
    assert out.exit_code == 1, out.output
    assert f"no such file: {arg} (pass the text itself, or - for stdin)" in out.output
