"""Routes: structured NLP tasks and BLEU/ROUGE scoring.

Thin adapters over `hearth.tasks`. The same tasks also work through plain `/api/chat`
(a JSON schema in `format`, e.g. `hearth.tasks.task_schema("sentiment")`) and
`/v1/chat/completions` (`response_format`).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Body, Request

from hearth.api.tasks import (
    TASK_NAMES,
    BleuResult,
    EvalRequest,
    RougeResult,
    TaskRequest,
    TaskResponse,
)
from hearth.errors import HearthError, InvalidInput, NotFound

__all__ = ["router"]

router = APIRouter(tags=["tasks"])
MAX_BATCH = 1000


def _run(services: Any, name: str, req: TaskRequest) -> TaskResponse:
    from hearth.tasks.nlp import TaskRunner

    runner = TaskRunner.local(services.engine, req.model)
    if isinstance(req.input, str):
        return TaskResponse(results=[runner.run(name, req.input, labels=req.labels, to=req.to)])
    if not req.input:
        raise InvalidInput("input is an empty list: give a text or a list of texts")
    if len(req.input) > MAX_BATCH:
        raise InvalidInput(
            f"input has {len(req.input)} texts: send at most {MAX_BATCH} per request"
        )
    results: list[dict[str, Any]] = []
    for item in runner.run_many(name, req.input, labels=req.labels, to=req.to):
        results.append({"error": item.message} if isinstance(item, HearthError) else item)
    return TaskResponse(results=results)


@router.post(
    "/api/task/{name}",
    response_model=TaskResponse,
    summary="Run a task: classify, sentiment, keywords, summarize or translate",
    description=(
        "The answer is constrained by the task's JSON schema, so it always parses. A list "
        "`input` is a batch: one result per text, in order; a text that fails gives "
        '`{"error": ...}` in its place. Keywords, summarize and translate split a text longer '
        "than the context (`chunks` > 1); classify and sentiment refuse it (400)."
    ),
)
async def run_task(request: Request, name: str, body: TaskRequest = Body(...)) -> TaskResponse:
    if name not in TASK_NAMES:
        raise NotFound(f"unknown task {name!r}: use one of {', '.join(TASK_NAMES)}")
    services = request.app.state.services
    return await anyio.to_thread.run_sync(_run, services, name, body)


@router.post(
    "/api/eval/bleu", response_model=BleuResult, summary="Corpus and per-line BLEU (sacrebleu)"
)
async def eval_bleu(request: Request, body: EvalRequest = Body(...)) -> BleuResult:
    from hearth.tasks.metrics import bleu

    return await anyio.to_thread.run_sync(
        lambda: bleu(body.references, body.hypotheses, tokenize=body.tokenize)
    )


@router.post(
    "/api/eval/rouge", response_model=RougeResult, summary="ROUGE-1/2/L F1, per line and mean"
)
async def eval_rouge(request: Request, body: EvalRequest = Body(...)) -> RougeResult:
    from hearth.tasks.metrics import rouge

    return await anyio.to_thread.run_sync(
        lambda: rouge(body.references, body.hypotheses, tokenize=body.tokenize)
    )
