"""Every MQTT topic the daemon uses, built in one place from the prefix and groups.

<prefix>/status                      retained online/offline state
<prefix>/telemetry                   periodic health
<prefix>/alerts                      one message per alert
<prefix>/snapshot/<stream>           a JPEG asked for by the snapshot command
<prefix>/model/state                 retained progress and outcome of model updates
<prefix>/cmd/<name>                  commands to this device
<prefix>/cmd/<name>/reply            replies without an MQTT 5 response topic
edgeinfer/group/<group>/cmd/<name>   commands to every device of a group
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP_ROOT = "edgeinfer/group"


@dataclass(frozen=True)
class Topics:
    """The topics of one device: its ``prefix`` and the ``groups`` it belongs to."""

    prefix: str
    groups: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """Retained online/offline state (the last will goes here)."""
        return f"{self.prefix}/status"

    @property
    def telemetry(self) -> str:
        """Periodic telemetry."""
        return f"{self.prefix}/telemetry"

    @property
    def alerts(self) -> str:
        """Alerts, one per message."""
        return f"{self.prefix}/alerts"

    @property
    def model_state(self) -> str:
        """Retained state of model updates (fetching ... active, rolled_back)."""
        return f"{self.prefix}/model/state"

    def snapshot(self, stream: str) -> str:
        """JPEG snapshots of ``stream``."""
        return f"{self.prefix}/snapshot/{stream}"

    def reply(self, command: str) -> str:
        """Where a reply goes when the request named no response topic."""
        return f"{self.prefix}/cmd/{command}/reply"

    def subscriptions(self) -> list[str]:
        """Command filters: this device's own and its groups'."""
        return [
            f"{self.prefix}/cmd/+",
            *(f"{GROUP_ROOT}/{group}/cmd/+" for group in self.groups),
        ]

    def command_name(self, topic: str) -> str | None:
        """The command a topic addresses to this device, or None if it is not one."""
        roots = [self.prefix, *(f"{GROUP_ROOT}/{g}" for g in self.groups)]
        for root in roots:
            head = f"{root}/cmd/"
            if topic.startswith(head) and "/" not in topic[len(head) :]:
                return topic[len(head) :] or None
        return None


def is_publishable(topic: str) -> bool:
    """True when ``topic`` can be published to (no wildcards, not empty, no NUL)."""
    return bool(topic) and not any(c in topic for c in "+#\0")
