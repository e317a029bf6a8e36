"""Deterministic synthetic sample datasets: offline test data and the demo's input.

`coins` (detection, COCO/YOLO/VOC) and `docs` (DocumentVQA layout). Nothing is imported here,
so `dsconv sample coins` does not pay for `datasets`.
"""
