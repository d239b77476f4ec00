"""`hearth run`, `tokenize`, `ps`/`stop` and the error handling, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hearth.cli.main import app

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # Port 9 on loopback: nothing listens, so the CLI runs in-process.
    return {"HEARTH_HOME": str(tmp_path / "home"), "HEARTH_HOST": "127.0.0.1:9"}


def test_one_shot_run_is_deterministic(env: dict[str, str]) -> None:
    runner = CliRunner()
    args = [
        "run",
        "smollm2:135m",
        "--temperature",
        "0",
        "--seed",
        "1",
        "What is the capital of France?",
    ]
    first = runner.invoke(app, args, env=env)
    second = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "France" in first.stdout
    assert first.stdout == second.stdout
    # Token for token what llama-cpp-python's own greedy completion gives on the same prompt
    # (the model's template with its default system prompt; Ollama's repeat penalty 1.1).
    import llama_cpp

    from hearth.store.store import bundled_sources

    path = bundled_sources()["smollm2:135m"][0]
    raw = llama_cpp.Llama(str(path), n_ctx=4096, n_threads=1, verbose=False)
    try:
        prompt = (
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
            "Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?"
            "<|im_end|>\n<|im_start|>assistant\n"
        )
        out = raw.create_completion(prompt, temperature=0, max_tokens=400, repeat_penalty=1.1)
    finally:
        raw.close()
    assert first.stdout.strip() == out["choices"][0]["text"].strip()


def test_piped_stdin_and_json_format(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "smollm2:135m", "--format", "json", "--temperature", "0"],
        input="Give a JSON object with a key named color.",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), dict)


def test_unknown_model_is_one_line_with_pull_hint(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["run", "nosuchmodel:7b", "hi"], env=env)
    assert result.exit_code == 1
    assert "hearth pull nosuchmodel:7b" in result.output
    assert "Traceback" not in result.output


def test_tokenize_openai_encoding_counts_chinese(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["tokenize", "--encoding", "cl100k_base", "--json", "什麼是自然語言處理"], env=env
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        data["characters"] == 9 and data["tokens"] > 9
    )  # Chinese costs more than a token per character
    assert data["tokens"] == len(data["ids"]) == len(data["pieces"])
    english = CliRunner().invoke(
        app, ["tokenize", "-e", "cl100k_base", "--json", "natural language processing"], env=env
    )
    assert json.loads(english.stdout)["characters_per_token"] > 4


def test_tokenize_with_model(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["tokenize", "--model", "smollm2:135m", "--json", "Hello world"], env=env
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "".join(data["pieces"]) == "Hello world"


def test_bad_flag_values_are_one_line_errors(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["run", "smollm2:135m", "--temperature", "-1", "hi"], env=env)
    assert result.exit_code == 1
    assert "--temperature: input should be greater than or equal to 0" in result.output
    assert "Traceback" not in result.output


def test_ps_without_server_says_so(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["ps"], env=env)
    assert result.exit_code == 1 and "hearth serve" in result.output


@pytest.mark.skipif(
    shutil.which("script") is None, reason="needs util-linux `script` for a terminal"
)
def test_interactive_session_commands(env: dict[str, str]) -> None:
    """The real `hearth` process: /set, /show info, a message, /clear and /bye."""
    script = (
        "\n".join(
            [
                "/set parameter temperature -1",
                "/set parameter top_k lots",
                "/oops [/] [bold]",
                "/set parameter temperature",
                "/set parameter temperature 0",
                "/set system Answer in one short sentence.",
                "/show info",
                '"""What is',
                'the capital of France?"""',
                "/clear",
                "/bye",
            ]
        )
        + "\n"
    )
    exe = Path(sys.executable).with_name("hearth")
    # `script` gives the command a terminal, as a person has (piped stdin means one-shot).
    proc = subprocess.run(
        ["script", "-qec", f"{exe} run smollm2:135m", "/dev/null"],
        input=script,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Set parameter temperature to 0" in proc.stdout
    # Bad values are refused on the spot, and the chat goes on.
    assert "temperature: input should be greater than or equal to 0" in proc.stdout
    assert "top_k must be an integer, not 'lots'" in proc.stdout
    assert "Unknown command '/oops [/] [bold]'" in proc.stdout  # printed as typed, not as markup
    assert "Usage:" in proc.stdout and "/set parameter <k> <v>" in proc.stdout  # incomplete
    assert "num_predict, repeat_penalty, repeat_last_n, stop" in proc.stdout  # the whole usage
    assert "smollm2:135m" in proc.stdout  # /show info
    assert "Paris" in proc.stdout
    assert "Cleared the conversation" in proc.stdout
