"""Fixtures for the inbound tests: the database the fixture messages were written against.

The messages in ``tests/fixtures/inbound/`` carry VERP tokens, Message-IDs
(``<uid>.<delivery id>.<MAC>@isa.example.org``) and an unsubscribe token
made with the secret ``inbound fixtures`` for the deliveries of one
campaign (uid ``c0ffee00c0ffee01``) to the people below, in this order,
so delivery *n* is ``PEOPLE[n - 1]``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlmodel import select

from newsletter.campaigns.tables import Delivery
from newsletter.cli import cli
from newsletter.config import Delivery as DeliverySettings
from newsletter.config import Organisation, Settings
from newsletter.db import Database
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.people import add_subscriber
from newsletter.tokens import message_id_mac, token_key

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "inbound"
SECRET = "inbound fixtures"
UID = "c0ffee00c0ffee01"
PEOPLE = [
    "anna@example.com",
    "bert@example.com",
    "carla@example.net",
    "dora@example.org",
    "emil@example.net",
    "frida@example.com",
    "gustav@example.com",
    "hanna@example.com",
    "ida@example.org",
    "jonas@example.com",
    "karl@example.org",
    "lena@example.net",
    "mia@example.com",
    "nils@example.org",
    "otto@example.com",
    "paula@example.net",
    "quirin@example.com",
    "rosa@example.com",
    "sven@example.org",
    "tina@example.net",
    "uwe@bücher.example.com",
    "vera@example.org",
    "wolf@example.com",
]

# fixture → (kind it is, address it is attributed to, what the policy does)
EXPECTED: dict[str, tuple[str, str | None, str | None]] = {
    "postfix_hard_user_unknown.eml": ("hard", "anna@example.com", "suppressed"),
    "postfix_mailbox_full.eml": ("soft", "bert@example.com", "scored"),
    "exim_hard.eml": ("hard", "carla@example.net", "suppressed"),
    "sendmail_hard.eml": ("hard", "dora@example.org", "suppressed"),
    "qmail_hard.eml": ("hard", "emil@example.net", "suppressed"),
    "exchange_o365_hard.eml": ("hard", "frida@example.com", "suppressed"),
    "gmail_hard.eml": ("hard", "gustav@example.com", "suppressed"),
    "yahoo_hard.eml": ("hard", "hanna@example.com", "suppressed"),
    "postfix_greylist_delayed.eml": ("delayed", "ida@example.org", "recorded"),
    "ooo_english.eml": ("auto-reply", "jonas@example.com", "recorded"),
    "ooo_german.eml": ("auto-reply", "karl@example.org", "recorded"),
    "auto_submitted_ticket.eml": ("auto-reply", "lena@example.net", "recorded"),
    "arf_complaint.eml": ("complaint", "mia@example.com", "suppressed"),
    "mailto_unsubscribe.eml": ("unsubscribe", "nils@example.org", "unsubscribed"),
    "human_reply.eml": ("unrelated", None, None),
    "challenge_response.eml": ("challenge", "paula@example.net", "recorded"),
    "exim_quota_soft.eml": ("soft", "quirin@example.com", "scored"),
    "gmail_policy_block.eml": ("soft", "rosa@example.com", "recorded"),
    "ooo_french.eml": ("auto-reply", "sven@example.org", "recorded"),
    "ooo_chinese.eml": ("auto-reply", "tina@example.net", "recorded"),
    # Ours only by List-Id / by the failed recipient: anyone can write those.
    "postfix_idn_list_id.eml": ("unverified", "uwe@bücher.example.com", "recorded"),
    "dsn_recipient_only.eml": ("unverified", "vera@example.org", "recorded"),
    "foreign_bounce.eml": ("unrelated", None, None),
    "malformed_multipart.eml": ("unrelated", None, None),
    "mailto_unsubscribe_forged.eml": ("unrelated", None, None),
}


def inbound_settings(tmp: Path, database_url: str) -> Settings:
    return Settings(
        organisation=Organisation(
            name="ISA",
            sender_name="ISA-Newsletter",
            sender_email="newsletter@isa.example.org",
            reply_to="isa@isa.example.org",
        ),
        delivery=replace(
            DeliverySettings(),
            outbox=str(tmp / "outbox"),
            unsubscribe_mailto="unsubscribe@isa.example.org",
            verp=True,
        ),
        database_url=database_url,
    )


@dataclass
class Sent:
    """The database of the fixtures: the campaign went out to ``PEOPLE``."""

    db: Database
    settings: Settings
    campaign_id: int
    tmp: Path

    def maildir(self, name: str, files: list[str]) -> Path:
        """A Maildir with the fixtures ``files`` in new/, named as a delivery agent would."""
        box = self.tmp / name
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            shutil.copy(FIXTURES / f, box / "new" / f"1764576{i:03d}.M{i}P4711.mx,S=1:{f}")
        return box


def build_sent(tmp: Path, database_url: str) -> Sent:
    """The fixtures' world: subscribers, list ``news`` (id 1), one sent campaign."""
    from delivery_helpers import FakeRendered

    from newsletter.campaigns import store

    settings = inbound_settings(tmp, database_url)
    db = Database.from_settings(settings)
    with db.session() as s:
        create_list(s, "news", "ISA-Newsletter")
        for address in PEOPLE:
            add_subscriber(s, address, ["news"], status="confirmed", consent_note="test fixture")
        c = store.create_campaign(s, FakeRendered(), "news")
        c.uid = UID
        c.status = "finished"
        s.add(c)
        s.flush()
        key = token_key(db.secret)
        for d in s.exec(select(Delivery).where(Delivery.campaign_id == c.id)):
            assert d.id is not None
            d.status, d.attempts = "sent", 1
            d.message_id = f"{UID}.{d.id}.{message_id_mac(key, d.id)}@isa.example.org"
            s.add(d)
        campaign_id = c.id
    assert campaign_id is not None
    return Sent(db, settings, campaign_id, tmp)


@pytest.fixture
def sent(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """The fixtures' campaign, on this test's database (SQLite or PostgreSQL)."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY_FILE", raising=False)
    world = build_sent(tmp_path, database_url)
    yield world
    world.db.dispose()


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root``: relative path → SHA-256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


CONFIG = """\
[organisation]
sender_email = "newsletter@isa.example.org"

[delivery]
unsubscribe_mailto = "unsubscribe@isa.example.org"
verp = true

[database]
url = "{url}"
"""


@pytest.fixture
def newsletter(sent: Sent, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``newsletter ARGS`` in the fixtures' folder, on their database and settings."""
    (sent.tmp / "newsletter.toml").write_text(CONFIG.format(url=sent.settings.database_url))
    monkeypatch.chdir(sent.tmp)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke
