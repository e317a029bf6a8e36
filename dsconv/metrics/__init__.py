"""Metric primitives: pure functions of predictions and references (text, counts, boxes).

The bottom layer of scoring: tasks build their scorers from these, and `dsconv score`,
`dsconv eval` and the per-epoch validation of `dsconv train` all reach them through the task
descriptors, so a training run and a later `dsconv score` agree.
"""
