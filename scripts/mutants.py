"""A small mutation check: does the suite fail when a critical line is broken?

Each mutation replaces one line of a critical module (the claim, leases,
tokens, eligibility, the bounce policy, rate limits, DKIM, quoted-printable,
CSRF, the CSV reader) with a plausible mistake, in a copy of the tree made in
a temporary folder (never the working tree), and runs the test modules that
should notice. A mutation no test notices "survived": some behaviour of that
line is untested. A mutation whose original line is no longer in its file is
"stale" (the code moved on; update the list below), never skipped silently.

    python scripts/mutants.py              # every mutation, its own test modules
    python scripts/mutants.py --whole      # every mutation against the whole suite (slow)
    python scripts/mutants.py -k token     # mutations whose id contains "token"
    python scripts/mutants.py --list       # what would run

Exit status 0 when every mutation is caught, 1 when any survived or is stale,
2 for a usage error. Not part of the default test run (each mutation costs a
pytest run); run it whenever these modules change. docs/testing.md records
the last result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    """Replace the line whose text (ignoring indentation) is ``original`` in ``path``."""

    id: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]  # test modules (or node ids) that should fail
    breaks: str  # what a user or attacker would get
    owner: str = ""  # a helper whose branch adds the test that kills it, if not this one
    # the first line (stripped) that starts with this comes before ``original``: for a line
    # that occurs more than once in the file (the same ``.values`` in several statements)
    after: str = ""


def m(
    id: str,
    path: str,
    original: str,
    replacement: str,
    tests: str,
    breaks: str,
    owner: str = "",
    after: str = "",
) -> Mutation:
    return Mutation(id, path, original, replacement, tuple(tests.split()), breaks, owner, after)


T = "tests/"
MUTATIONS = [
    # --- the seven that survived the first probe (issue 21) ---------------------------------
    m("claim-lease", "newsletter/campaigns/statements.py",
      'C.c.lease_id == P("b_lease"),', "sa.true(),",
      f"{T}test_claim_bounds.py {T}test_leases.py",
      "a taken-over run keeps claiming messages"),
    m("csrf-binding", "newsletter/web/forms.py",
      "if len(parts) != 1 or not hmac.compare_digest(parts[0], nonce):", "if len(parts) != 1:",
      f"{T}test_web_unsubscribe.py {T}test_web_signup.py",
      "any session's CSRF field accepted with any cookie", owner="web"),
    m("dmarc-5.7", "newsletter/inbound/reasons.py",
      "Reason.POLICY_VIOLATION: Side.OURS,",
      "Reason.POLICY_VIOLATION: Side.HARD,",
      f"{T}test_inbound_reasons.py {T}test_inbound_policy.py {T}test_inbound_fixtures.py",
      "readers suppressed for our own DMARC failure", owner="inbound"),
    m("one-click-value", "newsletter/web/links.py",
      'return list(form.multi_items()) == [("List-Unsubscribe", "One-Click")]',
      'return "List-Unsubscribe" in form',
      f"{T}test_web_unsubscribe.py",
      "any List-Unsubscribe value skips CSRF (RFC 8058 wants One-Click)", owner="web"),
    m("token-part-count", "newsletter/tokens.py",
      "if len(parts) != count or not all(p.isdigit() and len(p) < 19 for p in parts):",
      "if len(parts) < count or not all(p.isdigit() and len(p) < 19 for p in parts):",
      f"{T}test_link_token_shapes.py {T}test_tokens.py",
      "tokens with extra parts accepted"),
    m("csv-last-line-quote", "newsletter/subscribers/importers/csvfile.py",
      'if spans or not last.endswith("\\n"):', "if spans:",
      f"{T}test_import_last_line.py {T}test_input_bounds.py",
      "an open quote on the last line swallowed silently"),
    m("rate-limited-window", "newsletter/campaigns/dispatch.py",
      "window = 1 if self.pace.limited else d.claim_window", "window = d.claim_window",
      f"{T}test_claim_bounds.py {T}test_pacing.py",
      "a rate-limited run claims its whole window (the crash bound changes)"),
    # --- the delivery ledger and leases -----------------------------------------------------
    m("ledger-missed-claim-sent", "newsletter/campaigns/ledger.py",
      "if job.id in took:", "if True:",
      f"{T}test_claim_bounds.py {T}test_campaign_control.py {T}test_leases.py",
      "a message the claim did not take is sent anyway (twice)"),
    m("ledger-unsubscribe-after-snapshot", "newsletter/campaigns/ledger.py",
      "eligible = sa.and_(eligible, mailable(self.list_id))", "eligible = eligible",
      f"{T}test_transport_smtp.py {T}test_campaign_control.py",
      "an unsubscribe after the snapshot still gets the mail"),
    m("requeue-burns-an-attempt", "newsletter/campaigns/statements.py",
      "attempts=D.c.attempts - 1,", "attempts=D.c.attempts,",
      f"{T}test_faults.py {T}test_campaign_control.py",
      "a pause or an unreachable server uses up retries of messages never tried",
      after="REQUEUE = _stmt("),
    m("still-ours-ignores-lease", "newsletter/campaigns/ledger.py",
      "return bool(rows) and tuple(rows[0]) == (CampaignStatus.SENDING, self.lease)",
      "return bool(rows) and rows[0][0] == CampaignStatus.SENDING",
      f"{T}test_claim_bounds.py {T}test_leases.py",
      "a taken-over run does not notice and keeps going"),
    m("takeover-resends-in-flight", "newsletter/campaigns/statements.py",
      ".values(status=DeliveryStatus.UNKNOWN.value, smtp_reply=LOST_REPLY, finished_at=now)",
      ".values(status=DeliveryStatus.QUEUED.value, smtp_reply=LOST_REPLY, finished_at=now)",
      f"{T}test_crash.py {T}test_leases.py",
      "messages in flight at a crash are sent again by default"),
    # --- tokens -----------------------------------------------------------------------------
    m("token-short-mac", "newsletter/tokens.py",
      "if not hmac.compare_digest(mac, _mac(key, purpose, payload)):",
      "if not hmac.compare_digest(mac[:2], _mac(key, purpose, payload)[:2]):",
      f"{T}test_tokens.py {T}test_properties.py",
      "a token with a forged MAC accepted"),
    m("token-purpose-unbound", "newsletter/tokens.py",
      'mac.update(f"{purpose}\\0{payload}".encode())', "mac.update(payload.encode())",
      f"{T}test_tokens.py",
      "a bounce token unsubscribes"),
    m("token-non-ascii", "newsletter/tokens.py",
      "if not token.isascii():", "if False:",
      f"{T}test_tokens.py",
      "look-alike characters fold into a valid token"),
    # --- who may be mailed ------------------------------------------------------------------
    m("eligible-unconfirmed", "newsletter/subscribers/eligibility.py",
      "SUBSCRIPTION.c.status == Status.CONFIRMED.value,",
      "SUBSCRIPTION.c.status != Status.UNSUBSCRIBED.value,",
      f"{T}test_transport_smtp.py {T}test_cli_delivery.py {T}test_campaign_store.py",
      "unconfirmed sign-ups receive the newsletter"),
    m("eligible-suppressed", "newsletter/subscribers/eligibility.py",
      "~suppressed(SUBSCRIBER.c.key_hash),", "sa.true(),",
      f"{T}test_transport_smtp.py {T}test_cli_delivery.py {T}test_campaign_store.py",
      "suppressed addresses receive the newsletter"),
    # --- the bounce policy ------------------------------------------------------------------
    m("score-same-day", "newsletter/inbound/policy.py",
      "if last is None or at.date() != last.date() or score == 0.0:", "if True:",
      f"{T}test_inbound_policy.py",
      "several soft bounces on one day suppress at once"),
    m("score-threshold", "newsletter/inbound/policy.py",
      "if score >= policy.bounce_score_threshold:", "if score > policy.bounce_score_threshold:",
      f"{T}test_inbound_policy.py",
      "the configured threshold needs one bounce more"),
    m("hard-bounce-setting", "newsletter/inbound/policy.py",
      "hard_suppresses = kind == Kind.HARD and policy.suppress_hard_bounces",
      "hard_suppresses = kind == Kind.HARD",
      f"{T}test_inbound_policy.py",
      "suppress_hard_bounces = false ignored"),
    m("score-never-resets", "newsletter/inbound/policy.py",
      "if last is None or now - last > reset:", "if last is None:",
      f"{T}test_inbound_policy.py",
      "an old soft bounce counts forever"),
    # --- rate limits ------------------------------------------------------------------------
    m("rate-oldest-start", "newsletter/ratelimit.py",
      "at = max(at, starts[-allowed] + window)",
      "at = max(at, starts[-1] + window)",
      f"{T}test_pacing.py {T}test_ratelimit.py",
      "a per-minute limit spaces every message a minute apart"),
    m("rate-off-by-one", "newsletter/ratelimit.py",
      "if len(starts) >= allowed:", "if len(starts) > allowed:",
      f"{T}test_pacing.py {T}test_ratelimit.py",
      "one message more than the limit per window"),
    m("rate-late-loses-slot", "newsletter/ratelimit.py",
      "return max(next_slot, start - reach)", "return start",
      f"{T}test_ratelimit.py {T}test_pacing.py",
      "a sender or worker late for its slots loses them: 39/s of 50 on a loaded machine "
      "(issue 22)"),
    # --- stalled connections (issue 22) -------------------------------------------------
    m("stall-keeps-announced", "newsletter/campaigns/connections.py",
      "if line.following is not None:", "if False:",
      f"{T}test_stalled_connections.py",
      "the message announced behind a stalled reply waits for it"),
    m("stall-opens-no-spare", "newsletter/campaigns/connections.py",
      "for _ in range(min(self.count - live, self.most - len(self.lines))):",
      "for _ in range(0):",
      f"{T}test_stalled_connections.py",
      "every connection stalled: nothing is sent until the stalls end"),
    m("keyed-limit-newest", "newsletter/ratelimit.py",
      "if len(events) == self.allowed and now - events[0] < self.window:",
      "if len(events) == self.allowed and now - events[-1] < self.window:",
      f"{T}test_ratelimit.py {T}test_keyed_limit.py",
      "a client is held back an hour after its last sign-up, not its first"),
    # --- DKIM -------------------------------------------------------------------------------
    m("dkim-relaxed-case", "newsletter/message/dkim.py",
      'return name.lower() + b":" + value', 'return name + b":" + value',
      f"{T}test_signing.py {T}test_compose.py",
      "signatures that fail at the receiver"),
    m("dkim-body-canon", "newsletter/message/dkim.py",
      'while body.endswith(b"\\r\\n", 0, end):', "while False:",
      f"{T}test_signing.py {T}test_compose.py",
      "a body hash that fails at the receiver"),
    m("dkim-unsigned-one-click", "newsletter/message/dkim.py",
      'b"List-Unsubscribe-Post",', "# (List-Unsubscribe-Post not signed)",
      f"{T}test_signing.py {T}test_compose.py",
      "List-Unsubscribe-Post unsigned (RFC 8058 §4)"),
    # --- quoted-printable -------------------------------------------------------------------
    m("qp-line-length", "newsletter/message/qp.py",
      "if col + len(tok) > MAX_LINE - 1:", "if col + len(tok) > MAX_LINE:",
      f"{T}test_compose.py {T}test_qp_properties.py",
      "77-character lines (RFC 2045 allows 76)"),
    m("qp-trailing-blank", "newsletter/message/qp.py",
      "if b in (0x20, 0x09) and not (final and i == len(line) - 1):", "if b in (0x20, 0x09):",
      f"{T}test_compose.py {T}test_qp_properties.py",
      "trailing blanks lost in transport"),
    m("qp-from-munging", "newsletter/message/qp.py",
      'if col == 0 and (b == 0x2E or (b == 0x46 and line[i : i + 5] == b"From ")):',
      "if col == 0 and b == 0x2E:",
      f"{T}test_compose.py {T}test_qp_properties.py",
      '"From " at a line start becomes ">From " in mbox'),
    m("qp-placeholder-mid-line", "newsletter/message/qp.py",
      "if col:", "if False:",
      f"{T}test_compose.py {T}test_qp_properties.py",
      "a placeholder in mid-line: substituted lines over 76 characters"),
    m("qp-long-value-verbatim", "newsletter/message/qp.py",
      'if len(value) < MAX_LINE and _PLAIN.fullmatch(value) and not value.startswith((".", "From ")):',  # noqa: E501
      'if _PLAIN.fullmatch(value) and not value.startswith((".", "From ")):',
      f"{T}test_compose.py {T}test_qp_properties.py",
      "a long substituted value makes a line over 76 characters"),
    # --- the pieces with property tests -----------------------------------------------------
    m("wrap-ignores-space", "newsletter/render/wrap.py",
      "if not empty and line_w + sep + pw > width:", "if not empty and line_w + pw > width:",
      f"{T}test_properties.py {T}test_render.py",
      "plain-text lines one character over their width"),
    m("formula-escape-not-invertible", "newsletter/tabular.py",
      """if first in _FORMULA_START or (first == "'" and text.lstrip("'")[:1] in _FORMULA_START):""",  # noqa: E501
      "if first in _FORMULA_START:",
      f"{T}test_properties.py {T}test_subscribers_export.py",
      "a name starting with a quote and = changes on export and re-import"),
    m("toml-multiline-string", "newsletter/tomlfile.py",
      """if text.startswith(('\"\"\"', "\'\'\'"), i):""", "if False:",
      f"{T}test_properties.py {T}test_config.py",
      "a config error names the wrong line after a multi-line string"),
]  # fmt: skip


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # caught, survived, stale, invalid, error
    line: int | None
    seconds: float
    detail: str = ""


def copy_tree(dest: Path) -> None:
    """The working tree's files as git sees them (tracked and new, not ignored)."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, names):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def locate(text: str, mutation: Mutation) -> tuple[int | None, str]:
    """The 0-based index of the mutation's line, or None and why (stale/ambiguous)."""
    lines = text.split("\n")
    start = 0
    if mutation.after:
        anchors = [i for i, line in enumerate(lines) if line.strip().startswith(mutation.after)]
        if len(anchors) != 1:
            return None, f"anchor {mutation.after!r} found {len(anchors)} times"
        start = anchors[0] + 1
        # only the statement that follows the anchor: up to the next blank line
        end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
        lines = lines[:end]
    wanted = mutation.original.strip()
    hits = [i for i, line in enumerate(lines) if i >= start and line.strip() == wanted]
    if not hits:
        return None, "original line not found" + (f" after {mutation.after!r}" if start else "")
    if len(hits) > 1:
        return None, f"original line found {len(hits)} times (lines {[h + 1 for h in hits]})"
    return hits[0], ""


