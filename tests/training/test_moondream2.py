"""Moondream2 adapter on a tiny checkpoint that loads through the real remote-code path.

The tiny directory ships its own `moondream.py` behind an `auto_map`, so
`Moondream2Adapter.from_pretrained(dir)` runs the same `AutoModelForCausalLM.from_pretrained(...,
trust_remote_code=True)` call as `vikhyatk/moondream2`, including the transformers-5 shims.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image, ImageDraw  # noqa: E402
from transformers import PhiConfig, PretrainedConfig  # noqa: E402

from dsconv.models import moondream2_compat  # noqa: E402
from dsconv.models.moondream2 import (  # noqa: E402
    IGNORE_INDEX,
    Moondream2Adapter,
    question_text,
    splice_image,
)
from dsconv.models.moondream2_compat import (  # noqa: E402
    Moondream2CompatError,
    check_versions,
    rebuild_rotary_caches,
    restore_v4_config_defaults,
)
from dsconv.testing.tiny_moondream import build_tiny_moondream  # noqa: E402

COUNT_Q = (
    "How many of each type of the currency (dime, nickel, penny) are there? Respond in JSON "
    "format with the currency type as the key and a integer count as the value."
)
SHORT_Q = "Count the coins."
SHAPES = {"dime": "red", "nickel": "blue", "penny": "green"}
COUNTS = [
    {"dime": 1},
    {"dime": 2},
    {"nickel": 1},
    {"nickel": 2},
    {"dime": 1, "nickel": 1},
    {"dime": 2, "nickel": 1},
    {"penny": 1},
    {"dime": 1, "penny": 2},
]


def coin_jpeg(counts: dict[str, int]) -> Image.Image:
    """A 64x64 JPEG with one big coloured disc per object, decoded back like a Parquet row."""
    image = Image.new("RGB", (64, 64), "white")
    draw = ImageDraw.Draw(image)
    slot = 0
    for name, count in counts.items():
        for _ in range(count):
            x, y = (slot % 2) * 32, (slot // 2) * 32
            draw.ellipse((x + 2, y + 2, x + 30, y + 30), fill=SHAPES[name])
            slot += 1
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return Image.open(io.BytesIO(buffer.getvalue()))


def make_rows() -> list[dict]:
    return [
        {
            "image": coin_jpeg(counts),
            "question": SHORT_Q if i >= 6 else COUNT_Q,
            "answer": json.dumps(counts, indent=2),
        }
        for i, counts in enumerate(COUNTS)
    ]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny matrices: extra threads only add contention (60 s vs 2 s on a busy 2-core box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = make_rows()
    texts = [question_text(r["question"]) for r in rows] + [f" {r['answer']}" for r in rows]
    return build_tiny_moondream(tmp_path_factory.mktemp("moondream-tiny"), texts, seed=0)


def test_labels_cover_answer_and_eos_only(tiny_dir: Path) -> None:
    adapter = Moondream2Adapter.from_pretrained(str(tiny_dir))
    tokenizer = adapter.processor
    rows = make_rows()[5:7]  # different question and answer lengths -> padding
    collate = adapter.collator()
    batch = pickle.loads(pickle.dumps(collate))(rows)
    assert batch["attention_mask"].eq(0).any()

    for i, row in enumerate(rows):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        prompt = tokenizer(question_text(row["question"]), add_special_tokens=False).input_ids
        answer = tokenizer(f" {row['answer']}", add_special_tokens=False).input_ids
        length = 1 + len(prompt) + len(answer) + 1
        assert ids[0] == tokenizer.bos_token_id
        assert ids[1 : 1 + len(prompt)].tolist() == prompt
        assert labels[: 1 + len(prompt)].eq(IGNORE_INDEX).all()  # BOS and question
        assert labels[1 + len(prompt) : length].tolist() == [*answer, tokenizer.eos_token_id]
        assert labels[length:].eq(IGNORE_INDEX).all()  # padding
        assert mask.tolist() == [1] * length + [0] * (len(mask) - length)
        kept = labels != IGNORE_INDEX
        assert tokenizer.decode(labels[kept]) == f" {row['answer']}<|endoftext|>"

    image_embeds = torch.randn(2, 5, 64)
    embeds, mask, labels = splice_image(batch, image_embeds, torch.nn.Embedding(400, 64))
    assert labels.shape[1] == batch["labels"].shape[1] + 5
    assert labels[:, 1:6].eq(IGNORE_INDEX).all() and mask[:, 1:6].eq(1).all()
    assert torch.equal(embeds[:, 1:6], image_embeds)
    assert torch.equal(labels[:, 6:], batch["labels"][:, 1:])


def test_trains_text_only_until_answers_are_exact(tiny_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    adapter = Moondream2Adapter.from_pretrained(str(tiny_dir))
    model = adapter.model
    # Settings a checkpoint may carry; dsconv's greedy decoding must not pick them up.
    model.text_model.generation_config.num_beams = 3
    model.text_model.generation_config.no_repeat_ngram_size = 3
    for module in adapter.vision_modules():
        module.requires_grad_(False)
    vision_before = {k: v.clone() for k, v in model.vision_encoder.state_dict().items()}
    text_before = {k: v.clone() for k, v in model.text_model.state_dict().items()}

    rows = make_rows()
    images = [r["image"] for r in rows]
    questions = [r["question"] for r in rows]
    answers = [r["answer"] for r in rows]
    collate = adapter.collator()
    loader = torch.utils.data.DataLoader(rows, batch_size=4, shuffle=True, collate_fn=collate)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=0.0
    )
    full = collate(rows)
    model.eval()
    with torch.no_grad():
        start = adapter.loss(full).item()

    predictions: list[str] = []
    for _ in range(150):
        model.train()
        for batch in loader:
            adapter.loss(batch).backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            end = adapter.loss(full).item()
        if end < 0.05:
            predictions = adapter.generate(images, questions, max_new_tokens=40)
            if predictions == answers:
                break

    assert predictions == answers
    assert math.isfinite(start) and end < 0.2 * start
    assert all(
        torch.equal(v, vision_before[k]) for k, v in model.vision_encoder.state_dict().items()
    )
    assert any(not torch.equal(v, text_before[k]) for k, v in model.text_model.state_dict().items())
    assert [
        adapter.generate([i], [q], max_new_tokens=40)[0]
        for i, q in zip(images[5:], questions[5:], strict=True)
    ] == answers[5:]

    adapter.save_pretrained(tmp_path / "out")
    reloaded = Moondream2Adapter.from_pretrained(str(tmp_path / "out"))
    reloaded.model.eval()
    saved = model.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in reloaded.model.state_dict().items())
    assert reloaded.generate(images, questions, max_new_tokens=40) == answers


def test_shared_loop_trains_lora_with_checkpointing_and_exports(
    tiny_dir: Path, tmp_path: Path
) -> None:
    """`dsconv train --model moondream2 --lora 8 --gradient-checkpointing` on the tiny model."""
    from dsconv.testing.tiny import write_tiny_vqa
    from dsconv.training.config import TrainConfig
    from dsconv.training.loop import train

    dataset = write_tiny_vqa(tmp_path / "data", rows=8)
    config = TrainConfig(
        dataset=str(dataset),
        model="moondream2",
        output=str(tmp_path / "run"),
        base=str(tiny_dir),
        epochs=2,
        lr=3e-3,
        batch_size=4,
        schedule="constant",
        warmup=0.0,
        lora=8,
        gradient_checkpointing=True,
        workers=0,
        device="cpu",
        max_new_tokens=8,
    )
    result = train(config)
    assert math.isfinite(result.metrics["val_loss"])

    base = Moondream2Adapter.from_pretrained(str(tiny_dir)).model
    tuned = Moondream2Adapter.from_pretrained(str(result.final_dir)).model
    before, after = base.state_dict(), tuned.state_dict()
    assert before.keys() == after.keys()  # LoRA merged away
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("vision_"))
    assert any(
        not torch.equal(after[k], v) for k, v in before.items() if k.startswith("text_model.")
    )


def test_version_check_names_the_versions() -> None:
    check_versions("5.23.0")
    for found in ("4.44.2", "6.0.0"):
        with pytest.raises(Moondream2CompatError) as err:
            check_versions(found)
        message = str(err.value)
        assert f"transformers {found}" in message and ">=5.0,<6" in message
        assert "2024-08-26" in message


def test_hub_revision_needs_its_remote_code_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moondream2_compat, "find_spec", lambda name: None)
    with pytest.raises(Moondream2CompatError) as err:
        Moondream2Adapter.from_pretrained()  # fails before any download
    message = str(err.value)
    assert "torchvision, einops" in message and f"torch {torch.__version__}" in message
    moondream2_compat.check_environment("/some/local/checkpoint")


def test_missing_remote_code_package_fails_before_loading_weights(
    tiny_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "needs-absent-package"
    shutil.copytree(tiny_dir, broken)
    (broken / "model.safetensors").unlink()  # loading weights would fail differently
    code = broken / "moondream.py"
    code.write_text("import dsconv_absent_package  # noqa: F401\n" + code.read_text())
    with pytest.raises(Moondream2CompatError, match="dsconv_absent_package") as err:
        Moondream2Adapter.from_pretrained(str(broken))
    assert f"torch {torch.__version__}" in str(err.value)


class RemoteStyleRotary(torch.nn.Module):
    """The buffer layout of the remote PhiRotaryEmbedding (non-persistent inv_freq/cos/sin)."""

    def __init__(self, dim: int = 8, max_position_embeddings: int = 16, base: float = 10000.0):
        super().__init__()
        self.dim, self.max_position_embeddings, self.base = dim, max_position_embeddings, base
        steps = torch.arange(0, dim, 2, dtype=torch.int64).float()
        self.register_buffer("inv_freq", 1.0 / (base ** (steps / dim)), persistent=False)
        self._set_cos_sin_cache(max_position_embeddings, self.inv_freq.device, torch.float32)

    def _set_cos_sin_cache(self, seq_len: int, device: torch.device, dtype: torch.dtype) -> None:
        freqs = torch.outer(torch.arange(seq_len, device=device).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos().to(dtype), persistent=False)
        self.register_buffer("sin_cached", emb.sin().to(dtype), persistent=False)


def test_rotary_buffers_are_rebuilt_after_meta_loading() -> None:
    clean = RemoteStyleRotary()
    garbage = torch.nn.Sequential(RemoteStyleRotary())
    for name in ("inv_freq", "cos_cached", "sin_cached"):
        getattr(garbage[0], name).fill_(float("nan"))  # what empty_like may leave behind
    assert rebuild_rotary_caches(garbage) == 1
    for name in ("inv_freq", "cos_cached", "sin_cached"):
        assert torch.equal(getattr(garbage[0], name), getattr(clean, name))


class RemoteStylePhiConfig(PretrainedConfig):
    """Shaped like the remote PhiConfig: v4 attribute style, its own rope validation."""

    model_type = "phi"

    def __init__(self, rope_theta: float = 10000.0, rope_scaling: dict | None = None, **kwargs):
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self._rope_scaling_validation()
        super().__init__(**kwargs)

    def _rope_scaling_validation(self) -> None:
        if self.rope_scaling is not None and "type" not in self.rope_scaling:
            raise ValueError("rope_scaling needs a type")


@pytest.mark.filterwarnings("ignore:`rope_scaling` is deprecated:FutureWarning")
def test_remote_config_gets_its_v4_defaults_back() -> None:
    remote = RemoteStylePhiConfig()
    restore_v4_config_defaults(remote)
    assert remote.rope_scaling is None and remote.pad_token_id is None
    assert remote.rope_theta == 10000.0
    native = PhiConfig()
    restore_v4_config_defaults(native)
    assert native.rope_parameters["rope_type"] == "default"


def test_the_moondream2_extra_installs_what_the_remote_code_imports() -> None:
    """`pip install 'dsconv[moondream2]'` brings the train extra and einops; torchvision is the
    one import it cannot pin (it must match the installed torch build), so errors name it."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = {req.split(">")[0].split("=")[0].split("[")[0] for req in extras["moondream2"]}
    assert "dsconv[train]" in extras["moondream2"]
    assert set(moondream2_compat.REMOTE_CODE_PACKAGES) - names == {"torchvision"}
    assert "pip install 'dsconv[moondream2]'" in moondream2_compat.INSTALL_HINT


def test_train_help_says_base_takes_a_hub_id_or_a_folder() -> None:
    from tests.helpers import run_cli

    help_text = " ".join(run_cli("train", "--help").output.replace("│", " ").split())
    assert "a Hub id (owner/name) or a local model folder" in help_text
    assert "2024-04-02" in help_text
