"""The ``failover`` command line. Each command group lives in a private module that
registers itself on :data:`main`; this front door imports them all."""

from failover.cli import _check_cmds as _check_cmds
from failover.cli import _config_cmds as _config_cmds
from failover.cli import _contacts_cmds as _contacts_cmds
from failover.cli import _daemon_cmds as _daemon_cmds
from failover.cli import _db_cmds as _db_cmds
from failover.cli import _journal_cmds as _journal_cmds
from failover.cli import _maintenance_cmds as _maintenance_cmds
from failover.cli import _manpage as _manpage
from failover.cli import _manual_cmds as _manual_cmds
from failover.cli import _notify_cmds as _notify_cmds
from failover.cli import _retract_cmds as _retract_cmds
from failover.cli import _silence_cmds as _silence_cmds
from failover.cli import _status_cmds as _status_cmds
from failover.cli import _status_page_cmds as _status_page_cmds
from failover.cli._main import main

__all__ = ["main"]
