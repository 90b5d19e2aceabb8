"""The web archive: served from sent campaigns, built as static files from the 18 ISA issues,
and the links a composed message carries resolve on the server."""

from __future__ import annotations

import email
import hashlib
import os
import re
import subprocess
import sys
import time
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import httpx
import pytest
from html_checks import html_problems
from lxml import etree

from newsletter.campaigns import store
from newsletter.config import load_settings
from newsletter.errors import OperationFailed
from newsletter.issue.files import issue_files
from newsletter.issue.load import load_issue
from newsletter.render import render_issue
from newsletter.subscribers.tables import Subscription
from newsletter.web.archive import build_site, entries_from_files, write_site
from newsletter.web.pages import Pages

ROOT = Path(__file__).resolve().parents[1]
ISSUES = issue_files(ROOT / "issues")  # the 18 originals, not their translations


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")


def parsed(html: str) -> Links:
    p = Links()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def isa_site(tmp_path_factory) -> Path:
    settings = load_settings(ROOT / "newsletter.toml")
    out = tmp_path_factory.mktemp("site") / "archive"
    from click.testing import CliRunner

    from newsletter.cli import cli

    result = CliRunner().invoke(
        cli,
        ["--config", str(ROOT / "newsletter.toml"), "archive", "build", str(out)]
        + [str(p) for p in ISSUES],
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 18 issue(s) to {out}/ (22 files).\n"
    assert settings.delivery.base_url == "https://newsletter.example.org"
    return out


def test_the_static_archive_of_the_18_isa_issues(isa_site: Path) -> None:
    index = (isa_site / "index.html").read_text("utf-8")
    links = parsed(index)
    slugs = [p.stem for p in ISSUES]
    assert [h for h in links.hrefs if re.fullmatch(r"\d{4}-\d{2}/", h)] == [
        f"{s}/" for s in sorted(slugs, reverse=True)
    ]
    for slug in slugs:
        page = (isa_site / slug / "index.html").read_text("utf-8")
        tags = parsed(page)
        assert "../" in tags.hrefs, f"{slug} does not link back to the index"
        assert html_problems(page, "de") == [], slug  # the mail's own checks
        canonical = [a for t, a in tags.tags if t == "link" and a.get("rel") == "canonical"]
        assert canonical[0]["href"] == f"https://newsletter.example.org/archive/{slug}/"
        # the public unsubscribe page, never a personal link
        assert 'https://newsletter.example.org/unsubscribe"' in page
    assert html_problems(index, "de") == []
    css = (isa_site / "style.css").read_text("utf-8")
    assert "background: #a3111c" in css and "{{" not in css  # rendered with the colours


def test_the_feed_parses_with_full_content_and_dates(isa_site: Path) -> None:
    feed = feedparser.parse((isa_site / "feed.atom").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "Chinesisch-Deutsche Industriestädteallianz (ISA)"
    assert len(feed.entries) == 18
    newest = feed.entries[0]
    assert newest.link == "https://newsletter.example.org/archive/2021-07/"
    assert newest.published.startswith("2021-07-01")
    july = load_issue(ROOT / "issues" / "2021-07.yaml")
    assert july.articles[0].title in newest.content[0].value
    assert "%%" not in newest.content[0].value
    sitemap = etree.parse(str(isa_site / "sitemap.xml"))
    locs = sitemap.findall(".//{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
    assert len(locs) == 19


def test_build_replaces_its_own_archive_and_refuses_other_folders(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "newsletter.toml")
    pages = Pages(settings)
    site = build_site(entries_from_files(ISSUES[:2], settings), pages)
    out = tmp_path / "archive"
    first = write_site(site, out)
    (out / "stale.html").write_text("old")
    second = write_site(site, out)
    assert not (out / "stale.html").exists()
    assert os.readlink(out) == f".archive.builds/{second.name}"  # relative: the tree can move
    assert sorted(p.name for p in tmp_path.iterdir()) == [".archive.builds", "archive"]
    builds = tmp_path / ".archive.builds"
    assert sorted(p.name for p in builds.iterdir()) == sorted([".lock", first.name, second.name])
    third = write_site(site, out)
    # the build before the current one stays for readers mid-page, older ones go
    assert sorted(p.name for p in builds.iterdir()) == sorted([".lock", second.name, third.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".archive.builds", "archive"]
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(OperationFailed, match="not an archive"):
        write_site(site, other)
    assert (other / "cat.jpg").exists()
    foreign = tmp_path / "elsewhere"
    foreign.symlink_to(other)
    with pytest.raises(OperationFailed, match="not an archive"):
        write_site(site, foreign)
    assert foreign.resolve() == other and (other / "cat.jpg").exists()


def test_a_folder_from_before_links_is_taken_over_once(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "newsletter.toml")
    site = build_site(entries_from_files(ISSUES[:1], settings), Pages(settings))
    out = tmp_path / "archive"
    out.mkdir()
    (out / "feed.atom").write_bytes(b"<feed/>")  # what archive build wrote before
    write_site(site, out)
    assert out.is_symlink() and (out / "feed.atom").read_bytes() == site["feed.atom"]
    (kept,) = (tmp_path / ".archive.builds").glob("*-before-links")
    assert (kept / "feed.atom").read_bytes() == b"<feed/>"
    write_site(site, out)
    assert not kept.exists()


# A separate process: the reads really run while the link is swapped (threads
# would take turns on the GIL). It reads until told to stop and prints how many
# reads found no file, how many it made, and the digests of what it read.
READER = """
import hashlib, os, sys
index, ready, stop = sys.argv[1:]
misses = reads = 0
seen = set()
while not os.path.exists(stop):
    try:
        with open(index, "rb") as f:
            seen.add(hashlib.sha256(f.read()).hexdigest())
    except FileNotFoundError:
        misses += 1
    reads += 1
    if reads == 1:
        open(ready, "w").close()
print(misses, reads, *sorted(seen))
"""


def test_readers_see_the_old_or_the_new_archive_and_never_none(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "newsletter.toml")
    pages = Pages(settings)
    sites = [build_site(entries_from_files(ISSUES[:n], settings), pages) for n in (2, 3)]
    out = tmp_path / "archive"
    write_site(sites[0], out)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(out / "index.html"), str(ready), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert time.monotonic() < deadline and reader.poll() is None, "the reader did not start"
        time.sleep(0.01)
    for i in range(60):
        write_site(sites[i % 2], out)
    stop.touch()
    misses, reads, *seen = reader.communicate(timeout=10)[0].split()
    # Before links, the folder was renamed away and the new one renamed in:
    # a reader in between found nothing (hundreds of misses in this loop).
    assert int(misses) == 0, f"{misses} of {reads} reads found no archive"
    assert int(reads) > 1000
    versions = {hashlib.sha256(site["index.html"]).hexdigest() for site in sites}
    assert set(seen) <= versions  # every read was one whole version


def test_a_bad_issue_file_writes_nothing(cli_run, tmp_path: Path) -> None:
    bad = tmp_path / "2021-08.yaml"
    bad.write_text("issue:\n  date: 2021-13\n", encoding="utf-8")
    r = cli_run("archive", "build", "out", str(ISSUES[0]), str(bad))
    assert r.exit_code == 2
    assert "2021-08.yaml:2:" in r.output
    assert not (tmp_path / "out").exists()


def _isa_campaign(web, monkeypatch, slug: str = "2021-07") -> str:
    """``campaigns create`` and ``campaigns send`` the real ISA issue, as a user would."""
    from click.testing import CliRunner

    from newsletter.cli import cli

    web.add(2)
    toml = (ROOT / "newsletter.toml").read_text("utf-8")
    toml = toml.replace('base_url = "https://newsletter.example.org"', f'base_url = "{web.url}"')
    toml = toml.replace(
        'url = "sqlite:///newsletter.sqlite"', f'url = "{web.settings.database_url}"'
    )
    config = web.tmp / "newsletter.toml"
    config.write_text(toml, "utf-8")
    for var in ("NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(web.tmp)
    for args in (
        ["campaigns", "create", str(ROOT / "issues" / f"{slug}.yaml"), "--list", "news"],
        ["campaigns", "send", "1", "--yes"],
    ):
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output
    files = sorted((web.tmp / "outbox" / "new").iterdir())
    assert len(files) == 2
    return files[0].read_text("utf-8")


def test_the_links_of_a_sent_message_resolve_on_the_server(web, monkeypatch) -> None:
    raw = _isa_campaign(web, monkeypatch)
    web.serve()
    msg = email.message_from_string(raw, policy=default)
    header = msg["List-Unsubscribe"]
    (unsubscribe_url,) = re.findall(r"<(https?://[^>]+)>", header)
    assert re.search(r"<mailto:unsubscribe@example\.org\?subject=unsubscribe%20[a-z0-9-]+>",
                     header)  # fmt: skip
    html = msg.get_body(("html",)).get_content()
    views = {h for h in parsed(html).hrefs if "/archive/" in h}
    assert views == {f"{web.url}/archive/2021-07/"}
    footer = [h for h in parsed(html).hrefs if "/unsubscribe/" in h]
    assert footer == [unsubscribe_url]
    with web.client() as c:
        page = c.get(unsubscribe_url)
        assert page.status_code == 200 and "ISA-Newsletter" in page.text
        archive = c.get(views.pop())
        assert archive.status_code == 200
        assert "Pilotprojekte der Deutschen Energie-Agentur" in archive.text
        assert html_problems(archive.text, "de") == []  # served as built: the same checks
        assert archive.headers["content-security-policy"].startswith("default-src 'none'")
        assert "Leser 0" not in archive.text and "user0@example.com" not in archive.text
        assert '<a href="../"' in archive.text
        index = c.get("/archive/")
        assert '<a href="2021-07/">' in index.text
        slashless = c.get("/archive/2021-07")
        assert (slashless.status_code, slashless.headers["location"]) == (308, "/archive/2021-07/")
        assert c.get("/archive/2019-01/").status_code == 404
        feed = feedparser.parse(c.get("/archive/feed.atom").content)
    # the issue's two editions (2021-07.yaml, 2021-07.zh.yaml): one entry each
    entry, _ = feed.entries
    assert entry.link.endswith("/archive/2021-07/")
    with web.db.session() as s:
        sent = store.get_campaign(s, 1).started_at
    assert entry.published == sent.strftime("%Y-%m-%dT%H:%M:%SZ")  # the real send date
    r = httpx.post(unsubscribe_url, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    with web.db.session() as s:
        assert s.get(Subscription, (1, web.list_id)).status == "unsubscribed"


def test_the_manage_link_of_a_sent_message_opens_the_preferences(web, monkeypatch) -> None:
    raw = _isa_campaign(web, monkeypatch)
    web.serve()
    msg = email.message_from_string(raw, policy=default)
    (unsubscribe_url,) = re.findall(r"<(https?://[^>]+)>", msg["List-Unsubscribe"])
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    (manage_url,) = [h for h in parsed(html).hrefs if "/manage/" in h]
    token = unsubscribe_url.rpartition("/")[2]
    assert manage_url == f"{web.url}/manage/{token}"  # the unsubscribe link's own token
    assert re.search(r"Name, Sprache und Listen ändern:\s+" + re.escape(manage_url) + r"\s", text)
    assert re.search(r'href="' + re.escape(manage_url) + r'"[^>]*>Abonnements verwalten<', html)
    address = msg["To"].addresses[0].addr_spec
    with web.client(headers={"Accept-Language": "de-DE,de;q=0.9"}) as c:
        page = c.get(manage_url)
        assert page.status_code == 200, page.text
        assert "Ihre Abonnements" in page.text
        assert f"{address[0]}•••@example.com" in page.text and address not in page.text
        assert re.search(r'name="keep" value="news" checked> ISA-Newsletter<', page.text)
        # The archive's copy has no token: its link goes to the general page.
        archive = c.get(f"{web.url}/archive/2021-07/").text
        assert f'href="{web.url}/manage"' in archive and "/manage/" not in archive
        general = c.get("/manage")
        assert general.status_code == 200
        assert "„Abonnements verwalten“ am Ende einer unserer E-Mails" in general.text


def test_proofs_and_unsent_drafts_are_not_in_the_archive(web) -> None:
    web.add(1)
    settings = web.settings
    rendered = render_issue(load_issue(ROOT / "issues" / "2021-06.yaml"), settings)
    with web.db.session() as s:
        store.create_campaign(s, rendered, "news")  # a draft, never sent
        store.create_proof(s, rendered, "editor@example.org")
    web.serve()
    with web.client() as c:
        assert c.get("/archive/2021-06/").status_code == 404
        assert "2021-06" not in c.get("/archive/").text
