"""The error a user can fix. A leaf: imports nothing of the project, so every layer can use it.

Every command wraps its ``main`` with :func:`bokeh_jax.cli.run_main`, which prints a
:class:`UserError` as one line (``error: ...``) and exits with its ``exit_code``, without a
traceback. Bugs still raise with a full traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad path, bad flag, bad file).

    The message should name the offending file or value and say what to do; it is printed as
    one line (see :func:`one_line`).
    """

    exit_code = 2


def one_line(message: object) -> str:
    """A message on one line: its non-empty lines joined with "; " (lists of keys included)."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
