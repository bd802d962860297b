"""A history prepared by one run and read by the next (``cpeguard score --history-state``, the service).

Preparing a window's history (``detectors.scorer.prepared_history``: reducing it, and with
``history__mode`` "condensed" scoring it as one window to mark its evidence) depends on the
history, the scoring rules, the posts and the code alone, and costs more than scoring the window
(docs/detection.md, "Cut and cost"). A state keeps that prepared frame in a folder:

- ``state.json``: the key it was built for (``StateKey``), the digests of its two frames, the
  number of history events, the history's first event time, and when it was built;
- ``history.arrow``: the prepared frame (Arrow IPC, uncompressed: categories and their order kept
  exactly);
- ``history_rejects.arrow``: the history's rejected rows.

A state is read only when its key equals the run's; otherwise it is rebuilt and replaced, and
the run says which and why. A state whose frames do not match their digests (a truncated or
altered file) or whose manifest is unreadable is rebuilt likewise. A path that holds anything
else is refused (``HistoryStateError``): it is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from detectors.model import WindowScorer
from detectors.scorer import prepared_history
from features.arrays import categorical
from features.contract import empty_rejects
from serving.io import event_files

MANIFEST = "state.json"
FRAME = "history.arrow"
REJECTS = "history_rejects.arrow"
# what a manifest says it is; a folder whose state.json says otherwise is not ours
KIND = "cpeguard history state"
# bumped when the folder's layout changes
FORMAT = 1
# the packages whose code a prepared history depends on (reduction, detectors, their features)
_CODE_PACKAGES = ("detectors", "features")
_CHUNK = 1 << 22
# the kept frames are written uncompressed: every run reads the state, and at 1M + 3M zstd's
# decoding took 1.3-1.5 CPU s of it against 0.07 s (the file is 2.6x larger, 318 against 120 MiB;
# its digest, checked on every read, 0.25 s against 0.1). A state written compressed reads the same
# (benchmarks/results/history_cost_i13s2_scratch.json)
_COMPRESSION: Final = "uncompressed"


class HistoryStateError(ValueError):
    """A history state path that cannot be used and must not be overwritten."""


@dataclass(frozen=True)
class StateKey:
    """What a prepared history depends on; a state is read only for an equal key."""

    # SHA-256 of the history's content (its files' bytes in order, or its frame's rows)
    history: str
    # ``history__mode``: "exact" keeps the reduction, "condensed" the scored and marked history
    mode: str
    # the scorer's rules version (every knob that changes a verdict)
    rules: str
    # SHA-256 of the posts file in condensed mode ("" otherwise: the reduction does not read it)
    posts: str
    # SHA-256 of the code that prepares and scores it, and the state format
    code: str

    def differences(self, built: object) -> list[str]:
        """What differs between this key and the one a state was ``built`` for, in words."""
        if not isinstance(built, dict):
            return ["its manifest has no key"]
        words = {
            "history": "the history's content",
            "mode": "the history mode",
            "rules": "the scoring rules",
            "posts": "the posts",
            "code": "the cpeguard code",
        }
        return [
            f"{words[item.name]} ({built.get(item.name)!s:.19} -> {getattr(self, item.name):.19})"
            for item in fields(self)
            if built.get(item.name) != getattr(self, item.name)
        ]


@dataclass(frozen=True)
class PreparedHistory:
    """A prepared history, its rejected rows, how many events it had and its first event time."""

    frame: pd.DataFrame
    rejects: pd.DataFrame
    n_events: int
    first_ts: pd.Timestamp | None


@dataclass(frozen=True)
class HistoryState:
    """What a run read or built: the prepared history, and "read", "built" or "rebuilt" and why."""

    prepared: PreparedHistory
    status: str
    reason: str
    path: Path

    def describe(self) -> str:
        """One line for the run's output."""
        if self.status == "read":
            return f"history state: read from {self.path} ({self.reason})"
        return f"history state: {self.status} at {self.path} ({self.reason})"


def files_key(paths: Sequence[Path], scorer: WindowScorer, *, posts_path: Path | None) -> StateKey:
    """The key of the history in the event files ``paths`` prepared for ``scorer`` (the posts file is
    read in condensed mode only)."""
    mode = scorer.params.history.mode
    return StateKey(
        history=files_digest(paths),
        mode=mode,
        rules=scorer.rules_version,
        posts=file_digest(posts_path) if mode == "condensed" else "",
        code=code_digest(),
    )


