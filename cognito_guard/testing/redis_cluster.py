"""A real Redis Cluster on 127.0.0.1 for tests: ``redis-server`` or ``valkey-server`` processes.

The binary is found as :class:`~cognito_guard.testing.RedisServer` finds it. Each node runs in
memory (``--save "" --appendonly no``) with ``cluster-enabled yes`` in a temporary directory of
its own (for its ``nodes.conf``), on free loopback ports; the cluster is formed with ``CLUSTER
ADDSLOTSRANGE``, ``CLUSTER MEET`` and ``CLUSTER REPLICATE`` (no ``redis-cli`` needed) and is
ready once every node reports ``cluster_state:ok`` and every replica is in sync. A short
``cluster-node-timeout`` (1 s) makes a failover quick: :meth:`RedisClusterServer.kill` a master,
:meth:`RedisClusterServer.wait_for_failover` until its replica is promoted, and
:meth:`RedisClusterServer.restart` it (it rejoins as a replica).

Example::

    with RedisClusterServer() as cluster:
        revocations = RedisRevocations(cluster.url)      # any node's URL will do
        master = cluster.master_of("cognito_guard:{revocations}")
        cluster.kill(master)
        cluster.wait_for_failover(master, "cognito_guard:{revocations}")
"""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._resp import command as send
from ._service import Service
from ._tls import TLSFiles, write_tls_files
from .redis import RedisServerNotFound, _free_port, require_redis_server

__all__ = ["ClusterNode", "RedisClusterServer"]

SLOTS = 16384


@dataclass
class ClusterNode:
    """One server process of a :class:`RedisClusterServer`."""

    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    node_id: str = ""

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None


