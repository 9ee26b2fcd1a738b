#!/usr/bin/env python3
"""Ruam local stack: Kafka (KRaft, single node) + FerretDB (SQLite) + the app services.

Stdlib only (Python 3.11+), so it runs before the project venv exists; of the project it
imports shared/bus.py and shared/topics.py, which are stdlib only too.

    deploy/local/stack.py up [--profile local|test|chaos] [--infra-only]
    deploy/local/stack.py down [--profile ...]
    deploy/local/stack.py status [--profile ...]
    deploy/local/stack.py logs [--profile ...] [--follow] [-n LINES]
    deploy/local/stack.py env [--profile ...]

Kafka takes clients on SASL_PLAINTEXT with SCRAM-SHA-256 and authorizes them with ACLs:
each service connects as its own principal with the dev password of shared/bus.py, the
stack, tools and tests as `admin` (a super user). The ACLs come from shared/bus.py, which
reads shared/topics.py's table (docs/auth.md, "The bus: principals and ACLs").

Every process is started in its own session (process group) and recorded in
``<run_dir>/pids/<name>.pid`` together with its kernel start time
(``<name>.start``); ``down`` only signals process groups whose leader still
matches both, never anything found by name.

Importable for tests: ``from deploy.local import stack`` then e.g.
``stack.get_profile("test")``, ``stack.up(profile, infra_only=True)``,
``stack.start_service(profile, "intake")``, ``stack.start_services(profile, names)``,
``stack.wait_healthy(url, 60)``,
``stack.stop_component(profile, "intake")``, ``stack.down(profile)``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = Path(__file__).resolve().parent
if str(REPO_ROOT) not in sys.path:  # run as a script: deploy/local is on the path, not the repo
    sys.path.insert(0, str(REPO_ROOT))

from shared import topics  # noqa: E402
from shared.bus import (  # noqa: E402
    ADMIN,
    DEV_PASSWORDS,
    PRINCIPALS,
    SCRAM_MECHANISM,
    AclBinding,
    acl_bindings,
)

CACHE_DIR = Path(os.environ.get("RUAM_CACHE") or Path.home() / ".cache" / "ruam")

KAFKA_VERSION = os.environ.get("RUAM_KAFKA_VERSION", "4.1.1")
FERRETDB_VERSION = os.environ.get("RUAM_FERRETDB_VERSION", "v1.24.2")
FERRETDB_PACKAGE = "ruam-local+id-index+in+write-lock+replace-by-id+cas"

# Application services, in start order; value = env var carrying its HTTP port.
SERVICES: dict[str, str] = {
    "intake": "INTAKE_HTTP_PORT",
    "routing": "ROUTING_HTTP_PORT",
    "survey": "SURVEY_HTTP_PORT",
    "compliance": "COMPLIANCE_HTTP_PORT",
    "portal": "PORTAL_HTTP_PORT",  # the public website: last, it reads what the others publish
    # The officers' console: no Kafka principal (it talks to the APIs with the officer's token).
    "console": "CONSOLE_HTTP_PORT",
    # The analysis (measure 3): last, so that the ports before it stay where they were.
    "insight": "INSIGHT_HTTP_PORT",
}
# The services on the bus (each its own Kafka principal and dead-letter topic).
# The services that consume Kafka topics (the console only writes the audit trail).
BUS_SERVICES = tuple(s for s in SERVICES if s in topics.SERVICES)
INFRA = ("kafka", "ferretdb")

KAFKA_START_TIMEOUT = float(os.environ.get("RUAM_KAFKA_START_TIMEOUT", "90"))
FERRETDB_START_TIMEOUT = float(os.environ.get("RUAM_FERRETDB_START_TIMEOUT", "30"))
SERVICE_START_TIMEOUT = float(os.environ.get("RUAM_SERVICE_START_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("RUAM_STOP_TIMEOUT", "20"))

KAFKA_PROBE_TOPIC = "ruam-stack-probe"


class StackError(RuntimeError):
    """A component failed to start, or the environment is unusable."""


# --------------------------------------------------------------------------- profiles


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    run_dir: Path
    kafka_port: int
    controller_port: int
    mongo_port: int
    service_ports: dict[str, int]
    # The test profile's topics and databases belong each to one test, named uniquely and
    # never read again: they are dropped whenever its broker or database starts from `up`.
    disposable: bool = False

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def pids_dir(self) -> Path:
        return self.run_dir / "pids"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.run_dir / "kafka"

    @property
    def ferretdb_dir(self) -> Path:
        return self.run_dir / "ferretdb"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def service_url(self, name: str, path: str = "/healthz") -> str:
        return f"http://127.0.0.1:{self.service_ports[name]}{path}"

    def port_of(self, name: str) -> int:
        if name == "kafka":
            return self.kafka_port
        if name == "ferretdb":
            return self.mongo_port
        return self.service_ports[name]

    def env(self) -> dict[str, str]:
        """Connection env vars for scripts and tools (as Kafka's admin); `service_env` gives
        a service its own principal instead."""
        out = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            **kafka_principal_env(ADMIN),
            "MONGODB_URL": self.mongodb_url,
            # Every profile of this stack is a development stack: demo secrets allowed.
            "RUAM_ENV": "dev",
            # Sign-in: the built-in issuer on this profile's routing (docs/auth.md).
            "RUAM_OIDC_ISSUER": f"http://127.0.0.1:{self.service_ports['routing']}/oidc",
        }
        for name, var in SERVICES.items():
            out[var] = str(self.service_ports[name])
        # The public website on this profile: where tracking links and survey links lead.
        site = f"http://127.0.0.1:{self.service_ports['portal']}"
        out["PORTAL_PUBLIC_BASE_URL"] = site
        out["SURVEY_PUBLIC_BASE_URL"] = f"{site}/survey/"
        # The console on this profile, and the sign-in callback the built-in issuer lets it use.
        console = f"http://127.0.0.1:{self.service_ports['console']}"
        out["CONSOLE_PUBLIC_BASE_URL"] = console
        out["RUAM_CONSOLE_REDIRECT_URIS"] = f"{console}/auth/callback"
        return out

    def service_env(self, service: str) -> dict[str, str]:
        """`env()` with the service's own Kafka principal, which the ACLs confine to its
        topics (prefix "" here; tools/chaos.py applies them for its run's prefix)."""
        if service not in PRINCIPALS:  # a service on no topic has no principal at all
            return {k: v for k, v in self.env().items() if not k.startswith("KAFKA_SASL_")}
        return {**self.env(), **kafka_principal_env(service)}


def kafka_principal_env(user: str) -> dict[str, str]:
    """Who a process is on this stack's Kafka, with the dev password."""
    return {"KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": DEV_PASSWORDS[user]}


def _env_int(var: str, default: int) -> int:
    value = os.environ.get(var)
    return int(value) if value else default


def get_profile(name: str = "local") -> Profile:
    """``local``: what ``make up`` uses. ``test``: disjoint ports and run dir, for test suites.
    ``chaos``: a third stack that ``make chaos`` kills and restarts (29092, 27019, 8201-8205).

    Env overrides: local profile -> KAFKA_PORT, KAFKA_CONTROLLER_PORT, MONGO_PORT,
    RUAM_RUN_DIR, <SERVICE>_HTTP_PORT; test profile -> the same names prefixed with
    ``RUAM_TEST_`` (so a developer's exported local overrides never leak into tests);
    chaos profile -> prefixed with ``RUAM_CHAOS_``.
    """
    if name == "local":
        prefix, run_dir = "", Path(os.environ.get("RUAM_RUN_DIR") or REPO_ROOT / ".run" / "local")
        kafka, controller, mongo, svc_base = 9092, 9093, 27017, 8000
    elif name == "test":
        prefix, run_dir = (
            "RUAM_TEST_",
            Path(os.environ.get("RUAM_TEST_RUN_DIR") or REPO_ROOT / ".run" / "test"),
        )
        kafka, controller, mongo, svc_base = 19092, 19093, 27018, 18000
    elif name == "chaos":
        # `make chaos` kills this stack's broker and database: nobody else may share it.
        prefix, run_dir = (
            "RUAM_CHAOS_",
            Path(os.environ.get("RUAM_CHAOS_RUN_DIR") or REPO_ROOT / ".run" / "chaos"),
        )
        kafka, controller, mongo, svc_base = 29092, 29093, 27019, 8200
    else:
        raise ValueError(f"unknown profile {name!r} (expected 'local', 'test' or 'chaos')")
    service_ports = {
        svc: _env_int(prefix + var, svc_base + i + 1)
        for i, (svc, var) in enumerate(SERVICES.items())
    }
    return Profile(
        name=name,
        run_dir=run_dir.resolve(),
        kafka_port=_env_int(prefix + "KAFKA_PORT", kafka),
        controller_port=_env_int(prefix + "KAFKA_CONTROLLER_PORT", controller),
        mongo_port=_env_int(prefix + "MONGO_PORT", mongo),
        service_ports=service_ports,
        disposable=name == "test",
    )


# --------------------------------------------------------------------------- process bookkeeping


def _log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgrp, starttime) from /proc/<pid>/stat, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces/parens: split after the last ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[2]), int(rest[19])


