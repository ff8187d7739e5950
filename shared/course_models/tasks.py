"""What a student-edition stub raises: the lab answers it with a clear error naming the task.

Task regions in the labs' code are marked ``# BEGIN TASK N.M`` ... ``# END TASK N.M``; the
student edition (``python -m course_grading student``) replaces each by its stub, which raises
this. Services turn it into a 501 JSON answer and CLIs into one line on stderr with exit code
2, so a student sees which task is missing instead of a traceback.
"""

from __future__ import annotations

from typing import Any

NOT_IMPLEMENTED_STATUS = 501
CLI_EXIT_CODE = 2


class TaskNotImplemented(NotImplementedError):
    """A task of the student edition that has not been written yet."""

    def __init__(self, task: str, what: str):
        super().__init__(f"task {task} not implemented: {what}")
        self.task = task
        self.what = what

    def to_dict(self) -> dict[str, Any]:
        return {"error": str(self), "task": self.task}
