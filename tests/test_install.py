"""A plain (not editable) install in a fresh venv: the console script and the named configs
work from outside the repository."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                          **kw)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new venv holding only a wheel of this checkout; the dependencies come from the test
    environment's site-packages through a .pth (nothing is downloaded)."""
    tmp = tmp_path_factory.mktemp("install")
    # Built from a copy: setuptools writes build/ and *.egg-info into the source tree.
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "runs", "build", "*.egg-info", "__pycache__"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-q", "-w", tmp / "dist", src])
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("bokeh_jax-*.whl")
    env = tmp / "venv"
    assert _run([sys.executable, "-m", "venv", env]).returncode == 0
    python = env / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib.stdout.strip(), "test_deps.pth").write_text("\n".join(deps) + "\n")
    installed = _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    assert installed.returncode == 0, installed.stderr
    return env


def test_console_script_from_a_wheel(venv, tmp_path):
    env = dict(os.environ, BOKEH_JAX_CACHE=str(tmp_path / "cache"), TFDS_DATA_DIR=str(tmp_path))
    bokeh = venv / "bin" / "bokeh-jax"
    where = _run([venv / "bin" / "python", "-c", "import bokeh_jax; print(bokeh_jax.__file__)"],
                 cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel, not the checkout
    top = _run([bokeh, "--help"], cwd=tmp_path, env=env)
    assert top.returncode == 0 and "render" in top.stdout and "train" in top.stdout
    # (Every subcommand's --help is checked in-process in test_layout.py.)
    train_help = _run([bokeh, "train", "--help"], cwd=tmp_path, env=env).stdout
    assert "demo" in train_help and "phase1" in train_help and "common.py" in train_help
    # A named config is found inside the installed package: the run gets as far as the data.
    run = _run([bokeh, "train", "--config", "demo", "--workdir", tmp_path / "w",
                "--config.dataset=nope"], cwd=tmp_path, env=env)
    assert run.returncode == 2, run.stderr
    assert "--config.dataset='nope': unknown dataset 'nope'" in run.stderr, run.stderr
