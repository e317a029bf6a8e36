"""Validation benchmark: rows/s of `dsconv validate`, default and `--deep` (1 and 2 workers).

The dataset is converted once (untimed) from the synthetic COCO data of benchmarks/convert.py;
then the CLI (imports included) and the `validate_dataset()` loop alone (imports excluded) are
timed in alternation, each in a fresh process.

    .venv/bin/python benchmarks/validate.py                # 2,000 rows, 3 runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from common import (
    NOUN,
    PYTHON,
    TMP,
    Job,
    Series,
    alternate,
    ensure_data,
    load,
    machine,
    markdown_table,
    remove,
    run_measured,
    warm_cache,
)

THIS = str(Path(__file__).resolve())
TARGET_ROWS_PER_S = 2000
MODES = {"": [], " --deep": ["--deep", "--workers", "1"],
         " --deep --workers 2": ["--deep", "--workers", "2"]}
LABELS = {"": "default (header + verify)", " --deep": "--deep (full decode), 1 worker",
          " --deep --workers 2": "--deep, 2 workers"}


def loop_child(argv: Sequence[str]) -> None:
    """`validate_dataset()` alone, timed inside the process: the per-row cost without start-up
    (the row schema, which imports `datasets` on first use, is built before the clock starts)."""
    from dsconv.storage.layout import arrow_schema
    from dsconv.validation import validate_dataset

    arrow_schema()
    dataset, deep = Path(argv[0]), "--deep" in argv
    workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 1
    started = time.perf_counter()
    result = validate_dataset(dataset, deep=deep, workers=workers)
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"{len(result.problems)} problems, first: {result.problems[0]}")
    print(json.dumps({"seconds": seconds, "rows": sum(result.rows.values())}))


def convert_once(images: int, out: Path) -> Path:
    """The dataset to validate: dsconv's own output for the synthetic COCO data."""
    data = ensure_data(images)
    warm_cache([data.root])
    dataset = out / "dataset"
    run_measured([PYTHON, "-m", "dsconv", "coco-to-vqa", str(data.coco), str(dataset),
                  "--noun", NOUN])
    warm_cache([dataset])
    return dataset


def jobs_for(dataset: Path) -> dict[str, Job]:
    rows = row_count(dataset)
    jobs: dict[str, Job] = {}
    for mode, extra in MODES.items():
        jobs[f"cli{mode}"] = (rows, [PYTHON, "-m", "dsconv", "validate", str(dataset), *extra])
        jobs[f"loop{mode}"] = (rows, [PYTHON, THIS, "loop", str(dataset), *extra])
    return jobs


def row_count(dataset: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in dataset.glob("data/*.parquet"))


def loop_seconds(series: Series) -> float:
    return statistics.median(json.loads(m.stdout)["seconds"] for m in series.runs)


def table(results: dict[str, Series]) -> str:
    headers = ["check", "rows", "CLI wall median s", "CLI wall min s", "CLI CPU s",
               "CLI rows/s", "peak RSS MB", "validate_dataset() s", "validate_dataset() rows/s"]
    lines = []
    for mode, label in LABELS.items():
        cli, loop = results[f"cli{mode}"], results[f"loop{mode}"]
        if not (cli.ok and loop.ok):
            lines.append([label, *["n/a"] * 8])
            continue
        inner = loop_seconds(loop)
        lines.append([label, f"{cli.images:,}", f"{cli.median:.2f}", f"{cli.best:.2f}",
                      f"{cli.cpu:.2f}", f"{cli.images / cli.median:,.0f}",
                      f"{cli.peak_rss_mb:.0f}", f"{inner:.2f}", f"{loop.images / inner:,.0f}"])
    return markdown_table(headers, lines)


def target(results: dict[str, Series]) -> str:
    cli = results["cli"]
    if not cli.ok:
        return f"- n/a  dsconv validate ≥ {TARGET_ROWS_PER_S:,} rows/s: {cli.error}"
    rate = cli.images / cli.median
    verdict = "pass" if rate >= TARGET_ROWS_PER_S else "FAIL"
    return (f"- {verdict} dsconv validate ≥ {TARGET_ROWS_PER_S:,} rows/s with the default "
            f"image check (CLI, start-up included): {rate:,.0f} rows/s")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="rows in the dataset")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each row")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    if argv and argv[0] == "loop":
        loop_child(argv[1:])
        return
    args = parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-out-validate-", dir=TMP))
    try:
        dataset = convert_once(args.images, out)
        print(f"## Validation\n\n{machine()}; {args.runs} runs each, alternated; "
              f"load average {load()} at the start.\n")
        results = alternate(jobs_for(dataset), args.runs)
        print(table(results))
        print(f"\n{target(results)}\n\nLoad average {load()} at the end.")
    finally:
        remove(out)


if __name__ == "__main__":
    main(sys.argv[1:])