class RedisClusterServer(Service):
    """A Redis Cluster of ``masters * (1 + replicas)`` real server processes (see the module).

    Args:
        binary: the server binary; default :func:`~cognito_guard.testing.find_redis_server`.
        masters: how many masters share the 16384 slots (evenly).
        replicas: replicas per master (a failover needs one).
        node_timeout: ``cluster-node-timeout`` in milliseconds (a dead master is failed over
            after about this long).
        tls: serve TLS only, clients, replication and the cluster bus alike, with a throwaway
            CA; :attr:`url` is then ``rediss://...?ssl_ca_certs=PATH``.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout: int = 1000,
        tls: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one master, and replicas >= 0")
        self.binary = require_redis_server(binary)
        self.masters, self.replicas, self.node_timeout = masters, replicas, node_timeout
        self.tls, self.startup_timeout = tls, startup_timeout
        self.tls_files: TLSFiles | None = None
        self._context: ssl.SSLContext | None = None  # a client context trusting tls_files.ca
        self.nodes: list[ClusterNode] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._formed = False

    # -- addresses ------------------------------------------------------------------------------

    def node_url(self, node: ClusterNode) -> str:
        """The URL of one node (any node's URL reaches the whole cluster)."""
        if not self.tls:
            return f"redis://127.0.0.1:{node.port}/0"
        ca = quote(str(self.tls_files.ca)) if self.tls_files is not None else ""
        return f"rediss://127.0.0.1:{node.port}/0?ssl_ca_certs={ca}"

    @property
    def url(self) -> str:
        """The URL of the first node (``redis://127.0.0.1:PORT/0``)."""
        return self.node_url(self.nodes[0]) if self.nodes else ""

    def command(self, node: ClusterNode, *args: Any) -> Any:
        """One command to one node, without cluster routing: its reply (bytes, an int, a list
        or None); ``RuntimeError`` for an error reply.

        Example: ``cluster.command(cluster.master_of(key), "WAIT", 1, 5000)``
        """
        return send(node.port, *args, tls=self._context)

    def _text(self, node: ClusterNode, *args: Any) -> str:
        reply = self.command(node, *args)
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def _info(self, node: ClusterNode, *args: str) -> dict[str, str]:
        text = self._text(node, *args)
        pairs = (line.partition(":") for line in text.splitlines() if ":" in line)
        return {name: value.strip() for name, _, value in pairs}

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while every node is alive."""
        return bool(self.nodes) and all(node.running for node in self.nodes)

    def start(self) -> RedisClusterServer:
        """Start every node (again), form the cluster the first time, wait until it is ok."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="cognito-guard-cluster-")
            root = Path(self._dir.name)
            if self.tls:
                self.tls_files = write_tls_files(root)
                self._context = self.tls_files.client_context()
            for index in range(self.masters * (1 + self.replicas)):
                directory = root / f"node{index}"
                directory.mkdir()
                self.nodes.append(ClusterNode(_free_port(), _free_port(), directory))
        for node in self.nodes:
            if not node.running:
                self._spawn(node)
        deadline = time.monotonic() + self.startup_timeout
        for node in self.nodes:
            self._wait_answering(node, deadline)
        if not self._formed:
            self._form(deadline)
        self.wait_ok(deadline - time.monotonic())
        return self

    def _spawn(self, node: ClusterNode) -> None:
        lines = [
            "bind 127.0.0.1",
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-node-timeout {self.node_timeout}",
            f"cluster-port {node.bus_port}",
            # Any replica may be promoted, however long its link was down (a loaded test box).
            "cluster-replica-validity-factor 0",
            # A replica's first sync starts at once (the default waits 5 s for more replicas).
            "repl-diskless-sync-delay 0",
            'save ""',
            "appendonly no",
            f"dir {node.directory}",
            "loglevel warning",
            f"logfile {node.directory / 'server.log'}",
        ]
        if self.tls_files is not None:
            lines += ["port 0", f"tls-port {node.port}", "tls-cluster yes", "tls-replication yes"]
            lines += self.tls_files.server_config()
        else:
            lines.append(f"port {node.port}")
        config = node.directory / "server.conf"
        config.write_text("\n".join(lines) + "\n")
        node.process = subprocess.Popen(  # noqa: S603 - a server binary and our own config
            [self.binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _wait_answering(self, node: ClusterNode, deadline: float) -> None:
        while True:
            if not node.running:
                log = node.directory / "server.log"
                output = log.read_text(errors="replace") if log.exists() else ""
                if "TLS support" in output:
                    raise RedisServerNotFound(f"{self.binary} is built without TLS support")
                raise RuntimeError(f"{self.binary} exited at start: {output.strip()[-500:]}")
            with contextlib.suppress(Exception):
                node.node_id = self._text(node, "CLUSTER MYID")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster node on port {node.port} did not answer")
            time.sleep(0.05)

    def _form(self, deadline: float) -> None:
        first = self.nodes[0]
        per = SLOTS // self.masters
        for index, master in enumerate(self.nodes[: self.masters]):
            low = index * per
            high = SLOTS - 1 if index == self.masters - 1 else low + per - 1
            self.command(master, "CLUSTER ADDSLOTSRANGE", low, high)
        for node in self.nodes[1:]:
            self.command(first, "CLUSTER MEET", "127.0.0.1", node.port, node.bus_port)
        self._until(deadline, "every node knows every other", self._all_known)
        for index, node in enumerate(self.nodes[self.masters :]):
            master = self.nodes[index % self.masters]
            self.command(node, "CLUSTER REPLICATE", master.node_id)
        self._formed = True

    def _all_known(self) -> bool:
        count = str(len(self.nodes))
        return all(
            self._info(node, "CLUSTER INFO").get("cluster_known_nodes") == count
            for node in self.nodes
        )

    def _until(self, deadline: float, what: str, condition: Any) -> None:
        while True:
            with contextlib.suppress(Exception):
                if condition():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster timed out waiting until {what}")
            time.sleep(0.05)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every running node says ``cluster_state:ok`` and agrees on the masters,
        and every running replica is in sync with its master."""

        def ok() -> bool:
            for node in self.nodes:
                if not node.running:
                    continue
                info = self._info(node, "CLUSTER INFO")
                if info.get("cluster_state") != "ok" or info.get("cluster_size") != str(
                    self.masters
                ):
                    return False
                replication = self._info(node, "INFO", "replication")
                if replication.get("role") == "slave" and (
                    replication.get("master_link_status") != "up"
                ):
                    return False
            return True

        self._until(time.monotonic() + timeout, "cluster_state:ok on every node", ok)

    # -- faults ---------------------------------------------------------------------------------

    def _owner(self, slot: int) -> ClusterNode | None:
        """The master serving ``slot``, as a running node sees the cluster."""
        running = next(node for node in self.nodes if node.running)
        by_id = {node.node_id: node for node in self.nodes}
        for line in self._text(running, "CLUSTER NODES").splitlines():
            fields = line.split()
            flags = fields[2].split(",")
            if "master" not in flags or "fail" in flags:
                continue
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):  # not "[migrating]"
                    return by_id.get(fields[0])
        return None

    def slot_of(self, key: str) -> int:
        """``key``'s hash slot (mind a ``{hash tag}``)."""
        running = next(node for node in self.nodes if node.running)
        return int(self.command(running, "CLUSTER KEYSLOT", key))

    def master_of(self, key: str) -> ClusterNode:
        """The node that is the master of ``key``'s slot."""
        owner = self._owner(self.slot_of(key))
        if owner is None:
            raise RuntimeError(f"no master serves the slot of {key!r}")
        return owner

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL one node: no goodbye to the cluster, its data gone."""
        if node.process is not None:
            node.process.kill()
            node.process.wait(timeout=10)

    def wait_for_failover(
        self, old_master: ClusterNode, key: str, timeout: float = 30.0
    ) -> ClusterNode:
        """Wait until another node serves ``key``'s slot, which ``old_master`` (killed) served,
        and the cluster is ok again; returns the new master."""
        slot = self.slot_of(key)
        promoted: list[ClusterNode] = []

        def taken_over() -> bool:
            owner = self._owner(slot)
            if owner is None or owner is old_master:
                return False
            promoted.append(owner)
            return True

        deadline = time.monotonic() + timeout
        self._until(deadline, "a replica was promoted", taken_over)
        self.wait_ok(max(0.0, deadline - time.monotonic()))
        return promoted[0]

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again: it rejoins (from its ``nodes.conf``) as a replica."""
        if not node.running:
            self._spawn(node)
            deadline = time.monotonic() + self.startup_timeout
            self._wait_answering(node, deadline)
            self.wait_ok(deadline - time.monotonic())

    def flushall(self) -> None:
        """Delete every key on every master (the replicas follow)."""
        for node in self.nodes:
            if node.running and self._info(node, "INFO", "replication").get("role") == "master":
                self.command(node, "FLUSHALL")

    def stop(self) -> None:
        """Stop every node at once (the cluster's data is gone; :meth:`start` brings it back
        empty, with the same slots)."""
        for node in self.nodes:
            process, node.process = node.process, None
            if process is not None:
                process.kill()
                process.wait(timeout=10)

    def close(self) -> None:
        """Stop every node and remove their directories."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self.nodes = []
            self._formed = False

    def __repr__(self) -> str:
        ports = [node.port for node in self.nodes]
        return f"RedisClusterServer(ports={ports}, running={self.running})"
