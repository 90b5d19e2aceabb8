"""A French organisation end to end (issue 18): profile, issue, Chinese edition, list,
sign-up through the served form, campaign, archive; and a French subscriber keeps ``fr``.

Before issue 18 the profile refused ``language = "fr"`` (``must be "de", "en" or
"zh"``), the sign-up form offered Deutsch/English/中文 with English preselected,
and signing up again or saving the manage page replaced a stored ``fr``.
"""

from __future__ import annotations

import email
import re
from dataclasses import replace
from email.policy import default
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner
from html_checks import html_problems
from smtp_server import RecordingServer
from web_helpers import csrf_of

from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.subscribers.people import add_subscriber
from newsletter.subscribers.tables import Subscriber

ROOT = Path(__file__).resolve().parents[1]
OBSERVATOIRE = ROOT / "examples" / "observatoire"
CONFIRM = re.compile(r"https?://\S+/confirm/[a-z0-9-]+")
NB = "\u00a0"  # French typography: a no-break space before ':' and inside « »


@pytest.fixture
def smtp():
    with RecordingServer() as srv:
        yield srv


def _config(web) -> Path:
    """The observatory's newsletter.toml, pointed at the test's server and database."""
    toml = (OBSERVATOIRE / "newsletter.toml").read_text("utf-8")
    toml = toml.replace(
        'base_url = "https://observatoire.example.org/lettre"',
        f'base_url = "{web.url}"\ntransport = "maildir"\noutbox = "outbox"',
    )
    toml += f'\n[database]\nurl = "{web.settings.database_url}"\n'
    config = web.tmp / "newsletter.toml"
    config.write_text(toml, "utf-8")
    return config


def _run(config: Path, *args: str):
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def _serve(web, smtp, config: Path) -> None:
    settings = load_settings(config)
    assert settings.organisation.language == "fr"  # the profile
    web.configure(transport="smtp")
    web.settings = replace(
        web.settings,
        organisation=settings.organisation,
        smtp=replace(web.settings.smtp, port=smtp.port),
    )
    web.serve()


