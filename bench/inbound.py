"""Inbound benchmark: ``inbound process`` on a Maildir of 10,000 mixed messages.

Builds a SQLite database with one sent campaign of N deliveries (and N
subscribers) and a Maildir with one message per delivery, made from the test
fixtures (``tests/fixtures/inbound/``: Postfix, Exim, qmail, Gmail, Office
365 and Yahoo bounces, auto-replies, complaints, unsubscribe mails, and
foreign mail that must stay; and the bounce corpus ``tests/fixtures/bounces/``
of the detectors: DMA, WorkMail, Sendmail V5, Lotus Notes, the Chinese and
Japanese providers …), each re-addressed to its own delivery. Then, three
times on fresh copies, in a fresh process each:

* the reference: read every file and parse it with the stdlib ``email``
  package (the floor any classifier pays);
* ours: ``process_source`` — classify, attribute, apply the policy, record
  the compressed raw message, commit, move to ``.Processed``.

Prints messages per second (min/median of 3), ours as a ratio of the
reference, the peak RSS of our process, and the start-up time of
``newsletter inbound process`` on an empty Maildir (median of 5 fresh
processes). Goal: >= 1,000 messages/s.
Not part of the test suite. Usage: ``python bench/inbound.py [-n 10000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "inbound"
sys.path.insert(0, str(ROOT / "tests"))
SECRET = "inbound fixtures"  # the fixtures' tokens are signed with it
UID = "c0ffee00c0ffee01"
# Fixture → the delivery (person) it was written for, as in tests/inbound_helpers.py.
TEMPLATES = {
    "postfix_hard_user_unknown.eml": (1, "anna@example.com"),
    "postfix_mailbox_full.eml": (2, "bert@example.com"),
    "exim_hard.eml": (3, "carla@example.net"),
    "qmail_hard.eml": (5, "emil@example.net"),
    "gmail_hard.eml": (7, "gustav@example.com"),
    "yahoo_hard.eml": (8, "hanna@example.com"),
    "postfix_greylist_delayed.eml": (9, "ida@example.org"),
    "ooo_english.eml": (10, "jonas@example.com"),
    "ooo_german.eml": (11, "karl@example.org"),
    "arf_complaint.eml": (13, "mia@example.com"),
    "mailto_unsubscribe.eml": (14, "nils@example.org"),
    "human_reply.eml": (15, "otto@example.com"),
    "challenge_response.eml": (16, "paula@example.net"),
    "exim_quota_soft.eml": (17, "quirin@example.com"),
    "gmail_policy_block.eml": (18, "rosa@example.com"),
    "foreign_bounce.eml": (23, "wolf@example.com"),
    "malformed_multipart.eml": (0, "otto@example.com"),
}


def build(work: Path, n: int) -> None:
    """The database and the Maildir template in ``work``."""
    import sqlalchemy as sa
    from bounce_corpus import BOUNCES, CORPUS
    from bounce_corpus import UID as CORPUS_UID

    from newsletter.campaigns.tables import Campaign, Delivery
    from newsletter.db import Database, hash_with
    from newsletter.subscribers.tables import MailingList, Subscriber, Subscription
    from newsletter.tokens import bounce_token, message_id_mac, token_key, unsubscribe_token

    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    db = Database(f"sqlite:///{work / 'newsletter.sqlite'}")
    db.ensure_schema()
    secret = db.secret
    key = token_key(secret)
    now = datetime.now(UTC)
    addresses = [f"user{i}@example.com" for i in range(1, n + 1)]
    with db.engine.begin() as c:
        c.execute(
            sa.insert(MailingList.__table__),
            [{"slug": "news", "name": "ISA", "double_opt_in": True, "created_at": now}],
        )  # type: ignore[attr-defined]
        c.execute(
            sa.insert(Subscriber.__table__),  # type: ignore[attr-defined]
            [
                {"email": a, "key": a, "key_hash": hash_with(secret, a), "attributes": {},
                 "created_at": now, "updated_at": now}
                for a in addresses
            ],
        )  # fmt: skip
        c.execute(
            sa.insert(Subscription.__table__),  # type: ignore[attr-defined]
            [{"subscriber_id": i, "list_id": 1, "status": "confirmed", "created_at": now,
              "updated_at": now} for i in range(1, n + 1)],
        )  # fmt: skip
        c.execute(
            sa.insert(Campaign.__table__),  # type: ignore[attr-defined]
            [{"uid": UID, "kind": "campaign", "issue_slug": "2021-07", "list_id": 1,
              "list_slug": "news", "list_name": "ISA", "subject": "s", "html": "", "text": "",
              "status": "finished", "recipients": n, "created_at": now}],
        )  # fmt: skip
        c.execute(
            sa.insert(Delivery.__table__),  # type: ignore[attr-defined]
            [{"campaign_id": 1, "subscriber_id": i, "address": addresses[i - 1], "status": "sent",
              "attempts": 1, "message_id": f"{UID}.{i}.{message_id_mac(key, i)}@isa.example.org",
              "queued_at": now}
             for i in range(1, n + 1)],
        )  # fmt: skip
    db.dispose()
    fixture_key = token_key(hashlib.sha256(SECRET.encode()).digest())
    templates = [
        (name, FIXTURES.joinpath(name).read_text(), UID, *TEMPLATES[name]) for name in TEMPLATES
    ]
    templates += [
        (case.path.replace("/", "-"), BOUNCES.joinpath(case.path).read_bytes().decode("utf-8"),
         CORPUS_UID, k, case.address)
        for k, case in enumerate(CORPUS, 1)
    ]  # fmt: skip
    box = work / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(1, n + 1):
        name, text, uid, k, person = templates[i % len(templates)]
        if k:
            text = text.replace(bounce_token(fixture_key, k), bounce_token(key, i))
            text = text.replace(
                f"{uid}.{k}.{message_id_mac(fixture_key, k)}@",
                f"{UID}.{i}.{message_id_mac(key, i)}@",
            )
        text = text.replace(unsubscribe_token(fixture_key, 14, 1), unsubscribe_token(key, i, 1))
        text = re.sub(re.escape(person), addresses[i - 1], text)
        # Every real message has a Message-ID of its own.
        text = re.sub(r"(?im)^(Message-ID: <)", rf"\g<1>b{i}.", text, count=1)
        (box / "new" / f"{1764580000 + i}.M{i}P1.bench:{name}").write_bytes(text.encode())


def startup(work: Path) -> float:
    """Median wall time of ``newsletter inbound process`` on an empty Maildir, fresh processes."""
    empty = work / "Empty"
    for sub in ("cur", "new", "tmp"):
        (empty / sub).mkdir(parents=True, exist_ok=True)
    (work / "newsletter.toml").write_text(
        '[organisation]\nsender_email = "newsletter@isa.example.org"\n'
        f'[database]\nurl = "sqlite:///{work / "newsletter.sqlite"}"\n'
    )
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "newsletter", "inbound", "process", str(empty)],
            cwd=work, env=env, check=True, capture_output=True,
        )  # fmt: skip
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def one(run_dir: Path, mode: str) -> dict[str, float]:
    """One measured run in this (fresh) process."""
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    box = run_dir / "Maildir"
    files = sorted(p for sub in ("new", "cur") for p in (box / sub).iterdir())
    start = time.perf_counter()
    if mode == "parse":
        from email.parser import BytesParser
        from email.policy import compat32

        parser = BytesParser(policy=compat32)
        for p in files:
            parser.parsebytes(p.read_bytes())
        count = len(files)
    else:
        from newsletter.config import Organisation, Settings
        from newsletter.db import Database
        from newsletter.inbound.process import process_source
        from newsletter.inbound.sources import MaildirSource

        settings = Settings(
            organisation=Organisation(sender_email="newsletter@isa.example.org"),
            database_url=f"sqlite:///{run_dir / 'newsletter.sqlite'}",
        )
        db = Database.from_settings(settings)
        report = process_source(db, settings, MaildirSource(box))
        count = report.seen
        if report.errors:
            raise SystemExit(f"errors: {report.errors[:3]}")
        start_moved = report.moved
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"messages": count, "seconds": elapsed, "peak_mb": peak}
    if mode != "parse":
        result["moved"] = start_moved
    return result


def measured(work: Path, mode: str) -> dict[str, float]:
    run_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"run-{mode}-"))
    shutil.copytree(work / "Maildir", run_dir / "Maildir")
    shutil.copy(work / "newsletter.sqlite", run_dir / "newsletter.sqlite")
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(run_dir), "--mode", mode],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{mode} run failed:\n{done.stderr}")
    out = done.stdout
    shutil.rmtree(run_dir)
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="ours", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.mode)))
        return
    print(f"load: {os.getloadavg()[0]:.2f} (1 min); {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-inbound-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        build(work, args.n)
        print(f"built {args.n} messages and deliveries in {time.perf_counter() - t:.1f} s")
        runs: dict[str, list[dict[str, float]]] = {"parse": [], "ours": []}
        for _ in range(3):
            for mode in runs:
                runs[mode].append(measured(work, mode))
        started = startup(work)
    rates = {m: sorted(r["messages"] / r["seconds"] for r in rs) for m, rs in runs.items()}
    for mode, label in (
        ("parse", "stdlib email parse only (reference)"),
        ("ours", "inbound process"),
    ):
        rs = rates[mode]
        print(f"{label:40} min {rs[0]:8,.0f}  median {statistics.median(rs):8,.0f} messages/s")
    ratio = statistics.median(rates["ours"]) / statistics.median(rates["parse"])
    peak = max(r["peak_mb"] for r in runs["ours"])
    moved = runs["ours"][0]["moved"]
    print(f"ours / reference (median): {ratio:.2f}")
    print(
        f"peak RSS of inbound process: {peak:.0f} MB; "
        f"moved {moved:.0f} of {args.n} (the rest not ours)"
    )
    print(f"start-up of `newsletter inbound process` (empty Maildir, median of 5): {started:.2f} s")
    met = statistics.median(rates["ours"]) >= 1000
    print(f"goal >= 1,000 messages/s: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
