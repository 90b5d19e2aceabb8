"""Editors' local images (issue #26): in from the issue folder, out right-sized and EXIF-free,
hosted with the archive or embedded in the message.

Every image here is made with Pillow in the test: a phone-like JPEG with GPS
position, camera serial and an orientation tag, a 40-megapixel PNG, a
truncated JPEG, and a text file named ``.jpg``.
"""

from __future__ import annotations

import base64
import email
import hashlib
import io
import json
import re
from dataclasses import replace
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from PIL import Image as Pillow
from PIL.ExifTags import IFD
from sqlmodel import select

from newsletter.campaigns.composer import message_template
from newsletter.campaigns.tables import Campaign
from newsletter.cli import cli
from newsletter.config import Media, load_settings
from newsletter.errors import IssueError, OperationFailed
from newsletter.issue.load import load_issue
from newsletter.message.compose import Recipient
from newsletter.message.media import MediaFile, embed, extract, reference
from newsletter.render import render_issue
from newsletter.workbench.publish import create_campaign_from_file
from newsletter.workbench.published import hosted_images, require_published

BASE = "https://news.example.org"
SERIAL = "SN-4711-CAMERA"
IMG = re.compile(r"<img\b[^>]*>")


def photo(path: Path, size: tuple[int, int] = (3000, 2000)) -> bytes:
    """A JPEG as a phone writes it: GPS position, camera serial, stored sideways (orientation 6)."""
    im = Pillow.new("RGB", size, (30, 60, 90))
    im.paste((250, 200, 40), (0, 0, size[0] // 3, size[1]))  # a bright band: the left third
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    exif[0x010F] = "ExampleCam"
    exif[0xA431] = SERIAL  # BodySerialNumber
    gps = exif.get_ifd(IFD.GPSInfo)
    gps.update({1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.5)})
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", exif=exif.tobytes(), quality=90)
    return path.read_bytes()


ISSUE = """\
issue:
  date: 2026-11
  language: en
  subject: The eclipse over the river
  preheader: Pictures from the night walk
articles:
  - title: The eclipse
    paragraphs: [We watched it from the bridge.]
    image:
      src: {src}
      alt: The moon over the river
  - title: A remote picture
    paragraphs: [Hosted elsewhere.]
    image: {{src: "https://example.org/river.png", alt: River, width: 300, height: 150}}
"""
SRC_LINE, SRC_COL = 10, 12  # where `src:`'s value starts in ISSUE


def write_issue(folder: Path, src: str = "img/eclipse.jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "2026-11.yaml"
    path.write_text(ISSUE.format(src=src), encoding="utf-8")
    (folder / "newsletter.toml").write_text(f'[delivery]\nbase_url = "{BASE}"\n', encoding="utf-8")
    return path


def run(folder: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(folder / "newsletter.toml"), *args])


def img_tags(html: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)="([^"]*)"', tag)) for tag in IMG.findall(html)]


# --- the file that goes out ----------------------------------------------------------------------


def test_gps_photo_becomes_a_clean_right_sized_file_with_width_and_height(tmp_path: Path) -> None:
    original = photo(tmp_path / "img" / "eclipse.jpg")
    assert SERIAL.encode() in original
    assert Pillow.open(io.BytesIO(original)).getexif().get_ifd(IFD.GPSInfo)[2] == (52.0, 31.0, 12.5)
    issue = write_issue(tmp_path)

    result = run(tmp_path, "render", str(issue), "-o", str(tmp_path / "out"))

    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "out" / "media").iterdir())
    assert len(files) == 1
    data = files[0].read_bytes()
    assert files[0].name == hashlib.sha256(data).hexdigest()[:20] + ".jpg"
    out = Pillow.open(io.BytesIO(data))
    assert out.format == "JPEG"
    # turned upright (3000×2000 stored sideways is 2000×3000), twice the 552 px column
    assert out.size == (1104, 1656)
    assert not out.getexif() and not out.getexif().get_ifd(IFD.GPSInfo)
    assert "exif" not in out.info and "icc_profile" not in out.info
    assert SERIAL.encode() not in data and b"ExampleCam" not in data and b"Exif" not in data
    # the bright band was the stored image's left third: upright, it is the top third
    assert out.getpixel((552, 100))[0] > 200 and out.getpixel((552, 1500))[0] < 100
    html = (tmp_path / "out" / "2026-11.html").read_text()
    local, remote = img_tags(html)
    assert local["src"] == f"media/{files[0].name}"
    assert (local["width"], local["height"]) == ("552", "828")
    assert "height: auto" in local["style"]  # the attribute reserves, CSS keeps proportions
    assert (remote["src"], remote["width"], remote["height"]) == (
        "https://example.org/river.png",
        "300",
        "150",
    )


