"""The real CLI in-process: docs add/list/remove, ask --json with the bundled model, eval retrieval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from rag_files import make_docx, make_pptx, with_broken_xml
from typer.testing import CliRunner

from hearth.cli.common import HearthGroup
from hearth.cli.docs import register_eval
from hearth.cli.main import app

GUIDE = """# Harbour guide

## Ferries
The ferry to Kelp Island leaves from pier 7 at 08:15 every morning.

## Fishing
Fishing permits cost 12 euros per day and are sold at the harbour office.
"""


def _eval_app() -> typer.Typer:
    """The `hearth eval` group as cli/evaluate.py builds it, with only our command."""
    eval_app = typer.Typer(cls=HearthGroup)

    @eval_app.callback()
    def _group() -> None:
        """Evaluate."""

    register_eval(eval_app)
    return eval_app


@pytest.fixture
def env(settings: Any) -> dict[str, str]:
    return {"HEARTH_HOME": str(settings.home), "HEARTH_NUM_THREADS": "2"}


@pytest.mark.slow
def test_docs_and_ask_json(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE, encoding="utf-8")
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not a docx")

    added = runner.invoke(
        app, ["docs", "add", str(guide), str(broken), "--collection", "harbour"], env=env
    )
    assert added.exit_code == 1, added.output  # guide.md is in, but not everything was
    assert "added    guide.md" in added.output
    assert "broken.docx: not a readable DOCX" in added.output

    listed = runner.invoke(app, ["docs", "list", "-c", "harbour", "--json"], env=env)
    docs = json.loads(listed.stdout)["documents"]
    assert [d["file"] for d in docs] == ["guide.md"] and docs[0]["chunks"] == 2

    asked = runner.invoke(
        app,
        ["ask", "When does the ferry to Kelp Island leave?", "-c", "harbour", "--json"],
        env=env,
    )
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert isinstance(answer["answer"], str) and answer["answer"].strip()
    assert answer["not_found"] is False
    first = answer["sources"][0]
    assert (
        first["file"] == "guide.md"
        and "pier 7" in first["text"]
        and first["anchor"] == "Harbour guide > Ferries"
    )
    assert first["page"] is None and isinstance(first["score"], float) and first["n"] == 1
    assert set(answer["cited"]) <= set(range(1, answer["sources_fit"] + 1))

    unrelated = runner.invoke(
        app, ["ask", "Which planet has the most moons?", "-c", "harbour", "--json"], env=env
    )
    result = json.loads(unrelated.stdout)
    assert result["not_found"] is True
    assert "could not find" in result["answer"]
    assert result["sources"], "sources are returned even when the answer is not found"
    plain = runner.invoke(
        app, ["ask", "Which planet has the most moons?", "-c", "harbour"], env=env
    )
    assert plain.exit_code == 0 and "could not find the answer" in plain.output
    assert "Closest passages (none of them answers it):" in plain.output
    assert "sources fit" not in plain.output  # no misleading packing note

    streamed = runner.invoke(
        app, ["ask", "How much is a fishing permit?", "-c", "harbour"], env=env
    )
    assert streamed.exit_code == 0, streamed.output
    assert "Sources:" in streamed.output and "guide.md" in streamed.output

    monkeypatch.chdir(tmp_path.parent)  # removed by the relative path it could be added by
    relative = f"{tmp_path.name}/guide.md"
    removed = runner.invoke(app, ["docs", "remove", relative, "-c", "harbour"], env=env)
    assert removed.exit_code == 0 and "removed guide.md" in removed.output, removed.output
    empty = runner.invoke(app, ["ask", "ferry?", "-c", "harbour"], env=env)
    assert empty.exit_code == 1 and "is empty" in empty.output and "Traceback" not in empty.output


def test_docs_add_reports_each_bad_file_and_adds_the_rest(
    env: dict[str, str], tmp_path: Path
) -> None:
    good = tmp_path / "good.md"
    good.write_text(GUIDE, encoding="utf-8")
    docx = tmp_path / "broken.docx"
    docx.write_bytes(with_broken_xml(make_docx(), "word/document.xml"))
    pptx = tmp_path / "broken.pptx"
    pptx.write_bytes(with_broken_xml(make_pptx(), "ppt/slides/slide1.xml"))

    out = CliRunner().invoke(app, ["docs", "add", str(good), str(docx), str(pptx)], env=env)
    assert "Traceback" not in out.output and "unexpected" not in out.output
    assert "added    good.md" in out.output
    assert "broken.docx: not a readable DOCX file, it is corrupt" in out.output
    assert "broken.pptx: not a readable PPTX file, it is corrupt" in out.output
    assert "1 added, 2 failed, 0 unchanged in collection 'default'" in out.output
    assert out.exit_code == 1
    listed = CliRunner().invoke(app, ["docs", "list", "--json"], env=env)
    assert [d["file"] for d in json.loads(listed.stdout)["documents"]] == ["good.md"]
    again = CliRunner().invoke(app, ["docs", "add", str(good)], env=env)
    assert again.exit_code == 0 and "0 added, 0 failed, 1 unchanged" in again.output


def test_unknown_collection_is_a_clear_error(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["ask", "anything", "--collection", "nope"], env=env)
    assert result.exit_code == 1
    assert "collection 'nope' not found" in result.output and "Traceback" not in result.output


def test_eval_retrieval_json(env: dict[str, str], tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "title": t,
                "paragraphs": [{"context": c, "qas": [{"id": t, "question": q, "answers": []}]}],
            }
            for t, c, q in [
                (
                    "otters",
                    "Sea otters hold hands while sleeping so they do not drift apart.",
                    "Why do sea otters hold hands?",
                ),
                (
                    "volcano",
                    "Mount Etna in Sicily is one of the most active volcanoes in Europe.",
                    "Which volcano in Sicily is very active?",
                ),
                (
                    "bread",
                    "Sourdough bread rises thanks to wild yeast and lactic acid bacteria.",
                    "What makes sourdough rise?",
                ),
            ]
        ]
    }
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    result = CliRunner().invoke(_eval_app(), ["retrieval", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 3 and report["recall@1"] == 1.0 and report["mrr@10"] == 1.0
    for key in ("recall@5", "index_seconds", "latency_p50_ms", "latency_p95_ms"):
        assert key in report

    bad = CliRunner().invoke(_eval_app(), ["retrieval", str(tmp_path / "missing.json")], env=env)
    assert bad.exit_code == 1 and "missing.json: no such file" in bad.output
    squad["data"][0]["paragraphs"][0]["qas"][0]["question"] = None  # scored as "None" before
    path.write_text(json.dumps(squad), encoding="utf-8")
    bad = CliRunner().invoke(_eval_app(), ["retrieval", str(path)], env=env)
    assert bad.exit_code == 1
    assert "data[0].paragraphs[0].qas[0].question must be non-empty text" in bad.output


def test_documents_of_one_file_name_are_told_apart(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(f"# {folder}\n\nNotes of {folder}.\n")
    added = runner.invoke(
        app, ["docs", "add", str(tmp_path / "a"), str(tmp_path / "b"), "-c", "twins"], env=env
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["docs", "list", "-c", "twins"], env=env).output
    assert str(tmp_path / "a" / "README.md") in listed
    assert str(tmp_path / "b" / "README.md") in listed
    docs = json.loads(runner.invoke(app, ["docs", "list", "-c", "twins", "--json"], env=env).stdout)
    assert sorted(d["source"] for d in docs["documents"]) == [
        str((tmp_path / f / "README.md").resolve()) for f in ("a", "b")
    ]
