import re

import pytest
import torch

import course_lib as cl
from course_lib import config


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "Smoke ")
    assert cl.config.get_mode() == "smoke"
    monkeypatch.setenv("COURSE_MODE", "full")
    assert config.get_mode() == "full"


def test_default_mode_follows_the_device(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(config, "_accelerator_available", lambda: False)
    assert config.get_mode() == "quick"
    monkeypatch.setattr(config, "_accelerator_available", lambda: True)
    assert config.get_mode() == "full"


def test_bad_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    with pytest.raises(ValueError, match="smoke, quick, full"):
        config.get_mode()


def test_set_mode_and_by_mode(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    assert config.set_mode("smoke") == "smoke"
    assert config.by_mode(smoke=1, quick=2, full=3) == 1
    assert config.by_mode(smoke=1, quick=2, full=3, mode="full") == 3
    config.set_mode(None)
    assert "COURSE_MODE" not in __import__("os").environ


def test_seed_everything_is_reproducible():
    config.seed_everything(123)
    a = torch.rand(5), __import__("numpy").random.rand(3), __import__("random").random()
    generator = config.seed_everything(123)
    b = torch.rand(5), __import__("numpy").random.rand(3), __import__("random").random()
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]
    again = config.seed_everything(123)
    assert torch.equal(torch.rand(2, generator=generator), torch.rand(2, generator=again))


def test_device_selection():
    assert config.get_device("cpu").type == "cpu"
    assert config.get_device().type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was requested"):
            config.get_device("cuda")


def test_describe_names_mode_device_and_time(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "quick")
    line = config.describe({"quick": 5})
    assert "COURSE_MODE=quick" in line and "device:" in line and "about 5 min" in line
    first = line.splitlines()[0]
    assert "((" not in first and "))" not in first, first  # no nested parentheses
    assert len(re.findall(r"\d+(?:\.\d+)? min", first)) == 1, f"one time, the chapter's own: {first}"
    assert "min" not in config.describe().splitlines()[0]  # no chapter time given: none stated