def test_mail_html_names_the_hosted_file_and_a_small_image_is_not_enlarged(
    tmp_path: Path,
) -> None:
    Pillow.new("RGB", (320, 200), "white").save(tmp_path / "img.png")
    (tmp_path / "img").mkdir()
    (tmp_path / "img.png").rename(tmp_path / "img" / "small.png")
    issue = load_issue(write_issue(tmp_path, "img/small.png"))
    r = render_issue(issue, load_settings(tmp_path / "newsletter.toml"))

    (image,) = r.images
    assert image.file.name.endswith(".png")
    assert (image.width, image.height, image.pixel_width) == (320, 200, 320)
    tag = img_tags(r.html)[0]
    assert tag["src"] == f"{BASE}/archive/media/{image.file.name}"
    assert (tag["width"], tag["height"]) == ("320", "200")


# --- bad files: one located error, nothing written ---------------------------------------------


def _truncated(path: Path) -> None:
    data = photo(path.with_suffix(".tmp"), (800, 600))
    path.write_bytes(data[: len(data) // 2])


def _forty_megapixels(path: Path) -> None:
    Pillow.new("1", (8000, 5000)).save(path, "PNG")  # 1 bit a pixel: small to make


def _text(path: Path) -> None:
    path.write_text("These are my holiday notes, not a photo.\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_truncated, "damaged image, cannot be decoded"),
        (
            _forty_megapixels,
            "8000×5000 pixels (40.0 megapixels) is too large; at most 30 megapixels",
        ),
        (_text, "not a JPEG, PNG, GIF or WebP image (judged by its content, not its name)"),
        (None, "image file not found"),
    ],
    ids=["corrupt", "40-megapixels", "text-named-jpg", "missing"],
)
def test_bad_image_file_gives_one_located_error_and_nothing_written(
    tmp_path: Path, make, message: str
) -> None:
    target = tmp_path / "img" / "eclipse.jpg"
    target.parent.mkdir()
    if make:
        make(target)
    issue = write_issue(tmp_path)
    out = tmp_path / "out"

    result = run(tmp_path, "render", str(issue), "-o", str(out))

    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[1] == "Nothing written: 1 error(s).", result.output
    assert lines[0].startswith(f"{issue}:{SRC_LINE}:{SRC_COL}: "), lines[0]
    assert "img/eclipse.jpg" in lines[0] and message in lines[0]
    assert not out.exists()
    # `archive build` and `check` report the same place
    archive = run(tmp_path, "archive", "build", str(tmp_path / "arch"), str(issue))
    assert archive.exit_code == 2 and f"{issue}:{SRC_LINE}:{SRC_COL}: " in archive.output
    assert not (tmp_path / "arch").exists()
    check = run(tmp_path, "check", str(issue))
    assert check.exit_code == 2 and f"{issue}:{SRC_LINE}:{SRC_COL}: " in check.output


def test_bad_image_creates_no_campaign(world, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    _text(tmp_path / "img" / "eclipse.jpg")
    issue = write_issue(tmp_path)
    with world.db.session() as s, pytest.raises(IssueError) as caught:
        create_campaign_from_file(s, issue, "news", world.settings)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == (str(issue), SRC_LINE, SRC_COL)
    with world.db.session() as s:
        assert s.exec(select(Campaign)).all() == []


# --- hosted: published with the archive ---------------------------------------------------------


def test_archive_build_publishes_the_files_the_pages_reference(tmp_path: Path) -> None:
    photo(tmp_path / "img" / "eclipse.jpg")
    issue = write_issue(tmp_path)
    arch = tmp_path / "public" / "archive"

    result = run(tmp_path, "archive", "build", str(arch), str(issue))

    assert result.exit_code == 0, result.output
    page = (arch / "2026-11" / "index.html").read_text()
    local = img_tags(page)[0]
    assert local["src"].startswith(f"{BASE}/archive/media/")
    # <base_url>/archive/ is DIR: the address resolves to a file of the build
    served = arch / local["src"].removeprefix(f"{BASE}/archive/")
    assert Pillow.open(served).size == (1104, 1656)
    assert not Pillow.open(served).getexif()


def _settings_for(world, mode: str):
    return replace(world.settings, media=Media(mode=mode))


def _message_bytes(world, settings, campaign_id: int) -> bytes:
    """The campaign's message for one reader, byte for byte as the transport gets it."""
    with world.db.session() as s:
        campaign = s.get(Campaign, campaign_id)
    template = message_template(settings, campaign)
    reader = Recipient("reader@example.com", "Reader", "tok", "1.1@example.org")
    return bytes(template.compose(reader))


def _compose(world, settings, campaign_id: int) -> email.message.EmailMessage:
    data = _message_bytes(world, settings, campaign_id)
    return email.message_from_bytes(data, policy=policy.default)


def test_hosted_images_resolve_on_the_served_archive(web, tmp_path: Path) -> None:
    original = photo(tmp_path / "issue" / "img" / "eclipse.jpg")
    issue = write_issue(tmp_path / "issue")
    with web.db.session() as s:
        campaign, _ = create_campaign_from_file(s, issue, "news", web.settings)
        urls = hosted_images(s, campaign, web.settings)
    msg = _compose(web, web.settings, campaign.id)
    html = msg.get_body(("html",)).get_content()
    src = img_tags(html)[0]["src"]
    assert urls == [src] and src.startswith(f"{web.url}/archive/media/")
    assert not any(p.get_content_maintype() == "image" for p in msg.walk())
    with pytest.raises(OperationFailed, match="1 of the campaign's 1 image"):
        require_published(urls)  # nothing listens yet: the send would refuse to start

    web.serve()
    with web.client() as client:
        got = client.get(src)
        head = client.head(src)
    assert got.status_code == 200 and head.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(got.content).hexdigest()[:20] in src
    assert len(got.content) < len(original) and not Pillow.open(io.BytesIO(got.content)).getexif()
    require_published(urls)  # now the campaign may start


# --- inline: the message carries its images ------------------------------------------------------


def test_inline_message_carries_the_images_it_references(world, tmp_path: Path, browser) -> None:
    photo(tmp_path / "img" / "eclipse.jpg")
    issue = write_issue(tmp_path)
    settings = _settings_for(world, "inline")
    with world.db.session() as s:
        campaign, _ = create_campaign_from_file(s, issue, "news", settings)
        assert hosted_images(s, campaign, settings) == []

    eml = tmp_path / "message.eml"
    eml.write_bytes(_message_bytes(world, settings, campaign.id))
    # from here on, only the .eml file
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)

    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    html = html_part.get_content()
    cids = {m for m in re.findall(r'src="cid:([^"]+)"', html)}
    parts = {p["Content-ID"].strip("<>"): p for p in images}
    assert cids and cids == set(parts)
    for part in parts.values():
        assert part.get_content_type() == "image/jpeg"
        assert part.get_content_disposition() == "inline"
        assert not Pillow.open(io.BytesIO(part.get_content())).getexif()
    # the only remote image is the issue's own https://example.org one, no file of ours
    assert "/archive/media/" not in html

    page = browser.new_page()
    requests: list[str] = []
    page.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    # The harness plays mail client: each cid: becomes its part's bytes, from the .eml alone.
    for cid, part in parts.items():
        data = base64.b64encode(part.get_content()).decode()
        html = html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    page.set_content(html, wait_until="load")
    shown = page.evaluate(
        "[...document.images].filter(i => i.alt === 'The moon over the river')"
        ".map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.width])"
    )
    page.close()
    assert shown == [[True, 1104, 1656, 552]]
    assert requests == ["https://example.org/river.png"]  # the remote one only


# --- check --report -----------------------------------------------------------------------------


def test_report_lists_each_image_and_the_size_of_each_mode(tmp_path: Path) -> None:
    original = photo(tmp_path / "img" / "eclipse.jpg")
    issue = write_issue(tmp_path)

    result = run(tmp_path, "check", "--report", "--no-spam", "--format", "json", str(issue))

    (report,) = json.loads(result.output)
    media = [f for f in report["findings"] if f["check"] == "media"]
    assert len(media) == 1
    d = media[0]["data"]
    assert d["src"] == "img/eclipse.jpg" and d["alt"] == "The moon over the river"
    assert d["bytes_before"] == len(original) and 0 < d["bytes_after"] < len(original)
    assert (d["width"], d["height"], d["pixel_width"], d["pixel_height"]) == (552, 828, 1104, 1656)
    sizes = {f["data"]["mode"]: f for f in report["findings"] if f["check"] == "media-size"}
    assert sizes["inline"]["data"]["bytes"] > sizes["hosted"]["data"]["bytes"] + d["bytes_after"]
    assert "(the mode in use: media.mode)" in sizes["hosted"]["message"]


def test_report_warns_when_inline_images_pass_gmails_limit(tmp_path: Path) -> None:
    noise = Pillow.effect_noise((1200, 1200), 120).convert("RGB")  # incompressible
    (tmp_path / "img").mkdir()
    noise.save(tmp_path / "img" / "eclipse.jpg", quality=95)
    issue = write_issue(tmp_path)
    (tmp_path / "newsletter.toml").write_text(
        f'[delivery]\nbase_url = "{BASE}"\n[media]\nmode = "inline"\n', encoding="utf-8"
    )

    result = run(tmp_path, "check", "--report", "--no-spam", "--format", "json", str(issue))

    (report,) = json.loads(result.output)
    inline = next(f for f in report["findings"] if f["data"].get("mode") == "inline")
    assert inline["severity"] == "warning"
    assert "over Gmail's 102 KB clipping limit" in inline["message"]


def test_send_online_refuses_to_start_until_the_archive_serves_the_images(
    web, tmp_path: Path
) -> None:
    photo(tmp_path / "issue" / "img" / "eclipse.jpg")
    issue = write_issue(tmp_path / "issue")
    web.add(2)
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'[organisation]\nsender_email = "letters@example.org"\n'
        f'[database]\nurl = "{web.settings.database_url}"\n'
        f'[delivery]\nbase_url = "{web.url}"\ntransport = "maildir"\noutbox = "outbox"\n',
        encoding="utf-8",
    )
    created = run(tmp_path, "campaigns", "create", str(issue), "--list", "news")
    assert created.exit_code == 0, created.output
    with web.db.session() as s:
        (url,) = hosted_images(s, s.get(Campaign, 1), web.settings)

    refused = run(tmp_path, "campaigns", "send", "1", "--online", "--yes")

    assert refused.exit_code == 1, refused.output
    assert "1 of the campaign's 1 image(s) are not published:\n" in refused.output
    assert f"  {url}: " in refused.output
    assert not (tmp_path / "outbox").exists()
    assert web.state(1) == "draft"

    web.serve()
    sent = run(tmp_path, "campaigns", "send", "1", "--online", "--yes")

    assert sent.exit_code == 0, sent.output
    assert sent.output.endswith("Campaign 1: finished (2 sent)\n")
    for path in (tmp_path / "outbox" / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert img_tags(msg.get_body(("html",)).get_content())[0]["src"] == url
    # the sent issue's archive page shows the same file, from the same address
    web.restart()  # no wait for the archive's cache
    with web.client() as client:
        page = client.get("/archive/2026-11/")
        assert page.status_code == 200 and img_tags(page.text)[0]["src"] == url
        assert client.get(url).status_code == 200


# --- the snapshot round trip ---------------------------------------------------------------------


@examples(max_examples=60, deadline=None)
@given(
    files=st.lists(
        st.tuples(
            st.binary(min_size=1, max_size=300), st.sampled_from(["image/jpeg", "image/png"])
        ),
        max_size=4,
    ),
    mode=st.sampled_from(["hosted", "inline"]),
)
def test_a_snapshot_gives_back_the_same_files_and_references(files, mode) -> None:
    """embed → extract is the identity on the files and on the HTML's references, in both modes."""
    made = [MediaFile.of(data, kind) for data, kind in files]
    ref = reference(mode, BASE)
    html = "".join(f'<p>x</p><img src="{ref(f.name)}" alt="">' for f in made) + "<p>end</p>"

    stored = embed(html, made)
    back, found = extract(stored, ref)

    assert back == html
    assert {f.name: f.data for f in found} == {f.name: f.data for f in made}
    assert "/archive/media/" not in stored and "cid:" not in stored
