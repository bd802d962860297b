"""The ``cpeguard`` command line: simulate, score, evaluate."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cpeguard.settings import Settings, get_settings
from detectors.scorer import ScoringParams

app = typer.Typer(
    help="cpeguard: find inflated engagement in CPE campaigns before the money moves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
errors = Console(stderr=True)


def _scoring_params(settings: Settings) -> ScoringParams:
    return ScoringParams(
        invalid_risk=settings.invalid_risk,
        hold_invalid_share=settings.hold_invalid_share,
        hold_uncertain_share=settings.hold_uncertain_share,
        review_risk=settings.review_risk,
        account_flag_risk=settings.account_flag_risk,
        creator_flag_invalid_share=settings.creator_flag_invalid_share,
        default_unit_price=settings.default_unit_price,
    )


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="folder to write the campaign set and truth/ into")],
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same set")] = 0,
    scale: Annotated[float, typer.Option(min=0.001, help="1.0 is about 100,000 events")] = 1.0,
) -> None:
    """Write a simulated multi-platform KOC campaign set with ground truth."""
    from training.simulator import SimConfig, write_simulated_set
    from training.simulator import simulate as run_simulation

    started = time.perf_counter()
    with console.status("simulating campaigns"):
        sim = run_simulation(SimConfig(seed=seed, scale=scale))
        write_simulated_set(sim, out)
    truth = sim.truth_events
    console.print(
        f"wrote {len(sim.events):,} events, {len(sim.posts):,} posts, {len(sim.campaigns):,} campaigns "
        f"to {out} ({truth['invalid'].mean():.1%} inflated) in {time.perf_counter() - started:.1f} s"
    )


@app.command()
def score(
    events: Annotated[Path, typer.Option(help="events file (.parquet or .csv)")],
    out: Annotated[Path, typer.Option(help="folder for engagements/posts/accounts/rejects.parquet")],
    posts: Annotated[Path | None, typer.Option(help="optional posts file")] = None,
    campaigns: Annotated[Path | None, typer.Option(help="optional campaigns file with unit prices")] = None,
) -> None:
    """Score a window of engagement events and decide what each post is paid."""
    from features.contract import ContractError
    from serving.batch import BATCH_STEPS, run_batch

    settings = get_settings()
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("scoring: {task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("read", total=len(BATCH_STEPS))

            def advance(step: str) -> None:
                bar.update(
                    task, description=step, completed=BATCH_STEPS.index(step) if step in BATCH_STEPS else None
                )

            result = run_batch(
                events_path=events,
                out_dir=out,
                posts_path=posts,
                campaigns_path=campaigns,
                params=_scoring_params(settings),
                progress=advance,
            )
            bar.update(task, completed=len(BATCH_STEPS))
    except ContractError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    _print_summary(result, seconds=time.perf_counter() - started)


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
    console.print(
        f"outputs in {result.out_dir}/: engagements.parquet posts.parquet accounts.parquet rejects.parquet"
    )


@app.command()
def evaluate(
    scored: Annotated[Path, typer.Option(help="folder written by `cpeguard score`")],
    truth: Annotated[Path, typer.Option(help="truth folder written by `cpeguard simulate`")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the metrics here")] = None,
) -> None:
    """Measure detection quality of a scored window against ground truth."""
    from training.evaluation import evaluate as run_evaluation

    try:
        metrics = run_evaluation(
            engagements=pd.read_parquet(scored / "engagements.parquet"),
            posts=pd.read_parquet(scored / "posts.parquet"),
            accounts=pd.read_parquet(scored / "accounts.parquet"),
            truth_events=pd.read_parquet(truth / "events.parquet"),
            truth_creators=pd.read_parquet(truth / "creators.parquet"),
        )
    except (OSError, ValueError, KeyError) as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    table = Table(title="Detection quality")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, dict):
            for scheme, recall in value.items():
                table.add_row(f"recall: {scheme}", f"{recall:.4f}")
        elif isinstance(value, float):
            table.add_row(key, "n/a" if math.isnan(value) else f"{value:.4f}")
        else:
            table.add_row(key, f"{value:,}")
    console.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(metrics, indent=2, sort_keys=True))
        console.print(f"metrics written to {json_out}")


if __name__ == "__main__":
    app()
