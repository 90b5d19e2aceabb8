"""A real Postfix for tests: Debian's binaries, an instance of its own in a temporary directory.

Never the system's service: its own ``config_directory``, queue and data
directories, ``master`` in the foreground (``postfix start-fg``) on
127.0.0.1 at a random port, stopped by its process id. It relays all mail to
``relay`` (a test SMTP server on 127.0.0.1) and delivers mail for
``local_domain`` into one Maildir, so the DSNs Postfix writes for the
return path end up where ``inbound process`` reads them. Retries and delay
warnings come within seconds. Postfix's master must start as root (CI runs as
root); elsewhere, or without the binaries, the tests skip — except in CI.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

# The services a relay with local Maildir delivery needs; no chroot (the spool is ours).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class Postfix:
    host: str
    port: int
    maildir: Path  # where mail for ``local_domain`` is delivered (DSNs to our return path)
    root: Path

    def log(self) -> str:
        path = self.root / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _main_cf(root: Path, port: int, relay_port: int, local_domain: str, uid: int) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.relay.example.net
mydomain = relay.example.net
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtputf8_enable = yes
relayhost = [127.0.0.1]:{relay_port}
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
virtual_mailbox_domains = {local_domain}
virtual_mailbox_base = {root}
virtual_mailbox_maps = static:mail/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
virtual_minimum_uid = 1
recipient_delimiter = +
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 1s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
"""


@contextmanager
def postfix(relay_port: int, local_domain: str) -> Iterator[Postfix]:
    """A Postfix relaying to ``127.0.0.1:relay_port``; stopped and removed afterwards."""
    if not os.path.exists(POSTFIX):
        if os.environ.get("CI"):
            raise RuntimeError("postfix is not installed; .ci/run installs postfix")
        pytest.skip("postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            raise RuntimeError("Postfix's master must start as root")
        pytest.skip("Postfix's master must start as root")
    root = Path(tempfile.mkdtemp(prefix="newsletter-postfix-"))
    root.chmod(0o755)
    conf = root / "conf"
    conf.mkdir()
    owner = pwd.getpwnam("nobody")
    (root / "mail").mkdir()
    for sub in ("cur", "new", "tmp"):
        (root / "mail" / sub).mkdir()
    for path in (root / "mail", *(root / "mail").iterdir()):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    (root / "queue").mkdir()
    (root / "data").mkdir()
    postfix_user = pwd.getpwnam("postfix")
    os.chown(root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    port = _free_port()
    (conf / "main.cf").write_text(_main_cf(root, port, relay_port, local_domain, owner.pw_uid))
    (conf / "master.cf").write_text(MASTER_CF.format(port=port))
    env = {**os.environ, "MAIL_CONFIG": str(conf)}
    # Makes the queue's subdirectories with Postfix's own owners and modes.
    subprocess.run([POSTFIX, "-c", str(conf), "check"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [POSTFIX, "-c", str(conf), "start-fg"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    log = (
                        (root / "postfix.log").read_text()
                        if (root / "postfix.log").exists()
                        else ""
                    )
                    raise RuntimeError(f"postfix did not start:\n{output}\n{log}") from None
                time.sleep(0.1)
        yield Postfix("127.0.0.1", port, root / "mail", root)
    finally:
        proc.terminate()  # master stops its children and removes its pid file
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
