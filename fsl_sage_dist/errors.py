"""The errors a user is meant to read: each message says what is wrong and what to do.

A leaf (standard library only), so a module that raises one of them does not have to import the
module that usually raises it: `client_store` raises `CheckpointError` without importing
`checkpoint` (torch), `devices` raises `ConfigError` without importing `config`. The CLI prints
any of them as one `error:` line instead of a traceback.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad config key or value; the message is meant to be shown to the user as is."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says why and what to do."""


class WriteError(OSError):
    """A file of the run could not be written; the message names the OS error and the path."""


class PeerError(RuntimeError):
    """A failure that only echoes a peer's: the transport's (a peer went away, or did not
    answer within `runtime.timeout_s`), or an agreement's report that another rank failed. The
    launcher shows the peer's own error before any of these."""


class PeerCheckpointError(PeerError, CheckpointError):
    """Another rank's checkpoint save or resume check failed; that rank's error has the
    reason."""
