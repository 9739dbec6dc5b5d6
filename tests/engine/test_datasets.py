"""Datasets as versions: `data import|list|info`, `train --dataset`, lineage, and retrains on
the champion's split. Real engine, real MLflow registry, small files written here from UCI
texts (so training takes seconds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from engine.config import load_settings
from engine.dataset import Dataset
from engine.datasets import lineage_datasets
from engine.services import Services
from tests.cli_helpers import CliRun, run_cli
from tests.conftest import dataset_source
from web_dashboard.data import versions_frame

Cli = Callable[..., CliRun]


@pytest.fixture
def spamops(data_home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> CliRun:
        return run_cli(capsys, *args)
    return run


@pytest.fixture(scope="module")
def uci_frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return Dataset(dataset_source(), tmp_path_factory.mktemp("uci")).corpus().frame


def labelled_file(path: Path, frame: pd.DataFrame, *, ham: int, spam: int, offset: int = 0,
                  label_names: tuple[str, str] = ("ham", "Smishing")) -> Path:
    """A Kaggle-like CSV (`v1,v2`) of ``ham`` + ``spam`` UCI messages, spam labels renamed."""
    hams = frame[frame["label"] == "ham"].iloc[offset:offset + ham]
    spams = frame[frame["label"] == "spam"].iloc[offset:offset + spam]
    rows = pd.concat([hams, spams]).sample(frac=1, random_state=1)
    out = pd.DataFrame({"v1": rows["label"].map({"ham": label_names[0],
                                                 "spam": label_names[1]}),
                        "v2": rows["text"]})
    out = pd.concat([out, out.head(5)])  # five exact duplicates
    out.to_csv(path, index=False)
    return path


def test_import_list_info_and_idempotent_reimport(spamops: Cli, data_home: Path,
                                                  tmp_path: Path,
                                                  uci_frame: pd.DataFrame) -> None:
    source = labelled_file(tmp_path / "mine.csv", uci_frame, ham=300, spam=80)
    first = spamops("data", "import", str(source), "--name", "mine", "--json")
    assert first.code == 0, first.err
    record = first.json()
    assert record["created"] and record["messages"] == 380 and record["spam"] == 80
    assert record["duplicates_removed"] == 5 and record["rows_read"] == 385
    assert record["label_counts"]["Smishing"] >= 80
    assert sum(record["label_counts"].values()) == 385
    assert (record["text_column"], record["label_column"]) == ("v2", "v1")
    assert "text column `v2`, label column `v1`" in first.err
    assert (data_home / "datasets" / "mine" / "messages.parquet").exists()
    again = spamops("data", "import", str(source), "--name", "mine")
    assert again.code == 0 and "nothing changed" in again.out
    listed = spamops("data", "list").out
    assert "mine" in listed and record["fingerprint"][:16] in listed
    info = spamops("data", "info", "mine").out
    assert record["fingerprint"] in info and "Smishing" in info and str(source) in info


def test_other_content_under_a_used_name_is_refused(spamops: Cli, data_home: Path,
                                                    tmp_path: Path,
                                                    uci_frame: pd.DataFrame) -> None:
    spamops("data", "import", str(labelled_file(tmp_path / "a.csv", uci_frame, ham=100,
                                                spam=60)), "--name", "mine")
    other = labelled_file(tmp_path / "b.csv", uci_frame, ham=100, spam=60, offset=200)
    refused = spamops("data", "import", str(other), "--name", "mine")
    assert refused.code != 0 and "already holds other messages" in refused.err
    assert len(refused.err.strip().splitlines()) == 2  # the read summary and the error


@pytest.mark.parametrize(("ham", "spam", "label_names", "problem"), [
    (300, 30, ("ham", "spam"), "has 300 ham and 30 spam messages; a model needs at least 50"),
    (100, 60, ("ham", "promo"), "'promo' (60)"),
])
def test_failed_import_writes_nothing(spamops: Cli, data_home: Path, tmp_path: Path,
                                      uci_frame: pd.DataFrame, ham: int, spam: int,
                                      label_names: tuple[str, str], problem: str) -> None:
    source = labelled_file(tmp_path / "few.csv", uci_frame, ham=ham, spam=spam,
                           label_names=label_names)
    result = spamops("data", "import", str(source), "--name", "few")
    assert result.code != 0 and problem in result.err
    assert result.err.strip().splitlines()[-1].startswith("error: ")
    datasets = data_home / "datasets"
    assert not datasets.exists() or not any(datasets.iterdir())


def test_train_on_datasets_records_lineage_and_persists_each_split(
        spamops: Cli, data_home: Path, tmp_path: Path, uci_frame: pd.DataFrame) -> None:
    spamops("data", "import", str(labelled_file(tmp_path / "a.csv", uci_frame, ham=200,
                                                spam=60)), "--name", "a")
    # b shares 100 ham messages with a: the combination removes them
    spamops("data", "import", str(labelled_file(tmp_path / "b.csv", uci_frame, ham=200,
                                                spam=60, offset=100)), "--name", "b")
    trained = spamops("train", "--dataset", "a", "--json")
    assert trained.code == 0, trained.err
    one = trained.json()
    assert one["datasets"] == "a" and one["n_train"] + one["n_test"] == 260
    both = spamops("train", "--dataset", "a", "--dataset", "b", "--json").json()
    assert both["datasets"] == "a,b" and both["n_train"] + both["n_test"] == 420
    assert len(list((data_home / "datasets" / "splits").glob("*.parquet"))) == 2
    services = Services(load_settings())
    try:
        infos = services.models()
        names = {v.version: lineage_datasets(v.tags)[0] for v in infos}
        assert names == {one["version"]: ["a"], both["version"]: ["a", "b"]}
        again = services.datasets.split(["a", "b"])
        assert again.n_test == both["n_test"]  # read back, not re-made
        frame = versions_frame(infos)
        assert frame.iloc[0]["dataset"].startswith("a:") and ",b:" in frame.iloc[0]["dataset"]
    finally:
        services.close()
    table = spamops("models").out
    assert "datasets" in table.splitlines()[0] and ",b:" in table
    missing = spamops("train", "--dataset", "nope")
    assert missing.code != 0 and "no dataset named 'nope'" in missing.err


def test_a_retrain_trains_and_compares_on_the_champions_split(
        data_home: Path, tmp_path: Path, uci_frame: pd.DataFrame,
        spamops: Cli) -> None:
    spamops("data", "import", str(labelled_file(tmp_path / "a.csv", uci_frame, ham=250,
                                                spam=80)), "--name", "small")
    services = Services(load_settings())
    try:
        outcome = services.train(trigger="test", datasets=["small"])
        champion_split = services.datasets.split(["small"])
        result = services.retrain(trigger="test")
        assert result.event.status == "completed", result.event.reasoning
        challenger = services.registry.version(result.deployment.challenger_version or 0)
        assert lineage_datasets(challenger.tags)[0] == ["small"]
        assert result.deployment.comparison is not None
        test_set = result.deployment.comparison.get("test_split")
        assert test_set is not None and test_set.n == champion_split.n_test
        assert outcome.result.n_test == champion_split.n_test
    finally:
        services.close()


def test_data_list_json_includes_uci_once_fetched(spamops: Cli) -> None:
    assert spamops("data", "list", "--json").json() == []
    spamops("data", "fetch")
    listed = spamops("data", "list", "--json").json()
    assert [d["name"] for d in listed] == ["uci"] and listed[0]["messages"] > 5000
    assert json.loads(spamops("data", "info", "--json").out)["ham"] > 4000


@pytest.mark.parametrize("args", [["data", "import"], ["data", "list"], ["data", "info"],
                                  ["replay"], ["feedback", "import"], ["feedback"]])
def test_every_new_command_has_help(args: list[str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, *args, "--help")
    assert result.code == 0 and "Usage:" in result.out


def test_label_map_and_columns_from_the_command_line(spamops: Cli, tmp_path: Path,
                                                     uci_frame: pd.DataFrame) -> None:
    source = labelled_file(tmp_path / "promo.csv", uci_frame, ham=100, spam=60,
                           label_names=("legit", "promo"))
    refused = spamops("data", "import", str(source), "--name", "promo")
    assert refused.code != 0 and "'promo' (6" in refused.err
    done = spamops("data", "import", str(source), "--name", "promo", "--label-map",
                   "PROMO=spam", "--text-column", "V2", "--label-column", "v1", "--json")
    assert done.code == 0, done.err
    assert (done.json()["ham"], done.json()["spam"]) == (100, 60)
