"""The daemon as a system service, and the technician's way in.

    notify.py      sd_notify over $NOTIFY_SOCKET (READY, STATUS, WATCHDOG, STOPPING)
    progress.py    which streams have stalled: the watchdog's question
    control.py     the local control socket, serving the fleet command router
    client.py      the CLI's side of that socket
    supervisor.py  the pieces joined next to a running daemon; SIGHUP reloads

Nothing here starts threads at import; ``edgeinfer run`` builds a ``Service``.
"""

from __future__ import annotations

from edgeinfer.service.supervisor import Service

__all__ = ["Service"]
