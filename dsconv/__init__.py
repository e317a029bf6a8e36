"""dsconv: labelled vision data → VQA datasets → fine-tuned small VLMs → scores.

The library is the product; the `dsconv` command is its thinnest client. Each step of the
flow is one function (each documented with an example):

    >>> import dsconv
    >>> dsconv.convert("data/coins", "out/coins-vqa", noun="currency")   # ConversionReport
    >>> dsconv.validate("out/coins-vqa").ok                               # True
    >>> dsconv.load("out/coins-vqa")["train"][0]["answer"]                # '{\\n  "dime": 2…'
    >>> dsconv.train("out/coins-vqa", model="florence2", output="runs/coins")
    >>> dsconv.evaluate("runs/coins", "out/coins-vqa").result.metrics

Names are imported on first use: `import dsconv` loads neither torch nor `datasets`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → the module that defines it (`module:attr` where the names differ)
_API = {
    "convert": "dsconv.pipeline.convert",
    "convert_documents": "dsconv.pipeline.documents",
    "merge": "dsconv.pipeline.merge",
    "detect": "dsconv.converters.detect",
    "validate": "dsconv.validation",
    "stats": "dsconv.inspect.stats",
    "load": "dsconv.storage.dataset",
    "push": "dsconv.publish.push",
    "export": "dsconv.publish.export",
    "score": "dsconv.eval.score",
    "evaluate": "dsconv.eval.evaluate",
    "train": "dsconv.training.api",
    "tqdm_progress": "dsconv.progress",
    "sample_coins": "dsconv.samples.coins:write_coins",
    "sample_docs": "dsconv.samples.docs:write_docs",
    "sample_model": "dsconv.testing.build",
    "ConversionReport": "dsconv.schemas.report",
    "ValidationResult": "dsconv.validation",
    "ScoreResult": "dsconv.eval.score",
    "Evaluation": "dsconv.eval.evaluate",
    "TrainResult": "dsconv.training.loop",
    "DsconvError": "dsconv.errors",
    "InputError": "dsconv.errors",
}
__all__ = [
    "ConversionReport",
    "DsconvError",
    "Evaluation",
    "InputError",
    "ScoreResult",
    "TrainResult",
    "ValidationResult",
    "convert",
    "convert_documents",
    "detect",
    "evaluate",
    "export",
    "load",
    "merge",
    "push",
    "sample_coins",
    "sample_docs",
    "sample_model",
    "score",
    "stats",
    "tqdm_progress",
    "train",
    "validate",
]

if TYPE_CHECKING:
    from dsconv.converters.detect import detect
    from dsconv.errors import DsconvError, InputError
    from dsconv.eval.evaluate import Evaluation, evaluate
    from dsconv.eval.score import ScoreResult, score
    from dsconv.inspect.stats import stats
    from dsconv.pipeline.convert import convert
    from dsconv.pipeline.documents import convert_documents
    from dsconv.pipeline.merge import merge
    from dsconv.progress import tqdm_progress
    from dsconv.publish.export import export
    from dsconv.publish.push import push
    from dsconv.samples.coins import write_coins as sample_coins
    from dsconv.samples.docs import write_docs as sample_docs
    from dsconv.schemas.report import ConversionReport
    from dsconv.storage.dataset import load
    from dsconv.testing.build import sample_model
    from dsconv.training.api import train
    from dsconv.training.loop import TrainResult
    from dsconv.validation import ValidationResult, validate


def __getattr__(name: str) -> Any:
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'dsconv' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
