"""An in-memory :class:`~nearpath.core.runner.Runner` for unit tests.

It records every call (argv, timeout, accepted codes, secrets) and answers from rules:
the first rule whose argv prefix matches decides the result. Unmatched calls succeed with
empty output unless ``strict`` is set, in which case they fail the test loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nearpath.core.masking import mask_argv, mask_text
from nearpath.core.runner import CommandResult, check_exit, timed_out

Responder = Callable[[list[str]], CommandResult | tuple[int, str, str]]


@dataclass(frozen=True)
class RecordedCall:
    argv: list[str]
    """The argv exactly as given (unmasked: tests may check secrets never reach argv)."""
    timeout: float
    ok_codes: frozenset[int]
    secrets: tuple[str, ...]
    input: str | None


@dataclass
class _Rule:
    prefix: tuple[str, ...]
    respond: Responder
    times: int | None


@dataclass
class FakeRunner:
    strict: bool = False
    calls: list[RecordedCall] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)

    def on(
        self,
        *prefix: str,
        rc: int = 0,
        stdout: str = "",
        stderr: str = "",
        respond: Responder | None = None,
        times: int | None = None,
        timeout: bool = False,
    ) -> FakeRunner:
        """Answer calls whose argv starts with ``prefix``.

        ``respond`` computes the answer from the argv; ``times`` limits how often the rule
        applies (then later rules are tried); ``timeout`` makes the call time out.
        """

        def fixed(_argv: list[str]) -> tuple[int, str, str]:
            if timeout:
                raise _TimeoutMarker
            return rc, stdout, stderr

        self._rules.append(_Rule(tuple(prefix), respond or fixed, times))
        return self

    def argvs(self) -> list[list[str]]:
        return [c.argv for c in self.calls]

    def commands(self, *prefix: str) -> list[list[str]]:
        """The recorded argvs that start with ``prefix``."""
        return [a for a in self.argvs() if tuple(a[: len(prefix)]) == prefix]

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        ok_codes: Iterable[int] = (0,),
        secrets: Iterable[str] = (),
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        args = list(argv)
        secret_list = tuple(s for s in secrets if s)
        accepted = frozenset(ok_codes)
        self.calls.append(RecordedCall(args, timeout, accepted, secret_list, input))
        shown = mask_argv(args, secret_list)
        rule = self._match(args)
        if rule is None:
            if self.strict:
                raise AssertionError(f"FakeRunner: unexpected command {shown}")
            answer: CommandResult | tuple[int, str, str] = (0, "", "")
        else:
            try:
                answer = rule.respond(args)
            except _TimeoutMarker:
                raise timed_out(shown, timeout, "", "") from None  # the marker is no cause
        if isinstance(answer, CommandResult):
            result = answer
        else:
            rc, out, err = answer
            result = CommandResult(shown, rc, mask_text(out, secret_list), mask_text(err, secret_list))
        return check_exit(result, accepted)

    def _match(self, argv: list[str]) -> _Rule | None:
        for rule in self._rules:
            if tuple(argv[: len(rule.prefix)]) != rule.prefix:
                continue
            if rule.times is not None:
                if rule.times <= 0:
                    continue
                rule.times -= 1
            return rule
        return None


class _TimeoutMarker(Exception):
    pass
