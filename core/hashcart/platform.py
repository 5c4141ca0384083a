"""What a platform plugin gives the core: a long-running connection and a way to send a reply."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from hashcart.commands import Action, Outcome, ReplyTarget


@dataclass(frozen=True, slots=True)
class ReplyContent:
    """The words of one answer; `extra` holds platform-specific structure (Slack blocks, embeds)."""

    text: str
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class OutgoingReply:
    """One queued answer as the reply sender hands it to `Platform.send_reply`.

    `attempt` (from 1) and `reply_id` let a platform vary the wording on a retry (X refuses a post
    that repeats a recent one); `last_error` is why the previous attempt failed, on whichever node,
    so a retry can go on from where it left off.
    """

    reply_id: int
    event_key: str
    target: ReplyTarget
    content: ReplyContent
    outcome: Outcome
    attempt: int = 1
    locale: str | None = None
    last_error: str | None = None


class SendError(Exception):
    """A reply could not be sent. `retry_after` (seconds) set means: try again later."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.retry_after is not None


class RetryLater(SendError):
    """The platform is busy or down (429, 5xx, a timeout); the reply sender tries again.

    Pass `retry_after` only when the platform said when (`Retry-After`, a rate-limit reset);
    without it the sender backs off with jitter, which is what a platform that is down needs.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason, retry_after=max(0.0, retry_after or 0.0))


class SendRefused(SendError):
    """The platform refused the reply for good (403, unknown user); it is not tried again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retry_after=None)


@runtime_checkable
class Platform(Protocol):
    """A chat platform as `hashcart serve` runs it.

    `start` must return quickly: long-running work (a gateway, a stream) goes into tasks the
    platform owns, which `stop` ends. `send_reply` delivers one answer or raises `SendError`.

    `commands` says, for every `hashcart.Action`, how a person asks for it here, as they would type
    or do it (`"/cart add <link>"`, `"#{hashtag} help"`, `"react {emoji}"`, braces naming a
    setting), or None where there is no way. Every action must be there so that no platform
    forgets a new one (a test checks it); the platform documentation is generated from it.
    """

    name: str
    commands: ClassVar[Mapping[Action, str | None]]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_reply(self, reply: OutgoingReply) -> None: ...


#: The attribute `for_platform` sets on a hook implementation.
OWNER_ATTRIBUTE = "hashcart_for_platform"

F = TypeVar("F", bound=Callable[..., Any])


def for_platform(name: str) -> Callable[[F], F]:
    """Mark a hook implementation as one platform's: the core calls it only for commands that
    came from `name` (`command.platform`), so it need not check the platform itself.

        @hashcart.hookimpl
        @hashcart.for_platform("slack")
        def hashcart_format_reply(command, outcome, locale, hashcart): ...
    """

    def mark(function: F) -> F:
        setattr(function, OWNER_ATTRIBUTE, name)
        return function

    return mark


def answers_for(function: Callable[..., Any], command: object) -> bool:
    """Whether a hook implementation is called for `command`: it is platform-neutral, or it
    belongs to the command's platform."""
    owner = getattr(function, OWNER_ATTRIBUTE, None)
    return owner is None or command is None or getattr(command, "platform", None) == owner
