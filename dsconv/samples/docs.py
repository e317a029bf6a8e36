"""Deterministic synthetic document-VQA set in the `HuggingFaceM4/DocumentVQA` column layout.

Rendered invoices, receipts and forms with a few fields each, and questions about those
fields in several phrasings, each with one to three reference answers that differ the way
DocVQA's do (case, currency formatting, date style). Offline test data and a second demo.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from dsconv.samples.splits import assign

SPLITS: tuple[str, str, str] = ("train", "validation", "test")
PAGE = (420, 300)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_VENDORS = ("Acme Supplies", "Northwind Traders", "Blue Harbor Ltd", "Granite & Co",
            "Sunrise Bakery", "Orbit Electronics", "Maple Office Goods", "Redwood Print")
_PEOPLE = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra",
           "Barbara Liskov", "Donald Knuth", "Frances Allen")
_CITIES = ("Springfield", "Riverton", "Lakeside", "Fairview", "Georgetown", "Ashland")


@dataclass(frozen=True)
class Field:
    """One printed field, the questions that ask for it, and the answers that count."""

    label: str
    value: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]


@dataclass(frozen=True)
class DocsSummary:
    out_dir: Path
    documents: dict[str, int]
    questions: dict[str, int]

    def __str__(self) -> str:
        parts = ", ".join(f"{s}: {self.documents[s]} pages / {self.questions[s]} questions"
                          for s in SPLITS)
        return f"document VQA set in {self.out_dir} ({parts})"


def _money(rng: random.Random) -> tuple[str, ...]:
    cents = rng.randrange(500, 500_000)
    plain = f"{cents // 100}.{cents % 100:02d}"
    return (f"${cents // 100:,}.{cents % 100:02d}", plain, f"{cents // 100:,}.{cents % 100:02d}")


def _date(rng: random.Random) -> tuple[str, ...]:
    year, month, day = rng.randrange(2018, 2025), rng.randrange(1, 13), rng.randrange(1, 29)
    return (f"{year}-{month:02d}-{day:02d}", f"{_MONTHS[month - 1]} {day}, {year}")


def _invoice(rng: random.Random) -> tuple[str, list[Field]]:
    number = f"INV-{rng.randrange(10000, 99999)}"
    vendor = rng.choice(_VENDORS)
    total, date = _money(rng), _date(rng)
    return "INVOICE", [
        Field("Invoice No", number, ("What is the invoice number?",
                                     "Which invoice number is shown?"), (number, number.lower())),
        Field("Date", date[0], ("What is the invoice date?", "When was the invoice issued?"), date),
        Field("Vendor", vendor, ("Who is the vendor?", "Which company issued the invoice?"),
              (vendor, vendor.upper())),
        Field("Total", total[0], ("What is the total amount?", "How much is the invoice total?"),
              total),
    ]


def _receipt(rng: random.Random) -> tuple[str, list[Field]]:
    store = rng.choice(_VENDORS)
    items = str(rng.randrange(1, 15))
    total, date = _money(rng), _date(rng)
    return "RECEIPT", [
        Field("Store", store, ("What is the name of the store?", "Where was this bought?"),
              (store,)),
        Field("Items", items, ("How many items were bought?", "What is the item count?"),
              (items,)),
        Field("Paid", total[0], ("How much was paid?", "What is the amount paid?"), total),
        Field("Date", date[0], ("What is the date on the receipt?", "When was this bought?"),
              date),
    ]


def _form(rng: random.Random) -> tuple[str, list[Field]]:
    person, city = rng.choice(_PEOPLE), rng.choice(_CITIES)
    phone = f"555-{rng.randrange(1000, 9999)}"
    date = _date(rng)
    return "REGISTRATION FORM", [
        Field("Name", person, ("What is the applicant's name?", "Who filled in the form?"),
              (person, person.upper())),
        Field("City", city, ("Which city is given?", "What city does the applicant live in?"),
              (city,)),
        Field("Phone", phone, ("What is the phone number?", "Which phone number is listed?"),
              (phone, phone.replace("-", ""))),
        Field("Signed", date[0], ("When was the form signed?", "What is the signature date?"),
              date),
    ]


_KINDS: tuple[Callable[[random.Random], tuple[str, list[Field]]], ...] = (
    _invoice, _receipt, _form)


def render_page(title: str, fields: list[Field]) -> bytes:
    """A white page with a title and one `Label: value` line per field, as PNG."""
    page = Image.new("RGB", PAGE, (252, 252, 248))
    draw = ImageDraw.Draw(page)
    draw.text((20, 16), title, fill=(20, 20, 60), font=ImageFont.load_default(size=22))
    draw.line((20, 48, PAGE[0] - 20, 48), fill=(120, 120, 140), width=2)
    font = ImageFont.load_default(size=16)
    for i, field in enumerate(fields):
        draw.text((24, 64 + 36 * i), f"{field.label}:", fill=(70, 70, 70), font=font)
        draw.text((150, 64 + 36 * i), field.value, fill=(0, 0, 0), font=font)
    buffer = io.BytesIO()
    page.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _features():  # datasets is imported lazily: slow, and only needed here for the schema
    from datasets import Features, Image, List, Value

    return Features({
        "questionId": Value("int64"), "question": Value("string"),
        "question_types": List(Value("string")), "image": Image(), "docId": Value("int64"),
        "ucsf_document_id": Value("string"), "ucsf_document_page_no": Value("string"),
        "answers": List(Value("string")),
    })


def write_docs(out_dir: Path, *, documents: int = 24, seed: int = 0) -> DocsSummary:
    """Write `documents` pages and 2–4 questions about each; same seed, same bytes."""
    out_dir = Path(out_dir)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    pages = dict.fromkeys(SPLITS, 0)
    for doc_id, split in enumerate(assign(documents, SPLITS)):
        rng = random.Random(f"{seed}/{doc_id}")
        title, fields = _KINDS[doc_id % len(_KINDS)](rng)
        image = {"bytes": render_page(title, fields), "path": f"doc_{doc_id:05d}.png"}
        pages[split] += 1
        for k, field in enumerate(rng.sample(fields, rng.randint(2, min(4, len(fields))))):
            rows[split].append({
                "questionId": doc_id * 10 + k, "question": rng.choice(field.questions),
                "question_types": ["form" if title.endswith("FORM") else "table/list"],
                "image": image, "docId": doc_id, "ucsf_document_id": f"syn{seed:03d}{doc_id:05d}",
                "ucsf_document_page_no": "1", "answers": list(field.answers),
            })
    schema = _features().arrow_schema
    for split, items in rows.items():
        table = pa.Table.from_pylist(items, schema=schema)
        pq.write_table(table, out_dir / "data" / f"{split}-00000-of-00001.parquet")
    return DocsSummary(out_dir, pages, {s: len(r) for s, r in rows.items()})