def test_a_french_organisation_end_to_end(web, smtp, monkeypatch) -> None:
    for var in ("NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(web.tmp)
    config = _config(web)
    _run(config, "lists", "create", "lettre", "--name", "La lettre", "--language", "fr",
         "--languages", "fr,zh,ar")  # fmt: skip
    assert "sign-up form offers: fr, zh, ar" in _run(config, "lists", "show", "lettre").output
    _serve(web, smtp, config)

    # sign-up through the served form, from a Swiss French browser
    with web.client(headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"}) as c:
        form = c.get("/subscribe/lettre")
        assert form.status_code == 200
        assert form.headers["content-language"] == "fr"
        assert re.search(r'<html lang="fr" dir="ltr">', form.text)
        assert f"S’abonner à «{NB}La lettre{NB}»" in form.text
        # the list's languages, each by its own name, the browser's preselected
        menu = form.text[form.text.index('<select id="language"') :]
        menu = menu[: menu.index("</select>")]
        assert re.findall(r'<option value="([^"]+)"', menu) == ["fr", "zh", "ar"]
        assert '<option value="fr" selected>Français</option>' in form.text
        assert ">العربية</option>" in form.text and ">简体中文</option>" in form.text
        assert html_problems(form.text, "fr") == []
        sent = c.post(
            "/subscribe/lettre",
            data={"csrf": csrf_of(form.text), "email": "amelie@example.org", "language": "fr"},
        )
        assert sent.status_code == 200 and f"Merci{NB}!" in sent.text.replace("\u202f", NB)
        web.live.drain()
        (mail,) = smtp.messages
        assert mail.message["Subject"] == f"Veuillez confirmer votre abonnement{NB}: La lettre"
        assert mail.message["Content-Language"] == "fr"
        (link,) = set(CONFIRM.findall(mail.message.get_body(("plain",)).get_content()))
        button = c.get(link)
        assert "Confirmer l’abonnement" in button.text
        done = c.post(link, data={"csrf": csrf_of(button.text)})
        assert "Abonnement confirmé" in done.text
    with web.db.session() as s:
        add_subscriber(s, "lin@example.org", ["lettre"], language="zh", status="confirmed",
                       consent_note="signed up at the open night")  # fmt: skip
        s.commit()

    # the campaign: the French issue and its Chinese edition, each reader theirs
    _run(config, "campaigns", "create", str(OBSERVATOIRE / "issues" / "2027-01.yaml"),
         "--list", "lettre")  # fmt: skip
    _run(config, "campaigns", "send", "1", "--yes")
    messages = [email.message_from_bytes(p.read_bytes(), policy=default)
                for p in sorted((web.tmp / "outbox" / "new").iterdir())]  # fmt: skip
    by_reader = {m["To"].addresses[0].addr_spec: m for m in messages}
    fr, zh = by_reader["amelie@example.org"], by_reader["lin@example.org"]
    assert fr["Content-Language"] == "fr" and zh["Content-Language"] == "zh"
    html = unescape(fr.get_body(("html",)).get_content())
    text = re.sub(r"[ \n]+", " ", fr.get_body(("plain",)).get_content())  # unwrapped
    assert re.search(r'<html lang="fr" dir="ltr"', html)
    for part in (html, text):
        assert "Afficher dans le navigateur" in part
        assert "janvier 2027" in part and "Numéro 18" in part
        assert (
            "vendredi 22 janvier 2027, 20:00–23:00 (heure normale d’Europe centrale, UTC+1)" in part
        )
        assert "Événements" in part and "Lire la suite" in part
        assert f"Lieu{NB}:" in part
        # the labels do not repeat the editor's words
        assert part.count("Source : Université de Genève") == 1
        assert "Source : Source" not in part and "Inscription: S’inscrire" not in part
    assert re.search(r">\s*S’inscrire\s*<", html)
    assert f"Désabonnement en un clic{NB}:" in text
    assert f"Afficher dans le navigateur{NB}: http" in text
    zh_html = zh.get_body(("html",)).get_content()
    assert re.search(r'<html lang="zh" dir="ltr"', zh_html)
    assert (
        "第18期" in zh_html and "2027年1月22日星期五，20:00–23:00（中欧标准时间，UTC+1）" in zh_html
    )
    assert "阅读更多" in zh_html

    # the archive
    with web.client(headers={"Accept-Language": "fr"}) as c:
        page = c.get("/archive/2027-01/")
        assert page.status_code == 200
        assert re.search(r'<html lang="fr" dir="ltr"', page.text)
        assert page.headers["content-language"] == "fr"
        assert "heure normale d’Europe centrale" in page.text
        assert "&lt;/head&gt;" not in page.text  # the head's end is a tag, not text
        arabic = c.get("/archive/2027-01/ar/").text
        assert re.search(r'<html lang="ar" dir="rtl"', arabic) and "→ جميع الأعداد" in arabic
        index = c.get("/archive/")
        assert "Archives" in index.text and "Tous les numéros parus." in index.text
        assert "简体中文" in index.text  # the Chinese edition, by its own name


def test_a_french_subscriber_keeps_fr_after_saving_the_manage_page_and_signing_up_again(
    web, smtp, monkeypatch
) -> None:
    monkeypatch.chdir(web.tmp)
    config = _config(web)
    _run(config, "lists", "create", "lettre", "--name", "La lettre", "--language", "fr")
    with web.db.session() as s:
        sub = add_subscriber(s, "amelie@example.org", ["news"], language="fr",
                             status="confirmed", consent_note="imported")  # fmt: skip
        s.commit()
        sub_id = sub.id
    _serve(web, smtp, config)
    token = web.token(sub_id)
    with web.client(headers={"Accept-Language": "en"}) as c:
        page = c.get(f"/manage/{token}")
        assert '<option value="fr" selected>Français</option>' in page.text
        assert re.search(r'<html lang="fr"', page.text)  # her language, not the browser's
        saved = c.post(
            f"/manage/{token}",
            data={"csrf": csrf_of(page.text), "name": "", "language": "fr", "keep": "news"},
        )
        assert saved.status_code == 200
        # signing up again from an English browser: the form preselects English
        form = c.get("/subscribe/lettre")
        assert '<option value="en" selected>English</option>' in form.text
        c.post(
            "/subscribe/lettre",
            data={"csrf": csrf_of(form.text), "email": "amelie@example.org", "language": "en"},
        )
        web.live.drain()
        (mail,) = smtp.messages
        assert mail.message["Content-Language"] == "fr"  # the mail in her language
        (link,) = set(CONFIRM.findall(mail.message.get_body(("plain",)).get_content()))
        button = c.get(link)
        c.post(link, data={"csrf": csrf_of(button.text)})
    with web.db.session() as s:
        assert s.get(Subscriber, sub_id).language == "fr"
