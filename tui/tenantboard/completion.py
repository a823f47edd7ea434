"""Shell completion for bash and zsh, from the command line's own parser (argcomplete).

`tenantboard completion bash|zsh` prints the shell code; on every TAB the shell runs
`tenantboard` again with ``_ARGCOMPLETE`` and the line in ``COMP_LINE``/``COMP_POINT``,
and :func:`complete` answers from the real parser: commands, options, their choices, and
what completers the command line attaches (environments, the saved context ids). argcomplete
is imported only then, so no other command pays for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from tenantboard.tenant import ENV_ALIASES, ENVIRONMENTS
from tenantboard.tenant_file import StoreError, TenantStore

SHELLS = ("bash", "zsh")
PROGRAM = "tenantboard"
#: What the shell code sets to ask for completions instead of running a command.
REQUEST_VARIABLE = "_ARGCOMPLETE"


def requested() -> bool:
    return REQUEST_VARIABLE in os.environ


def shell_script(shell: str) -> str:
    """The code that makes ``shell`` complete `tenantboard` (for its startup file)."""
    import argcomplete

    return argcomplete.shellcode([PROGRAM], shell=shell)


def complete(
    parser: Any,
    *,
    output_stream: IO[str] | None = None,
    exit_method: Callable[[int], Any] = os._exit,
) -> None:
    """Answer the shell: the candidates for the word at ``COMP_POINT`` in ``COMP_LINE``,
    written to the shell's file descriptor 8 (or ``output_stream``); then ``exit_method``.
    Options are offered once a ``-`` is typed, so a bare TAB lists the commands."""
    import argcomplete

    class InProcess(argcomplete.CompletionFinder):
        def _init_debug_stream(self) -> None:
            # argcomplete's debug lines (with _ARC_DEBUG) go to the shell's descriptor 9;
            # in a process that is no shell's child, 9 may be any file, and argcomplete
            # would close it: standard error instead.
            argcomplete.io.debug_stream = sys.stderr

    finder = argcomplete.CompletionFinder() if output_stream is None else InProcess()
    finder(
        parser,
        always_complete_options=False,
        output_stream=output_stream,
        exit_method=exit_method,
    )


def environment_names(**_: Any) -> list[str]:
    """Every name an environment is known by (``qaonline`` is ``stage``)."""
    return [*ENVIRONMENTS, *ENV_ALIASES]


def saved_context_ids(tenant_file: Path, env: str | None, typed: Iterable[str]) -> list[str]:
    """The context ids saved in ``tenant_file`` (only those in ``env`` when given), in the
    file's order, less those already ``typed``; none when it cannot be read (a TAB never
    prints an error)."""
    try:
        tenants = TenantStore(tenant_file).load().tenants
    except (StoreError, OSError, ValueError):
        return []
    skip = {word.lower() for word in typed}
    found = dict.fromkeys(
        tenant.context_id
        for tenant in tenants
        if (env is None or tenant.env == env) and tenant.context_id.lower() not in skip
    )
    return list(found)


def no_candidates(**_: Any) -> list[str]:
    """For an argument nothing can be offered for (a tenant not yet in the list)."""
    return []