def _pid_files(profile: Profile, name: str) -> tuple[Path, Path]:
    return profile.pids_dir / f"{name}.pid", profile.pids_dir / f"{name}.start"


def _reap(pid: int) -> None:
    """Reap our own child if it exited (only matters when used as a library)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tracked_pid(profile: Profile, name: str) -> int | None:
    """PID of the component if it runs AND is the very process we started, else None."""
    pid_file, start_file = _pid_files(profile, name)
    try:
        pid = int(pid_file.read_text().strip())
        start = int(start_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    _reap(pid)
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X") or stat[2] != start:
        return None
    return pid


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in process group ``pgid``?"""
    _reap(pgid)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat and stat[1] == pgid and stat[0] not in ("Z", "X"):
            return True
    return False


def _clear_pid(profile: Profile, name: str) -> None:
    for f in _pid_files(profile, name):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()


def _spawn(
    profile: Profile,
    name: str,
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached in its own session, stdout+stderr to ``logs/<name>.log``."""
    profile.pids_dir.mkdir(parents=True, exist_ok=True)
    profile.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = profile.log_file(name)
    with open(log_path, "ab") as log:
        log.write(
            f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: "
            f"{' '.join(argv)}\n".encode()
        )
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(cwd or REPO_ROOT),
            env=env if env is not None else os.environ.copy(),
            start_new_session=True,
            close_fds=True,
        )
    stat = _proc_stat(proc.pid)
    pid_file, start_file = _pid_files(profile, name)
    start_file.write_text(f"{stat[2] if stat else 0}\n")
    pid_file.write_text(f"{proc.pid}\n")
    # Do not keep the Popen object: the process must outlive us; _reap handles zombies.
    proc.returncode = 0  # silence ResourceWarning "subprocess still running" on GC
    return proc.pid


def stop_component(
    profile: Profile, name: str, timeout: float = STOP_TIMEOUT, sig: int = signal.SIGTERM
) -> bool:
    """Stop one component we started: ``sig`` to its process group, bounded wait, then SIGKILL.

    Returns True if something was stopped. Never touches a process we did not start.
    """
    pid = tracked_pid(profile, name)
    if pid is None:
        _clear_pid(profile, name)
        return False
    _log(f"stopping {name} (pid {pid})")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            break
        time.sleep(0.1)
    else:
        _log(f"{name} did not exit within {timeout:.0f}s, sending SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while _group_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    # A killed JVM is a zombie while its other threads still hold its sockets: a start
    # right now would find the port taken ("not started by this stack"). Wait, bounded.
    ports = [profile.port_of(name)] + ([profile.controller_port] if name == "kafka" else [])
    free_deadline = time.monotonic() + 10
    while any(_port_open(p, timeout=0.2) for p in ports) and time.monotonic() < free_deadline:
        time.sleep(0.1)
    _clear_pid(profile, name)
    return True


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log file {path})"
    return "\n".join(data.splitlines()[-lines:])


def _port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _profile_lock(profile: Profile) -> Iterator[None]:
    """Serialize up/down on one run dir (two concurrent `up`s must not double-start)."""
    profile.run_dir.mkdir(parents=True, exist_ok=True)
    with open(profile.run_dir / ".stack.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    *,
    profile: Profile | None = None,
    name: str | None = None,
    interval: float = 0.25,
) -> None:
    """Poll ``check`` until true; fail early if the tracked process died; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if profile is not None and name is not None and tracked_pid(profile, name) is None:
            raise StackError(
                f"{what}: process exited during start-up\n--- {profile.log_file(name)} ---\n"
                f"{tail(profile.log_file(name))}"
            )
        if time.monotonic() >= deadline:
            log_tail = (
                f"\n--- {profile.log_file(name)} ---\n{tail(profile.log_file(name))}"
                if profile and name
                else ""
            )
            raise StackError(f"{what}: not ready after {timeout:.0f}s{log_tail}")
        time.sleep(interval)


# --------------------------------------------------------------------------- Kafka


def kafka_libs_dir() -> Path:
    return CACHE_DIR / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_kafka_libs() -> Path:
    libs = kafka_libs_dir()
    if not (libs.parent / ".complete").exists():
        _log(f"Kafka {KAFKA_VERSION} jars missing, fetching (deploy/local/fetch_kafka.sh)")
        subprocess.run(
            ["bash", str(DEPLOY_DIR / "fetch_kafka.sh"), KAFKA_VERSION],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return libs


def _kafka_server_properties(profile: Profile) -> str:
    data = profile.kafka_dir / "data"
    scram = SCRAM_MECHANISM.lower()
    admin = f'username="{ADMIN}" password="{DEV_PASSWORDS[ADMIN]}"'
    scram_login = f"org.apache.kafka.common.security.scram.ScramLoginModule required {admin};"
    plain_login = (
        f"org.apache.kafka.common.security.plain.PlainLoginModule required {admin} "
        f'user_{ADMIN}="{DEV_PASSWORDS[ADMIN]}";'
    )
    return f"""# Generated by deploy/local/stack.py, profile {profile.name}; rewritten each start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{profile.controller_port}
listeners=SASL_PLAINTEXT://127.0.0.1:{profile.kafka_port},CONTROLLER://127.0.0.1:{profile.controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{profile.kafka_port}
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms={SCRAM_MECHANISM}
sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}
listener.name.sasl_plaintext.{scram}.sasl.jaas.config={scram_login}
# The controller listener authenticates too, as the admin with PLAIN: KRaft keeps SCRAM
# credentials in the metadata log, which the controller serves, so they cannot guard it.
# Unauthenticated, its principal is User:ANONYMOUS, which would have to be a super user for
# the broker to register, and anyone reaching this port could then rewrite ACLs.
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain_login}
# Clients only what shared/bus.py's ACLs give them; the admin everything.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{ADMIN}
allow.everyone.if.no.acl.found=false
log.dirs={data}
num.network.threads=2
num.io.threads=2
background.threads=4
num.recovery.threads.per.data.dir=1
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=300000
log.cleaner.dedupe.buffer.size=16777216
"""


_LOG4J2 = """# Generated by deploy/local/stack.py: broker logs to stdout -> <run_dir>/logs/kafka.log
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.ak.name = org.apache.kafka
logger.ak.level = INFO
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
"""

KAFKA_JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:MaxMetaspaceSize=256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-Xss512k",
    "-Djava.awt.headless=true",
]


def _kafka_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _kafka_users() -> dict[str, str]:
    return {user: DEV_PASSWORDS[user] for user in (ADMIN, *PRINCIPALS)}


def _kafka_format_stamp() -> str:
    """What formatting put into the metadata log beyond the cluster id: the SCRAM users.
    A log dir formatted with other users (or none, before SASL) is formatted again."""
    users = {u: hashlib.sha256(pw.encode()).hexdigest()[:16] for u, pw in _kafka_users().items()}
    return json.dumps({"scram": SCRAM_MECHANISM, "users": users}, sort_keys=True) + "\n"


def _prepare_kafka(profile: Profile, libs: Path) -> Path:
    kdir = profile.kafka_dir
    data = kdir / "data"
    stamp = kdir / "format.stamp"
    if (data / "meta.properties").exists() and (
        not stamp.exists() or stamp.read_text() != _kafka_format_stamp()
    ):
        # SCRAM credentials exist only if given when the log dir is formatted; a dev broker
        # keeps a day of messages (log.retention.hours), and services re-create their topics.
        _log(f"{data} was formatted without the current SCRAM users: its topics are dropped")
        shutil.rmtree(data)
        # The database holds what those topics carried (survey invitations, outboxes already
        # published): kept alone, a demo rerun would find cases whose events are gone.
        stored = profile.ferretdb_dir / "data"
        if stored.exists() and tracked_pid(profile, "ferretdb") is None:
            _log(f"{stored} is dropped with them, so the stack starts as one consistent pair")
            shutil.rmtree(stored)
    data.mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    props.write_text(_kafka_server_properties(profile))
    (kdir / "log4j2.properties").write_text(_LOG4J2)
    if not (data / "meta.properties").exists():
        cid = _kafka_cluster_id()
        _log(f"formatting KRaft log dir {data} (cluster id {cid})")
        scram = [
            arg
            for user, password in _kafka_users().items()
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]")
        ]
        profile.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(profile.log_file("kafka-format"), "wb") as out:
            rc = subprocess.run(
                [
                    "java",
                    *KAFKA_JVM_OPTS[:4],
                    f"-Dlog4j2.configurationFile={kdir / 'log4j2.properties'}",
                    "-cp",
                    f"{libs}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    cid,
                    "--config",
                    str(props),
                    *scram,
                    "--ignore-formatted",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(kdir),
            ).returncode
        if rc != 0:
            raise StackError(
                f"kafka storage format failed (rc={rc})\n{tail(profile.log_file('kafka-format'))}"
            )
        stamp.write_text(_kafka_format_stamp())
    return props


def _add_scram_users(profile: Profile) -> None:
    """Principals added since the running broker's log dir was formatted (a new service) get
    their SCRAM credentials from the broker itself (kafka-configs, as the admin), so its topics
    stay; the format stamp then says so, as a format would. A changed admin needs a format:
    the next start after `down` does it."""
    stamp = profile.kafka_dir / "format.stamp"
    wanted: dict[str, str] = json.loads(_kafka_format_stamp())["users"]
    try:
        known: dict[str, str] = json.loads(stamp.read_text()).get("users", {})
    except (OSError, ValueError):
        return
    missing = [user for user, digest in wanted.items() if known.get(user) != digest]
    if not missing or ADMIN in missing:
        return
    client = profile.kafka_dir / "admin-client.properties"
    client.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={SCRAM_MECHANISM}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{DEV_PASSWORDS[ADMIN]}";\n'
    )
    libs = ensure_kafka_libs()
    for user in missing:
        _log(f"kafka: adding the SCRAM user {user} to the running broker")
        with open(profile.log_file("kafka-configs"), "ab") as out:
            rc = subprocess.run(
                [
                    "java",
                    *KAFKA_JVM_OPTS[:4],
                    f"-Dlog4j2.configurationFile={profile.kafka_dir / 'log4j2.properties'}",
                    "-cp",
                    f"{libs}/*",
                    "kafka.admin.ConfigCommand",
                    "--bootstrap-server",
                    profile.kafka_bootstrap,
                    "--command-config",
                    str(client),
                    "--alter",
                    "--add-config",
                    f"{SCRAM_MECHANISM}=[password={DEV_PASSWORDS[user]}]",
                    "--entity-type",
                    "users",
                    "--entity-name",
                    user,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            ).returncode
        if rc != 0:
            raise StackError(
                f"kafka: could not add the SCRAM user {user} (rc={rc}); restart the broker with "
                f"`stack.py down --profile {profile.name}` then `up`\n"
                f"{tail(profile.log_file('kafka-configs'))}"
            )
    stamp.write_text(_kafka_format_stamp())


class KafkaAuthError(StackError):
    """The broker refused our SASL/SCRAM credentials."""


def _str(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


class _KafkaConnection:
    """One connection on the Kafka wire protocol (non-flexible request header v1),
    authenticated with SASL/SCRAM-SHA-256 when a user is given."""

    def __init__(self, port: int, timeout: float) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._sock.settimeout(timeout)
        self._correlation = 0

    def close(self) -> None:
        self._sock.close()

    def request(self, api_key: int, api_version: int, body: bytes) -> bytes:
        self._correlation += 1
        client_id = b"ruam-stack"
        header = struct.pack(">hhih", api_key, api_version, self._correlation, len(client_id))
        msg = header + client_id + body
        self._sock.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", _recv_exact(self._sock, 4))[0]
        return _recv_exact(self._sock, size)[4:]  # strip correlation id

    def authenticate(self, user: str, password: str) -> None:
        """SaslHandshake v1 then SCRAM's two rounds in SaslAuthenticate v1 (RFC 5802/7677)."""
        r = self.request(17, 1, _str(SCRAM_MECHANISM))
        (err,) = struct.unpack_from(">h", r, 0)
        if err:
            raise KafkaAuthError(f"broker does not offer {SCRAM_MECHANISM} (error {err})")
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
        server_first = self._sasl_round(f"n,,{first_bare}".encode()).decode()
        fields = dict(item.split("=", 1) for item in server_first.split(","))
        if not fields.get("r", "").startswith(nonce):
            raise KafkaAuthError("SCRAM: the server's nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        final_bare = f"c=biws,r={fields['r']}"
        auth_message = f"{first_bare},{server_first},{final_bare}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
        server_final = self._sasl_round(f"{final_bare},p={proof.decode()}".encode()).decode()
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode()
        if server_final != f"v={expected}":
            raise KafkaAuthError("SCRAM: the server's signature does not match")

    def _sasl_round(self, token: bytes) -> bytes:
        r = self.request(36, 1, struct.pack(">i", len(token)) + token)
        err, msg_len = struct.unpack_from(">hh", r, 0)
        off = 4 + max(msg_len, 0)
        if err:
            message = r[4 : 4 + msg_len].decode(errors="replace") if msg_len > 0 else ""
            raise KafkaAuthError(f"SASL authentication failed (error {err}): {message}")
        (n,) = struct.unpack_from(">i", r, off)
        return r[off + 4 : off + 4 + max(n, 0)]


@contextlib.contextmanager
def kafka_connection(
    port: int,
    user: str | None = ADMIN,
    password: str | None = None,
    timeout: float = 3.0,
) -> Iterator[_KafkaConnection]:
    """An authenticated connection to the profile's broker (the admin's by default)."""
    conn = _KafkaConnection(port, timeout)
    try:
        if user is not None:
            conn.authenticate(user, password if password is not None else DEV_PASSWORDS[user])
        yield conn
    finally:
        conn.close()


def _kafka_request(
    port: int, api_key: int, api_version: int, body: bytes, timeout: float = 3.0
) -> bytes:
    """One request/response as the admin."""
    with kafka_connection(port, timeout=timeout) as conn:
        return conn.request(api_key, api_version, body)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def create_acls(port: int, bindings: list[AclBinding], timeout: float = 10.0) -> None:
    """CreateAcls v1 as the admin; an ACL that exists already is no error (idempotent)."""
    entries = b"".join(
        struct.pack(">b", b.resource)
        + _str(b.name)
        + struct.pack(">b", b.pattern)
        + _str(b.principal)
        + _str("*")
        + struct.pack(">bb", b.operation, 3)  # permission ALLOW
        for b in bindings
    )
    with kafka_connection(port, timeout=timeout) as conn:
        r = conn.request(30, 1, struct.pack(">i", len(bindings)) + entries)
        (n,) = struct.unpack_from(">i", r, 4)
        off, failures = 8, []
        for binding in bindings[:n]:
            err, msg_len = struct.unpack_from(">hh", r, off)
            off += 4 + max(msg_len, 0)
            if err:
                message = r[off - max(msg_len, 0) : off].decode(errors="replace")
                failures.append(f"{binding}: error {err} {message}")
        if failures:
            raise StackError("kafka: ACLs refused:\n" + "\n".join(failures[:10]))
        # The controller has them; the broker's authorizer learns them from the metadata log
        # a moment later, and until then a client of theirs is refused. They are applied in
        # order: once the broker describes the last, it has them all.
        if bindings:
            _wait_until(
                "kafka ACLs", lambda: _acl_known(conn, bindings[-1]), timeout, interval=0.05
            )


def _acl_known(conn: _KafkaConnection, b: AclBinding) -> bool:
    """DescribeAcls v1, answered from the broker's own authorizer."""
    body = (
        struct.pack(">b", b.resource)
        + _str(b.name)
        + struct.pack(">b", b.pattern)
        + _str(b.principal)
        + _str("*")
        + struct.pack(">bb", b.operation, 3)
    )
    r = conn.request(29, 1, body)
    err, msg_len = struct.unpack_from(">hh", r, 4)
    (n_resources,) = struct.unpack_from(">i", r, 8 + max(msg_len, 0))
    return bool(err == 0 and n_resources > 0)


def apply_acls(profile: Profile, prefix: str = "") -> int:
    """The services' ACLs for the topics under `prefix`; returns how many bindings."""
    bindings = acl_bindings(prefix)
    create_acls(profile.kafka_port, bindings)
    return len(bindings)


def kafka_probe(port: int, topic: str = KAFKA_PROBE_TOPIC) -> bool:
    """True once the broker serves Metadata AND has a leader for ``topic``.

    Uses Metadata v4 with allow_auto_topic_creation=true, so the broker really creates the
    topic through the KRaft controller (first calls answer LEADER_NOT_AVAILABLE).
    """
    name = topic.encode()
    body = struct.pack(">ih", 1, len(name)) + name + b"\x01"
    r = _kafka_request(port, api_key=3, api_version=4, body=body)
    off = 4  # throttle_time_ms

    def read_str() -> None:
        nonlocal off
        (n,) = struct.unpack_from(">h", r, off)
        off += 2 + max(n, 0)

    (n_brokers,) = struct.unpack_from(">i", r, off)
    off += 4
    for _ in range(n_brokers):
        off += 4  # node_id
        read_str()  # host
        off += 4  # port
        read_str()  # rack
    read_str()  # cluster_id
    off += 4  # controller_id
    (n_topics,) = struct.unpack_from(">i", r, off)
    off += 4
    if n_topics < 1:
        return False
    (err,) = struct.unpack_from(">h", r, off)
    off += 2
    read_str()  # name
    off += 1  # is_internal
    (n_parts,) = struct.unpack_from(">i", r, off)
    off += 4
    if err != 0 or n_parts < 1:
        return False
    p_err, _idx, leader = struct.unpack_from(">hii", r, off)
    return bool(p_err == 0 and leader >= 0)


def kafka_coordinator_probe(port: int, group: str = KAFKA_PROBE_TOPIC) -> bool:
    """True once a group coordinator is available (FindCoordinator v1).

    The first call makes the broker create ``__consumer_offsets``; waiting for it here means
    the services' first consumer-group join does not have to retry.
    """
    key = group.encode()
    body = struct.pack(">h", len(key)) + key + b"\x00"  # key_type 0 = consumer group
    r = _kafka_request(port, api_key=10, api_version=1, body=body)
    (err,) = struct.unpack_from(">h", r, 4)
    return bool(err == 0)


def kafka_ready(port: int) -> bool:
    """Broker answers, can create a topic, and has a group coordinator."""
    return kafka_probe(port) and kafka_coordinator_probe(port)


def start_kafka(profile: Profile, timeout: float = KAFKA_START_TIMEOUT) -> int:
    """Start (or adopt the already running) broker for ``profile``; returns its pid when ready."""
    pid = tracked_pid(profile, "kafka")
    props_file = profile.kafka_dir / "server.properties"
    written = props_file.read_text() if props_file.exists() else ""
    if pid is not None and written != _kafka_server_properties(profile):
        raise StackError(
            f"kafka (pid {pid}) runs with an older configuration than this stack.py writes "
            f"(without SASL/ACLs, say): restart it with `stack.py down --profile {profile.name}`"
            " then `up`"
        )
    if pid is not None:
        _wait_until(
            "kafka", lambda: kafka_ready(profile.kafka_port), timeout, profile=profile, name="kafka"
        )
        _log(f"kafka already running (pid {pid}, {profile.kafka_bootstrap})")
        _add_scram_users(profile)
        return pid
    _clear_pid(profile, "kafka")
    for port in (profile.kafka_port, profile.controller_port):
        if _port_open(port):
            raise StackError(
                f"kafka: port {port} is already in use by a process this stack did not start"
            )
    libs = ensure_kafka_libs()
    props = _prepare_kafka(profile, libs)
    t0 = time.monotonic()
    argv = [
        "java",
        *KAFKA_JVM_OPTS,
        f"-Dlog4j2.configurationFile={profile.kafka_dir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={profile.logs_dir}",
        f"-Druam.stack={profile.name}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(props),
    ]
    pid = _spawn(profile, "kafka", argv, cwd=profile.kafka_dir)
    _log(f"kafka starting (pid {pid}, {profile.kafka_bootstrap}) ...")
    try:
        _wait_until(
            "kafka",
            lambda: kafka_ready(profile.kafka_port),
            timeout,
            profile=profile,
            name="kafka",
            interval=0.5,
        )
    except StackError:
        stop_component(profile, "kafka", timeout=10)
        raise
    _log(f"kafka ready in {time.monotonic() - t0:.1f}s")
    return pid


# --------------------------------------------------------------------------- FerretDB


def ferretdb_bin() -> Path:
    return CACHE_DIR / "bin" / "ferretdb"


def ensure_ferretdb() -> Path:
    binary = ferretdb_bin()
    ok = False
    if binary.exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [str(binary), "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            # The package line marks our patched build (build_ferretdb.sh): an unpatched
            # binary from before the patch is rebuilt.
            ok = f"version: {FERRETDB_VERSION}" in out and f"package: {FERRETDB_PACKAGE}" in out
    if not ok:
        _log(f"FerretDB {FERRETDB_VERSION} missing, building (deploy/local/build_ferretdb.sh)")
        subprocess.run(
            ["bash", str(DEPLOY_DIR / "build_ferretdb.sh")], check=True, stdout=subprocess.DEVNULL
        )
    return binary


def _bson_ping() -> bytes:
    def cstr(s: str) -> bytes:
        return s.encode() + b"\x00"

    elems = b"\x10" + cstr("ping") + struct.pack("<i", 1)
    elems += b"\x02" + cstr("$db") + struct.pack("<i", len("admin") + 1) + cstr("admin")
    return struct.pack("<i", len(elems) + 5) + elems + b"\x00"


def mongo_ping(port: int, timeout: float = 3.0) -> bool:
    """MongoDB ``ping`` over OP_MSG with a hand-rolled BSON document (stdlib only)."""
    doc = _bson_ping()
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(header + payload)
        (length,) = struct.unpack("<i", _recv_exact(s, 4))
        resp = _recv_exact(s, length - 4)
    _req, _resp_to, opcode = struct.unpack_from("<iii", resp, 0)
    if opcode != 2013:
        return False
    body = resp[12 + 4 + 1 :]  # skip rest of header, flagBits, section kind
    marker = body.find(b"ok\x00")
    if marker < 1:
        return False
    etype = body[marker - 1]
    val = body[marker + 3 :]
    if etype == 0x01:
        return bool(struct.unpack_from("<d", val)[0] == 1.0)
    if etype == 0x10:
        return bool(struct.unpack_from("<i", val)[0] == 1)
    return False


def ferretdb_command(
    binary: Path | str, data: Path | str, state: Path | str, port: int
) -> tuple[list[str], dict[str, str]]:
    """How FerretDB is run here: its command line and environment (also the FerretDB bench's
    own instance, tools/bench_ferretdb.py)."""
    argv = [
        str(binary),
        "--handler=sqlite",
        # WAL (FerretDB's default) with synchronous=NORMAL: a commit survives the crash
        # of any process, FerretDB's included; only a power cut can take the last ones.
        # Production runs on MongoDB with journaled writes (docs/storage.md).
        f"--sqlite-url=file:{data}/?_pragma=synchronous(normal)",
        f"--state-dir={state}",
        f"--listen-addr=127.0.0.1:{port}",
        "--debug-addr=-",  # no debug HTTP listener: it would collide between profiles on :8088
        "--telemetry=disable",
        "--log-level=warn",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRETDB_")}
    # Go's collector ran a fifth of FerretDB's CPU time under load; collecting at 4x the
    # live heap instead of 2x gave ~18 % more cases/s for no measurable memory (peak RSS
    # stayed ~65 MB; docs/storage.md).
    env.setdefault("GOGC", "400")
    return argv, env


def start_ferretdb(profile: Profile, timeout: float = FERRETDB_START_TIMEOUT) -> int:
    pid = tracked_pid(profile, "ferretdb")
    if pid is not None:
        _wait_until(
            "ferretdb",
            lambda: mongo_ping(profile.mongo_port),
            timeout,
            profile=profile,
            name="ferretdb",
        )
        _log(f"ferretdb already running (pid {pid}, {profile.mongodb_url})")
        return pid
    _clear_pid(profile, "ferretdb")
    if _port_open(profile.mongo_port):
        raise StackError(
            f"ferretdb: port {profile.mongo_port} is already in use "
            "by a process this stack did not start"
        )
    binary = ensure_ferretdb()
    data = profile.ferretdb_dir / "data"
    state = profile.ferretdb_dir / "state"
    data.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    argv, env = ferretdb_command(binary, data, state, profile.mongo_port)
    t0 = time.monotonic()
    pid = _spawn(profile, "ferretdb", argv, env=env, cwd=profile.ferretdb_dir)
    _log(f"ferretdb starting (pid {pid}, {profile.mongodb_url}) ...")
    try:
        _wait_until(
            "ferretdb",
            lambda: mongo_ping(profile.mongo_port),
            timeout,
            profile=profile,
            name="ferretdb",
            interval=0.1,
        )
    except StackError:
        stop_component(profile, "ferretdb", timeout=5)
        raise
    _log(f"ferretdb ready in {time.monotonic() - t0:.1f}s")
    return pid


# --------------------------------------------------------------------------- app services


def wait_healthy(
    url: str,
    timeout: float = SERVICE_START_TIMEOUT,
    *,
    profile: Profile | None = None,
    name: str | None = None,
) -> None:
    """Poll ``GET url`` until it answers 200 (bounded); raises StackError otherwise."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    _wait_until(
        f"{name or url} health ({url})", check, timeout, profile=profile, name=name, interval=0.25
    )


def service_python() -> Path:
    return REPO_ROOT / ".venv" / "bin" / "python"


def _launch_service(
    profile: Profile, name: str, extra_env: dict[str, str] | None = None
) -> tuple[int, bool]:
    """Spawn ``python -m services.<name>.main`` without waiting; (pid, adopted) where adopted
    means one this stack started earlier is still running."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    pid = tracked_pid(profile, name)
    if pid is not None:
        return pid, True
    _clear_pid(profile, name)
    port = profile.service_ports[name]
    if _port_open(port):
        raise StackError(
            f"{name}: port {port} is already in use by a process this stack did not start"
        )
    python = service_python()
    if not python.exists():
        raise StackError(f"{name}: {python} not found; create the project venv first")
    env = os.environ.copy()
    env.update(profile.service_env(name))
    env.update(extra_env or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    pid = _spawn(
        profile, name, [str(python), "-m", f"services.{name}.main"], env=env, cwd=REPO_ROOT
    )
    _log(f"{name} starting (pid {pid}, {profile.service_url(name)}) ...")
    return pid, False


def _await_service(
    profile: Profile, name: str, pid: int, adopted: bool, t0: float, timeout: float
) -> None:
    url = profile.service_url(name)
    try:
        wait_healthy(url, timeout, profile=profile, name=name)
    except StackError:
        if not adopted:
            stop_component(profile, name, timeout=5)
        raise
    if adopted:
        _log(f"{name} already running (pid {pid}, {url})")
    else:
        _log(f"{name} healthy in {time.monotonic() - t0:.1f}s")


def start_service(
    profile: Profile,
    name: str,
    timeout: float = SERVICE_START_TIMEOUT,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Start ``python -m services.<name>.main`` (or adopt the running one) and wait for /healthz."""
    t0 = time.monotonic()
    pid, adopted = _launch_service(profile, name, extra_env)
    _await_service(profile, name, pid, adopted, t0, timeout)
    return pid


def start_services(
    profile: Profile, names: list[str], timeout: float = SERVICE_START_TIMEOUT
) -> dict[str, int]:
    """Start several services at once and wait until each is healthy.

    Most of a service's start-up is waiting (Kafka's group join, the first fetch), so they
    start together rather than one after another. A service that does not come up is
    stopped; the others are left running (``down`` stops them) and every failure is
    reported, not only the first.
    """
    t0 = time.monotonic()
    launched: dict[str, tuple[int, bool]] = {}
    failures: list[str] = []
    for name in names:
        try:
            launched[name] = _launch_service(profile, name)
        except StackError as exc:
            failures.append(str(exc))
    for name, (pid, adopted) in launched.items():
        try:
            _await_service(profile, name, pid, adopted, t0, timeout)
        except StackError as exc:
            failures.append(str(exc))
    if failures:
        raise StackError("\n\n".join(failures))
    return {name: pid for name, (pid, _) in launched.items()}


# --------------------------------------------------------------------------- commands


def _drop_disposable_data(profile: Profile) -> None:
    """Kept, a test stack's data piles up run after run: at ~20,000 partition folders the
    broker cannot open its log segments (the open-file limit) and does not start."""
    for name, data in (
        ("kafka", profile.kafka_dir / "data"),
        ("ferretdb", profile.ferretdb_dir / "data"),
    ):
        if data.exists() and tracked_pid(profile, name) is None:
            _log(f"{data}: the {profile.name} profile's earlier data is dropped")
            shutil.rmtree(data)


def up(profile: Profile, infra_only: bool = False, services: list[str] | None = None) -> None:
    with _profile_lock(profile):
        if profile.disposable:
            _drop_disposable_data(profile)
        start_kafka(profile)
        # The services started here use prefix "": their ACLs before they connect. A run with
        # its own prefix (tools/chaos.py) applies that prefix's itself.
        _log(f"kafka ACLs: {apply_acls(profile)} bindings for the services' principals")
        start_ferretdb(profile)
        if not infra_only:
            start_services(profile, services or list(SERVICES))
        monitoring(profile)


def monitoring(profile: Profile, *, stop: bool = False) -> bool:
    """`make up MONITORING=1`: a local Prometheus scraping the profile's services with the
    repo's alert rules (deploy/local/prometheus.py builds it with Go, caches and runs it);
    `down` stops it. True if one was started or stopped."""
    from deploy.local import prometheus

    if stop:
        return prometheus.stop(profile)
    if os.environ.get("MONITORING", "") in ("", "0"):
        return False
    prometheus.start(profile)
    return True


def down(profile: Profile) -> None:
    with _profile_lock(profile):
        stopped = monitoring(profile, stop=True)
        for name in [*reversed(SERVICES), "ferretdb", "kafka"]:
            stopped |= stop_component(profile, name)
        if not stopped:
            _log(f"nothing running for profile {profile.name}")


def status_lines(profile: Profile) -> list[str]:
    out = []
    for name in [*INFRA, *SERVICES]:
        pid = tracked_pid(profile, name)
        state = "running" if pid else "stopped"
        out.append(f"{name:<11} {state:<8} pid={pid or '-':<8} port={profile.port_of(name)}")
    return out


def show_logs(profile: Profile, lines: int = 30, follow: bool = False) -> None:
    files = sorted(profile.logs_dir.glob("*.log")) if profile.logs_dir.exists() else []
    if not files:
        print(f"(no logs in {profile.logs_dir})")
        return
    for f in files:
        print(f"==> {f} <==")
        print(tail(f, lines))
        print()
    if not follow:
        return
    positions = {f: f.stat().st_size for f in files}
    try:
        while True:
            for f in sorted(profile.logs_dir.glob("*.log")):
                size = f.stat().st_size
                pos = positions.get(f, 0)
                if size < pos:
                    pos = 0
                if size > pos:
                    with open(f, "rb") as fh:
                        fh.seek(pos)
                        chunk = fh.read(size - pos).decode(errors="replace")
                    for line in chunk.splitlines():
                        print(f"[{f.stem}] {line}")
                    positions[f] = size
            sys.stdout.flush()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", choices=("local", "test", "chaos"), default="local")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser(
        "up", parents=[common], help="start Kafka, FerretDB and (unless --infra-only) services"
    )
    p_up.add_argument("--infra-only", action="store_true", help="only Kafka and FerretDB")
    sub.add_parser("down", parents=[common], help="stop everything this stack started")
    sub.add_parser("status", parents=[common], help="one line per component")
    p_logs = sub.add_parser("logs", parents=[common], help="tail of every log file")
    p_logs.add_argument("--follow", "-f", action="store_true")
    p_logs.add_argument("-n", "--lines", type=int, default=30)
    sub.add_parser("env", parents=[common], help="print KEY=VALUE connection lines")
    args = parser.parse_args(argv)

    profile = get_profile(args.profile)
    try:
        if args.cmd == "up":
            t0 = time.monotonic()
            up(profile, infra_only=args.infra_only)
            _log(
                f"profile {profile.name} up in {time.monotonic() - t0:.1f}s "
                f"(KAFKA_BOOTSTRAP_SERVERS={profile.kafka_bootstrap} "
                f"MONGODB_URL={profile.mongodb_url})"
            )
        elif args.cmd == "down":
            down(profile)
        elif args.cmd == "status":
            print("\n".join(status_lines(profile)))
        elif args.cmd == "logs":
            show_logs(profile, lines=args.lines, follow=args.follow)
        elif args.cmd == "env":
            for key, value in profile.env().items():
                print(f"{key}={value}")
    except (StackError, subprocess.CalledProcessError) as exc:
        print(f"[stack] ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `stack.py status | head -1`
        sys.stdout = None
        sys.exit(0)
