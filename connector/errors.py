"""The connector's error tree: every failure classified by what the caller does next.

```
ConnectorError
├── ConfigurationError            refuse to start; the message names the file, line or setting
│   ├── MissingStoreError         a command that only reads the store found none
│   └── TagRefusedError           an owned tag cannot be written (foreign or archived): its
│                                 writes are blocked until the mapping or Wisenet is fixed
├── StoreUnavailableError         the store's database cannot be reached (refused, unknown host)
├── JobBusyError                  another process holds the job's lock: try again later
├── WritesHeldError               a run ended with due writes leased by another live process
├── DryRunWriteError              a dry run tried to send a write to Wisenet (a bug; nothing sent)
├── NotLeaderError                this replica lost the scheduler lock: it must not call Wisenet
└── WisenetError                  a Wisenet call failed; carries method and endpoint template
    ├── AuthenticationError       401/403: the key is missing or wrong (configuration, no retry)
    ├── NotFoundError             404: the record is gone (a delete, whatever the event said)
    ├── RejectedError             another 4xx: Wisenet refused the request (dead letter, no retry)
    │   └── InactiveLearnerError  the learner is inactive, so the API is read-only for them (skip)
    ├── QuotaExhaustedError       the day's quota is spent: stop calling until the reset
    ├── TransientError            worth retrying with backoff
    │   ├── RateLimitedError      429 for the per-second rate (may carry Retry-After)
    │   ├── ServerError           5xx
    │   └── NetworkError          timeout, refused or dropped connection
    └── MalformedResponseError    the answer is not what the contract says (not JSON, wrong shape)
```

Library errors (httpx, pydantic) are translated into this tree at the client boundary with
`raise ... from exc`; nothing above the client sees an httpx exception. Messages name the HTTP
method and the endpoint *template* (`GET /learnersAU/{id}`), never query values, ids of
people, or response bodies: those may hold personal data.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""


class ConfigurationError(ConnectorError):
    """Settings, mapping or environment are wrong; the program must not start."""


class MissingStoreError(ConfigurationError):
    """A command that only reads the store found none where CONNECTOR_DATABASE_URL points."""


class TagRefusedError(ConfigurationError):
    """An owned tag the connector will not write; the message names the tag and the fix."""

    def __init__(self, tag: str, reason: str) -> None:
        self.tag = tag
        super().__init__(reason)


class StoreUnavailableError(ConnectorError):
    """The store's database did not answer: refused, unknown host, timed out. Worth a retry."""


class JobBusyError(ConnectorError):
    """Another process holds a job's lock."""


class WritesHeldError(ConnectorError):
    """A run ended with due writes still leased by another live process."""


class DryRunWriteError(ConnectorError):
    """A dry run tried to send a write to Wisenet; it was not sent. A dry run only plans."""


class NotLeaderError(ConnectorError):
    """This replica no longer holds the scheduler lock, so it must not call Wisenet."""


class WisenetError(ConnectorError):
    """A Wisenet API call failed.

    `method` and `endpoint` (a template such as `/course-enrolments/{id}`) say which call;
    `status` is the HTTP status when there was a response.
    """

    def __init__(
        self, message: str, *, method: str, endpoint: str, status: int | None = None
    ) -> None:
        self.method = method
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"{method} {endpoint}: {message}")


class AuthenticationError(WisenetError):
    """Wisenet refused the API key (401 or 403)."""


class NotFoundError(WisenetError):
    """The record does not exist (404)."""


class RejectedError(WisenetError):
    """Wisenet refused the request for a reason retrying will not fix (a 4xx)."""


class InactiveLearnerError(RejectedError):
    """The write touched an inactive learner, whose records the API keeps read-only."""


class QuotaExhaustedError(WisenetError):
    """The day's request quota is spent; no call may be made before `resets_at` (if known)."""


class TransientError(WisenetError):
    """A failure that may pass: retry with backoff.

    `retry_after` is the server's own hint in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        endpoint: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, method=method, endpoint=endpoint, status=status)


class RateLimitedError(TransientError):
    """429 caused by the per-second rate."""


class ServerError(TransientError):
    """Wisenet answered 5xx."""


class NetworkError(TransientError):
    """The request did not get an answer: timeout, refused or dropped connection."""


class MalformedResponseError(WisenetError):
    """The response breaks the contract: not JSON, wrong envelope, a page repeated."""
