"""A row's churn probability is one float, bit for bit, whatever batch it is scored in.

The property behind lab 1's micro-batcher (an answer must not depend on its neighbours) and lab
5's promise (the batch output equals the real-time answers, to the last bit). Rows are drawn at
random from a pool that holds absent optionals, unknown categories and the schema's bounds; each
example puts some of them at random positions in a batch of 2 to 4096 rows and scores it with a
random thread count (BLAS and OpenMP), through records, a DataFrame and an Arrow table.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from course_models.artifacts import load_artifact
from course_models.scoring import ChurnScorer, reference_records

POOL = 600  # distinct rows per version
EXAMPLES = 60  # batches per version
MAX_BATCH = 4096
THREADS = sorted({1, 2, os.cpu_count() or 1})


@pytest.fixture(scope="module", params=[1, 2], ids=["v1", "v2"])
def pool(request, churn_root):
    """(scorer, the pool's records, each record scored alone on one thread)."""
    version = request.param
    scorer = ChurnScorer.from_artifact(load_artifact("churn", version, churn_root), "fast")
    records = reference_records(version, POOL, seed=4_242)
    with threadpool_limits(1):
        alone = np.array([scorer.score_records([r])[0] for r in records])
    assert len(np.unique(alone)) > POOL // 2  # the pool is not a few repeated rows
    return scorer, records, alone


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


@pytest.mark.points(0)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every machine and run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    size=st.one_of(st.integers(2, 64), st.integers(65, MAX_BATCH)),
    seed=st.integers(0, 2**32 - 1),
    threads=st.sampled_from(THREADS),
)
def test_a_rows_score_does_not_depend_on_its_batch(pool, size, seed, threads):
    scorer, records, alone = pool
    rows = np.random.default_rng(seed).integers(0, len(records), size)
    batch = [records[i] for i in rows]
    frame = pd.DataFrame.from_records(batch)
    with threadpool_limits(threads):
        got = {
            "records": scorer.score_records(batch),
            "frame": scorer.score_frame(frame),
            "arrow": scorer.score_frame(pa.Table.from_pandas(frame, preserve_index=False)),
        }
    for path, scores in got.items():
        differ = np.flatnonzero(_bits(scores) != _bits(alone[rows]))
        assert differ.size == 0, (
            f"{path}: {differ.size} of {size} rows differ from the row scored alone "
            f"({threads} threads), e.g. position {differ[0]}: {scores[differ[0]]!r} vs "
            f"{alone[rows][differ[0]]!r}"
        )


@pytest.mark.points(0)
def test_every_position_of_the_largest_batch(pool):
    """All 4096 positions at once, each row of the pool in several of them."""
    scorer, records, alone = pool
    rows = np.arange(MAX_BATCH) % len(records)
    with threadpool_limits(max(THREADS)):
        scores = scorer.score_records([records[i] for i in rows])
    assert np.array_equal(_bits(scores), _bits(alone[rows]))
