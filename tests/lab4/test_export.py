"""Export: TF Serving layout, explicit signatures, the inspector, and the config files."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lab4_tf_serving import config as cfg
from lab4_tf_serving.savedmodel import describe, show_all, version_dirs

pytestmark = pytest.mark.slow


@pytest.mark.points(0)
def test_layout_is_name_version_savedmodel(exported):
    assert version_dirs(exported / "digits") == [1, 2]
    assert version_dirs(exported / "digits_raw") == [1]
    for version_dir in (exported / "digits" / "1", exported / "digits" / "2"):
        assert (version_dir / "saved_model.pb").is_file()
        assert (version_dir / "variables").is_dir()
    # nothing half-written is left where a polling server could pick it up
    assert not list(exported.glob("*/.tmp-*"))


@pytest.mark.points(0)
def test_serving_default_signature_names_dtypes_shapes(exported):
    sigs = describe(exported / "digits" / "2")
    default = sigs["serving_default"]
    assert default["method"] == "tensorflow/serving/predict"
    assert default["inputs"] == {"image": ("DT_FLOAT", (-1, 8, 8))}
    assert default["outputs"] == {"probabilities": ("DT_FLOAT", (-1, 10))}
    assert sigs["classify"]["outputs"] == {
        "classes": ("DT_INT64", (-1,)),
        "probabilities": ("DT_FLOAT", (-1, 10)),
    }
    raw = describe(exported / "digits_raw" / "1")["serving_default"]
    assert raw["inputs"] == {"pixels": ("DT_INT32", (-1, 64))}


@pytest.mark.points(0)
def test_inspector_prints_what_saved_model_cli_shows(exported, capsys):
    from lab4_tf_serving.__main__ import main

    text = show_all(exported / "digits" / "1")
    assert "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:" in text
    assert "signature_def['serving_default']:" in text
    assert "inputs['image'] tensor_info:" in text
    assert "dtype: DT_FLOAT" in text and "shape: (-1, 8, 8)" in text
    assert "Method name is: tensorflow/serving/predict" in text
    assert main(["inspect", str(exported / "digits")]) == 0
    out = capsys.readouterr().out
    assert out.count("signature_def['serving_default']") == 2  # both versions


@pytest.mark.points(0)
def test_savedmodel_predicts_like_keras(exported, digits, keras_predict, close):
    import tensorflow as tf

    x, _ = digits
    for version in (1, 2):
        loaded = tf.saved_model.load(str(exported / "digits" / str(version)))
        out = loaded.signatures["serving_default"](image=tf.constant(x))
        close(out["probabilities"].numpy(), keras_predict[version])
    raw = tf.saved_model.load(str(exported / "digits_raw" / "1")).signatures["serving_default"]
    pixels = np.rint(x * 16).astype(np.int32).reshape(len(x), 64)
    close(raw(pixels=tf.constant(pixels))["probabilities"].numpy(), keras_predict[2], atol=1e-4)


@pytest.mark.points(0)
def test_shipped_model_config_has_two_models_policies_and_labels(exported):
    from lab4_tf_serving.settings import LAB_DIR

    config = cfg.read_model_config(LAB_DIR / "models.config")
    models = {m.name: m for m in config.model_config_list.config}
    assert set(models) == {"digits", "digits_raw"}
    digits = models["digits"]
    assert list(digits.model_version_policy.specific.versions) == [1, 2]
    assert dict(digits.version_labels) == {"stable": 1, "canary": 2}
    assert models["digits_raw"].model_version_policy.latest.num_versions == 1
    assert cfg.resolve_base_path(digits.base_path, exported) == exported / "digits"
    prom = cfg.parse_monitoring_config((LAB_DIR / "monitoring.config").read_text())
    assert prom.enable and prom.path == "/monitoring/prometheus/metrics"


@pytest.mark.points(0)
def test_version_policies_pick_versions_like_tf_serving():
    from tensorflow_serving.config import file_system_storage_path_source_pb2 as fs

    policy = fs.FileSystemStoragePathSourceConfig.ServableVersionPolicy
    on_disk = [3, 1, 2, 10]
    assert cfg.aspired_versions(policy(), on_disk) == [10]  # default: latest 1
    assert cfg.aspired_versions(policy(latest=policy.Latest(num_versions=2)), on_disk) == [3, 10]
    assert cfg.aspired_versions(policy(all=policy.All()), on_disk) == [1, 2, 3, 10]
    specific = policy(specific=policy.Specific(versions=[2, 7]))
    assert cfg.aspired_versions(specific, on_disk) == [2]


@pytest.mark.points(0)
def test_bad_config_files_are_rejected():
    with pytest.raises(cfg.ConfigError, match="Invalid protobuf file"):
        cfg.parse_model_config("model_config_list { config { nme: 'x' } }")
    with pytest.raises(cfg.ConfigError, match="multiple times"):
        cfg.parse_model_config(
            "model_config_list { config { name: 'a' base_path: '/m/a' } "
            "config { name: 'a' base_path: '/m/b' } }"
        )


@pytest.mark.points(0)
def test_labels_at_startup_need_the_flag_like_tf_serving(exported):
    """Real TF Serving refuses labels in its first config unless told to allow them."""
    import grpc

    from lab4_tf_serving.core import ServerCore, ServingError

    config = cfg.parse_model_config(
        "model_config_list { config { name: 'digits' base_path: '/models/digits' "
        "version_labels { key: 'stable' value: 1 } } }"
    )
    with pytest.raises(ServingError) as err:
        ServerCore(config, models_root=exported, allow_unavailable_labels=False)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "not currently available" in err.value.message


@pytest.mark.points(0)
def test_stand_in_says_what_it_is(monkeypatch, tmp_path):
    from lab4_tf_serving.launcher import pick_engine, standin_cmd
    from lab4_tf_serving.server import build_parser
    from lab4_tf_serving.settings import Settings

    assert "STAND-IN" in build_parser().format_help()
    monkeypatch.setenv("PATH", str(tmp_path))  # no tensorflow_model_server, docker or podman
    engine, why = pick_engine(Settings(engine="auto", image="lab4-no-such/image:0"))
    assert engine == "local" and "tensorflow_model_server: not on PATH" in why
    cmd = standin_cmd(Settings(), 1, 2)
    assert cmd[:4] == [sys.executable, "-m", "lab4_tf_serving", "serve"]
    assert any(a.startswith("--models_root=") for a in cmd)
    (tmp_path / "tensorflow_model_server").write_text("#!/bin/sh\n")
    (tmp_path / "tensorflow_model_server").chmod(0o755)
    engine, why = pick_engine(Settings(engine="auto"))
    assert engine == "binary" and str(tmp_path) in why  # the real server wins when present


@pytest.mark.points(0)
def test_settings_reject_typos():
    import pydantic

    from lab4_tf_serving.__main__ import main
    from lab4_tf_serving.settings import Settings

    with pytest.raises(pydantic.ValidationError, match="engine"):
        Settings(engine="dokcer")
    with pytest.raises(pydantic.ValidationError, match="poll_seconds"):
        Settings(poll_seconds=0)
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--quik"])  # a typo is an error, not silently dropped
    assert exit_.value.code == 2
