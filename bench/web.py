"""One-click unsubscribes and archive pages per second against the real ``newsletter serve``.

Usage:  python bench/web.py [-n 3000] [--concurrency 16] [--rounds 3] [--campaign 20000]
                         [--server-code DIR]   # serve an older tree, e.g. a git archive

Starts ``newsletter serve`` (one uvicorn process, SQLite) on 127.0.0.1 with a
database of subscribers and a few sent ISA issues, then drives it with a small
keep-alive HTTP/1.1 client (raw asyncio sockets, so the client costs little of
the machine's two cores) at a fixed number of connections. Each round POSTs
RFC 8058 one-click unsubscribes for ``-n`` different subscribers (every one a
real unsubscribe: consent log, suppression, commit), then GETs the archive
page ``-n`` times. The reference, measured in the same run, is ``GET
/healthz``: the same server doing nothing, so the ratios say what our work
costs on top of Starlette and uvicorn. Goal (issue #10): >= 500 one-click
POSTs per second on SQLite with one worker process. Prints min/median of
the rounds and the load average.

Then the same one-click rounds while ``newsletter campaigns send`` (its own
process, dry-run transport) sends a ``--campaign``-recipient campaign on the
same SQLite database, one new campaign per round, started before the round.
Goal (issue #20): >= 500/s during the send, p99 <= 150 ms, 0 errors, and
each token unsubscribed exactly once (checked in the database at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL = 500.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(folder: Path, port: int, subscribers: int) -> list[str]:
    """A database with ``subscribers`` confirmed readers and three sent issues; their tokens."""
    import sqlalchemy as sa

    from newsletter.campaigns import store
    from newsletter.config import load_settings
    from newsletter.db import Database, hash_with
    from newsletter.issue.load import load_issue
    from newsletter.render import render_issue
    from newsletter.subscribers.lists import create_list
    from newsletter.subscribers.tables import Subscriber, Subscription
    from newsletter.tokens import token_key, unsubscribe_token

    toml = (ROOT / "newsletter.toml").read_text("utf-8")
    toml = toml.replace('base_url = "https://newsletter.example.org"',
                        f'base_url = "http://127.0.0.1:{port}"')  # fmt: skip
    (folder / "newsletter.toml").write_text(toml, "utf-8")
    settings = load_settings(folder / "newsletter.toml")
    db = Database.from_settings(settings)
    now = datetime.now(UTC)
    with db.session() as s:
        ml = create_list(s, "isa-de", "ISA-Newsletter", language="de")
        list_id = ml.id
        for slug in ("2021-05", "2021-06", "2021-07"):
            rendered = render_issue(load_issue(ROOT / "issues" / f"{slug}.yaml"), settings)
            c = store.create_campaign(s, rendered, "isa-de")
            c.status, c.started_at, c.finished_at = "finished", now, now
    secret = db.secret
    rows = [f"reader{i}@example.org" for i in range(subscribers)]
    with db.session() as s:
        s.execute(
            sa.insert(Subscriber.__table__),  # type: ignore[attr-defined]
            [
                {"email": a, "key": a, "key_hash": hash_with(secret, a), "name": None,
                 "attributes": {}, "created_at": now, "updated_at": now}
                for a in rows
            ],
        )  # fmt: skip
        ids = s.execute(sa.select(Subscriber.id).order_by(Subscriber.id)).scalars().all()
        s.execute(
            sa.insert(Subscription.__table__),  # type: ignore[attr-defined]
            [
                {"subscriber_id": i, "list_id": list_id, "status": "confirmed",
                 "created_at": now, "updated_at": now}
                for i in ids
            ],
        )  # fmt: skip
    key = token_key(secret)
    db.dispose()
    return [unsubscribe_token(key, i, list_id) for i in ids]


def prepare_campaigns(folder: Path, recipients: int, count: int) -> list[int]:
    """``count`` campaigns of the July issue, each to the same ``recipients`` other readers
    (list ``big``), and ``send.toml``: the same database, the dry-run transport."""
    sys.path.insert(0, str(ROOT / "bench"))
    from send import fill  # bench/send.py's subscribers, list "isa"

    from newsletter.campaigns import store
    from newsletter.config import load_settings
    from newsletter.db import Database
    from newsletter.issue.load import load_issue
    from newsletter.render import render_issue

    settings = load_settings(folder / "newsletter.toml")
    db = Database.from_settings(settings)
    fill(db, recipients)
    rendered = render_issue(load_issue(ROOT / "issues" / "2021-07.yaml"), settings)
    with db.session() as s:
        ids = [store.create_campaign(s, rendered, "isa", again=i > 0).id for i in range(count)]
    db.dispose()
    toml = (folder / "newsletter.toml").read_text("utf-8")
    (folder / "send.toml").write_text(
        toml.replace('transport = "maildir"', 'transport = "dry-run"'), "utf-8"
    )
    return [i for i in ids if i is not None]


async def _connection(
    port: int, requests: list[bytes], codes: list[int], latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for request in requests:
        sent = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - sent)
        codes.append(int(head[9:12]))
    writer.close()
    await writer.wait_closed()


def drive(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[int]]:
    """Send ``requests`` over ``concurrency`` keep-alive connections; (per second, codes)."""
    rate, codes, _ = timed(port, requests, concurrency)
    return rate, codes


def timed(
    port: int, requests: list[bytes], concurrency: int
) -> tuple[float, list[int], list[float]]:
    """:func:`drive`, with every request's latency (write to the last byte of the answer)."""
    shares = [requests[i::concurrency] for i in range(concurrency)]
    codes: list[int] = []
    latencies: list[float] = []

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_connection(port, share, codes, latencies) for share in shares))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return len(requests) / elapsed, codes, latencies


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def one_click(token: str) -> bytes:
    body = b"List-Unsubscribe=One-Click"
    return (
        f"POST /unsubscribe/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="requests per round and kind")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--campaign", type=int, default=20_000, help="recipients of the concurrent send; 0: none"
    )
    parser.add_argument("--send-head-start", type=float, default=1.5, help="seconds")
    parser.add_argument(
        "--server-code",
        type=Path,
        help="serve from this source tree instead (e.g. `git archive` of an older commit), "
        "to compare in the same hour",
    )
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sending = args.campaign > 0
        tokens = prepare(folder, port, args.n * ((2 if sending else 1) * args.rounds + 1))
        campaigns = prepare_campaigns(folder, args.campaign, args.rounds) if sending else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        server_env = dict(env, PYTHONPATH=str(args.server_code)) if args.server_code else env
        server = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "--config", str(folder / "newsletter.toml"),
             "serve", "--port", str(port), "--log-level", "warning"],
            cwd=folder, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("newsletter serve did not start") from None
                    time.sleep(0.2)
            results = run_rounds(port, tokens, args)
            # tokens of their own: not the alone rounds', not the warm-up's (the last ones)
            tokens_during = tokens[args.n * args.rounds : 2 * args.n * args.rounds]
            during = (
                rounds_during_send(folder, env, port, tokens_during, campaigns, args)
                if sending
                else None
            )
        finally:
            server.terminate()
            server.wait(10)
        posts = args.n * args.rounds * (2 if sending else 1) + args.n // 10
        check(folder, posts)
    report(results, args)
    if during is not None:
        report_during(during, args)
    return 0


