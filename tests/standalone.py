"""A Spark standalone cluster on 127.0.0.1 from the installed pyspark: a master and workers, each its own JVM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"
DEFAULT_PORT = 7077


def _free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port")


def _wait_for(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"standalone cluster: {what} not within {timeout:.0f} s")
        time.sleep(0.5)


class StandaloneCluster:
    """``start()`` a master and ``workers`` workers (``cores`` and ``memory`` each); ``stop()`` kills them all.

    Each daemon is ``bin/spark-class``, which execs the JVM, so a worker's process id is its JVM's. Logs go to
    ``folder/*.log``; each worker works in its own folder there (not in site-packages).
    """

    def __init__(self, folder: Path, *, workers: int = 2, cores: int = 1, memory: str = "2g") -> None:
        self.folder = folder
        self.port = _free_port(DEFAULT_PORT)
        self.url = f"spark://{HOST}:{self.port}"
        self.sizes = (workers, cores, memory)
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.env = {
            **os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": HOST,
            "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1",
            # The master and workers only schedule and heartbeat: the quick compiler and a small serial heap
            # (with the defaults each took some 12 s of CPU over a five-minute run, on a machine the tests fill).
            "SPARK_DAEMON_JAVA_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            "SPARK_DAEMON_MEMORY": "256m",
        }

    def _daemon(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("wb")
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True,  # its own process group: stop() takes the executors it started too
        )

    def master_log(self) -> str:
        return (self.folder / "master.log").read_text(errors="replace")

    def start(self, timeout: float = 120) -> StandaloneCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.master = self._daemon("master", MASTER_CLASS, "--host", HOST, "--port", str(self.port), "--webui-port", "0")
        _wait_for("the master", lambda: "I have been elected leader" in self.master_log(), timeout)
        workers, cores, memory = self.sizes
        for i in range(workers):
            work = self.folder / f"worker{i}"
            work.mkdir(exist_ok=True)
            self.workers.append(self._daemon(
                f"worker{i}", WORKER_CLASS, self.url, "--host", HOST, "--cores", str(cores), "--memory", memory,
                "--work-dir", str(work), "--webui-port", "0",
            ))
        _wait_for(f"{workers} workers", lambda: len(re.findall("Registering worker", self.master_log())) >= workers, timeout)
        return self

    def kill_worker(self, index: int) -> int:
        """SIGKILL worker ``index``'s JVM by its process id (its executor then exits on its own); returns the pid."""
        worker = self.workers[index]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        return worker.pid

    def stop(self) -> None:
        for process in [*self.workers, self.master]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
