"""`hearth serve` from the real CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hearth.cli.main import app


def test_serve_refuses_public_address_without_keys(tmp_path: Path) -> None:
    env = {"HEARTH_HOME": str(tmp_path), "HEARTH_HOST": "0.0.0.0:11434", "HEARTH_API_KEYS": ""}
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0:11434 without API keys" in result.output
    assert "HEARTH_API_KEYS" in result.output
    result = CliRunner().invoke(
        app, ["serve", "--host", "192.168.7.7:8080"], env={**env, "HEARTH_HOST": ""}
    )
    assert result.exit_code == 1 and "192.168.7.7:8080" in result.output


def test_serve_help_lists_the_settings() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert "--host" in result.output and "HEARTH_API_KEYS" in result.output


def test_serve_says_when_the_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"HEARTH_HOME": str(tmp_path), "HEARTH_HOST": f"127.0.0.1:{port}"}
        result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "HEARTH_HOST" in result.output