def rounds_during_send(
    folder: Path,
    env: dict[str, str],
    port: int,
    tokens: list[str],
    campaigns: list[int],
    args: argparse.Namespace,
) -> dict[str, list[float]]:
    """One-click rounds, each while ``campaigns send`` sends a campaign of its own."""
    n, c = args.n, args.concurrency
    out: dict[str, list[float]] = {"rate": [], "p99": [], "errors": [], "overlap": []}
    for r, cid in enumerate(campaigns):
        sender = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "--config", str(folder / "send.toml"),
             "campaigns", "send", str(cid), "--yes"],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(args.send_head_start)  # its start-up: imports, the campaign's snapshot
        requests = [one_click(t) for t in tokens[r * n : (r + 1) * n]]
        rate, codes, latencies = timed(port, requests, c)
        out["overlap"].append(1.0 if sender.poll() is None else 0.0)
        _, err = sender.communicate(timeout=600)
        if sender.returncode != 0:
            raise SystemExit(f"campaigns send {cid} failed: {err.decode()[-2000:]}")
        out["rate"].append(rate)
        out["p99"].append(p99(latencies) * 1000)
        out["errors"].append(float(sum(code != 200 for code in codes)))
    return out


def report_during(during: dict[str, list[float]], args: argparse.Namespace) -> None:
    rate = statistics.median(during["rate"])
    worst_p99 = max(during["p99"])
    errors = int(sum(during["errors"]))
    print(
        f"\nPOST one-click while a {args.campaign:,}-recipient campaign is sent "
        f"(campaigns send, dry-run, same SQLite database):"
    )
    print(f"  min {min(during['rate']):.0f}/s, median {rate:.0f}/s; p99 per round "
          + ", ".join(f"{x:.0f}" for x in during["p99"]) + " ms; "
          f"errors {errors}; the send still running at each round's end: "
          f"{int(sum(during['overlap']))} of {len(during['overlap'])}")  # fmt: skip
    met = rate >= GOAL and worst_p99 <= 150 and errors == 0
    print(f"  goal >= {GOAL:.0f}/s, p99 <= 150 ms, 0 errors: {'PASS' if met else 'NOT MET'}")


