"""A decompression bomb uploaded to a real ``cpeguard serve`` with the default limits.

Run: ``.venv/bin/python -m benchmarks.upload_bomb [--rows 1000000] [--comment-chars 2000]``.

The file of the outside probe (issue 16): ``--rows`` alike events whose comment is
``--comment-chars`` long, each column dictionary-encoded in the Parquet file and written
without Arrow's schema (so it reads back as plain text, as a file written by pandas
does): a few hundred kB that decode to rows x comment-chars bytes. The server (SQLite, a
fresh home) answers it; the answer, its time and the server's resident memory before and
at its peak (``VmHWM``) go to ``benchmarks/results/upload_bomb.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.fault_load import Server
from benchmarks.live_server import create_keys, service_env

RESULTS = Path(__file__).resolve().parent / "results" / "upload_bomb.json"


def bomb(rows: int, comment_chars: int) -> bytes:
    """The Parquet file: one distinct value per column, ``rows`` rows."""
    row = {
        "event_id": "e0",
        "platform": "douyin",
        "campaign_id": "cmp1",
        "post_id": "p1",
        "creator_id": "k1",
        "user_id": "u0",
        "action": "comment",
        "ts": "2026-11-02T12:00:00+00:00",
        "device_id": "d0",
        "ip": "ip0",
        "user_created_at": "2025-09-28T12:00:00+00:00",
        "user_followers": 10,
        "comment_text": "x" * comment_chars,
    }
    indices = pa.array(np.zeros(rows, dtype=np.int32))
    columns = {
        name: pa.DictionaryArray.from_arrays(
            indices, pa.array([value], type=pa.int64() if name == "user_followers" else pa.string())
        )
        for name, value in row.items()
    }
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, store_schema=False)
    return sink.getvalue()


def _memory_mib(pid: int) -> dict[str, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return {name: round(int(fields[name].split()[0]) / 1024, 1) for name in ("VmRSS", "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--comment-chars", type=int, default=2000)
    args = parser.parse_args()
    data = bomb(args.rows, args.comment_chars)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = service_env(home, None)
        billing = {"Authorization": f"Bearer {create_keys(env, name='bomb')['billing']}"}
        server = Server(home=home, database_url=None, env=env)
        server.start()
        try:
            assert server.process is not None
            before = _memory_mib(server.process.pid)
            started = time.perf_counter()
            files = {"file": ("bomb.parquet", data)}
            answer = httpx.post(f"{server.base}/v1/events", files=files, headers=billing, timeout=600)
            seconds = time.perf_counter() - started
            after = _memory_mib(server.process.pid)
        finally:
            server.stop()
    result = {
        "command": " ".join([".venv/bin/python -m benchmarks.upload_bomb", *sys.argv[1:]]),
        "file_bytes": len(data),
        "decodes_to_bytes_at_least": args.rows * args.comment_chars,
        "status": answer.status_code,
        "detail": answer.json().get("detail"),
        "seconds": round(seconds, 3),
        "server_memory_mib_before": before,
        "server_memory_mib_after": after,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
