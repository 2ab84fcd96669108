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


def _drive_trial():
    spec = importlib.util.spec_from_file_location("drive_trial", ROOT / "scripts" / "drive_trial.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_drive_trial_runs_folds_and_summarises(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # no DRIVE here: the synthetic fallback
    monkeypatch.setenv("COURSE_MODE", "smoke")  # restored afterwards; the script sets the mode itself
    monkeypatch.setattr("sys.argv", ["drive_trial.py", "--mode", "smoke", "--fold", "0", "1"])
    _drive_trial().main()
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("   0     ")]
    assert [row[1] for row in rows] == ["0", "1"]  # seed 0, folds 0 and 1
    aucs = [float(row[2]) for row in rows]
    assert f"mean of 2 runs (seed 0): AUC {sum(aucs) / 2:.4f}" in out


def test_drive_trial_summary_and_bad_override():
    script = _drive_trial()
    results = {(s, f): {"auc": 0.96 + f / 100 + s / 1000, "auc_tta": 0.97, "f1": 0.8, "minutes": 1.0}
               for s in (0, 1) for f in (0, 1)}
    text = script.summary(results)
    assert "mean of 2 runs (seed 0): AUC 0.9650" in text and "mean of 2 runs (seed 1): AUC 0.9660" in text
    assert "mean of 4 runs (all seeds): AUC 0.9655" in text
    assert script.parse_overrides(["batch_size=12", "preprocessing=rgb"]) == {"batch_size": 12,
                                                                               "preprocessing": "rgb"}
    with pytest.raises(SystemExit, match="FIELD=VALUE"):
        script.parse_overrides(["batch_size"])
