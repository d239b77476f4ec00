"""Measuring models and everyday NLP tasks.

- `metrics`: corpus BLEU (sacrebleu) and ROUGE-1/2/L (word- or character-level).
- `perplexity`: perplexity and bits per byte from a model's logits (sliding window or
  llama.cpp's convention).
- `nlp`: classify, sentiment, keywords, summarize, translate with a JSON schema as the
  decoding grammar (`TaskRunner`).
"""

from __future__ import annotations

from hearth.tasks.metrics import bleu, is_chinese, read_lines, rouge
from hearth.tasks.nlp import InvalidModelOutput, TaskRunner, result_schema, task_schema
from hearth.tasks.perplexity import PerplexityProgress, perplexity, score_texts

__all__ = [
    "InvalidModelOutput",
    "PerplexityProgress",
    "TaskRunner",
    "bleu",
    "is_chinese",
    "perplexity",
    "read_lines",
    "result_schema",
    "rouge",
    "score_texts",
    "task_schema",
]