def files_digest(paths: Sequence[Path]) -> str:
    """SHA-256 of the event files ``read_events_from(paths)`` reads, their bytes in that order."""
    digest = hashlib.sha256()
    for path in paths:
        for file in event_files(path):
            digest.update(f"{file.stat().st_size}:".encode())
            _feed(digest, file)
    return digest.hexdigest()


def file_digest(path: Path | None) -> str:
    """SHA-256 of one file's bytes; "none" without a file."""
    if path is None:
        return "none"
    digest = hashlib.sha256()
    _feed(digest, path)
    return digest.hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns, dtypes and rows in order (the service's history)."""
    digest = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def code_digest() -> str:
    """SHA-256 of the source of the packages a prepared history depends on, and the state format."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    root = Path(__file__).resolve().parent.parent
    for package in _CODE_PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _feed(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def load_or_build(path: Path, key: StateKey, build: Callable[[], PreparedHistory]) -> HistoryState:
    """The prepared history kept at ``path`` when it was built for ``key``; else ``build()`` it, keep
    it there (replacing a stale or damaged state) and say why. Raises ``HistoryStateError`` when
    ``path`` holds something that is not a history state."""
    found, reason = _read(path, key)
    if found is not None:
        return HistoryState(found, status="read", reason=reason, path=path)
    existed = path.exists() and any(path.iterdir())
    prepared = build()
    _write(path, key, prepared)
    return HistoryState(prepared, status="rebuilt" if existed else "built", reason=reason, path=path)


def _read(path: Path, key: StateKey) -> tuple[PreparedHistory | None, str]:
    """The state at ``path`` if it was built for ``key`` and is whole; else None and why not."""
    if not path.exists():
        return None, "no state there yet"
    if not path.is_dir():
        raise HistoryStateError(f"{path} is a file, not a history state folder; refusing to overwrite it")
    if not (path / MANIFEST).exists():
        if any(path.iterdir()):
            raise HistoryStateError(
                f"{path} is not a history state (no {MANIFEST}); refusing to overwrite it: "
                "give a new or an empty folder"
            )
        return None, "the folder was empty"
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"its {MANIFEST} was unreadable ({error})"
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise HistoryStateError(
            f"{path / MANIFEST} is not a cpeguard history state; refusing to overwrite it"
        )
    differences = key.differences(manifest.get("key"))
    if differences:
        return None, "built for other inputs: " + "; ".join(differences)
    try:
        return _frames(path, manifest), f"built {manifest.get('built_at')} for the same inputs"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return None, f"it was damaged ({error})"


def _frames(path: Path, manifest: dict[str, object]) -> PreparedHistory:
    """The state's frames, each checked against its digest in the manifest."""
    digests = manifest["digests"]
    if not isinstance(digests, dict):
        raise ValueError(f"its {MANIFEST} has no digests")
    frames = {}
    for name in (FRAME, REJECTS):
        # streamed: the file's bytes never sit in memory beside the frame read from them
        if file_digest(path / name) != digests[name]:
            raise ValueError(f"{name} does not match its digest: altered or truncated")
        frames[name] = _read_frame(path / name)
    first_ts = manifest["first_ts"]
    return PreparedHistory(
        frame=frames[FRAME],
        rejects=frames[REJECTS],
        n_events=int(str(manifest["n_events"])),
        first_ts=pd.Timestamp(str(first_ts)) if first_ts is not None else None,
    )


def _read_frame(path: Path) -> pd.DataFrame:
    """A kept frame. Its categoricals (one dictionary each, ``_write``) are rebuilt from their codes
    and categories: Arrow's own conversion of a dictionary of a million ids takes several times as
    long. Anything else (several chunks) is left to Arrow."""
    # mapped, not read: copying 318 MiB (1M + 3M) out of the page cache took 0.3-1.7 CPU s, mostly the
    # kernel's, against 0.23 s with the copies below. A state is replaced by a rename, never written in
    # place, so the mapped file cannot change under the frame
    table = feather.read_table(path, memory_map=True)
    coded = [item.name for item in table.schema if pa.types.is_dictionary(item.type)]
    if any(table.column(name).num_chunks != 1 for name in coded):
        return table.to_pandas()
    frame = _copied_strings(table.drop_columns(coded)).to_pandas()
    for name in coded:
        chunk = table.column(name).chunk(0)
        categories = pd.Index(pd.array(_copied(chunk.dictionary), dtype="str"))
        row_codes = np.array(pc.fill_null(chunk.indices, -1).to_numpy(), copy=True)
        # a kept frame's categories were a categorical's (distinct) and its digest was checked
        frame[name] = (
            pd.Categorical.from_codes(
                row_codes, dtype=pd.CategoricalDtype(categories, ordered=True), validate=False
            )
            if chunk.type.ordered
            else categorical(row_codes, categories)
        )
    return frame[table.column_names]


def _copied_strings(table: pa.Table) -> pa.Table:
    """``table`` with its string columns in buffers of their own (``_copied``)."""
    for at, item in enumerate(table.schema):
        if pa.types.is_large_string(item.type) or pa.types.is_string(item.type):
            table = table.set_column(at, item, _copied(table.column(at)))
    return table


def _copied(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` in buffers of their own, not the mapped file's. pandas keeps Arrow's strings as they
    are, and one column or category index that held the mapping would keep it resident, every page
    read (1M + 3M: 0.2 GiB more peak while the exact history is held whole through the scoring)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    # concatenating allocates new buffers (a single array would be passed through as it is)
    return pa.concat_arrays([*chunks, pa.array([], type=values.type)])


def _write(path: Path, key: StateKey, prepared: PreparedHistory) -> None:
    """Keep ``prepared`` at ``path``: written beside it, then swapped in (a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name, frame in ((FRAME, prepared.frame), (REJECTS, prepared.rejects.reset_index(drop=True))):
        # one record batch: one dictionary per categorical column (``_read_frame``)
        frame.to_feather(staging / name, compression=_COMPRESSION, chunksize=max(len(frame), 1))
    manifest = {
        "kind": KIND,
        "format": FORMAT,
        "key": asdict(key),
        "digests": {name: file_digest(staging / name) for name in (FRAME, REJECTS)},
        "n_events": prepared.n_events,
        "n_engagements": len(prepared.frame),
        "first_ts": None if prepared.first_ts is None else prepared.first_ts.isoformat(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    old = path.with_name(f".{path.name}.old-{os.getpid()}-{threading.get_ident()}")
    if path.exists():
        path.rename(old)
    staging.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def prune(folder: Path, *, keep: int, spare: Iterable[Path] = ()) -> None:
    """Remove all but the ``keep`` most recently used states under ``folder`` (``spare`` stays)."""
    spared = {p.resolve() for p in spare}
    states = [p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).exists()]
    states.sort(key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True)
    for stale in states[keep:]:
        if stale.resolve() not in spared:
            shutil.rmtree(stale, ignore_errors=True)


class HistoryStates:
    """The service's kept histories (``folder``/<key digest>): a detection run's lookback is prepared
    once, and every later run with the same lookback, rules and code reads it (the same period's
    other campaigns, a run again after a batch outside its context). The ``keep`` most recently
    used stay."""

    def __init__(self, folder: Path, *, keep: int = 8) -> None:
        self.folder = folder
        self.keep = keep
        self._code = code_digest()
        self._lock = threading.Lock()

    def prepared(self, history: pd.DataFrame, scorer: WindowScorer) -> HistoryState:
        """``history`` (the run's clean context events) prepared for ``scorer``, kept or built."""
        params = scorer.params
        key = StateKey(
            history=frame_digest(history),
            mode=params.history.mode,
            rules=scorer.rules_version,
            posts="",
            code=self._code,
        )
        path = self.folder / hashlib.sha256(json.dumps(asdict(key)).encode()).hexdigest()[:24]

        def build() -> PreparedHistory:
            return PreparedHistory(
                frame=prepared_history(history, params=params),
                rejects=empty_rejects(),
                n_events=len(history),
                first_ts=history["ts"].min() if len(history) else None,
            )

        with self._lock:
            state = load_or_build(path, key, build)
            os.utime(path / MANIFEST)
            prune(self.folder, keep=self.keep, spare=[path])
        return state
