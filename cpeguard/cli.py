"""The ``cpeguard`` command line: simulate, score, evaluate."""

from __future__ import annotations

import enum
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from cpeguard.config import service_config
from cpeguard.scoring import score_locally, score_on_spark
from cpeguard.settings import get_settings
from cpeguard.weekly import retrain_command, train_command

if TYPE_CHECKING:
    from serving.keys import KeyService

app = typer.Typer(
    help="cpeguard: find inflated engagement in CPE campaigns before the money moves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
errors = Console(stderr=True)


class Engine(enum.StrEnum):
    """Where ``cpeguard score`` runs the scorer."""

    local = "local"
    spark = "spark"


EngineOption = Annotated[
    Engine, typer.Option(help="local: this process; spark: shards on Apache Spark (needs the spark extra)")
]
MasterOption = Annotated[str | None, typer.Option(help="Spark master URL (default: local[*])")]
ShardBudgetOption = Annotated[int | None, typer.Option(min=1, help="spark: most events per shard")]
SparkConfOption = Annotated[
    list[str] | None,
    typer.Option(
        help="spark: a Spark setting KEY=VALUE, repeatable (as spark-submit's --conf), e.g. "
        "spark.driver.memory=8g; a local master's heap defaults to a third of the machine's memory"
    ),
]

HistoryOption = Annotated[
    list[str] | None,
    typer.Option(
        help="earlier events (file or partitioned folder, same contract), repeatable: context for "
        "the detectors, never decided or paid; rejects go to history_rejects.parquet"
    ),
]
HistoryStateOption = Annotated[
    Path | None,
    typer.Option(
        help="a folder where the history prepared for this scorer is kept from run to run: read when "
        "built from the same history files, rules, posts and code, else (re)built there; "
        "the output says which (docs/detection.md, 'Cut and cost')"
    ),
]
ReputationOption = Annotated[
    Path | None,
    typer.Option(
        help="a reputation file (.csv or .parquet, docs/reputation.md): accounts, devices, IPs, groups "
        "earlier runs and reviews confirmed or cleared, read as known_seller evidence; rejects go to "
        "reputation_rejects.parquet"
    ),
]


keys_app = typer.Typer(help="API keys of the settlement API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
review_app = typer.Typer(help="The review console's jobs.", no_args_is_help=True)
app.add_typer(review_app, name="review")
demo_app = typer.Typer(help="Try cpeguard on simulated campaigns.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
reputation_app = typer.Typer(
    help="The service's memory of confirmed and cleared subjects.", no_args_is_help=True
)
app.add_typer(reputation_app, name="reputation")
app.command("train")(train_command)
app.command("retrain")(retrain_command)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="folder to write the campaign set and truth/ into")],
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same set")] = 0,
    scale: Annotated[float, typer.Option(min=0.001, help="1.0 is about 100,000 events")] = 1.0,
    studios: Annotated[
        bool, typer.Option(help="studios whose creators share fans and cross-promote")
    ] = False,
    giveaways: Annotated[bool, typer.Option(help="honest 'like and comment to win' posts")] = False,
    communities: Annotated[int, typer.Option(min=1, help="audience communities per platform")] = 1,
) -> None:
    """Write a simulated multi-platform KOC campaign set with ground truth."""
    from training.simulator import SimConfig, write_simulated_set
    from training.simulator import simulate as run_simulation

    started = time.perf_counter()
    with console.status("simulating campaigns"):
        config = SimConfig(
            seed=seed, scale=scale, studios=studios, giveaways=giveaways, communities=communities
        )
        sim = run_simulation(config)
        write_simulated_set(sim, out)
    truth = sim.truth_events
    console.print(
        f"wrote {len(sim.events):,} events, {len(sim.posts):,} posts, {len(sim.campaigns):,} campaigns "
        f"to {out} ({truth['invalid'].mean():.1%} inflated) in {time.perf_counter() - started:.1f} s"
    )


@app.command()
def score(
    events: Annotated[
        str, typer.Option(help="events file (.parquet or .csv) or a folder of them; spark: any Hadoop path")
    ],
    out: Annotated[str, typer.Option(help="folder for engagements/posts/accounts/rejects.parquet")],
    posts: Annotated[str | None, typer.Option(help="optional posts file")] = None,
    campaigns: Annotated[str | None, typer.Option(help="optional campaigns file with unit prices")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="a registered scorer, e.g. models:/cpeguard-scorer@champion (default: cold)"),
    ] = None,
    history: HistoryOption = None,
    history_state: HistoryStateOption = None,
    reputation: ReputationOption = None,
    engine: EngineOption = Engine.local,
    master: MasterOption = None,
    shard_budget: ShardBudgetOption = None,
    spark_conf: SparkConfOption = None,
) -> None:
    """Score a window of engagement events and decide what each post is paid.

    With ``--history`` the detectors see the earlier events too (a seller's pool
    across weeks); outputs still cover only the window's events.
    """
    if engine is Engine.spark:
        if history_state is not None:
            errors.print("[bold red]error:[/] --history-state is for --engine local")
            raise typer.Exit(code=2)
        score_on_spark(
            events,
            out,
            posts=posts,
            campaigns=campaigns,
            model=model,
            master=master,
            budget=shard_budget,
            history=list(history or []),
            conf=list(spark_conf or []),
            reputation=str(reputation) if reputation is not None else None,
        )
        return
    score_locally(
        events,
        out,
        posts=posts,
        campaigns=campaigns,
        model=model,
        history=[Path(path) for path in history or []],
        reputation=reputation,
        history_state=history_state,
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    access_log: Annotated[
        bool, typer.Option(help="log every request (Prometheus /metrics counts them either way)")
    ] = True,
) -> None:
    """Run the settlement API under uvicorn (state under CPEGUARD_HOME, database CPEGUARD_DATABASE_URL)."""
    import uvicorn

    from serving.app import create_app

    uvicorn.run(
        create_app(service_config(get_settings())),
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
    )


