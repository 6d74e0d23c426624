"""CPU per HTTP probe: failover's Prober against Prometheus's blackbox_exporter and raw asyncio.

    .venv/bin/python bench/probes.py --targets 50 --rounds 20

Loopback HTTP targets run in a child process (their CPU is not counted). Each contender
probes every target once per round, all targets concurrently, for ``--rounds`` rounds
after one warm-up round, with a fresh connection per probe:

* failover: ``Prober.probe_platforms`` (httpx, shared client, trace timings), CPU of this
  process from ``time.process_time()``; on the default asyncio loop and on uvloop;
* blackbox_exporter: ``GET /probe?module=http_2xx&target=…`` driven over keep-alive
  connections, CPU of the exporter process from ``/proc/<pid>/stat`` (utime + stime);
* raw asyncio: ``open_connection`` + a minimal GET + read to EOF, the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from failover.domain import HttpCheck, Platform
from failover.probes import Prober

LOOPBACK = "127.0.0.1"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- targets (child process) -----------------------------------------------------------------


class _Target(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.transport.write(RESPONSE)
            self.transport.close()


async def _serve(count: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(_Target, LOOPBACK, 0, backlog=1024) for _ in range(count)]
    print(" ".join(str(server.sockets[0].getsockname()[1]) for server in servers), flush=True)
    await asyncio.Event().wait()


def serve_targets(count: int) -> None:
    """Child process: listen on ``count`` ports, print them, answer every request with 200."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_serve(count))


def start_targets(count: int) -> tuple[subprocess.Popen[str], list[int]]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(count)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    ports = [int(port) for port in child.stdout.readline().split()]
    return child, ports


# --- contenders --------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    probes: int
    cpu_s: float
    wall_s: float
    failures: int

    @property
    def cpu_us_per_probe(self) -> float:
        return self.cpu_s / self.probes * 1e6

    @property
    def probes_per_s(self) -> float:
        return self.probes / self.wall_s


async def _rounds(
    rounds: int, one_round: Callable[[], Awaitable[int]], cpu: Callable[[], float]
) -> tuple[float, float, int]:
    await one_round()  # warm-up: clients, imports, caches
    failures = 0
    cpu_before, wall_before = cpu(), time.perf_counter()
    for _ in range(rounds):
        failures += await one_round()
    return cpu() - cpu_before, time.perf_counter() - wall_before, failures


async def bench_failover(name: str, ports: list[int], rounds: int) -> Result:
    platforms = [
        Platform(
            name=f"t{port}",
            display_name=f"target {port}",
            family=None,
            checks=(HttpCheck(name="http", url=f"http://{LOOPBACK}:{port}/"),),
        )
        for port in ports
    ]
    async with Prober(
        user_agent="failover-bench/0.1", concurrency=len(ports), clock=lambda: datetime.now(UTC)
    ) as prober:

        async def one_round() -> int:
            observations = await prober.probe_platforms(platforms)
            return sum(not observation.ok for observation in observations)

        cpu_s, wall_s, failures = await _rounds(rounds, one_round, time.process_time)
    return Result(name, len(ports) * rounds, cpu_s, wall_s, failures)


async def _raw_get(port: int) -> bool:
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data.startswith(b"HTTP/1.1 200")


async def bench_raw(ports: list[int], rounds: int) -> Result:
    async def one_round() -> int:
        answers = await asyncio.gather(*(_raw_get(port) for port in ports))
        return sum(not ok for ok in answers)

    cpu_s, wall_s, failures = await _rounds(rounds, one_round, time.process_time)
    return Result("raw asyncio (floor)", len(ports) * rounds, cpu_s, wall_s, failures)


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def start_blackbox(workdir: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """Start the exporter on a loopback port with an ``http_2xx`` module."""
    if not shutil.which(BLACKBOX):
        return None
    config = workdir / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        "    timeout: 5s\n"
        "    http:\n"
        "      preferred_ip_protocol: ip4\n"
    )
    listen = _free_port()
    exporter = subprocess.Popen(
        [
            BLACKBOX,
            f"--config.file={config}",
            f"--web.listen-address={LOOPBACK}:{listen}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return exporter, listen


async def bench_blackbox(ports: list[int], rounds: int, pid: int, listen: int) -> Result:
    base = f"http://{LOOPBACK}:{listen}"
    limits = httpx.Limits(max_connections=len(ports), max_keepalive_connections=len(ports))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0, trust_env=False) as driver:
        for _ in range(100):  # wait until it listens
            try:
                await driver.get("/metrics")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)

        async def probe(port: int) -> bool:
            response = await driver.get(
                "/probe", params={"module": "http_2xx", "target": f"http://{LOOPBACK}:{port}/"}
            )
            return "\nprobe_success 1" in response.text

        async def one_round() -> int:
            answers = await asyncio.gather(*(probe(port) for port in ports))
            return sum(not ok for ok in answers)

        cpu_s, wall_s, failures = await _rounds(rounds, one_round, lambda: _proc_cpu(pid))
    return Result("blackbox_exporter 0.23 (its process)", len(ports) * rounds, cpu_s, wall_s, failures)


# --- report ------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"nproc {os.cpu_count()}, {model}, RAM {mem_kib / 1024 / 1024:.1f} GiB, "
        f"Python {platform.python_version()}, httpx {httpx.__version__}"
    )


def table(results: list[Result]) -> str:
    lines = [
        "| contender | probes | CPU µs/probe | probes/s | failures |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.name} | {r.probes} | {r.cpu_us_per_probe:.0f} | {r.probes_per_s:.0f} | {r.failures} |"
        for r in results
    ]
    return "\n".join(lines)


def run_uvloop(coro_factory: Callable[[], Awaitable[Result]]) -> Result | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.run(coro_factory())  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_targets(args.serve)
        return
    if not 1 <= args.targets <= 500 or not 1 <= args.rounds <= 200:
        parser.error("keep it bounded: 1 ≤ targets ≤ 500, 1 ≤ rounds ≤ 200")

    child, ports = start_targets(args.targets)
    try:
        results: list[Result] = [
            asyncio.run(bench_failover("failover Prober (asyncio loop)", ports, args.rounds))
        ]
        on_uvloop = run_uvloop(lambda: bench_failover("failover Prober (uvloop)", ports, args.rounds))
        if on_uvloop is not None:
            results.append(on_uvloop)
        with tempfile.TemporaryDirectory(prefix="failover-bench-") as workdir:
            started = start_blackbox(Path(workdir))
            if started is not None:
                exporter, listen = started
                try:
                    results.append(asyncio.run(bench_blackbox(ports, args.rounds, exporter.pid, listen)))
                finally:
                    exporter.terminate()
                    exporter.wait(timeout=10)
        results.append(asyncio.run(bench_raw(ports, args.rounds)))
    finally:
        child.terminate()
        child.wait(timeout=10)

    print(f"machine: {machine()}")
    print(f"command: .venv/bin/python bench/probes.py --targets {args.targets} --rounds {args.rounds}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(table(results))


if __name__ == "__main__":
    main()
