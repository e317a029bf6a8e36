"""Question/answer templates: pure functions of a canonical sample."""

from dsconv.tasks.base import QA, TaskContext, get_task, task_names

__all__ = ["QA", "TaskContext", "get_task", "task_names"]