def run_rounds(port: int, tokens: list[str], args: argparse.Namespace) -> dict[str, list[float]]:
    n, c = args.n, args.concurrency
    # warm-up: a tenth of a round of each kind, not counted
    drive(port, [one_click(t) for t in tokens[-(n // 10) :]], c)
    drive(port, [get("/archive/2021-07/")] * (n // 10), c)
    results: dict[str, list[float]] = {"healthz": [], "one-click": [], "archive": [], "p99": []}
    for r in range(args.rounds):
        for kind, requests in (
            ("healthz", [get("/healthz")] * n),
            ("one-click", [one_click(t) for t in tokens[r * n : (r + 1) * n]]),
            ("archive", [get("/archive/2021-07/")] * n),
        ):
            rate, codes, latencies = timed(port, requests, c)
            if set(codes) != {200}:
                raise SystemExit(f"{kind}: unexpected answers {sorted(set(codes))}")
            results[kind].append(rate)
            if kind == "one-click":
                results["p99"].append(p99(latencies) * 1000)
    return results


def check(folder: Path, expected: int) -> None:
    """Every POST was a real unsubscribe, recorded exactly once."""
    import sqlalchemy as sa

    from newsletter.config import load_settings
    from newsletter.db import Database

    db = Database.from_settings(load_settings(folder / "newsletter.toml"))
    with db.engine.connect() as conn:
        events = conn.execute(
            sa.text("SELECT count(*) FROM consent_event WHERE action = 'unsubscribe'")
        ).scalar()
        suppressed = conn.execute(sa.text("SELECT count(*) FROM suppression")).scalar()
        people = conn.execute(
            sa.text(
                "SELECT count(DISTINCT subscriber_id) FROM consent_event "
                "WHERE action = 'unsubscribe'"
            )
        ).scalar()
    db.dispose()
    if events != expected or suppressed != expected or people != expected:
        raise SystemExit(f"expected {expected} unsubscribes, got {events} / {suppressed}")
    print(f"checked: {events} consent log entries and {suppressed} suppressions, one per POST")


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(
        f"newsletter serve, 1 process, SQLite; {args.n} requests per round, "
        f"{args.concurrency} keep-alive connections, {args.rounds} rounds"
    )
    print(f"{'':24} {'min/s':>8} {'median/s':>9} {'ratio to healthz':>17}")
    ref = statistics.median(results["healthz"])
    for kind, label in (
        ("healthz", "GET /healthz (reference)"),
        ("one-click", "POST one-click"),
        ("archive", "GET /archive/2021-07/"),
    ):
        rates = results[kind]
        med = statistics.median(rates)
        print(f"{label:24} {min(rates):8.0f} {med:9.0f} {med / ref:17.2f}")
    print("one-click p99 per round: " + ", ".join(f"{x:.0f} ms" for x in results["p99"]))
    oc = statistics.median(results["one-click"])
    verdict = "PASS" if oc >= GOAL else "BELOW GOAL"
    print(f"one-click median {oc:.0f}/s, goal {GOAL:.0f}/s: {oc / GOAL:.2f}x ({verdict})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")


if __name__ == "__main__":
    raise SystemExit(main())
