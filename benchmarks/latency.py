"""Request latency for the API benchmarks: percentiles, and GETs paced at a fixed rate."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np


def percentiles_ms(values: list[float]) -> dict[str, float]:
    """Count, p50, p90, p99 and max in milliseconds of latencies given in seconds."""
    arr = np.asarray(values) * 1000.0
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p90_ms": round(float(np.percentile(arr, 90)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


class _RawConnection:
    """One keep-alive HTTP/1.1 connection that reads just the status line, headers and body.

    httpx spends about 5 ms of client CPU per 200 kB response in pure Python; on two
    shared cores that, not the server, capped the paced GETs. This client costs a few
    hundred microseconds per response, so the latency measured is the server's.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
        )
        return status, await self.reader.readexactly(length)


async def paced_gets(
    base: str, path: str, headers: dict[str, str], expected: bytes, *, rate_per_s: int, seconds: int
) -> tuple[list[float], dict[str, int]]:
    """Latencies and status counts of ``rate_per_s`` x ``seconds`` GETs over 64 connections.

    A body other than ``expected`` counts as ``"<code> (other body)"``."""
    total = rate_per_s * seconds
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    url = httpx.URL(base)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {url.host}:{url.port}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    pool: asyncio.Queue[_RawConnection] = asyncio.Queue()
    for _ in range(64):
        reader, writer = await asyncio.open_connection(url.host, url.port)
        pool.put_nowait(_RawConnection(reader, writer))
    t0 = time.perf_counter()

    async def one(i: int) -> None:
        delay = t0 + i / rate_per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.perf_counter()
        connection = await pool.get()
        try:
            code, body = await asyncio.wait_for(connection.get(request), timeout=10)
            status = str(code) if body == expected else f"{code} (other body)"
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            status = type(error).__name__
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait(connection)

    await asyncio.gather(*(one(i) for i in range(total)))
    while not pool.empty():
        pool.get_nowait().writer.close()
    return latencies, statuses
