"""`ltctl add`'s job options, made from their declaration in `lazy_transcode.options`.

Typer reads a command's parameters from `inspect.signature`, which honours `__signature__`: the
command takes `**options`, and `with_job_options` gives it one keyword parameter per option that has
a flag. Each defaults to None (a flag to False) so that only what the user gave is sent and the
daemon's `[defaults]` fill in the rest.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

if TYPE_CHECKING:
    from lazy_transcode.options import JobOption

Command = TypeVar("Command", bound=Callable[..., Any])


def option_parameter(option: JobOption) -> inspect.Parameter:
    """One job option as a Typer option: its flag, help, metavar, choices and hidden flag."""
    help_text = option.help_text
    if option.type is bool:
        annotation: Any = Annotated[bool, typer.Option(option.flag, help=help_text, hidden=option.hidden)]
        default: Any = False
    else:
        kind: Any = Literal[option.choices] if option.choices else option.type
        info = typer.Option(option.flag, help=help_text, metavar=option.metavar, hidden=option.hidden)
        annotation = Annotated[kind | None, info]
        default = None
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def signature_with_job_options(command: Callable[..., Any]) -> inspect.Signature:
    """The signature of `command` (which takes `**options`) with the job options after its own arguments.

    They come before its first parameter with a default, as `ltctl add --help` has always shown them.
    """
    from lazy_transcode.options import OPTIONS

    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
    split = next((i for i, p in enumerate(own) if p.default is not p.empty), len(own))
    added = [option_parameter(option) for option in OPTIONS if option.flag is not None]
    return inspect.Signature([p.replace(kind=p.KEYWORD_ONLY) for p in (*own[:split], *added, *own[split:])])


class _WithJobOptions:
    """A command whose signature gains the job options when it is first read: Typer reads it only when it
    builds its command tree, so `ltctl ping` (which never does) does not pay for the options."""

    def __init__(self, command: Callable[..., Any]) -> None:
        functools.update_wrapper(self, command)
        self._command = command

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._command(*args, **kwargs)

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        return signature_with_job_options(self._command)


def with_job_options(command: Command) -> Command:
    """Give `command` (which takes `**options`) the job options, listed after its own arguments."""
    return _WithJobOptions(command)  # type: ignore[return-value]


def given_options(values: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave (a flag only when set), folders made absolute here, where they were typed."""
    from lazy_transcode.options import OPTIONS

    given: dict[str, Any] = {}
    for option in OPTIONS:
        value = values.get(option.name)
        if value is None or value is False:
            continue
        given[option.name] = os.path.abspath(value) if option.path else value
    return given
