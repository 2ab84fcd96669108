"""The course's CPU thread policy: set before torch loads, never over the user's own settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import os, course_lib\n"
         "print(course_lib.cpu_policy.status(), os.environ.get('GOMP_SPINCOUNT'))\n"
         "print(course_lib.config.describe().splitlines()[1])")


def _run(code: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "COURSE_CPU_POLICY", "COURSE_MAX_STEPS")}
    clean.update(env, COURSE_MODE="smoke", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True,
                            check=True)
    return result.stdout.strip().splitlines()


@pytest.mark.parametrize("env, status, spin, said", [
    ({}, "applied", "10000", "short OpenMP spin (GOMP_SPINCOUNT=10000)"),
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "yours", "None", "your own OMP_WAIT_POLICY=PASSIVE"),
    ({"GOMP_SPINCOUNT": "500"}, "yours", "500", "your own GOMP_SPINCOUNT=500"),
    ({"COURSE_CPU_POLICY": "off"}, "off", "None", "COURSE_CPU_POLICY=off"),
])
def test_policy_applies_unless_the_user_decides(env, status, spin, said):
    first, banner = _run(PROBE, **env)
    assert first == f"{status} {spin}"
    assert banner.startswith("CPU: ") and said in banner


def test_importing_torch_first_is_reported_not_hidden():
    first, banner = _run("import torch\n" + PROBE)
    assert first == "too late None"
    assert "import course_lib first" in banner
