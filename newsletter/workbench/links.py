"""Is every link in the issue alive? HEAD first, GET where a server refuses HEAD.

Short timeouts and a few parallel requests keep ``check --report --links``
quick; a machine without network gets one note ("no link could be reached")
instead of a failure per link, because the issue is not at fault.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from newsletter import __version__

TIMEOUT = 5.0
WORKERS = 8
USER_AGENT = f"newsletter/{__version__} (link check before sending)"
# Servers that answer HEAD with these often serve GET fine.
_RETRY_WITH_GET = frozenset({403, 404, 405, 501})


@dataclass(frozen=True)
class LinkResult:
    url: str
    status: int | None  # final HTTP status; None when no answer came
    error: str | None = None
    final_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400

    @property
    def unreachable(self) -> bool:
        return self.status is None


def check_links(
    urls: Iterable[str],
    *,
    timeout: float = TIMEOUT,
    progress: Callable[[LinkResult], None] | None = None,
) -> list[LinkResult]:
    """Check each distinct http(s) URL once, in the order given."""
    distinct = list(dict.fromkeys(u for u in urls if u.startswith(("http://", "https://"))))
    results: dict[str, LinkResult] = {}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for result in pool.map(lambda u: _check(u, timeout), distinct):
            results[result.url] = result
            if progress:
                progress(result)
    return [results[u] for u in distinct]


def _check(url: str, timeout: float) -> LinkResult:
    first = _request(url, "HEAD", timeout)
    if first.status in _RETRY_WITH_GET or first.error == "timed out":
        return _request(url, "GET", timeout)
    return first


def _request(url: str, method: str, timeout: float) -> LinkResult:
    req = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if method == "GET":
                resp.read(1024)
            return LinkResult(url, resp.status, None, resp.url if resp.url != url else None)
    except urllib.error.HTTPError as exc:
        return LinkResult(url, exc.code, exc.reason if isinstance(exc.reason, str) else None)
    except urllib.error.URLError as exc:
        reason = exc.reason
        return LinkResult(url, None, str(getattr(reason, "strerror", None) or reason))
    except (TimeoutError, OSError, ValueError) as exc:
        return LinkResult(url, None, "timed out" if isinstance(exc, TimeoutError) else str(exc))
