"""The Spark session's settings: the local heap sized from the machine, ``--spark-conf`` applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.contract import ContractError
from scaleout.job import local_driver_memory, parse_spark_conf, spark_session
from tests.conftest import run_cli
from tests.factories import raw_events


def test_local_heap_is_a_third_of_the_machine_and_at_least_one_gib() -> None:
    assert local_driver_memory(24 * 2**30) == "8g"
    assert local_driver_memory(2 * 2**30) == "1g"
    assert local_driver_memory() != ""


def test_settings_are_key_value_pairs_and_a_bad_one_is_named() -> None:
    assert parse_spark_conf(["spark.driver.memory=10g", " spark.sql.shuffle.partitions = 8"]) == {
        "spark.driver.memory": "10g",
        "spark.sql.shuffle.partitions": "8",
    }
    with pytest.raises(ContractError, match=r"--spark-conf 'spark.driver.memory': expected KEY=VALUE"):
        parse_spark_conf(["spark.driver.memory"])
    with pytest.raises(ContractError, match="expected KEY=VALUE"):
        parse_spark_conf(["=8g"])


def test_the_cli_refuses_a_malformed_setting_before_spark_starts(tmp_path: Path) -> None:
    raw_events(20, post_id="p1", creator_id="k1").to_csv(tmp_path / "events.csv", index=False)
    args = ["score", "--events", tmp_path / "events.csv", "--out", tmp_path / "out", "--engine", "spark"]
    result = run_cli(*args, "--spark-conf", "spark.driver.memory", check=False)
    assert result.returncode == 2
    assert "--spark-conf 'spark.driver.memory': expected KEY=VALUE" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_setting_reaches_the_session() -> None:
    spark = spark_session("local[1]", conf={"spark.sql.shuffle.partitions": "3"})
    try:
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        spark.conf.unset("spark.sql.shuffle.partitions")  # the session is shared by later tests
