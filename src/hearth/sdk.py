"""hearth for scripts and notebooks: generate, chat, embed and the NLP tasks.

    import hearth

    hearth.generate("Why is the sky blue?")
    hearth.chat([{"role": "user", "content": "Hello!"}], temperature=0)
    hearth.embed(["first text", "second text"])          # list of vectors
    hearth.task.classify("Messi scored twice.", labels=["sports", "politics"])   # "sports"
    hearth.task.sentiment("What a great day!")           # {"sentiment": "positive", "score": 0.9}

The module-level functions use one default `Hearth`, made on first use: it talks to the
hearth server at HEARTH_HOST when one answers there (so a model is not loaded twice),
and otherwise runs the models in this process (services built once from the
environment, closed at exit). For explicit control make your own:

    with Hearth(client="http://127.0.0.1:11434") as h:   # or Hearth(services=...)
        h.generate("Hi")
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict

from hearth.api.ollama import ChatRequest, GenerateRequest, Message, Options
from hearth.api.tasks import TaskRequest, TaskResponse
from hearth.errors import HearthError, InvalidInput

if TYPE_CHECKING:
    from hearth.client import Client
    from hearth.services import Services

__all__ = ["Hearth", "Sentiment", "TaskAPI", "chat", "embed", "generate", "task"]


class Sentiment(TypedDict):
    sentiment: str  # "positive" | "negative" | "neutral"
    score: float  # 0..1


MessageLike = Message | dict[str, Any] | str


def _messages(messages: str | Sequence[MessageLike]) -> list[Message]:
    if isinstance(messages, str):
        return [Message(role="user", content=messages)]
    out = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, str):
            out.append(Message(role="user", content=m))
        else:
            out.append(Message.model_validate(m))
    if not out:
        raise InvalidInput("chat needs at least one message")
    return out


class Hearth:
    """One way to reach the models: a server (`client=`) or this process (`services=`).

    `client` is a `hearth.client.Client` or a base URL. With neither, the services are
    built from the environment on first use (and closed by `close()`).
    """

    def __init__(
        self, *, client: Client | str | None = None, services: Services | None = None
    ) -> None:
        if client is not None and services is not None:
            raise InvalidInput("give either client= or services=, not both")
        if isinstance(client, str):
            from hearth.client import Client

            client = Client(client)
            self._own_client = True
        else:
            self._own_client = False
        self._client = client
        self._services = services
        self._own_services = False
        self._lock = threading.Lock()
        self.task = TaskAPI(self)

    # ------------------------------------------------------------------ backend
    @property
    def remote(self) -> bool:
        """True when the models run in a hearth server."""
        return self._client is not None

    def _local(self) -> Services:
        with self._lock:
            if self._services is None:
                from hearth.services import Services

                self._services = Services.create()
                self._own_services = True
            return self._services

    def _model(self, model: str | None) -> str:
        if model:
            return model
        if self._services is not None:
            return self._services.settings.default_model
        from hearth.config import Settings

        return Settings.from_env().default_model

    def close(self) -> None:
        """Close what this object opened (the services it built, a client it made)."""
        if self._own_services and self._services is not None:
            self._services.close()
            self._services = None
        if self._own_client and self._client is not None:
            self._client.close()

    def __enter__(self) -> Hearth:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ API
    def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        system: str | None = None,
        format: Any = None,
        **options: Any,
    ) -> str:
        """Complete `prompt` with a chat model; returns the whole answer.

        `options` are model parameters (temperature, seed, num_predict, num_ctx, stop, ...);
        `format` is "json" or a JSON schema the answer must follow.
        """
        request = GenerateRequest(
            model=self._model(model),
            prompt=prompt,
            system=system,
            format=format,
            options=Options.model_validate(options) if options else None,
            stream=False,
        )
        chunks = (
            self._client.generate(request)
            if self._client
            else self._local().engine.generate(request)
        )
        return "".join(chunk.response for chunk in chunks)

    def chat(
        self,
        messages: str | Sequence[MessageLike],
        model: str | None = None,
        *,
        format: Any = None,
        **options: Any,
    ) -> str:
        """Answer a conversation (a list of {"role", "content"} dicts, `Message`s, or one
        string as a user message); returns the assistant's whole answer."""
        request = ChatRequest(
            model=self._model(model),
            messages=_messages(messages),
            format=format,
            options=Options.model_validate(options) if options else None,
            stream=False,
        )
        chunks = self._client.chat(request) if self._client else self._local().engine.chat(request)
        return "".join(chunk.message.content or "" for chunk in chunks)

    def embed(self, texts: str | Iterable[str], model: str | None = None) -> list[list[float]]:
        """Embedding vectors (L2-normalised) of `texts`, one per text; default model:
        HEARTH_EMBED_MODEL (multilingual-e5-small)."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            raise InvalidInput("nothing to embed: give at least one text")
        if self._client is not None:
            from hearth.config import Settings

            name = model or Settings.from_env().embed_model
            return [list(map(float, v)) for v in self._client.embed(name, items).embeddings]
        services = self._local()
        result = services.engine.embed(model or services.settings.embed_model, items)
        return [list(map(float, row)) for row in result.embeddings]

    def run_task(
        self,
        name: str,
        texts: str | Sequence[str],
        *,
        model: str | None = None,
        labels: Sequence[str] | None = None,
        to: str | None = None,
    ) -> list[dict[str, Any]]:
        """Run a task on one text or a list; one result per text (see
        `hearth.tasks.result_schema`). A failing text in a list gives {"error": ...}."""
        request = TaskRequest(
            model=model,
            input=texts if isinstance(texts, str) else list(texts),
            labels=list(labels) if labels is not None else None,
            to=to,
        )
        if self._client is not None:
            body = request.model_dump(exclude_none=True)
            response = self._client._send("POST", f"/api/task/{name}", body)
            return TaskResponse.model_validate(response.json()).results
        from hearth.tasks.nlp import TaskRunner

        runner = TaskRunner.local(self._local().engine, model)
        if isinstance(texts, str):
            return [runner.run(name, texts, labels=labels, to=to)]
        return [
            {"error": item.message} if isinstance(item, HearthError) else item
            for item in runner.run_many(name, list(texts), labels=labels, to=to)
        ]


class TaskAPI:
    """`hearth.task.*`: one text in, the task's answer out (errors raise HearthError)."""

    def __init__(self, owner: Hearth | None = None) -> None:
        self._owner = owner

    def _one(self, name: str, text: str, **kwargs: Any) -> dict[str, Any]:
        owner = self._owner or _default()
        return owner.run_task(name, text, **kwargs)[0]

    def classify(self, text: str, labels: Sequence[str], model: str | None = None) -> str:
        """The label from `labels` (2 or more) that fits `text`."""
        return str(self._one("classify", text, labels=labels, model=model)["label"])

    def sentiment(self, text: str, model: str | None = None) -> Sentiment:
        """{"sentiment": "positive"|"negative"|"neutral", "score": 0..1}."""
        result = self._one("sentiment", text, model=model)
        return Sentiment(sentiment=result["sentiment"], score=float(result["score"]))

    def keywords(self, text: str, model: str | None = None) -> list[str]:
        """The text's keywords and key phrases (a long text is split and merged)."""
        return list(self._one("keywords", text, model=model)["keywords"])

    def summarize(self, text: str, model: str | None = None) -> list[str]:
        """A summary as bullet points (a long text is split; each piece adds bullets)."""
        return list(self._one("summarize", text, model=model)["bullets"])

    def translate(self, text: str, to: str, model: str | None = None) -> str:
        """`text` translated into `to` (en, fr, zh-TW = Traditional Chinese, ... or a name)."""
        return str(self._one("translate", text, to=to, model=model)["translation"])


# ---------------------------------------------------------------------- module-level API
_DEFAULT: Hearth | None = None
_DEFAULT_LOCK = threading.Lock()


def _default() -> Hearth:
    """The shared Hearth: the server at HEARTH_HOST if one answers, else in-process."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            from hearth.client import find_server
            from hearth.config import Settings

            client = find_server(Settings.from_env())
            _DEFAULT = Hearth(client=client)
            _DEFAULT._own_client = client is not None
            atexit.register(_DEFAULT.close)
        return _DEFAULT


def generate(prompt: str, model: str | None = None, **options: Any) -> str:
    """Complete `prompt`; see `Hearth.generate`."""
    return _default().generate(prompt, model, **options)


def chat(messages: str | Sequence[MessageLike], model: str | None = None, **options: Any) -> str:
    """Answer a conversation; see `Hearth.chat`."""
    return _default().chat(messages, model, **options)


def embed(texts: str | Iterable[str], model: str | None = None) -> list[list[float]]:
    """Embedding vectors of `texts`; see `Hearth.embed`."""
    return _default().embed(texts, model)


task = TaskAPI()
