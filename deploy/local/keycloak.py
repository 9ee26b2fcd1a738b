"""A real Keycloak for the end-to-end sign-in test (tests/e2e/test_keycloak.py), on demand.

Stdlib only, like stack.py, whose process bookkeeping it reuses (own process group, pid file
with the kernel start time, bounded SIGTERM then SIGKILL; nothing looked up by name).

* **Fetch**: the distribution zip `org.keycloak:keycloak-quarkus-dist:<version>:zip` is
  resolved by `mvn dependency:copy`, as fetch_kafka.sh resolves the Kafka jars (so Maven's own
  repository settings and `~/.m2` cache apply), then unpacked into
  `$RUAM_CACHE/keycloak-<version>/` (a `.complete` marker makes reruns no-ops).
* **Build**: `kc.sh build` once with the options below (H2 file database, no health or
  metrics endpoints, no admin or account console and other unused features); recorded in
  `.ruam-build`, redone only when the options change. Every start is then `start --optimized`,
  which skips Quarkus' 30-60 s re-augmentation.
* **Start**: HTTP only, on 127.0.0.1 and a free port, local caches (no cluster), heap capped at
  512 MB, serial GC and the C1 compiler only. The realm `deploy/local/keycloak-realm.json` is
  imported into an H2 database kept in `$RUAM_CACHE/keycloak-<version>-run/db-<digest>/`, the
  digest being that of the realm file and the build options: a later start finds the realm
  already there and skips the schema creation and the import. A class-data-sharing archive
  (`-XX:+AutoCreateSharedArchive`) kept beside it, written when the first run exits, halves
  the JVM's start. Ready means: the realm's discovery document answers with its issuer.
* **Java**: Keycloak 26 needs Java 21 or later. `RUAM_KEYCLOAK_JAVA_HOME`, else `JAVA_HOME`
  or the newest JDK under /usr/lib/jvm that is 21 or later.

    python -m deploy.local.keycloak fetch          # download, unpack and build; print its home
    python -m deploy.local.keycloak run [--port N] # start, print the issuer, stop on Ctrl-C

From Python (the test's session fixture):

    with keycloak.running() as kc:
        kc.issuer          # http://127.0.0.1:<port>/realms/sraphonthong
        kc.token_endpoint  # .../protocol/openid-connect/token
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from deploy.local import stack

KEYCLOAK_VERSION = os.environ.get("RUAM_KEYCLOAK_VERSION", "26.7.3")
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
REALM = "sraphonthong"
REALM_FILE = stack.DEPLOY_DIR / "keycloak-realm.json"
# The password of every user of the realm file: a test-only value, as the file is test-only.
TEST_PASSWORD = "ruam-keycloak-test"
CLIENT_ID = "ruam"  # the realm's client for Ruam; its access tokens carry `aud: ruam`
OTHER_CLIENT_ID = "other-app"  # a second client of the realm, whose tokens are not for Ruam
MIN_JAVA = 21
NAME = "keycloak"

START_TIMEOUT = float(os.environ.get("RUAM_KEYCLOAK_START_TIMEOUT", "240"))
BUILD_TIMEOUT = float(os.environ.get("RUAM_KEYCLOAK_BUILD_TIMEOUT", "600"))
# The first stop after a cold start writes the class-data-sharing archive (~150 MB): slower.
STOP_TIMEOUT = float(os.environ.get("RUAM_KEYCLOAK_STOP_TIMEOUT", "90"))
# How long a second user (another test session) waits for the running one to finish.
LOCK_TIMEOUT = float(os.environ.get("RUAM_KEYCLOAK_LOCK_TIMEOUT", "300"))

# Features the test needs none of; disabling them keeps the server smaller and its start
# shorter. The token endpoint, JWKS, discovery, roles and mappers are all core.
DISABLED_FEATURES = (
    "account",  # the account console
    "admin",  # the admin console (the admin REST API stays)
    "admin-fine-grained-authz",
    "authorization",
    "ciba",
    "device-flow",
    "identity-brokering-api",
    "impersonation",
    "kerberos",
    "organization",
    "par",
    "passkeys",
    "persistent-user-sessions",  # sessions in memory: nothing of a test run stays in the DB
    "token-exchange",
    "twitter-broker",
    "web-authn",
    "workflows",
)
BUILD_OPTIONS = (
    "--db=dev-file",
    "--health-enabled=false",
    "--metrics-enabled=false",
    f"--features-disabled={','.join(DISABLED_FEATURES)}",
)
# Replaces kc.sh's default JAVA_OPTS (G1, and a heap of 70 % of a container's memory).
JAVA_OPTS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:MaxMetaspaceSize=256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.security.egd=file:/dev/urandom",
    "-Dfile.encoding=UTF-8",
    "-Dstdout.encoding=UTF-8",
    "-Dstderr.encoding=UTF-8",
)


def _log(msg: str) -> None:
    print(f"[keycloak] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- where


def home() -> Path:
    """The unpacked (and built) distribution."""
    return stack.CACHE_DIR / f"keycloak-{KEYCLOAK_VERSION}"


def run_dir() -> Path:
    """Pids, logs, the database and the class-data-sharing archive of the started server."""
    return stack.CACHE_DIR / f"keycloak-{KEYCLOAK_VERSION}-run"


@contextlib.contextmanager
def _locked(path: Path, what: str, timeout: float) -> Iterator[None]:
    """An exclusive lock on `path`, waited for at most `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise stack.StackError(
                        f"{what} is still in use by another process after {timeout:.0f}s "
                        "(a test session, or `python -m deploy.local.keycloak run`?)"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- Java


def java_version(java_home: Path) -> int | None:
    """The feature version (17, 21, 25) of a JDK, from its `release` file."""
    try:
        text = (java_home / "release").read_text()
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', text, re.MULTILINE)
    if found is None or not (java_home / "bin" / "java").exists():
        return None
    return int(found.group(1))


def java_home() -> Path:
    """A JDK that Keycloak runs on: RUAM_KEYCLOAK_JAVA_HOME, else the newest one (JAVA_HOME
    or /usr/lib/jvm/*) that is at least MIN_JAVA."""
    explicit = os.environ.get("RUAM_KEYCLOAK_JAVA_HOME")
    if explicit:
        version = java_version(Path(explicit))
        if version is None or version < MIN_JAVA:
            raise stack.StackError(
                f"RUAM_KEYCLOAK_JAVA_HOME={explicit} is not a JDK {MIN_JAVA} or later"
            )
        return Path(explicit)
    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.iterdir())
    found: dict[Path, int] = {}
    for candidate in candidates:
        version = java_version(candidate)
        if version is not None:
            found.setdefault(candidate.resolve(), version)
    usable = [(v, p) for p, v in found.items() if v >= MIN_JAVA]
    if not usable:
        seen = ", ".join(f"{p} ({v})" for p, v in found.items()) or "none"
        raise stack.StackError(
            f"Keycloak {KEYCLOAK_VERSION} needs Java {MIN_JAVA} or later; JDKs found: {seen}. "
            "Install one (apt-get install openjdk-21-jdk-headless, for example) or set "
            "RUAM_KEYCLOAK_JAVA_HOME"
        )
    return max(usable)[1]


# --------------------------------------------------------------------------- fetch and build


def _unzip(archive: Path, dest: Path) -> None:
    """Unpack, keeping the executable bits (zipfile alone drops them)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            target = Path(z.extract(info, dest))
            if not info.is_dir() and (info.external_attr >> 16) & 0o111:
                target.chmod(0o755)


def fetch() -> Path:
    """The unpacked distribution, downloaded with Maven the first time."""
    dist = home()
    if (dist / ".complete").exists():
        return dist
    if shutil.which("mvn") is None:
        raise stack.StackError("mvn not found on PATH (needed to fetch Keycloak)")
    stack.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _log(f"fetching {ARTIFACT} with mvn into {dist}")
    with tempfile.TemporaryDirectory(dir=stack.CACHE_DIR, prefix=".keycloak-fetch-") as tmp:
        work = Path(tmp)
        done = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-Dstyle.color=never",
                "dependency:copy",
                f"-Dartifact={ARTIFACT}",
                f"-DoutputDirectory={work}",
            ],
            cwd=work,  # no project: dependency:copy resolves the one artifact it is given
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        archive = work / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
        if done.returncode != 0 or not archive.exists():
            output = (done.stdout + done.stderr).strip().splitlines()[-30:]
            raise stack.StackError(
                f"mvn could not fetch {ARTIFACT} (exit {done.returncode}):\n" + "\n".join(output)
            )
        _unzip(archive, work / "unpacked")
        unpacked = work / "unpacked" / f"keycloak-{KEYCLOAK_VERSION}"
        if not (unpacked / "bin" / "kc.sh").exists():
            raise stack.StackError(f"{archive.name} holds no keycloak-{KEYCLOAK_VERSION}/bin/kc.sh")
        shutil.rmtree(dist, ignore_errors=True)
        unpacked.rename(dist)
    (dist / ".complete").write_text(
        f"artifact={ARTIFACT}\nfetched_at={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
    )
    _log(f"fetched and unpacked in {time.monotonic() - started:.1f}s")
    return dist


def _env(java: Path, *, archive: Path | None = None) -> dict[str, str]:
    opts = list(JAVA_OPTS)
    if archive is not None:
        # Written at the JVM's exit when missing or stale (another JDK or classpath).
        opts += ["-XX:+AutoCreateSharedArchive", f"-XX:SharedArchiveFile={archive}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "JAVA_OPTS"))}
    env.update(JAVA_HOME=str(java), JAVA_OPTS=" ".join(opts))
    env.pop("JAVA", None)  # kc.sh would run that instead of JAVA_HOME's
    return env


def ensure_built(java: Path) -> Path:
    """The distribution, fetched if missing and built with BUILD_OPTIONS if not yet."""
    lock = stack.CACHE_DIR / f".keycloak-{KEYCLOAK_VERSION}.lock"
    with _locked(lock, f"the Keycloak {KEYCLOAK_VERSION} download", BUILD_TIMEOUT):
        dist = fetch()
        stamp = dist / ".ruam-build"
        wanted = " ".join(BUILD_OPTIONS)
        if stamp.exists() and stamp.read_text().strip() == wanted:
            return dist
        started = time.monotonic()
        _log(f"kc.sh build {wanted}")
        stamp.unlink(missing_ok=True)
        try:
            done = subprocess.run(
                ["bash", str(dist / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
                cwd=dist,
                env=_env(java),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise stack.StackError(f"kc.sh build did not finish in {BUILD_TIMEOUT:.0f}s") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-30:]
            raise stack.StackError(
                f"kc.sh build failed (exit {done.returncode}):\n" + "\n".join(output)
            )
        stamp.write_text(wanted + "\n")
        _log(f"built in {time.monotonic() - started:.1f}s")
        return dist


# --------------------------------------------------------------------------- run


@dataclasses.dataclass(frozen=True)
class Keycloak:
    """A started server, and where its realm answers."""

    port: int
    java_version: int
    imported: bool  # whether this start imported the realm (a new database)
    started_in: float  # seconds from spawn to the discovery document answering
    realm: str = REALM

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _profile(port: int) -> stack.Profile:
    """stack's bookkeeping for one process: pids/ and logs/ under run_dir()."""
    return stack.Profile(
        name=NAME,
        run_dir=run_dir(),
        kafka_port=0,
        controller_port=0,
        mongo_port=0,
        service_ports={NAME: port},
    )


def _database_dir() -> Path:
    """Where the realm, once imported, is kept: one database per realm file and build."""
    digest = hashlib.sha256(REALM_FILE.read_bytes())
    digest.update(" ".join(BUILD_OPTIONS).encode())
    return run_dir() / f"db-{digest.hexdigest()[:16]}"


def _answers(url: str, issuer: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        document = json.load(response)
    return isinstance(document, dict) and document.get("issuer") == issuer


def start(port: int | None = None, timeout: float = START_TIMEOUT) -> Keycloak:
    """Start Keycloak with the realm imported; it runs until `stop(port)`."""
    java = java_home()
    version = java_version(java) or MIN_JAVA
    dist = ensure_built(java)
    port = port or int(os.environ.get("RUAM_KEYCLOAK_PORT") or 0) or free_port()
    profile = _profile(port)
    # A server we started before and whose owner died (a killed pytest) holds the database.
    if stack.tracked_pid(profile, NAME) is not None:
        _log("stopping a Keycloak left running by an earlier run")
        stack.stop_component(profile, NAME, timeout=STOP_TIMEOUT)
    if stack._port_open(port):
        raise stack.StackError(f"port {port} is taken; set RUAM_KEYCLOAK_PORT to a free one")

    database = _database_dir()
    importing = not (database / ".imported").exists()
    if importing:
        for old in run_dir().glob("db-*"):
            shutil.rmtree(old, ignore_errors=True)
        database.mkdir(parents=True)
        imports = dist / "data" / "import"  # the only place --import-realm reads
        shutil.rmtree(imports, ignore_errors=True)
        imports.mkdir(parents=True)
        # Keycloak insists that the file be named after the realm it holds.
        shutil.copyfile(REALM_FILE, imports / f"{REALM}-realm.json")
    argv = [
        "bash",
        str(dist / "bin" / "kc.sh"),
        "start",
        "--optimized",
        "--http-enabled=true",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        "--hostname-strict=false",  # the issuer is the URL it is asked by: 127.0.0.1:<port>
        "--cache=local",
        f"--db-url=jdbc:h2:file:{database}/keycloakdb;NON_KEYWORDS=VALUE",
        *(["--import-realm"] if importing else []),
    ]
    server = Keycloak(port=port, java_version=version, imported=importing, started_in=0.0)
    archive = run_dir() / f"cds-java{version}.jsa"
    _log(
        f"starting Keycloak {KEYCLOAK_VERSION} on {server.base_url} (Java {version}"
        f"{', importing the realm' if importing else ''})"
    )
    began = time.monotonic()
    stack._spawn(profile, NAME, argv, env=_env(java, archive=archive), cwd=dist)
    try:
        stack._wait_until(
            f"Keycloak on port {port}",
            lambda: _answers(server.discovery_url, server.issuer),
            timeout,
            profile=profile,
            name=NAME,
        )
    except BaseException:
        stack.stop_component(profile, NAME, timeout=STOP_TIMEOUT)
        raise
    if importing:
        (database / ".imported").write_text(f"{REALM_FILE.name}\n")
    server = dataclasses.replace(server, started_in=time.monotonic() - began)
    _log(f"ready in {server.started_in:.1f}s: issuer {server.issuer}")
    return server


def stop(port: int) -> None:
    stack.stop_component(_profile(port), NAME, timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running(port: int | None = None, timeout: float = START_TIMEOUT) -> Iterator[Keycloak]:
    """Keycloak for the length of the block. Concurrent users (two test sessions) take
    turns, for the database is one file; one waits at most RUAM_KEYCLOAK_LOCK_TIMEOUT."""
    with _locked(run_dir() / ".running.lock", f"the Keycloak of {run_dir()}", LOCK_TIMEOUT):
        server = start(port, timeout)
        try:
            yield server
        finally:
            stop(server.port)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.keycloak", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download, unpack and build; print the distribution's home")
    p_run = sub.add_parser("run", help="start with the test realm; stop on Ctrl-C")
    p_run.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            print(ensure_built(java_home()))
            return 0
        stopping = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        with running(args.port) as server:
            print(f"issuer         {server.issuer}")
            print(f"token endpoint {server.token_endpoint} (client {CLIENT_ID})")
            print(f"users of {REALM_FILE.name}, password {TEST_PASSWORD!r}; Ctrl-C stops")
            with contextlib.suppress(KeyboardInterrupt):
                while not stopping:
                    time.sleep(0.5)
    except (stack.StackError, subprocess.CalledProcessError) as exc:
        print(f"[keycloak] ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
