"""``cpeguard train`` and ``cpeguard retrain``: the weekly job, wired to the service's stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from cpeguard.config import service_config, training_config
from cpeguard.settings import Settings, get_settings

if TYPE_CHECKING:
    from detectors.model import WindowScorer
    from training.backtest import SettledHistory
    from training.pipeline import TrainingResult
    from training.week_inputs import WeekData

console = Console()
errors = Console(stderr=True)


def service_labels(settings: Settings) -> pd.DataFrame | None:
    """The risk team's review verdicts from the service database (none before its first decision)."""
    from serving.labels import load_labels
    from training.labels import clean_labels

    frame = load_labels(service_config(settings))
    return None if frame.empty else clean_labels(frame, source="service database")


def settled_history(settings: Settings) -> SettledHistory | None:
    """The last settlements of the service database, or None when there is no database yet."""
    from serving.history import last_settlements
    from training.backtest import SettledHistory

    config = service_config(settings)
    if settings.database_url is None and not (config.home / "cpeguard.db").is_file():
        return None
    settled = last_settlements(config, limit=settings.backtest_settlements)
    return SettledHistory(posts=settled.posts, events=settled.events, campaigns=settled.campaigns)


def week_data(
    settings: Settings, week: str, *, events_path: Path | None, labels_path: Path | None
) -> WeekData:
    """One week's inputs: events (a file, or the service's event store), verdicts and settlements."""
    from features.contract import clean_events
    from serving.io import read_events
    from serving.store import EventStore
    from training.labels import read_labels
    from training.week_inputs import WeekData
    from training.weeks import parse_week

    start, end = parse_week(week)
    if events_path is not None:
        events, source = read_events(events_path).frame, f"file {events_path}"
    else:
        raw = EventStore(settings.home / "events").read(start=start, end=end)
        events = clean_events(raw, source="event store").frame if not raw.empty else raw
        source = f"event store {settings.home / 'events'}"
    labels = read_labels(labels_path) if labels_path is not None else service_labels(settings)
    return WeekData(week=week, events=events, labels=labels, history=settled_history(settings), source=source)


def _print_result(result: TrainingResult) -> None:
    table = Table(title=f"Training run {result.run_id} ({result.week})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in sorted(k for k in result.metrics if k.startswith(("suite_", "backtest_", "drift_"))):
        table.add_row(key, f"{result.metrics[key]:.4f}")
    console.print(table)
    verdict = "[green]promoted to champion[/]" if result.gate.passed else "[yellow]kept as challenger[/]"
    console.print(f"cpeguard-scorer version {result.version}: {verdict}; gates: {result.gate.reason}")


def train_command(
    week: Annotated[
        str | None, typer.Option(help="ISO week to train on, e.g. 2026-W47 (default: last week)")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="events file instead of the service's event store")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="review verdicts (.parquet/.csv): account_id, label, decided_at")
    ] = None,
) -> None:
    """Train, evaluate, log and register a scorer for one ISO week, then gate it (champion/challenger)."""
    from training.pipeline import run
    from training.weeks import last_complete_week

    settings = get_settings()
    try:
        chosen = week or last_complete_week(datetime.now(UTC))
        config = training_config(settings)
        data = week_data(settings, chosen, events_path=events, labels_path=labels)
    except ValueError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    with console.status(f"training {chosen}"):
        result = run(config, data)
    _print_result(result)


def retrain_command(
    force: Annotated[bool, typer.Option(help="train the week again even if it already has a run")] = False,
    week: Annotated[str | None, typer.Option(help="ISO week (default: the last complete week)")] = None,
) -> None:
    """What cron calls weekly: lock, skip a week that has a run, backfill missed weeks, gate each."""
    from training.retrain import RetrainLocked, retrain

    settings = get_settings()
    try:
        config = training_config(settings)
        outcome = retrain(
            config,
            load_week=lambda w: week_data(settings, w, events_path=None, labels_path=None),
            lock_path=settings.home / "retrain.lock",
            now=datetime.now(UTC),
            force=force,
            week=week,
            max_backfill=settings.backfill_weeks,
        )
    except RetrainLocked as error:
        errors.print(f"[yellow]{error}[/]; nothing done")
        raise typer.Exit(code=0) from None
    except ValueError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    for skipped, why in outcome.skipped:
        console.print(f"{skipped}: skipped, {why}")
    for result in outcome.trained:
        _print_result(result)
    if not outcome.trained:
        console.print("nothing to train")


def load_scorer(uri: str, settings: Settings) -> WindowScorer:
    """A registered scorer by model URI (``models:/cpeguard-scorer@champion``, ``runs:/...``)."""
    from detectors.mlflow_model import NotAScorer, load_scorer
    from training.tracking import tracking_uri

    store = tracking_uri(settings.tracking_uri)
    try:
        scorer = load_scorer(uri, tracking_uri=store)
    except NotAScorer:
        errors.print(f"[bold red]error:[/] --model {uri} is not a cpeguard scorer")
        raise typer.Exit(code=2) from None
    except Exception as error:
        errors.print(
            f"[bold red]error:[/] --model {uri}: cannot load it from {store} ({error})", highlight=False
        )
        raise typer.Exit(code=2) from None
    console.print(f"scoring with {uri} (trained on {scorer.week or 'unknown week'})")
    return scorer


def scorer_for(uri: str | None, settings: Settings) -> WindowScorer:
    """The registered scorer at ``uri``, or without one the cold scorer of the settings' params."""
    from cpeguard.config import scoring_params
    from detectors.model import WindowScorer

    return load_scorer(uri, settings) if uri is not None else WindowScorer(scoring_params(settings))
