"""A plain (non-editable) install carries the theme and translations and works anywhere.

The wheel is built from a copy of the checkout's source files only: setuptools
reuses a ``build/`` folder left in the checkout, and a stale one (say with a
migration since renumbered) would put files in the wheel that the source no
longer has.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    # A venv inside the checkout (`.venv`, a common place for the README's commands) holds the
    # dependencies too; the wheel's own folder comes first on the path, so `newsletter` still
    # comes from the wheel.
    return [d for d in dirs if Path(d).is_dir() and Path(d).resolve() != ROOT.resolve()]


def _source_files() -> list[str]:
    """The files a commit of the checkout would hold: tracked, plus new ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def _clean_copy(dest: Path) -> Path:
    for name in _source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return dest


@pytest.mark.timeout(240)
def test_wheel_contains_theme_and_renders_outside_checkout(tmp_path: Path) -> None:
    source = _clean_copy(tmp_path / "source")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(wheels.glob("newsletter-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {n for n in names if n.startswith("newsletter/")}
    assert packaged == {n for n in _source_files() if n.startswith("newsletter/")}
    assert "newsletter/theme/default/issue.mjml.j2" in names
    assert {
        "newsletter/locales/de/LC_MESSAGES/newsletter.po",
        "newsletter/locales/en/LC_MESSAGES/newsletter.po",
        "newsletter/locales/zh-Hans/LC_MESSAGES/newsletter.po",
        "newsletter/locales/ar/LC_MESSAGES/newsletter.po",
    } <= set(names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(purelib)  # what pip does for a pure-Python wheel, minus the network
    # The dependencies come from the interpreter running the tests (a venv or the system's;
    # system_site_packages would mean the base interpreter's, which may lack them). Plain
    # path lines: the .pth files in those folders, such as an editable install of this
    # checkout, are not run, so `newsletter` can only come from the wheel.
    Path(purelib, "_test_dependencies.pth").write_text("\n".join(_site_dirs()) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    issue = ROOT / "examples" / "riverside" / "issues" / "2026-11.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEWSLETTER_CONFIG")}
    result = subprocess.run(
        [
            str(py),
            "-c",
            "import newsletter, sys; assert 'site-packages' in newsletter.__file__;"
            "from newsletter.cli import main; main(sys.argv[1:])",
            "render",
            str(issue),
            "-o",
            "out",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Read more" in (elsewhere / "out" / "2026-11.html").read_text(encoding="utf-8")
    demo = subprocess.run(
        [str(py), "-c", "from newsletter.cli import main; main()", "demo"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
    )
    assert demo.returncode == 0, demo.stderr
    assert "\n  sent           47\n" in demo.stdout
    assert len(list((elsewhere / "demo" / "eml").iterdir())) == 47
