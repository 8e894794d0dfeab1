"""``civicpulse dashboards push`` against a local HTTP server standing in for Grafana.

No Grafana server can be installed on the test machines (no package of it is reachable here), so
``tests/dashboards/grafana_server.py`` answers the few endpoints the push uses as Grafana's HTTP
API documents them, keeps what it is sent, and records every request.
"""

from __future__ import annotations

import json

from dashboards.build import rendered
from tests.cli_harness import civicpulse, one_clear_line
from tests.dashboards.grafana_server import FakeGrafana, fake_grafana


def _push(grafana: FakeGrafana, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {
        "CIVICPULSE_GRAFANA_URL": grafana.url,
        "CIVICPULSE_GRAFANA_TOKEN": token or grafana.token,
    }
    result = civicpulse("dashboards", "push", *args, env=env)
    return result.returncode, result.stdout, result.stderr


def test_push_creates_the_folder_and_dashboards_then_changes_nothing() -> None:
    expected = {json.loads(text)["uid"]: json.loads(text) for text in rendered().values()}
    with fake_grafana() as grafana:
        grafana.datasources = {"civicpulse-db"}
        code, out, err = _push(grafana)
        assert code == 0, err
        assert grafana.folders == {"civicpulse": {"uid": "civicpulse", "title": "CivicPulse"}}
        saves = grafana.saves()
        assert len(saves) == len(expected) == 6
        for save in saves:
            body = save.json()
            assert body["folderUid"] == "civicpulse" and body["overwrite"] is True
            sent = {k: v for k, v in body["dashboard"].items() if k != "id"}
            assert sent == expected[sent["uid"]]
            assert save.headers["Authorization"] == f"Bearer {grafana.token}"
        assert out.count("created") == 7  # the folder and six dashboards
        assert "no data source with uid 'civicpulse-prometheus'" in err
        assert "civicpulse-db'" not in err

        # Again: nothing to save, no new versions in Grafana's history.
        code, out, err = _push(grafana)
        assert code == 0, err
        assert len(grafana.saves()) == 6
        assert out.count("unchanged") == 7
        assert {d["version"] for d in grafana.dashboards.values()} == {1}

        # A dashboard changed in Grafana by hand is put back, and only that one.
        grafana.dashboards["civicpulse-city"]["dashboard"]["title"] = "edited"
        code, out, _ = _push(grafana)
        assert code == 0 and out.count("updated") == 1
        assert grafana.dashboards["civicpulse-city"]["version"] == 2
        assert (
            grafana.dashboards["civicpulse-city"]["dashboard"]["title"]
            == (expected["civicpulse-city"]["title"])
        )


def test_push_into_another_folder_moves_the_dashboards_there() -> None:
    with fake_grafana() as grafana:
        assert _push(grafana)[0] == 0
        code, out, err = _push(grafana, "--folder", "Council officers: city")
        assert code == 0, err
        assert grafana.folders["council-officers-city"]["title"] == "Council officers: city"
        assert {d["folderUid"] for d in grafana.dashboards.values()} == {"council-officers-city"}
        assert out.count("updated") == 6
        code, out, _ = _push(
            grafana, "--folder", "Renamed", "--folder-uid", "council-officers-city"
        )
        assert code == 0 and "renamed" in out and out.count("unchanged") == 6
        assert grafana.folders["council-officers-city"]["title"] == "Renamed"


def test_push_errors_are_one_clear_line() -> None:
    with fake_grafana() as grafana:
        result = civicpulse(
            "dashboards",
            "push",
            env={"CIVICPULSE_GRAFANA_URL": grafana.url, "CIVICPULSE_GRAFANA_TOKEN": "wrong"},
        )
        one_clear_line(result, 2, "CIVICPULSE_GRAFANA_TOKEN", "refused")
        assert grafana.dashboards == {}
    result = civicpulse("dashboards", "push", env={"CIVICPULSE_GRAFANA_URL": "http://x"})
    one_clear_line(result, 2, "CIVICPULSE_GRAFANA_TOKEN", "not set")
    result = civicpulse("dashboards", "push", env={"CIVICPULSE_GRAFANA_TOKEN": "t"})
    one_clear_line(result, 2, "CIVICPULSE_GRAFANA_URL", "not set")
    # Nothing listens on port 9 of the loopback address.
    result = civicpulse(
        "dashboards",
        "push",
        env={"CIVICPULSE_GRAFANA_URL": "http://127.0.0.1:9", "CIVICPULSE_GRAFANA_TOKEN": "t"},
    )
    one_clear_line(result, 1, "grafana:", "127.0.0.1:9")
