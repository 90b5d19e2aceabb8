"""The bounce corpus in ``tests/fixtures/bounces/<family>/``: what each message must come out as.

Written for this project from each MTA's documented output shape and the
RFCs (3464, 6533, 5965), with example.org/.com/.net addresses. Every
message was returned to a delivery of one campaign (uid ``c0ffee00c0ffee02``,
secret ``inbound fixtures``): delivery *n* went to ``CORPUS[n - 1].address``,
and the message carries its VERP token (or, for the complaints, its signed
Message-ID). ``family`` is the detector (``newsletter/inbound/detectors``)
or report format that must read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BOUNCES = Path(__file__).resolve().parent / "fixtures" / "bounces"
UID = "c0ffee00c0ffee02"


@dataclass(frozen=True)
class Case:
    path: str  # family/name.eml
    kind: str  # hard | soft | delayed | complaint | unverified
    reason: str | None
    status: str | None
    address: str

    @property
    def family(self) -> str:
        return self.path.partition("/")[0]


def _c(path: str, kind: str, reason: str | None, status: str | None, address: str) -> Case:
    return Case(path, kind, reason, status, address)


CORPUS: list[Case] = [
    # DragonFly Mail Agent
    _c("dma/user_unknown.eml", "hard", "user-unknown", "5.1.1", "dma1@example.org"),
    _c("dma/mailbox_full.eml", "soft", "mailbox-full", "5.2.2", "dma2@example.com"),
    _c("dma/host_unknown.eml", "hard", "host-unknown", None, "dma3@nowhere.example.net"),
    # Amazon WorkMail
    _c("amazon-workmail/user_unknown.eml", "hard", "user-unknown", "5.1.1", "wm1@example.org"),
    _c("amazon-workmail/quota.eml", "soft", "mailbox-full", "5.2.2", "wm2@example.com"),
    _c("amazon-workmail/delayed.eml", "delayed", None, "4.4.1", "wm3@example.net"),
    # old Sendmail (V5)
    _c("sendmail-v5/user_unknown.eml", "hard", "user-unknown", None, "sm1@example.org"),
    _c("sendmail-v5/rcpt_transcript.eml", "hard", "user-unknown", "5.1.1", "sm2@example.com"),
    _c("sendmail-v5/host_unknown.eml", "hard", "host-unknown", None, "sm3@example.net"),
    # Lotus Notes / Domino
    _c("lotus-notes/not_listed.eml", "hard", "user-unknown", None, "ln1@example.org"),
    _c("lotus-notes/document_not_delivered.eml", "hard", "user-unknown", None,
       "ln2@example.com"),
    _c("lotus-notes/mailfile_full.eml", "soft", "mailbox-full", None, "ln3@example.net"),
    # McAfee Email Gateway
    _c("mcafee/user_unknown.eml", "hard", "user-unknown", None, "mc1@example.org"),
    _c("mcafee/host_unknown.eml", "hard", "host-unknown", None, "mc2@example.com"),
    _c("mcafee/spam.eml", "soft", "spam-detected", "5.7.1", "mc3@example.net"),
    # m-FILTER
    _c("m-filter/user_unknown.eml", "hard", "user-unknown", "5.1.1", "mf1@example.org"),
    _c("m-filter/full.eml", "soft", "mailbox-full", "5.2.2", "mf2@example.com"),
    _c("m-filter/policy.eml", "soft", "policy-violation", "5.7.1", "mf3@example.net"),
    # KDDI / au
    _c("kddi/unknown.eml", "hard", "user-unknown", None, "au1@example.org"),
    _c("kddi/mailbox_full.eml", "soft", "mailbox-full", None, "au2@example.com"),
    _c("kddi/disabled.eml", "hard", "suspended", None, "au3@example.net"),
    # NTT docomo
    _c("docomo/rejected.eml", "soft", "filtered", None, "dc1@example.org"),
    _c("docomo/two_recipients.eml", "soft", "filtered", None, "dc2@example.com"),
    _c("docomo/unknown_user.eml", "hard", "user-unknown", "5.1.1", "dc3@example.net"),
    # FML
    _c("fml/not_member.eml", "soft", "filtered", None, "ml1@example.org"),
    _c("fml/not_member_utf8.eml", "soft", "filtered", None, "ml2@example.com"),
    _c("fml/too_big.eml", "soft", "message-too-big", None, "ml3@example.net"),
    # Verizon Wireless
    _c("verizon/no_valid_recipients.eml", "hard", "user-unknown", None,
       "5550101001@example.org"),
    _c("verizon/invalid_recipient.eml", "hard", "user-unknown", None, "5550101002@example.com"),
    _c("verizon/blocked.eml", "soft", "blocked", None, "5550101003@example.net"),
    # Apache James
    _c("apache-james/user_unknown.eml", "hard", "user-unknown", "5.1.1", "aj1@example.org"),
    _c("apache-james/full.eml", "soft", "mailbox-full", "5.2.2", "aj2@example.com"),
    _c("apache-james/temporary.eml", "soft", "temporary", "4.4.1", "aj3@example.net"),
    # OpenSMTPD
    _c("opensmtpd/user_unknown.eml", "hard", "user-unknown", "5.1.1", "os1@example.org"),
    _c("opensmtpd/dmarc.eml", "soft", "security-error", "5.7.1", "os2@example.com"),
    _c("opensmtpd/delay.eml", "delayed", None, None, "os3@example.net"),
    # Exchange 2003
    _c("exchange-2003/not_recognized.eml", "hard", "user-unknown", None, "ex1@example.org"),
    _c("exchange-2003/smtp_reply.eml", "hard", "user-unknown", "5.1.1", "ex2@example.com"),
    _c("exchange-2003/host_unknown.eml", "hard", "host-unknown", None, "ex3@example.net"),
    _c("exchange-2003/relay_denied.eml", "soft", "policy-violation", "5.7.1",
       "ex4@example.org"),
    # Sun / Oracle Messaging Server
    _c("sun-messaging-server/illegal_alias.eml", "hard", "user-unknown", "5.1.1",
       "sun1@example.org"),
    _c("sun-messaging-server/over_quota.eml", "soft", "mailbox-full", "5.2.2",
       "sun2@example.com"),
    _c("sun-messaging-server/dsn_with_comment.eml", "hard", "user-unknown",
       "5.1.1 (unknown or illegal alias)", "sun3@example.net"),
    # QQ Mail
    _c("qq-mail/not_found.eml", "hard", "user-unknown", None, "qq1@example.com"),
    _c("qq-mail/full.eml", "soft", "mailbox-full", None, "qq2@example.com"),
    _c("qq-mail/spam.eml", "soft", "spam-detected", None, "qq3@example.com"),
    # NetEase 163 / 126
    _c("netease/user_not_found.eml", "hard", "user-unknown", None, "ne1@example.net"),
    _c("netease/gbk_full.eml", "soft", "mailbox-full", None, "ne2@example.net"),
    _c("netease/frequency.eml", "soft", "rate-limited", None, "ne3@example.net"),
    # Tencent Exmail
    _c("tencent-exmail/not_exist.eml", "hard", "user-unknown", "5.1.1", "te1@example.org"),
    _c("tencent-exmail/frozen.eml", "hard", "suspended", None, "te2@example.org"),
    _c("tencent-exmail/rejected.eml", "soft", "filtered", None, "te3@example.org"),
    # Alibaba Mail
    _c("alibaba-mail/not_exist.eml", "hard", "user-unknown", None, "ali1@example.com"),
    _c("alibaba-mail/bilingual_full.eml", "soft", "mailbox-full", "5.2.2", "ali2@example.com"),
    _c("alibaba-mail/too_big.eml", "soft", "message-too-big", None, "ali3@example.com"),
    # Sina Mail
    _c("sina/not_exist.eml", "hard", "user-unknown", "5.1.1", "sina1@example.net"),
    _c("sina/sent_to_sentence.eml", "hard", "user-unknown", None, "sina2@example.net"),
    _c("sina/spam.eml", "soft", "spam-detected", None, "sina3@example.net"),
    # RFC 3464 / RFC 6533 reports
    _c("rfc3464/postfix_smtputf8.eml", "hard", "user-unknown", "5.1.1", "müller@example.org"),
    _c("rfc3464/postfix_smtputf8_xtext.eml", "hard", "user-unknown", "5.1.1",
       "jürgen@example.com"),
    _c("rfc3464/postfix_delayed.eml", "delayed", None, "4.4.1", "delay1@example.net"),
    _c("rfc3464/postfix_expired.eml", "soft", "expired", "4.4.1", "expire1@example.org"),
    _c("rfc3464/null_mx_comment.eml", "hard", "not-accepting-mail",
       "5.1.10 (host/domain does not accept mail)", "nullmx@example.com"),
    _c("rfc3464/gmail_dmarc.eml", "soft", "security-error", "5.7.26", "dmarc@example.net"),
    _c("rfc3464/gmail_rate_limit.eml", "soft", "rate-limited", "5.2.1", "rate@example.org"),
    _c("rfc3464/sender_domain.eml", "soft", "sender-rejected", "5.1.8", "sender@example.com"),
    # ARF (RFC 5965) and Hotmail/Outlook's feedback loop
    _c("arf/hotmail_arf_redacted.eml", "complaint", None, None, "hm1@example.com"),
    _c("arf/hotmail_jmrp.eml", "complaint", None, None, "hm2@example.com"),
    _c("arf/yahoo_arf.eml", "complaint", None, None, "yh1@example.net"),
]  # fmt: skip
