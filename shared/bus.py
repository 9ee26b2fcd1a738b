"""The bus: principals and ACLs (docs/auth.md, "The bus: principals and ACLs").

Each service connects to Kafka as its own principal (SASL/SCRAM, `User:<service>`), and
the broker allows it only what `shared.topics.WRITERS`/`READERS` give it. `acl_bindings`
turns that table into the broker's ACLs for one topic prefix; the local stack applies them
when Kafka is up (deploy/local/stack.py), the chaos tool for its run's prefix, and a
production cluster from the commands `python -m shared.bus` prints.

Stdlib only: deploy/local/stack.py imports it before the project's venv exists.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from enum import IntEnum

from shared.topics import CONSOLE, PLANNING, READERS, SERVICES, WRITERS, Topic, name

# Kafka's super user (`super.users`): the stack itself, the tools, the tests, the demo's
# readers. No service runs as it.
ADMIN = "admin"
# Every principal the broker knows besides the admin.
PRINCIPALS = (*SERVICES, PLANNING, CONSOLE)
# Published, hence worthless: accepted only on a dev stack (RUAM_ENV=dev). A production
# cluster creates its own credentials; services refuse these anywhere else.
DEV_PASSWORDS = {user: f"ruam-dev-kafka-{user}" for user in (ADMIN, *PRINCIPALS)}
SCRAM_MECHANISM = "SCRAM-SHA-256"


# The numbers are the Kafka protocol's (CreateAcls); the names are kafka-acls.sh's.
class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


_WRITE = (Operation.WRITE, Operation.DESCRIBE)
_READ = (Operation.READ, Operation.DESCRIBE)


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW rule, from any host."""

    principal: str  # User:<name>
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation


def writes(principal: str) -> frozenset[Topic]:
    """The topics `principal` may produce to: its own only. (A dead letter is replayed
    through the consumer that refused it, in its process, not sent back to its topic.)"""
    return frozenset(t for t, who in WRITERS.items() if principal in who)


def reads(principal: str) -> frozenset[Topic]:
    return frozenset(t for t, who in READERS.items() if principal in who)


def group_prefix(service: str, prefix: str = "") -> str:
    """Every consumer group of `service` (ServiceSettings.group_id) begins with this."""
    return f"{prefix}ruam.{service}."


def acl_bindings(prefix: str = "") -> list[AclBinding]:
    """The broker's ACLs for the topics under `prefix` ("" in production).

    Kafka 3.x and later let a principal with WRITE on any topic open an idempotent producer
    (KIP-679), so no cluster-wide IDEMPOTENT_WRITE is given. A service may create the topics
    it touches (ensure_topics at start-up); nothing else on the cluster.
    """
    out: set[AclBinding] = set()

    def allow(user: str, resource: Resource, pattern: Pattern, what: str, *ops: Operation) -> None:
        out.update(AclBinding(f"User:{user}", resource, pattern, what, op) for op in ops)

    for user in PRINCIPALS:
        service = user in SERVICES
        for topic in writes(user):
            allow(user, Resource.TOPIC, Pattern.LITERAL, name(topic, prefix), *_WRITE)
        for topic in reads(user):
            allow(user, Resource.TOPIC, Pattern.LITERAL, name(topic, prefix), *_READ)
        if service:
            for topic in writes(user) | reads(user):
                allow(user, Resource.TOPIC, Pattern.LITERAL, name(topic, prefix), Operation.CREATE)
            allow(
                user, Resource.GROUP, Pattern.PREFIXED, group_prefix(user, prefix), Operation.READ
            )
    return sorted(out)


def kafka_acls_commands(
    bindings: list[AclBinding],
    bootstrap: str = "$KAFKA_BOOTSTRAP_SERVERS",
    command_config: str = "admin.properties",
) -> list[str]:
    """kafka-acls.sh lines that create `bindings`, one per principal and resource."""
    grouped: dict[tuple[str, Resource, Pattern, str], list[Operation]] = {}
    for b in bindings:
        grouped.setdefault((b.principal, b.resource, b.pattern, b.name), []).append(b.operation)
    lines = []
    for (principal, resource, pattern, what), ops in grouped.items():
        where = {
            Resource.TOPIC: f"--topic {shlex.quote(what)}",
            Resource.GROUP: f"--group {shlex.quote(what)}",
            Resource.CLUSTER: "--cluster",
        }[resource]
        op_flags = " ".join(f"--operation {op.name.title()}" for op in ops)
        lines.append(
            f"kafka-acls.sh --bootstrap-server {bootstrap} --command-config {command_config} "
            f"--add --allow-principal {principal} {op_flags} {where} "
            f"--resource-pattern-type {pattern.name.lower()}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.bus",
        description="Print the kafka-acls.sh commands that give each principal its topics.",
    )
    parser.add_argument("--prefix", default="", help="topic prefix (empty in production)")
    parser.add_argument("--bootstrap", default="$KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument(
        "--command-config", default="admin.properties", help="the admin's client properties"
    )
    args = parser.parse_args(argv)
    for line in kafka_acls_commands(acl_bindings(args.prefix), args.bootstrap, args.command_config):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
