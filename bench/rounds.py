"""The feature stage run several times in one JVM, with the CPU of each JVM thread and of the machine per round.

Run: .venv/bin/python bench/rounds.py --out DIR --calls N [--rounds 2] [--conf KEY=VALUE ...]

``DIR`` and ``N`` name a world and lake that bench/scale.py kept (``--keep``). Each round is
``materialise_features`` of the size's scoring day, in one session built as bench/scale.py's (``local[2]``, the
base configuration's Spark settings; ``--conf`` adds or overrides one, e.g.
``spark.sql.codegen.cache.maxEntries=20000``). It shows what a JVM that has already computed a window saves on
the next one, and which threads use the cores: Spark's tasks, the JIT compilers, the garbage collector, the
driver's planning (bench/README.md, "The day's floor").

The JVM's threads are read from ``/proc/PID/task`` every half second, so a thread that ends between two
rounds (the executor's pool retires idle ones) still counts with its last reading; the machine's CPU comes
from ``/proc/stat``. Linux only.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter
from pathlib import Path

from scale import load_config, session, size_of, world_days

TICK = os.sysconf("SC_CLK_TCK")
# /proc/stat's first columns, in clock ticks since boot.
MACHINE = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# Thread groups by the start of the name the kernel keeps (its first 15 bytes), first match wins.
GROUPS = (
    ("Executor task", "Spark's tasks"),
    ("C2 Compiler", "C2 compiler"),
    ("C1 Compiler", "C1 compiler"),
    ("GC Thread", "garbage collector"),
    ("Thread-", "driver (Py4J)"),
)


def machine_seconds() -> dict[str, float]:
    with open("/proc/stat") as stat:
        ticks = stat.readline().split()[1 : 1 + len(MACHINE)]
    return {name: int(t) / TICK for name, t in zip(MACHINE, ticks, strict=True)}


def group_of(thread_name: str) -> str:
    return next((group for start, group in GROUPS if thread_name.startswith(start)), "other JVM threads")


class ThreadCpu:
    """The CPU seconds of each thread of process ``pid``, read every ``every`` seconds in the background."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every, self.last = pid, every, {}
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.read()
            time.sleep(self.every)

    def read(self) -> Counter:
        """CPU seconds by thread group, every thread seen so far included."""
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                name = (task / "comm").read_text().strip()
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended while being read
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            self.last[task.name] = (group_of(name), (int(fields[11]) + int(fields[12])) / TICK)
        totals: Counter = Counter()
        for group, seconds in list(self.last.values()):
            totals[group] += seconds
        return totals


def jvm_pid(spark) -> int:
    """The driver JVM's process id (local mode: the JVM that runs every task)."""
    return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="bench/scale.py's --out, with the size kept")
    parser.add_argument("--calls", type=int, required=True, help="the size, in call records")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--conf", action="append", default=[], help="KEY=VALUE, a Spark setting (repeatable)")
    args = parser.parse_args()
    from jobs.features import materialise_features

    cfg = load_config()
    size = size_of(args.calls, args.out, world_days(cfg))
    if not (size.lake.root / "clean").is_dir():
        parser.error(f"no kept lake at {size.lake.root}: run bench/scale.py --out {args.out} --calls {args.calls} --keep")
    spark = session("fraudgraph-bench-rounds", dict(c.split("=", 1) for c in args.conf))
    threads = ThreadCpu(jvm_pid(spark))
    try:
        for round_ in range(1, args.rounds + 1):
            machine0, threads0, started = machine_seconds(), threads.read(), time.perf_counter()
            materialise_features(spark, size.lake, size.day, length=cfg.window.days, graph=cfg.graph, exposure=cfg.exposure)
            wall = time.perf_counter() - started
            machine1, threads1 = machine_seconds(), threads.read()
            used = {g: threads1[g] - threads0[g] for g in threads1}
            idle = sum(machine1[k] - machine0[k] for k in ("idle", "iowait", "steal"))
            print(f"round {round_}: {wall:.1f} s; JVM CPU {sum(used.values()):.1f} s: "
                  + ", ".join(f"{g} {s:.1f}" for g, s in sorted(used.items(), key=lambda x: -x[1]))
                  + f"; machine idle or stolen {idle:.1f} s", flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
