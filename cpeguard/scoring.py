"""``cpeguard score`` run: in this process with a progress bar, or on Spark; its summary.

The command's options live in ``cpeguard.cli``; this is what it does with them.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cpeguard.config import service_config
from cpeguard.settings import get_settings
from cpeguard.weekly import scorer_for

if TYPE_CHECKING:
    from cpeguard.settings import Settings
    from detectors.model import WindowScorer

console = Console()
errors = Console(stderr=True)


def _prepare_while_reading() -> None:
    """What scoring would otherwise pay for on its one thread before the detectors start, paid in a
    thread while the files are read (reading releases the GIL): pandera (its import, 0.15 s, and its
    first-check setup), then the anomaly ensemble's libraries (pyod, scikit-learn, about a second),
    which the first detector thread needs."""
    from features.schema import prepare_checks

    prepare_checks()
    importlib.import_module("detectors.anomaly._ensemble")
    gc.freeze()


def _spare_the_process() -> None:
    """Spare the scoring process work that decides nothing.

    pandera's first check imports hypothesis (0.1 s) for data synthesis, which scoring never uses:
    this process is told it is absent, as ``features`` tells pandera of pyspark.pandas. And most of
    the cyclic garbage collector's work (about 0.2 of its 0.37 CPU s on a 1M-event window): the
    loaded libraries' objects never die, so they are frozen out of full collections (here, and again
    once the reading thread's imports are done), and young collections run every 10,000 allocations,
    not 700 (scoring's frames and arrays are few objects).
    """
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def score_locally(
    events: str,
    out: str,
    *,
    posts: str | None,
    campaigns: str | None,
    model: str | None,
    history: list[Path],
    reputation: Path | None = None,
    history_state: Path | None = None,
) -> None:
    """``score --engine local``: this process, with a progress bar and a summary."""
    _spare_the_process()
    from detectors.registry import PROGRESS_STEPS
    from features.contract import ContractError
    from serving.batch import run_batch
    from serving.history_state import HistoryStateError

    threading.Thread(target=_prepare_while_reading, daemon=True).start()
    started = time.perf_counter()
    settings = get_settings()
    scorer = _scorer_or_exit(model, settings)
    half_life_days = service_config(settings).reputation_half_life_days
    try:
        with Progress(
            TextColumn("scoring: {task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("read", total=len(PROGRESS_STEPS))

            def advance(step: str) -> None:
                bar.update(
                    task,
                    description=step,
                    completed=PROGRESS_STEPS.index(step) if step in PROGRESS_STEPS else None,
                )

            result = run_batch(
                events_path=Path(events),
                out_dir=Path(out),
                posts_path=Path(posts) if posts is not None else None,
                campaigns_path=Path(campaigns) if campaigns is not None else None,
                scorer=scorer,
                progress=advance,
                history_paths=tuple(history),
                reputation_path=reputation,
                half_life_days=half_life_days,
                history_state=history_state,
            )
            bar.update(task, completed=len(PROGRESS_STEPS))
    except (ContractError, HistoryStateError) as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    _print_summary(result, seconds=time.perf_counter() - started)


def _scorer_or_exit(model: str | None, settings: Settings) -> WindowScorer:
    """The scorer ``score`` runs with; a scoring knob of a wrong name or type is an error, not a traceback."""
    try:
        return scorer_for(model, settings)
    except ValueError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None


def score_on_spark(
    events: str,
    out: str,
    *,
    posts: str | None,
    campaigns: str | None,
    model: str | None,
    master: str | None,
    budget: int | None,
    history: list[str],
    reputation: str | None,
    conf: list[str],
) -> None:
    """``score --engine spark``: the same run as ``spark-submit cpeguard/spark_submit.py``."""
    from cpeguard import spark_submit
    from features.contract import ContractError
    from scaleout.job import parse_spark_conf

    scorer = _scorer_or_exit(model, get_settings())
    try:
        with console.status("scoring on Spark"):
            result = spark_submit.run(
                events=events,
                out=out,
                posts=posts,
                campaigns=campaigns,
                scorer=scorer,
                master=master or "local[*]",
                shard_budget=budget if budget is not None else spark_submit.DEFAULT_SHARD_BUDGET,
                history=history,
                reputation=reputation,
                conf=parse_spark_conf(conf),
            )
    except ContractError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(("pyspark", "py4j")):
            raise
        errors.print(f"[bold red]error:[/] the spark engine needs pip install 'cpeguard[spark]' ({error})")
        raise typer.Exit(code=2) from None
    console.print(spark_submit.summary(result))


def _print_summary(result: object, *, seconds: float) -> None:
    from serving.batch import BatchResult

    assert isinstance(result, BatchResult)
    posts = result.scored.posts
    table = Table(title="Decisions per post")
    for column in ("decision", "posts", "claimed", "valid", "claimed amount", "payable", "withheld"):
        table.add_column(column, justify="right" if column != "decision" else "left")
    for decision in ("pay", "discount", "hold"):
        rows = posts[posts["decision"] == decision]
        table.add_row(
            decision,
            f"{len(rows):,}",
            f"{rows['claimed'].sum():,}",
            f"{rows['valid'].sum():,}",
            f"{rows['claimed_amount'].sum():,.2f}",
            f"{rows['payable'].sum():,.2f}",
            f"{rows['withheld_amount'].sum():,.2f}",
        )
    table.add_row(
        "total",
        f"{len(posts):,}",
        f"{posts['claimed'].sum():,}",
        f"{posts['valid'].sum():,}",
        f"{posts['claimed_amount'].sum():,.2f}",
        f"{posts['payable'].sum():,.2f}",
        f"{posts['withheld_amount'].sum():,.2f}",
        style="bold",
    )
    console.print(table)
    eng = result.scored.engagements
    bad = eng[eng["invalid"]]
    if not bad.empty:
        reasons = Table(title="Invalid engagements by reason")
        reasons.add_column("reason")
        reasons.add_column("engagements", justify="right")
        reasons.add_column("amount withheld", justify="right")
        by_reason = bad.groupby("reason").agg(n=("event_id", "size"), amount=("unit_price", "sum"))
        for reason, row in by_reason.sort_values("amount", ascending=False).iterrows():
            reasons.add_row(str(reason), f"{int(row['n']):,}", f"{row['amount']:,.2f}")
        console.print(reasons)
    accounts = result.scored.accounts
    n_flagged = accounts.groupby("role")["flagged"].sum().to_dict()
    console.print(
        f"{len(eng):,} distinct engagements scored in {seconds:.1f} s; "
        f"{len(result.rejects):,} rejected rows; flagged {int(n_flagged.get('engager', 0)):,} engaging "
        f"accounts and {int(n_flagged.get('creator', 0)):,} creators"
    )
    for signal in result.scored.unavailable_signals:
        console.print(f"[yellow]signal not used:[/] {signal}")
    if len(result.rejects):
        console.print(f"[yellow]rejected rows written to[/] {result.out_dir / 'rejects.parquet'}")
    _print_context(result)
    console.print(
        f"outputs in {result.out_dir}/: engagements.parquet posts.parquet accounts.parquet rejects.parquet"
    )


def _print_context(result: object) -> None:
    """What the history and the reputation file added, and where their rejected rows went."""
    from serving.batch import HISTORY_REJECTS, REPUTATION_REJECTS, BatchResult

    assert isinstance(result, BatchResult)
    if result.history_rejects is not None:
        console.print(
            f"history: {result.n_history_events:,} events as context (not scored for pay); "
            f"{len(result.history_rejects):,} rejected history rows in {result.out_dir / HISTORY_REJECTS}"
        )
    if result.history_state is not None:
        console.print(result.history_state.describe(), highlight=False, soft_wrap=True)
    if result.reputation_rejects is not None:
        console.print(
            f"reputation: {result.n_reputation_entries:,} entries read; "
            f"{len(result.reputation_rejects):,} rejected rows in {result.out_dir / REPUTATION_REJECTS}"
        )
