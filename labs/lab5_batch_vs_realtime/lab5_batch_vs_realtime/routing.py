"""Which model version answers a request: header override, else a sticky weighted A/B split.

The split hashes the entity id (salted) into [0, 1) and walks the cumulative weights, so the same
customer always lands on the same arm (a consistent experience and clean experiment groups), and
the share of customers per arm converges to the weights without any shared state between workers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from course_models.tasks import TaskNotImplemented  # noqa: F401 (the student edition's stub)


class UnknownVersion(LookupError):
    def __init__(self, requested: str, available: list[int]):
        self.requested = requested
        self.available = available
        super().__init__(
            f"model version {requested!r} is not served here; available versions: {available}"
        )


def bucket(entity_id: str, salt: str) -> float:
    """A uniform, stable number in [0, 1) for an entity (sha256 → 64-bit → fraction)."""
    digest = hashlib.sha256(f"{salt}:{entity_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Router:
    weights: dict[int, float]
    available: tuple[int, ...]
    salt: str = "lab5"

    def __post_init__(self) -> None:
        missing = [v for v, w in self.weights.items() if w > 0 and v not in self.available]
        if missing:
            raise ValueError(
                f"A/B weights name versions {missing} that are not loaded (have {self.available})"
            )

    # BEGIN TASK 5.1: sticky weighted A/B split and the X-Model-Version override
    def ab_version(self, entity_id: str) -> int:
        arms = sorted((v, w) for v, w in self.weights.items() if w > 0)
        total = sum(w for _, w in arms)
        point = bucket(entity_id, self.salt) * total
        upto = 0.0
        for version, weight in arms:
            upto += weight
            if point < upto:
                return version
        return arms[-1][0]

    def choose(self, entity_id: str, header: str | None) -> tuple[int, str]:
        """(version, how it was chosen): ``header`` when X-Model-Version is set, else ``ab``."""
        if header is None:
            return self.ab_version(entity_id), "ab"
        text = header.strip()
        if not (text.isascii() and text.isdigit()) or int(text) not in self.available:
            raise UnknownVersion(header, list(self.available))
        return int(text), "header"

    # STUB
    # def ab_version(self, entity_id: str) -> int:
    #     raise TaskNotImplemented("5.1", "the sticky weighted A/B split")
    #
    # def choose(self, entity_id: str, header: str | None) -> tuple[int, str]:
    #     raise TaskNotImplemented("5.1", "version routing (A/B split and X-Model-Version)")
    # END TASK 5.1
