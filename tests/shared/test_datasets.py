import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from course_models.datasets import (
    BLOCK_ROWS,
    frame_hash,
    iter_churn_blocks,
    load_digits_split,
    make_churn,
    write_churn_parquet,
)
from course_models.schema import CHURN_FEATURES, ID_COLUMN, LABEL


def test_same_seed_same_data_and_hash():
    a, b = make_churn(5_000, seed=7), make_churn(5_000, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert frame_hash(a) == frame_hash(b)
    assert frame_hash(a) != frame_hash(make_churn(5_000, seed=8))


def test_rows_do_not_depend_on_how_many_are_asked_for():
    small = make_churn(100, start=BLOCK_ROWS - 50)
    big = make_churn(BLOCK_ROWS + 100)
    pd.testing.assert_frame_equal(
        small, big.iloc[BLOCK_ROWS - 50 : BLOCK_ROWS + 50].reset_index(drop=True)
    )
    assert small[ID_COLUMN].tolist() == list(range(BLOCK_ROWS - 50, BLOCK_ROWS + 50))


def test_schema_types_and_bounds():
    df = make_churn(20_000)
    for f in CHURN_FEATURES:
        col = df[f.name]
        if f.kind == "numeric":
            vals = col.dropna()
            assert vals.min() >= f.minimum and vals.max() <= f.maximum, f.name
            assert col.isna().any() == f.optional, f.name
        elif f.kind == "categorical":
            assert set(col.unique()) <= set(f.categories), f.name
        else:
            assert col.dtype == bool, f.name
    rate = df[LABEL].mean()
    assert 0.15 < rate < 0.40


def test_documented_relations_hold():
    df = make_churn(50_000)
    by_contract = df.groupby("contract")[LABEL].mean()
    assert by_contract["month-to-month"] > by_contract["one-year"] > by_contract["two-year"]
    assert df[df.support_calls >= 4][LABEL].mean() > df[df.support_calls == 0][LABEL].mean()
    answered = df.dropna(subset=["satisfaction_score"])
    assert (
        answered[answered.satisfaction_score >= 4][LABEL].mean()
        < answered[answered.satisfaction_score <= 2.5][LABEL].mean()
    )


@pytest.mark.slow
def test_million_rows_in_bounded_memory(tmp_path):
    import tracemalloc

    tracemalloc.start()
    files = write_churn_parquet(tmp_path, 1_000_000, rows_per_file=400_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [pq.ParquetFile(f).metadata.num_rows for f in files] == [400_000, 400_000, 200_000]
    # one block (~65k rows) and its Arrow copy, not a million rows (~100 MB as pandas)
    assert peak < 60 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    total = sum(len(b) for b in iter_churn_blocks(1_000_000))
    assert total == 1_000_000


def test_digits_split_is_bundled_and_deterministic():
    x1, _, y1, _ = load_digits_split(seed=1)
    x2, _, y2, _ = load_digits_split(seed=1)
    assert x1.shape[1:] == (8, 8) and x1.dtype == np.float32 and x1.max() <= 1.0
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
