"""What the city bench reads off the machine: CPU of a process tree, Redis connections, /healthz.

- :func:`tree_pids`: a process and everything under it (``/proc/PID/task/*/children``);
- :func:`cpu_seconds`: user + system CPU seconds of those processes (``/proc/PID/stat``),
  ones already gone counted as 0;
- :func:`redis_clients`: client connections on each cluster node, its own and the nodes'
  replication links left out;
- :func:`health`: ``/healthz`` in short, a 503 "degraded" summarised rather than raised.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Server

from tests.cluster_fixtures import Cluster


def tree_pids(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in os.listdir(f"/proc/{current}/task"):
            try:
                todo += [int(c) for c in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def redis_clients(cluster: Cluster) -> dict[int, int]:
    """Client connections on each node, the nodes' own replication links left out."""
    counts = {}
    for node in cluster.nodes():
        client = node.client()
        mine = client.client_id()
        rows = client.client_list()
        counts[node.port] = sum(
            1 for r in rows if int(r["id"]) != mine and "S" not in r["flags"] and "M" not in r["flags"]
        )
        client.close()
    return counts


def health(server: Server) -> str:
    """/healthz in short: "200", or "503 degraded: N halls (the first cause)"."""
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=30) as answer:
            return str(answer.status)
    except urllib.error.HTTPError as refused:
        body = json.loads(refused.read())
        halls = body.get("halls", {})
        first = next(iter(halls.values()), "")
        return f"{refused.code} {body.get('status')}: {len(halls)} halls ({first})"
    except OSError as exc:
        return f"no answer ({exc!r})"
