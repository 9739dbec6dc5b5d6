"""The README's examples match a real run (issue 18): `make test` fails when one goes stale.

The real runs and the comparison are ``scripts/readme_examples.py`` (which also rewrites the
blocks with ``--write``); these tests load it and run it on a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.readme_demo import ReadmeDemo, readme_script

REPO = Path(__file__).resolve().parents[2]
ex = readme_script()
README = (REPO / "README.md").read_text(encoding="utf-8")
NAMES = ["demo-table", "monitor-log", "api-open", "api-keyed"]


def test_the_readme_marks_every_generated_example() -> None:
    assert sorted(ex.blocks(README)) == sorted(NAMES)


def test_normalising_keeps_what_must_match_and_numbers_ids_consistently() -> None:
    a = ('{"prediction_id":"8c27da42731d4250bb9ee7d6c600e4c2","label":"spam"}\n'
         '{"prediction_id":"8c27da42731d4250bb9ee7d6c600e4c2","received_at":'
         '"2026-11-27T06:25:31.148077Z","actor":"api:1a2b3c4d","uptime_seconds":20.7}')
    b = a.replace("8c27da42731d4250bb9ee7d6c600e4c2", "0" * 31 + "1").replace(
        "06:25:31.148077", "09:00:00.5").replace("1a2b3c4d", "ffffffff").replace("20.7", "3")
    assert ex.normalise(a) == ex.normalise(b)
    second = b.rindex("0" * 31 + "1")  # the feedback names another prediction than predict
    other_id_reused = b[:second] + "2" * 32 + b[second + 32:]
    assert ex.normalise(a) != ex.normalise(other_id_reused)
    assert ex.normalise(a) != ex.normalise(a.replace('"spam"', '"ham"'))


def test_a_console_block_parses_into_commands_and_outputs() -> None:
    steps = ex.parse_session(ex.blocks(README)["api-open"])
    assert steps[0].command.startswith("curl -s localhost:8000/predict")
    assert "\\\n" in steps[0].command and steps[0].output.startswith('{"prediction_id"')
    assert ex.render_session(steps) == ex.blocks(README)["api-open"]


def test_the_log_excerpt_must_appear_in_order() -> None:
    log = ["[t] Drift metrics: a", "[t] other", "[t] Decision: b", "[t] Deployment decision: c"]
    assert ex.log_mismatch("[t] Drift metrics: a\n[t] Decision: b", log) is None
    assert ex.log_mismatch("[t] Decision: b\n[t] Drift metrics: a", log) == "[t] Drift metrics: a"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, readme_demo: ReadmeDemo) -> dict[str, str]:
    """Every block as a real run prints it now (the session's demo run, a trained home, live
    API servers)."""
    return ex.fresh_outputs(  # type: ignore[no-any-return]
        README, tmp_path_factory.mktemp("readme"), demo=readme_demo.run)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", NAMES)
def test_readme_example_matches_a_real_run(fresh: dict[str, str], name: str) -> None:
    stale = ex.stale_blocks(README, {name: fresh[name]}, {name})
    assert not stale, (f"README block {name!r} no longer matches a real run "
                       f"(`python scripts/readme_examples.py --write` regenerates it):\n"
                       + stale[name])
