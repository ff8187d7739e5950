"""Lab 2's request shapes on top of the shared contract (course_models.contract).

One record is the features at top level; a batch is ``{"records": [...]}`` (lab 2's envelope;
lab 1 calls it ``instances``). The contract does the checking, so every lab rejects the
same bodies with the same status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from course_models.contract import validate_batch, validate_instance

BATCH_KEY = "records"


def parse_records(body: Any, version: int, max_batch: int) -> tuple[list[dict], bool]:
    """Body -> (validated records, is_batch); raises ``ContractError`` naming each field."""
    if isinstance(body, Mapping) and BATCH_KEY in body:
        return validate_batch(body, version, max_batch, key=BATCH_KEY), True
    return [validate_instance(body, version)], False


def one_record(body: Any, version: int) -> dict:
    return validate_instance(body, version)
