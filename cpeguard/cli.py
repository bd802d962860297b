"""The ``cpeguard`` command line: simulate, score, evaluate."""

from __future__ import annotations

import enum
import importlib
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cpeguard.config import service_config
from cpeguard.settings import get_settings
from cpeguard.weekly import retrain_command, scorer_for, train_command

if TYPE_CHECKING:
    from cpeguard.settings import Settings
    from detectors.model import WindowScorer
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
        _score_on_spark(
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
    _score_locally(
        events,
        out,
        posts=posts,
        campaigns=campaigns,
        model=model,
        history=[Path(path) for path in history or []],
        reputation=reputation,
        history_state=history_state,
    )


def _prepare_while_reading() -> None:
    """What scoring would otherwise pay for on its one thread before the detectors start, paid in a
    thread while the files are read (reading releases the GIL): pandera (its import, 0.15 s, and its
    first-check setup), then the anomaly ensemble's libraries (pyod, scikit-learn, about a second),
    which the first detector thread needs."""
    from features.schema import prepare_checks

    prepare_checks()
    importlib.import_module("detectors.anomaly._ensemble")


def _score_locally(
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
    # pandera's first check imports hypothesis (0.1 s) for data synthesis, which scoring never uses:
    # this process is told it is absent, as ``features`` tells pandera of pyspark.pandas
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
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


def _score_on_spark(
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