def run_one(tree: Path, mutation: Mutation, tests: list[str], timeout: float) -> Outcome:
    path = tree / mutation.path
    if not path.is_file():
        return Outcome(mutation, "stale", None, 0.0, f"{mutation.path} does not exist")
    original = path.read_text(encoding="utf-8")
    index, why = locate(original, mutation)
    if index is None:
        return Outcome(mutation, "stale", None, 0.0, why)
    lines = original.split("\n")
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = indent + mutation.replacement.strip()
    mutated = "\n".join(lines)
    try:
        compile(mutated, str(path), "exec")
    except SyntaxError as exc:
        return Outcome(mutation, "invalid", index + 1, 0.0, f"mutated file: {exc}")
    missing = [t for t in tests if not (tree / t.partition("::")[0]).exists()]
    if missing:
        return Outcome(mutation, "stale", index + 1, 0.0, f"no test module {missing}")
    path.write_text(mutated, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
        *tests,
    ]
    started = time.monotonic()
    try:
        run = subprocess.run(
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
        )
        code, lines = run.returncode, run.stdout.strip().splitlines() or [""]
        failed = [
            x.removeprefix("FAILED ").split(" - ")[0] for x in lines if x.startswith("FAILED")
        ]
        tail = f"killed by {failed[0]}" if code == 1 and failed else lines[-1]
    except subprocess.TimeoutExpired:
        code, tail = -1, f"timed out after {timeout:g} s"
    finally:
        path.write_text(original, encoding="utf-8")
    seconds = time.monotonic() - started
    # pytest: 0 all passed, 1 some failed; anything else is not a verdict on the mutation
    verdict = {0: "survived", 1: "caught"}.get(code, "error")
    return Outcome(mutation, verdict, index + 1, seconds, tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="select", default="", help="only mutations whose id has this")
    parser.add_argument("--whole", action="store_true", help="run the whole suite per mutation")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation")
    parser.add_argument("--markdown", action="store_true", help="print the report as a table")
    args = parser.parse_args(argv)
    chosen = [x for x in MUTATIONS if args.select in x.id]
    if not chosen:
        parser.error(f"no mutation id contains {args.select!r}")
    if args.list:
        for x in chosen:
            print(f"{x.id:34} {x.path}  {' '.join(x.tests)}")
        return 0
    started = time.monotonic()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="newsletter-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        for x in chosen:
            tests = ["tests"] if args.whole else list(x.tests)
            outcome = run_one(tree, x, tests, args.timeout)
            outcomes.append(outcome)
            where = f"{x.path}:{outcome.line}" if outcome.line else x.path
            print(f"{outcome.verdict:8} {outcome.seconds:6.1f} s  {x.id:32} {where}", flush=True)
            print(f"         {outcome.detail}", flush=True)
    total = time.monotonic() - started
    counts = {v: sum(o.verdict == v for o in outcomes) for v in ("caught", "survived", "stale")}
    others = len(outcomes) - sum(counts.values())
    summary = (
        f"{counts['caught']}/{len(outcomes)} caught, {counts['survived']} survived, "
        f"{counts['stale']} stale, {others} invalid or error; {total:.0f} s "
        f"({'whole suite' if args.whole else 'own test modules'} per mutation)"
    )
    if args.markdown:
        print("\n| mutation | line | breaks | verdict | s |\n|---|---|---|---|---|")
        for o in outcomes:
            x = o.mutation
            owner = (
                f" (killed on the {x.owner} branch)" if x.owner and o.verdict != "caught" else ""
            )
            where = f"`{x.path.removeprefix('newsletter/')}:{o.line or '?'}`"
            print(f"| {x.id} | {where} | {x.breaks} | {o.verdict}{owner} | {o.seconds:.0f} |")
    print(summary)
    return 0 if counts["caught"] == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
