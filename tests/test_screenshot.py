"""``newsletter screenshot``: PNGs of the requested widths in headless Chromium, not blank."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from png_helpers import decode, solid_png

from newsletter.cli import cli

ROOT = Path(__file__).resolve().parents[1]
RIVERSIDE = ROOT / "examples" / "riverside"

pytestmark = pytest.mark.usefixtures("chromium_available")  # skipped without it, except in CI


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.timeout(240)
def test_requested_widths_light_and_dark(tmp_path: Path) -> None:
    issue = RIVERSIDE / "issues" / "2026-11.yaml"
    config = ["--config", str(RIVERSIDE / "newsletter.toml")]
    out = tmp_path / "shots"
    light = run(*config, "screenshot", str(issue), "-o", str(out), "--offline")
    assert light.exit_code == 0, light.output
    dark = run(*config, "screenshot", str(issue), "-o", str(out), "--width", "600", "--dark",
               "--offline")  # fmt: skip
    assert dark.exit_code == 0, dark.output
    assert sorted(p.name for p in out.iterdir()) == [
        "2026-11-375.png", "2026-11-600-dark.png", "2026-11-600.png"
    ]  # fmt: skip
    images = {p.stem: decode(p.read_bytes()) for p in out.iterdir()}
    for stem, width in (("2026-11-600", 600), ("2026-11-375", 375), ("2026-11-600-dark", 600)):
        image = images[stem]
        assert image.width == width
        assert image.height > 1000  # the whole page, not one viewport
        assert image.variance() > 500, f"{stem} looks blank"
        assert f"Wrote {out / stem}.png ({width}×{image.height} px)" in (light.output + dark.output)
    # A phone shows the same issue longer, and dark mode darker.
    assert images["2026-11-375"].height > images["2026-11-600"].height

    def mean(stem: str) -> float:
        img = images[stem]
        return sum(img.data) / len(img.data)

    assert mean("2026-11-600-dark") < mean("2026-11-600") / 2


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "red.png").write_bytes(solid_png(1000, 200, (255, 0, 0)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(240)
def test_images_keep_their_pixel_width(tmp_path: Path, image_server: str) -> None:
    """mjml's width attribute survives inlining: 500 px on a desktop, the column on a phone."""
    issue = tmp_path / "img.yaml"
    issue.write_text(
        "issue: {date: 2021-07, language: en, subject: S, preheader: P}\n"
        "articles:\n  - title: Red\n"
        f"    image: {{src: '{image_server}/red.png', alt: A red block, width: 500}}\n"
        "    paragraphs: [x]\n",
        encoding="utf-8",
    )
    result = run("screenshot", str(issue), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    for width, expected in ((600, 500), (375, 375 - 2 * 24)):
        image = decode((tmp_path / "out" / f"img-{width}.png").read_bytes())
        red_rows = [sum(1 for px in image.row(y) if px == (255, 0, 0)) for y in range(image.height)]
        assert max(red_rows) == expected, (width, max(red_rows))


def test_missing_chromium_is_one_clear_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NEWSLETTER_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    result = CliRunner().invoke(
        cli, ["screenshot", str(ROOT / "issues" / "2021-07.yaml"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "Chromium not found: install it (Debian/Ubuntu: apt-get install chromium)" in (
        result.output
    )
    assert not (tmp_path / "o").exists()


def test_bad_width_and_bad_issue_are_bad_input(tmp_path: Path) -> None:
    narrow = CliRunner().invoke(
        cli, ["screenshot", str(ROOT / "issues" / "2021-07.yaml"), "--width", "20"]
    )
    assert narrow.exit_code == 2 and "--width 20: choose between 240 and 2400" in narrow.output
    broken = tmp_path / "b.yaml"
    broken.write_text("issue: {date: 2021-13}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["screenshot", str(broken), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and f"{broken}:1:" in result.output
    assert not (tmp_path / "o").exists()
