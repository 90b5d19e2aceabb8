"""How a send run ended, in words: the summary ``campaigns send`` and ``resume`` print.

Kept apart from the commands because the wording of an early end (paused, cancelled,
taken over, unknown outcomes) is what an operator acts on, and tests check it line by
line without running a send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from newsletter.campaigns import sender


def print_result(result: sender.RunResult) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()))
    click.echo(f"Campaign {result.campaign_id}: {result.state} ({counts or 'nothing to send'})")
    if result.stopped:
        _why_stopped(result)
    unknown = result.counts.get("unknown", 0)
    if unknown:
        # a crash mid-message or no reply after the final dot: either may have been delivered
        many = unknown != 1
        click.echo(
            f"{unknown} {'deliveries have' if many else 'delivery has'} an unknown outcome: "
            f"the server may have accepted {'them' if many else 'it'}, so "
            f"{'they are' if many else 'it is'} not sent again. See: newsletter log "
            f"{result.campaign_id} --status unknown; send anyway (some may get it twice): "
            f"newsletter campaigns resume {result.campaign_id} --resend-unknown"
        )


# 128 + SIGINT, as a shell reports a command Ctrl-C stopped: a script can tell a send that
# was interrupted (and paused, to be resumed) from one that ran to its end.
INTERRUPTED_EXIT = 130


def finish(result: sender.RunResult) -> None:
    """Print how the run ended; a run that Ctrl-C (or SIGTERM) paused exits 130."""
    print_result(result)
    if result.interrupted:
        raise SystemExit(INTERRUPTED_EXIT)


def _why_stopped(result: sender.RunResult) -> None:
    """Why a run ended early, read from the campaign's state after it let go."""
    cid = result.campaign_id
    if result.state.startswith(("paused", "pausing")):  # Ctrl-C here, or campaigns pause
        click.echo(f"Paused. Continue with: newsletter campaigns resume {cid}")
    elif result.state == "cancelled":
        click.echo(f"Cancelled (newsletter campaigns cancel {cid}): nothing more is sent.")
    else:  # another sender holds it, or has finished it, after a takeover (resume --force)
        click.echo(
            f"Stopped: another sender took campaign {cid} over; this process sends no more "
            f"of it. See: newsletter campaigns show {cid}"
        )
