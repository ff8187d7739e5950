"""The churn dataset's feature schema: one source of truth for generators, models and APIs.

APIs build their request validation from these specs (bounds, categories, optionality), so a
change here shows up everywhere at once instead of drifting between labs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["numeric", "categorical", "boolean"]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    dtype: Literal["int64", "float64", "string", "bool"]
    description: str
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    optional: bool = False
    since_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["categories"] = list(self.categories)
        return data


CHURN_FEATURES: tuple[Feature, ...] = (
    Feature("tenure_months", "numeric", "int64", "Months the customer has been with us.", 0, 72),
    Feature("monthly_charges", "numeric", "float64", "Current monthly bill in EUR.", 15.0, 150.0),
    Feature("support_calls", "numeric", "int64", "Support calls in the last 90 days.", 0, 20),
    Feature("age", "numeric", "int64", "Customer age in years.", 18, 100),
    Feature(
        "contract",
        "categorical",
        "string",
        "Contract length.",
        categories=("month-to-month", "one-year", "two-year"),
    ),
    Feature(
        "payment_method",
        "categorical",
        "string",
        "How the customer pays.",
        categories=("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
    ),
    Feature(
        "internet_service",
        "categorical",
        "string",
        "Internet product subscribed to.",
        categories=("dsl", "fiber", "none"),
    ),
    Feature("paperless_billing", "boolean", "bool", "Receives bills electronically."),
    Feature("has_partner", "boolean", "bool", "Lives with a partner."),
    # Added in model version 2: optional, so version-1 consumers never have to send it.
    Feature(
        "satisfaction_score",
        "numeric",
        "float64",
        "Latest survey score (1-5); missing when the customer never answered.",
        1.0,
        5.0,
        optional=True,
        since_version=2,
    ),
)

LABEL = "churned"
ID_COLUMN = "customer_id"


def features_for_version(version: int) -> tuple[Feature, ...]:
    """Features a model of this schema version consumes."""
    return tuple(f for f in CHURN_FEATURES if f.since_version <= version)


def feature_names(version: int) -> list[str]:
    return [f.name for f in features_for_version(version)]
