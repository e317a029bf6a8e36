"""How sure each built-in detection format is that a folder is its kind, and why: COCO,
YOLO, Pascal VOC and DOTA, each from a bounded `Probe` of the folder (no file read whole).
"""

from __future__ import annotations

from pathlib import Path

from dsconv.converters.probe import (
    MAX_NESTED,
    YOLO_NAMES,
    Detection,
    Probe,
    join_rel,
    labels_kind,
    listed_names,
    peek,
    probe_folder,
)

ROBOFLOW_COCO = "_annotations.coco.json"
PLAIN_COCO = ("annotations.json", ROBOFLOW_COCO, "instances.json")
YOLO_YAML = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")


def detect_coco(src: Path) -> Detection | None:
    """Roboflow split folders, MMDetection `annotations/instances_*.json`, a plain file."""
    if src.is_file():
        head = peek(src.parent, src.name)
        if src.suffix.lower() == ".json" and _coco_head(head):
            return Detection("coco", 0.9, f"{src.name} (a JSON object with COCO keys)")
        return None
    probe = probe_folder(src)
    if probe is None:
        return None
    splits = [join_rel(d, ROBOFLOW_COCO) for d in probe.dirs() if ROBOFLOW_COCO in probe.files(d)]
    if splits:
        return Detection("coco", 0.95, listed_names(splits))
    annotations = probe.child("", "annotations", exact=True)
    if annotations:
        found = [join_rel(annotations, n) for n in probe.files(annotations, ".json")
                 if n.startswith("instances_")]
        if found:
            return Detection("coco", 0.95, listed_names(found))
    for name in PLAIN_COCO:
        if name in probe.files() and _coco_head(probe.peek(name)):
            return Detection("coco", 0.9, name)
    return None


def _coco_head(head: str) -> bool:
    return head.lstrip().startswith("{") and ('"images"' in head or '"annotations"' in head)


def detect_yolo(src: Path) -> Detection | None:
    """data.yaml / obj.data, `images/` + `labels/` trees, `Images/` + `Annotations/*.txt`,
    Darknet names file and labels beside images."""
    if src.is_file():
        suffix = src.suffix.lower()
        head = peek(src.parent, src.name)
        if suffix in (".yaml", ".yml") and ("names" in head or "train" in head):
            return Detection("yolo", 0.95, src.name)
        if suffix == ".data" and ("names" in head or "train" in head):
            return Detection("yolo", 0.95, f"{src.name} (Darknet)")
        return None
    probe = probe_folder(src)
    if probe is None:
        return None
    trees = _label_trees(probe)
    dota = any(kind == "dota" for _, kind in trees)
    for name in (*YOLO_YAML, "obj.data"):
        if name in probe.files():
            if dota or (_dota_folders(probe) and not trees):
                return Detection("yolo", 0.4, f"{name}, but the labels are DOTA lines")
            return Detection("yolo", 0.95, name)
    if trees:
        evidence, kind = trees[0]
        if kind == "dota":
            return Detection("yolo", 0.4, f"{evidence}, but its lines are DOTA's")
        return Detection("yolo", 0.9 if kind == "yolo" else 0.7, evidence)
    for base in ("", *probe.splits()):
        darknet = _darknet(probe, base)
        if darknet is not None:
            return darknet
    return None


def _label_trees(probe: Probe) -> list[tuple[str, str | None]]:
    """(evidence, label kind) for each `images/`+`labels/` or `Images/`+`Annotations/*.txt`
    pair at the root, in split folders, or as `images/{split}` + `labels/{split}`."""
    found: list[tuple[str, str | None]] = []
    for base in ("", *probe.splits()):
        images = probe.child(base, "images")
        if images is None:
            continue
        for name in ("labels", "annotations"):
            labels = probe.child(base, name)
            if labels is None:
                continue
            folders = [labels, *probe.dirs(labels)]
            with_txt = [f for f in folders if probe.files(f, ".txt")]
            if not with_txt:
                continue
            kind = labels_kind(probe, with_txt[0])
            if name == "annotations" and kind != "yolo":
                continue  # Annotations/ holds VOC XML or something else: not YOLO's
            found.append((f"{images}/ + {with_txt[0]}/*.txt", kind))
    return found


def _darknet(probe: Probe, base: str) -> Detection | None:
    """Label `.txt` files beside the images, with a names file or with YOLO lines."""
    if not probe.has_images(base):
        return None
    kind = labels_kind(probe, base)
    names = [n for n in probe.files(base) if n.lower() in YOLO_NAMES or n.endswith(".names")]
    names += [n for n in probe.files() if base and (n.lower() in YOLO_NAMES)]
    where = join_rel(base, "*.txt") if base else "*.txt"
    if names and kind == "yolo":
        return Detection("yolo", 0.85, f"{names[0]} + {where} beside images (Darknet)")
    if kind == "yolo":
        return Detection("yolo", 0.6, f"{where} with YOLO lines beside images")
    return None


def detect_voc(src: Path) -> Detection | None:
    """`Annotations/*.xml` + `JPEGImages/` (also one or two levels down), lowercase
    `annotations/` + `images/`, or XML files beside their images."""
    probe = probe_folder(src)
    if probe is None:
        return None
    tops = probe.dirs()[:MAX_NESTED]
    roots = ["", *tops, *(d for top in tops for d in probe.dirs(top)[:MAX_NESTED])]
    for root in roots:
        annotations = probe.child(root, "Annotations")
        if annotations is None:
            continue
        xml = probe.files(annotations, ".xml")
        images = probe.child(root, "JPEGImages", "images")
        if not xml or images is None or not _voc_head(probe.peek(join_rel(annotations, xml[0]))):
            continue
        exact = annotations.endswith("Annotations") and images.endswith("JPEGImages")
        evidence = f"{annotations}/*.xml ({len(xml)} files) + {images}/"
        return Detection("voc", 0.95 if exact else 0.9, evidence)
    for base in (*probe.splits(), ""):
        xml = probe.files(base, ".xml")
        if xml and probe.has_images(base) and _voc_head(probe.peek(join_rel(base, xml[0]))):
            where = join_rel(base, "*.xml") if base else "*.xml"
            return Detection("voc", 0.8, f"{where} beside images")
    return None


def _voc_head(head: str) -> bool:
    return "<annotation" in head


def detect_dota(src: Path) -> Detection | None:
    """`images/` + `labelTxt/*.txt` at the root or in split folders, or Roboflow's
    `labels/` holding DOTA lines."""
    probe = probe_folder(src)
    if probe is None:
        return None
    found = _dota_folders(probe)
    if found:
        return Detection("dota", 0.95, listed_names([f"{f}/*.txt" for f in found]))
    for base in ("", *probe.splits()):
        labels = probe.child(base, "labels")
        if labels and probe.child(base, "images") and labels_kind(probe, labels) == "dota":
            return Detection("dota", 0.9, f"{labels}/*.txt with DOTA lines")
    return None


def _dota_folders(probe: Probe) -> list[str]:
    """`labelTxt` folders with `.txt` files beside an `images` folder."""
    found = []
    for base in ("", *probe.splits()):
        labels = probe.child(base, "labelTxt")
        if labels and probe.child(base, "images") and probe.files(labels, ".txt"):
            found.append(labels)
    return found