@demo_app.command("serve")
def demo_serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    home: Annotated[
        Path | None, typer.Option(help="a fresh folder for the demo (default: a new temporary one)")
    ] = None,
    seed: Annotated[int, typer.Option(help="simulation seed")] = 0,
    scale: Annotated[float, typer.Option(min=0.01, help="1.0 is about 100,000 events")] = 1.0,
) -> None:
    """Fill a fresh home with simulated campaigns, settle them, print a reviewer key, and serve."""
    from dataclasses import replace

    import uvicorn

    from cpeguard.demo import default_demo_home, fill_demo_home
    from serving.app import create_app

    config = replace(service_config(get_settings()), home=home or default_demo_home(), database_url=None)
    with console.status(f"simulating and settling campaigns in {config.home}"):
        try:
            made = fill_demo_home(config, seed=seed, scale=scale)
        except ValueError as error:
            errors.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(code=2) from None
    console.print(
        f"{made.n_events:,} events in {made.n_campaigns} campaigns settled: {made.n_held_posts} posts held "
        f"({made.held} held, {made.withheld} withheld); home {config.home}"
    )
    console.print(f"review console: http://{host}:{port}/review  (sign in with the reviewer key below)")
    print(made.reviewer_key, flush=True)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


def _key_service() -> KeyService:
    from serving.db import Repositories, make_engine, migrate
    from serving.keys import KeyService

    config = service_config(get_settings())
    config.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    db = Repositories.over(engine)
    return KeyService(keys=db.keys, audit_trail=db.audit)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="billing, reviewer or admin")],
    name: Annotated[str, typer.Option(help="who or what holds the key")] = "",
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    from serving.auth import Role

    if role not in {r.value for r in Role}:
        errors.print(f"[bold red]error:[/] --role must be billing, reviewer or admin, not {role!r}")
        raise typer.Exit(code=2)
    info, secret = _key_service().create(role=Role(role), name=name or role)
    console.print(f"created {info.role} key {info.key_id} ({info.name}); it is shown only once:")
    print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (ids, names, roles, whether revoked; never the secrets)."""
    table = Table(title="API keys")
    for column in ("id", "name", "role", "created", "revoked"):
        table.add_column(column)
    for key in _key_service().list():
        table.add_row(
            key.key_id,
            key.name,
            key.role,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id shown by `keys list`")]) -> None:
    """Revoke an API key."""
    from serving.errors import NotFound

    try:
        info = _key_service().revoke(key_id)
    except NotFound as error:
        errors.print(f"[bold red]error:[/] {error.detail}")
        raise typer.Exit(code=2) from None
    console.print(f"revoked key {info.key_id} ({info.name})")


@reputation_app.command("export")
def reputation_export(
    out: Annotated[Path, typer.Option(help="the reputation file to write (.csv or .parquet)")],
) -> None:
    """Write the service database's reputation (every standing entry) as a reputation file, for
    ``cpeguard score --reputation``."""
    from serving.db import Repositories, make_engine, migrate
    from serving.reputation import ReputationMemory
    from serving.reputation_file import write_reputation

    config = service_config(get_settings())
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    memory = ReputationMemory(
        repository=Repositories.over(engine).reputation, half_life_days=config.reputation_half_life_days
    )
    entries = memory.export()
    write_reputation(entries, out)
    kinds = entries["subject_kind"].value_counts().to_dict()
    console.print(f"wrote {len(entries):,} reputation entries {kinds} to {out}")


@review_app.command("deadline")
def review_deadline(
    every: Annotated[float, typer.Option(min=0, help="repeat every N seconds (0: run once and exit)")] = 0.0,
) -> None:
    """Decide open review cases past their settlement cutoff: pay the clean share, keep the rest held."""
    from serving.db import utcnow
    from serving.review.deadline import run_deadline

    config = service_config(get_settings())
    while True:
        decided = run_deadline(config, now=utcnow())
        released = sum((d.released for d in decided), start=0)
        console.print(f"{len(decided)} cases decided by deadline; {released} released (clean shares)")
        if every <= 0:
            return
        time.sleep(every)


if __name__ == "__main__":
    app()
