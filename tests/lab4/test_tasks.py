"""Graded checks of the lab 4 tasks (README, "Your tasks"), through the public surface only:
the CLI (``python -m lab4_tf_serving ...``), the SavedModel files it writes, the documented
client classes against a running server (``LAB4_URL``/``LAB4_GRPC_ADDR``, else the stand-in
started with the submission's own models and ``models.config``), and the config file itself."""

from __future__ import annotations

import shlex

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _signatures(version_dir):
    """The signature map read straight from saved_model.pb (no lab code involved)."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    model.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    [meta_graph] = [m for m in model.meta_graphs if "serve" in m.meta_info_def.tags]
    return meta_graph.signature_def


def _spec(info):
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(info.dtype), [d.size for d in info.tensor_shape.dim]


# --------------------------------------------------------------------- 4.1 export
@pytest.mark.task("4.1")
@pytest.mark.points(1)
def test_export_writes_tf_serving_layout(exported):
    for version in (1, 2):
        version_dir = exported / "digits" / str(version)
        assert (version_dir / "saved_model.pb").is_file(), version_dir
        assert (version_dir / "variables").is_dir()
    assert not [p for p in (exported / "digits").iterdir() if not p.name.isdigit()], (
        "only version directories under the model's base path"
    )


@pytest.mark.task("4.1")
@pytest.mark.points(2)
def test_serving_default_is_explicit(exported):
    sig = _signatures(exported / "digits" / "2")["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert {k: _spec(v) for k, v in sig.inputs.items()} == {"image": ("DT_FLOAT", [-1, 8, 8])}
    assert {k: _spec(v) for k, v in sig.outputs.items()} == {
        "probabilities": ("DT_FLOAT", [-1, 10])
    }


@pytest.mark.task("4.1")
@pytest.mark.points(1)
def test_exported_model_answers_like_keras(exported, digits, keras_predict, close):
    import tensorflow as tf

    x, _ = digits
    for version in (1, 2):
        fn = tf.saved_model.load(str(exported / "digits" / str(version))).signatures
        close(fn["serving_default"](image=tf.constant(x))["probabilities"], keras_predict[version])


@pytest.mark.task("4.1")
@pytest.mark.points(1)
def test_inspect_cli_shows_the_signature(exported, lab_cli):
    result = lab_cli("inspect", str(exported / "digits"))
    assert result.stdout.count("signature_def['serving_default']") == 2  # both versions
    assert "inputs['image'] tensor_info:" in result.stdout
    assert "shape: (-1, 8, 8)" in result.stdout


# --------------------------------------------------------------------- 4.2 REST client
@pytest.mark.task("4.2")
@pytest.mark.points(2)
def test_rest_client_row_format(rest, digits, keras_predict, close):
    x, _ = digits
    for version in (1, 2):
        close(rest.predict("digits", x, version=version), keras_predict[version])


@pytest.mark.task("4.2")
@pytest.mark.points(2)
def test_rest_client_columnar_format(rest, digits, keras_predict, close):
    x, _ = digits
    close(rest.predict("digits", x, columnar=True), keras_predict[2])
    cols = rest.predict("digits", x, signature="classify", columnar=True)
    assert set(cols) == {"classes", "probabilities"}
    assert cols["classes"].tolist() == keras_predict[2].argmax(1).tolist()
    close(cols["probabilities"], keras_predict[2])


@pytest.mark.task("4.2")
@pytest.mark.points(1)
def test_rest_client_labels_and_multi_output_rows(rest, digits, keras_predict, close):
    x, _ = digits
    close(rest.predict("digits", x, label="stable"), keras_predict[1])
    rows = rest.predict("digits", x, label="canary", signature="classify")
    assert rows["classes"].tolist() == keras_predict[2].argmax(1).tolist()


# --------------------------------------------------------------------- 4.3 gRPC client
@pytest.mark.task("4.3")
@pytest.mark.points(1)
def test_grpc_request_protobuf(grpc_client, digits):
    from tensorflow.core.framework import types_pb2

    x, _ = digits
    request = grpc_client.request("digits", {"image": x}, label="canary")
    assert request.model_spec.name == "digits" and request.model_spec.version_label == "canary"
    tensor = request.inputs["image"]
    assert tensor.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in tensor.tensor_shape.dim] == [len(x), 8, 8]


@pytest.mark.task("4.3")
@pytest.mark.points(2)
def test_grpc_client_predict(grpc_client, digits, keras_predict, close):
    x, _ = digits
    for version in (1, 2):
        out = grpc_client.predict("digits", {"image": x}, version=version)
        close(out["probabilities"], keras_predict[version])


@pytest.mark.task("4.3")
@pytest.mark.points(2)
def test_grpc_client_labels_signatures_and_same_numbers_as_rest(
    grpc_client, rest, digits, keras_predict, close
):
    x, _ = digits
    stable = grpc_client.predict("digits", {"image": x}, label="stable")
    close(stable["probabilities"], keras_predict[1])
    out = grpc_client.predict("digits", {"image": x}, signature="classify")
    assert out["classes"].dtype == np.int64
    assert out["classes"].tolist() == keras_predict[2].argmax(1).tolist()
    close(out["probabilities"], rest.predict("digits", x), atol=1e-6)


# --------------------------------------------------------------------- 4.4 models.config
@pytest.mark.task("4.4")
@pytest.mark.points(2)
def test_models_config_lists_policies_and_labels():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from lab4_tf_serving.settings import LAB_DIR

    config = text_format.Parse(
        (LAB_DIR / "models.config").read_text(), model_server_config_pb2.ModelServerConfig()
    )
    models = {m.name: m for m in config.model_config_list.config}
    assert set(models) == {"digits", "digits_raw"}
    digits = models["digits"]
    assert digits.base_path == "/models/digits"
    assert sorted(digits.model_version_policy.specific.versions) == [1, 2]
    assert dict(digits.version_labels) == {"stable": 1, "canary": 2}
    raw = models["digits_raw"]
    assert raw.base_path == "/models/digits_raw"
    assert raw.model_version_policy.latest.num_versions == 1


@pytest.mark.task("4.4")
@pytest.mark.points(2)
def test_server_serves_what_models_config_lists(rest):
    by_version = {s["version"]: s["state"] for s in rest.status("digits")["model_version_status"]}
    assert by_version.get("1") == by_version.get("2") == "AVAILABLE"
    stable = rest.status("digits", label="stable")["model_version_status"]
    canary = rest.status("digits", label="canary")["model_version_status"]
    assert [s["version"] for s in stable] == ["1"]
    assert [s["version"] for s in canary] == ["2"]
    raw = rest.status("digits_raw")["model_version_status"]
    assert [s["state"] for s in raw] == ["AVAILABLE"]


# --------------------------------------------------------------------- 4.5 container
def _lab_cmd(lab_cli, monkeypatch, engine: str, **env: str) -> list[str]:
    monkeypatch.setenv("LAB4_ENGINE", engine)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = lab_cli("lab", "--print-cmd", timeout=120)
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("   ")]
    return shlex.split(line)


@pytest.mark.task("4.5")
@pytest.mark.points(2)
def test_container_command_mounts_models_read_only_and_polls(lab_cli, monkeypatch, tmp_path):
    from lab4_tf_serving.settings import LAB_DIR

    cmd = _lab_cmd(
        lab_cli,
        monkeypatch,
        "docker",
        LAB4_MODELS_DIR=str(tmp_path),
        LAB4_POLL_SECONDS="7",
        LAB4_REST_PORT="18501",
        LAB4_GRPC_PORT="18500",
    )
    assert cmd[:2] == ["docker", "run"]
    volumes = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("-v", "--volume")]
    assert f"{tmp_path.resolve()}:/models:ro" in volumes
    assert f"{LAB_DIR.resolve()}:/config:ro" in volumes  # the directory, not the file
    ports = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("-p", "--publish")]
    assert {p.rsplit(":", 2)[-2] + ":" + p.rsplit(":", 1)[-1] for p in ports} == {
        "18501:8501",
        "18500:8500",
    }
    assert "--model_config_file=/config/models.config" in cmd
    assert "--model_config_file_poll_wait_seconds=7" in cmd
    assert "--allow_version_labels_for_unavailable_models=true" in cmd


@pytest.mark.task("4.5")
@pytest.mark.points(1)
def test_container_command_follows_engine_and_image(lab_cli, monkeypatch):
    cmd = _lab_cmd(lab_cli, monkeypatch, "podman", LAB4_IMAGE="example.org/tfs:9")
    assert cmd[:2] == ["podman", "run"]
    image_at = cmd.index("example.org/tfs:9")
    assert all(not a.startswith("--model_config") for a in cmd[:image_at])  # flags after it
    assert "--monitoring_config_file=/config/monitoring.config" in cmd[image_at:]
