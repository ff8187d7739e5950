"""The shared request contract: strict JSON, strict fields, errors that name the field."""

import json
import math

import pytest

from course_models import contract
from course_models.tabular import example_record

# Content types are each lab's framework's business (415); the contract judges the bytes.
BODY_CASES = [c for c in contract.hostile_bodies(2) if c.expected_status != 415]


@pytest.mark.points(0)
@pytest.mark.parametrize("case", BODY_CASES, ids=lambda c: c.name)
def test_hostile_bodies_are_rejected_with_their_status(case: contract.HostileBody) -> None:
    with pytest.raises(contract.ContractError) as info:
        contract.validate_instance(contract.loads_strict(case.body), 2)
    err = info.value
    assert err.status == case.expected_status, err.errors
    assert any(e["field"].split(".")[0] == case.field for e in err.errors), err.errors
    json.dumps(err.errors, allow_nan=False)  # errors are always serialisable


@pytest.mark.points(0)
def test_valid_record_round_trips_with_enum_values_as_strings() -> None:
    rec = example_record(2)
    assert contract.validate_instance(contract.loads_strict(json.dumps(rec)), 2) == rec
    assert contract.validate_instance({**rec, "age": 34.0}, 2)["age"] == 34


@pytest.mark.points(0)
def test_optional_v2_feature_may_be_left_out() -> None:
    rec = example_record(1)
    assert contract.validate_instance(rec, 2)["satisfaction_score"] is None


@pytest.mark.points(0)
def test_batch_errors_carry_the_index_and_honour_the_bound() -> None:
    good, bad = example_record(1), {**example_record(1), "age": "x"}
    with pytest.raises(contract.ContractError) as info:
        contract.validate_batch({"records": [good, bad]}, 1, 8, key="records")
    assert [e["field"] for e in info.value.errors] == ["records.1.age"]
    with pytest.raises(contract.ContractError) as info:
        contract.validate_batch({"records": [good] * 9}, 1, 8, key="records")
    assert info.value.errors[0]["field"] == "records"
    assert len(contract.validate_batch({"instances": [good] * 8}, 1, 8)) == 8


@pytest.mark.points(0)
def test_strict_reader_allows_deep_enough_and_finite_numbers() -> None:
    assert contract.loads_strict(b'{"a": [[1.5e308]]}') == {"a": [[1.5e308]]}
    with pytest.raises(contract.BodyError):
        contract.loads_strict("[" * 40 + "]" * 40)
    assert math.isfinite(contract.loads_strict("1e308"))


@pytest.mark.points(0)
def test_label_rule() -> None:
    assert contract.label_for(0.5) == "churns"
    assert contract.label_for(0.4999) == "stays"
    assert contract.CLASSES == ("stays", "churns")
