"""Deterministic, offline datasets.

Churn rows are generated in fixed-size blocks, each from its own seeded generator, so that row
``i`` is the same whether you ask for 1,000 rows or 5 million, and any size can be produced in
bounded memory (``iter_churn_blocks``). No downloads: digits come from sklearn's bundled copy.

How churn depends on the features (documented so students can sanity-check model behaviour):
month-to-month contracts, many support calls, high charges, electronic-check payment and fibre
raise churn; long tenure, two-year contracts and a partner lower it; a satisfaction score (when
present) lowers churn as it rises. About a quarter of customers churn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from course_models.schema import CHURN_FEATURES, ID_COLUMN, LABEL

BLOCK_ROWS = 65_536
DEFAULT_SEED = 42

_CATEGORIES = {f.name: f.categories for f in CHURN_FEATURES if f.kind == "categorical"}


def _block(seed: int, block_index: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, block_index])
    n = BLOCK_ROWS
    tenure = rng.integers(0, 73, n)
    contract = rng.choice(_CATEGORIES["contract"], n, p=[0.55, 0.25, 0.20])
    payment = rng.choice(_CATEGORIES["payment_method"], n, p=[0.34, 0.22, 0.22, 0.22])
    internet = rng.choice(_CATEGORIES["internet_service"], n, p=[0.34, 0.44, 0.22])
    base_charge = np.select([internet == "fiber", internet == "dsl"], [85.0, 55.0], 25.0)
    monthly = np.clip(base_charge + rng.normal(0, 12, n), 15.0, 150.0).round(2)
    support = np.clip(rng.poisson(1.5, n), 0, 20)
    age = np.clip(rng.normal(45, 14, n).round(), 18, 100).astype(np.int64)
    paperless = rng.random(n) < 0.6
    partner = rng.random(n) < 0.48
    answered = rng.random(n) < 0.7
    satisfaction = np.where(answered, np.clip(rng.normal(3.4, 0.9, n), 1.0, 5.0).round(1), np.nan)

    logit = (
        -1.6
        + 1.3 * (contract == "month-to-month")
        - 0.9 * (contract == "two-year")
        - 0.035 * tenure
        + 0.018 * (monthly - 65.0)
        + 0.38 * support
        + 0.55 * (payment == "electronic-check")
        + 0.45 * (internet == "fiber")
        - 0.30 * partner
        + 0.20 * paperless
        - 0.008 * (age - 45)
        - 0.9 * np.nan_to_num(satisfaction - 3.4, nan=0.0)
    )
    churned = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            ID_COLUMN: np.arange(block_index * n, (block_index + 1) * n, dtype=np.int64),
            "tenure_months": tenure.astype(np.int64),
            "monthly_charges": monthly,
            "support_calls": support.astype(np.int64),
            "age": age,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "paperless_billing": paperless,
            "has_partner": partner,
            "satisfaction_score": satisfaction,
            LABEL: churned,
        }
    )


def iter_churn_blocks(
    n_rows: int, seed: int = DEFAULT_SEED, start: int = 0
) -> Iterator[pd.DataFrame]:
    """Yield rows ``start .. start+n_rows`` in blocks of at most BLOCK_ROWS (bounded memory)."""
    if n_rows < 0 or start < 0:
        raise ValueError("n_rows and start must be >= 0")
    end = start + n_rows
    row = start
    while row < end:
        b = row // BLOCK_ROWS
        frame = _block(seed, b)
        lo = row - b * BLOCK_ROWS
        hi = min(BLOCK_ROWS, end - b * BLOCK_ROWS)
        yield frame.iloc[lo:hi].reset_index(drop=True)
        row = b * BLOCK_ROWS + hi


def make_churn(n_rows: int, seed: int = DEFAULT_SEED, start: int = 0) -> pd.DataFrame:
    """The first ``n_rows`` customers (from ``start``) as one DataFrame."""
    blocks = list(iter_churn_blocks(n_rows, seed, start))
    if not blocks:
        return _block(seed, 0).iloc[0:0].reset_index(drop=True)
    return pd.concat(blocks, ignore_index=True)


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 over row contents and column names: the 'training-data hash' in metadata."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_churn_parquet(
    path: str | Path,
    n_rows: int,
    seed: int = DEFAULT_SEED,
    start: int = 0,
    rows_per_file: int = 1_000_000,
    with_label: bool = False,
) -> list[Path]:
    """Write rows as Parquet files of at most ``rows_per_file`` rows each, block by block.

    ``path`` is a directory (created); files are named ``part-00000.parquet`` and so on.
    Memory stays at about one block whatever ``n_rows`` is.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    writer: pq.ParquetWriter | None = None
    in_file = 0
    for block in iter_churn_blocks(n_rows, seed, start):
        if not with_label:
            block = block.drop(columns=[LABEL])
        offset = 0
        while offset < len(block):
            if writer is None:
                target = out / f"part-{len(written):05d}.parquet"
                written.append(target)
                schema = pa.Table.from_pandas(block.iloc[:0], preserve_index=False).schema
                writer = pq.ParquetWriter(target, schema)
                in_file = 0
            take = min(rows_per_file - in_file, len(block) - offset)
            piece = block.iloc[offset : offset + take]
            writer.write_table(pa.Table.from_pandas(piece, preserve_index=False, schema=schema))
            offset += take
            in_file += take
            if in_file >= rows_per_file:
                writer.close()
                writer = None
    if writer is not None:
        writer.close()
    return written


def load_digits_split(seed: int = DEFAULT_SEED, test_size: float = 0.25):
    """sklearn's bundled 8x8 digits (no download), pixels scaled to [0, 1], stratified split.

    Returns ``(x_train, x_test, y_train, y_test)`` with x of shape (n, 8, 8) float32.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    return train_test_split(
        images,
        digits.target.astype(np.int64),
        test_size=test_size,
        random_state=seed,
        stratify=digits.target,
    )
