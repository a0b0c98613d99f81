"""Errors in what the user asked for.

The command line reports a :class:`UserError` in one line (the message names
the problem and the fix) with exit code 2; any other exception is a bug and
keeps its traceback.
"""


class UserError(Exception):
  """What was asked for cannot be done as asked; the message says why."""


class InputError(UserError, ValueError):
  """An input file (data, a README to fill) is unreadable or malformed."""


class ProtocolError(UserError, ValueError):
  """The protocol does not fit the stream, e.g. a batch larger than a task."""


class Interrupted(UserError):
  """A signal stopped a checkpointed run; it was saved and can resume."""
