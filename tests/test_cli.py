"""The command line and the benchmark script, run for real in smoke mode."""

import importlib.util
import json
from pathlib import Path

import pytest

from course_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--mode", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_metrics_and_figures(smoke_run, capsys):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert metrics["mode"] == "smoke" and metrics["model"] == "unet"
    assert metrics["epochs_trained"] == 1
    assert set(metrics["validation"]) >= {"dice", "iou", "accuracy", "sensitivity", "specificity", "auc"}
    assert all(0.0 <= v <= 1.0 for v in metrics["validation"].values() if v == v)
    for name in ("learning_curves.png", "predictions.png", "last.pt", "best.pt"):
        assert (smoke_run / name).stat().st_size > 1000, name


def test_train_again_resumes_instead_of_retraining(smoke_run, capsys):
    before = (smoke_run / "last.pt").stat().st_mtime_ns
    assert main(["train", "--mode", "smoke", "--out", str(smoke_run)]) == 0
    assert "nothing to train" in capsys.readouterr().out
    assert (smoke_run / "last.pt").stat().st_mtime_ns == before


def test_list_and_clear_errors(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "unet" in out and "synthetic-vessels" in out
    assert main(["train", "--model", "no_such_net", "--mode", "smoke", "--out", "/tmp/x"]) == 2
    assert "Unknown model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--mode", "smoke", "--model-arg", "oops"])


def test_benchmark_measures_a_model():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench_models.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    row = bench.measure("unet", size=32, batch=1, steps=1, device="cpu", amp=False, channels_last=False,
                        threads=1)
    assert row["params"] == 7_763_041  # the default U-Net with 3 input channels
    assert row["step_s"] > 0 and row["images_per_s"] == pytest.approx(1 / row["step_s"])
    assert row["gmacs_per_image"] > 0
