"""Named, time-boxed steps whose failures say which step and which HTTP exchange failed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import anyio

from .exchanges import ExchangeLog

STEP_TIMEOUT = 30.0


class StepFailed(AssertionError):
    """A step of an end-to-end flow failed; the message names the step and the last HTTP exchange."""


def leaves(error: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def _describe(step: str, error: BaseException, log: ExchangeLog | None, extra: str | None) -> str:
    found = leaves(error)
    during = f" (during '{log.current_step}')" if log is not None and log.current_step != step else ""
    lines = [f"step '{step}'{during} failed: " + "; ".join(f"{type(e).__name__}: {e}" for e in found)]
    for leaf in found:
        cause = leaf.__cause__ or leaf.__context__
        if cause is not None and not isinstance(cause, BaseExceptionGroup):
            lines.append(f"  caused by {type(cause).__name__}: {cause}")
    if log is not None:
        lines.append(log.describe_recent())
    if extra:
        lines.append(extra)
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def step(name: str, log: ExchangeLog | None = None, *, timeout: float | None = STEP_TIMEOUT,
               diagnostics=None) -> AsyncIterator[None]:
    """Runs the body within `timeout` seconds; any failure becomes a `StepFailed` naming the step.

    `timeout=None` is for bodies that enter or leave a context with its own task group (an SDK
    client): a cancel scope must not straddle it. Those rely on the clients' own bounded timeouts
    and on the test's overall deadline."""
    if log is not None:
        log.mark(name)
    try:
        with anyio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
            yield
    except StepFailed:
        raise
    except BaseException as error:  # noqa: BLE001 - re-raised with context
        if isinstance(error, (KeyboardInterrupt, SystemExit, anyio.get_cancelled_exc_class())) and not isinstance(error, TimeoutError):
            raise
        if isinstance(error, TimeoutError):
            error = TimeoutError(f"no progress within {timeout:.0f} s")
        extra = diagnostics() if diagnostics else None
        raise StepFailed(_describe(name, error, log, extra)) from error


@contextlib.contextmanager
def sync_step(name: str, log: ExchangeLog | None = None, diagnostics=None) -> Iterator[None]:
    """The synchronous twin of `step` (the HTTP client's own timeouts bound it)."""
    if log is not None:
        log.mark(name)
    try:
        yield
    except StepFailed:
        raise
    except Exception as error:  # noqa: BLE001
        extra = diagnostics() if diagnostics else None
        raise StepFailed(_describe(name, error, log, extra)) from error
