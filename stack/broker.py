"""Apache Kafka as a child of the stack: KRaft combined mode (broker + controller), one node.

Its jars come from Maven Central (stack/kafka/pom.xml, copied by stack/bootstrap.sh); its
log dirs live in the data folder, so topics, records and group offsets survive a restart.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from inplay_events import DEAD_LETTER_TOPIC, TOPICS
from stack.errors import StackError
from stack.processes import Child, spawn
from stack.settings import ROOT, StackSettings

LOG4J = ROOT / "stack" / "kafka" / "log4j.properties"
# Set by stack/bootstrap.sh once every jar of stack/kafka/pom.xml is in the cache.
INSTALLED_STAMP = ".inplay-installed"

# A wrong one of these fails silently on one node (see docs/local-stack.md): without the
# replication factors of 1, consumer groups never find a coordinator and say nothing.
SINGLE_NODE = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "min.insync.replicas": "1",
    "group.initial.rebalance.delay.ms": "0",
    # Two cores are shared with PostgreSQL, Redis and the platform: few threads.
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    "num.replica.fetchers": "1",
    "num.recovery.threads.per.data.dir": "1",
    "log.cleaner.threads": "1",
    "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
    # A local stack must not fill the disk: a day, or 256 MiB a partition, whichever first.
    "log.retention.hours": "24",
    "log.retention.bytes": str(256 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
}
JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]


def libs_dir() -> Path:
    """Where stack/bootstrap.sh put Kafka's jars."""
    return ROOT / ".local" / "cache" / "kafka-libs"


def version(libs: Path | None = None) -> str:
    """The Apache Kafka version of the jars in the cache."""
    jars = sorted((libs or libs_dir()).glob("kafka_2.13-*.jar"))
    if not jars:
        raise StackError(f"Apache Kafka's jars are missing in {libs or libs_dir()}: run make")
    return jars[0].stem.removeprefix("kafka_2.13-")


def java() -> str:
    """The java binary, or a one-line error saying how to get one."""
    found = shutil.which("java")
    if found is None:
        raise StackError("java is not installed: run `make bootstrap` (installs OpenJDK 17)")
    return found


def _classpath() -> str:
    libs = libs_dir()
    if not (libs / INSTALLED_STAMP).exists():
        raise StackError(f"Apache Kafka's jars are missing in {libs}: run `make bootstrap`")
    return f"{libs}/*"


def kafka_dir(settings: StackSettings) -> Path:
    """The broker's folder in the data folder: its properties and its log dirs."""
    return settings.data_dir / "kafka"


def properties(settings: StackSettings) -> dict[str, str]:
    """The broker's server.properties for the stack's ports and data folder."""
    host, port, ctl = settings.host, settings.kafka_port, settings.kafka_controller_port
    return {
        **SINGLE_NODE,
        "controller.quorum.voters": f"1@{host}:{ctl}",
        # Literal addresses: "localhost" may resolve to ::1 first, where nothing listens.
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "log.dirs": str(kafka_dir(settings) / "data"),
        "num.partitions": str(settings.partitions),
    }


def write_properties(settings: StackSettings) -> Path:
    """Write server.properties (anew each start: the ports may have changed)."""
    folder = kafka_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in properties(settings).items()))
    return path


def new_cluster_id() -> str:
    """A cluster id as `kafka-storage random-uuid` makes one: 16 random bytes, base64url."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka refuses ids that read as a command-line flag
            return text


def format_storage(settings: StackSettings, config: Path) -> bool:
    """Format the log dirs once (KRaft needs it); return whether this call formatted them."""
    if (kafka_dir(settings) / "data" / "meta.properties").exists():
        return False
    # Static controller.quorum.voters: no --standalone (that is for dynamic quorums).
    argv = [java(), f"-Dlog4j.configuration=file:{LOG4J}", "-cp", _classpath()]
    argv += ["kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(config)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka's storage failed:\n{result.stdout}{result.stderr}")
    return True


def start(settings: StackSettings) -> Child:
    """Run the broker on the stack's Kafka port (formatting its storage the first time)."""
    config = write_properties(settings)
    format_storage(settings, config)
    argv = [java(), *JVM_OPTS, f"-Dlog4j.configuration=file:{LOG4J}", "-cp", _classpath()]
    argv += ["kafka.Kafka", str(config)]
    return spawn("kafka", argv, run_dir=settings.run_dir, log_dir=settings.log_dir)


async def wait_ready_and_create_topics(
    settings: StackSettings, child: Child | None, timeout: float = 30.0, bootstrap: str = ""
) -> None:
    """Wait until a metadata request succeeds, then create the topics that are missing.

    ``child`` None with ``bootstrap``: a broker running elsewhere (say, docker compose's).
    """
    bootstrap = bootstrap or settings.kafka_bootstrap
    deadline = time.monotonic() + timeout
    while True:
        if child is not None and not child.alive():
            raise StackError(f"kafka exited:\n{child.log_tail()}")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, num_partitions=settings.partitions, replication_factor=1)
                for name in (*TOPICS, DEAD_LETTER_TOPIC)
                if name not in existing
            ]
            if missing:
                await admin.create_topics(missing)
            return
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise StackError(f"kafka not ready after {timeout:.0f}s: {exc}") from None
            await asyncio.sleep(0.2)
        finally:
            await admin.close()


async def partitions(bootstrap: str, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, from the broker's metadata.

    A consumer's ``partitions_for_topic`` knows only the topics it subscribed to: Kafka
    answers a metadata request for no topic with none.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return sorted(
        TopicPartition(topic["topic"], part["partition"])
        for topic in described
        for part in topic["partitions"]
    )
