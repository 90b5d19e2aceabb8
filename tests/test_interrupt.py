"""Ctrl-C during a send: the run pauses after the message in flight and exits 130.

A script (cron, CI, a deploy hook) must be able to tell a send that stopped
half-way from one that finished; 130 is what a shell reports for Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from delivery_helpers import ROOT, World
from smtp_server import RecordingServer


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", "--config", str(config), *args]


def test_ctrl_c_while_a_slow_server_takes_a_message_exits_130_and_says_how_to_resume(
    world: World, tmp_path: Path
) -> None:
    addresses = world.add(5)
    cid = world.campaign()
    config = tmp_path / "newsletter.toml"
    with RecordingServer() as srv:
        srv.hold()  # every DATA waits: a slow server in the middle of the first message
        config.write_text(
            f'[database]\nurl = "{world.settings.database_url}"\n'
            '[delivery]\ntransport = "smtp"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {srv.port}\ntimeout = 20\n',
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            _cli(config, "campaigns", "send", str(cid), "--yes"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while srv.held < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the first message never reached DATA"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)  # the signal is handled while the server still holds the message
        while proc.poll() is None:  # let through what is in flight, one message at a time
            if srv.held:
                srv.release(1)
            assert time.monotonic() < deadline + 60, "the send did not stop"
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (out, err)
        sent = len(srv.messages)  # 1, unless the machine was slow to deliver the signal
        assert 1 <= sent < 5
        assert out.splitlines()[-2:] == [
            f"Campaign {cid}: paused ({5 - sent} queued, {sent} sent)",
            f"Paused. Continue with: newsletter campaigns resume {cid}",
        ]
        assert world.counts(cid) == {"sent": sent, "queued": 5 - sent}  # none left in flight
        srv.release(10)  # the server keeps up from now on
        resumed = subprocess.run(
            _cli(config, "campaigns", "resume", str(cid), "--yes"),
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.splitlines()[-1] == f"Campaign {cid}: finished (5 sent)"
    assert srv.received_by() == {a: 1 for a in addresses}
