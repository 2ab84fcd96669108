"""Nothing a user made is lost: the run folder is checked before training (issue: lost data), and a
checkpoint written for another run is refused instead of resumed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course_lib.cli import main
from course_lib.engine import TrainingError, fit
from course_lib.training import run_folder
from tests.test_engine import FAST, DictDataset, tiny_net


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def vessel_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("R")
    assert main(["train", "--mode", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("other", [
    ["--dataset", "synthetic-salient"],   # the case that used to resume the vessel weights as "salient"
    ["--seed", "3"],
    ["--mode", "quick"],
])
def test_cli_refuses_to_resume_another_runs_folder(vessel_run, capsys, other):
    before = _snapshot(vessel_run)
    argv = ["train", "--mode", "smoke", "--out", str(vessel_run), "--quiet"]
    argv = [a for a in argv if not (other[0] == "--mode" and a in ("--mode", "smoke"))] + other
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(vessel_run) in err and "belongs to another run" in err and "--out" in err
    assert _snapshot(vessel_run) == before  # metrics.json, figures and checkpoints untouched


def test_cli_refuses_a_folder_the_course_did_not_write(tmp_path, capsys):
    own = tmp_path / "mine"
    own.mkdir()
    (own / "metrics.json").write_text('{"my": "results"}')
    assert main(["train", "--mode", "smoke", "--out", str(own), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no course run wrote (metrics.json)" in err and "Nothing was changed" in err
    assert _snapshot(own) == {"metrics.json": b'{"my": "results"}'}


def test_cli_out_is_a_file_or_cannot_be_created(tmp_path, capsys):
    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    assert main(["train", "--mode", "smoke", "--out", str(afile), "--quiet"]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert main(["train", "--mode", "smoke", "--out", str(afile / "sub"), "--quiet"]) == 2
    assert "Cannot create the run folder" in capsys.readouterr().err
    assert afile.read_text() == "keep me"


def _untrained(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fit_checks_the_folder_before_training(tmp_path, monkeypatch):
    afile = tmp_path / "f"
    afile.write_text("x")
    model = tiny_net()
    before = _untrained(model)
    with pytest.raises(TrainingError, match=r"existing file, not a folder.*nothing was trained"):
        fit(model, DictDataset(8), None, epochs=1, out_dir=afile, **FAST)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())

    def read_only(self, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", read_only)  # root ignores chmod; simulate a read-only folder
    with pytest.raises(TrainingError, match=r"Cannot write to the run folder.*nothing was trained"):
        fit(model, DictDataset(8), None, epochs=1, out_dir=tmp_path / "ro", **FAST)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_fit_never_overwrites_a_users_history(tmp_path):
    (tmp_path / "history.json").write_text("my notes")
    (tmp_path / "notes.txt").write_text("other files are fine")
    with pytest.raises(TrainingError, match=r"no course run wrote \(history.json\)"):
        fit(tiny_net(), DictDataset(8), None, epochs=1, out_dir=tmp_path, **FAST)
    assert (tmp_path / "history.json").read_text() == "my notes"
    assert not (tmp_path / "last.pt").exists()


def test_fit_refuses_a_checkpoint_of_another_run(tmp_path):
    fit(tiny_net(), DictDataset(8), None, epochs=1, out_dir=tmp_path, run={"dataset": "a"}, **FAST)
    before = _snapshot(tmp_path)
    expected = r"belongs to another run \(dataset: 'a' in the checkpoint, 'b' now\)"
    with pytest.raises(TrainingError, match=expected):
        fit(tiny_net(), DictDataset(8), None, epochs=2, out_dir=tmp_path, run={"dataset": "b"}, **FAST)
    assert _snapshot(tmp_path) == before
    history = fit(tiny_net(), DictDataset(8), None, epochs=2, out_dir=tmp_path, run={"dataset": "a"}, **FAST)
    assert history.epochs == 2  # the same run resumes


def test_a_course_run_folder_is_reused(tmp_path):
    fit(tiny_net(), DictDataset(8), None, epochs=1, out_dir=tmp_path, **FAST)
    assert run_folder.prepare_run_folder(tmp_path, whole_folder=True) == tmp_path
