"""``civicpulse dashboards build|check|push``: the officers' Grafana dashboards (docs/dashboards.md)."""

from __future__ import annotations

import argparse
import json
import sys

from civicpulse.errors import ConfigError, UsageError
from civicpulse.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tasks = sub.add_parser(
        "dashboards", help="the Grafana dashboards: build the JSON, push to a Grafana"
    ).add_subparsers(metavar="task")
    p = tasks.add_parser("build", help="write dashboards/json/*.json from the code")
    p.set_defaults(run=_build)
    p = tasks.add_parser("check", help="fail if dashboards/json/ differs from the code")
    p.set_defaults(run=_check)
    p = tasks.add_parser(
        "push", help="save the dashboards into a folder of the Grafana at CIVICPULSE_GRAFANA_URL"
    )
    p.add_argument("--folder", default="CivicPulse", help="folder title (default CivicPulse)")
    p.add_argument("--folder-uid", help="folder uid (default: made from the title)")
    p.set_defaults(run=_push)


def _build(_settings: Settings, _args: argparse.Namespace) -> int:
    from dashboards.build import JSON_DIR, write

    changed = write()
    for name in changed:
        print(f"wrote {JSON_DIR.name}/{name}")
    print(f"{len(changed)} changed" if changed else "dashboards are up to date")
    return 0


def _check(_settings: Settings, _args: argparse.Namespace) -> int:
    from dashboards.build import drift

    stale = drift()
    if stale:
        raise UsageError(
            "dashboards/json",
            f"{', '.join(stale)} differ from the code; run `civicpulse dashboards build`",
        )
    print("dashboards are up to date")
    return 0


def _push(settings: Settings, args: argparse.Namespace) -> int:
    from dashboards.build import rendered
    from dashboards.push import push

    if not settings.grafana_url:
        raise ConfigError("CIVICPULSE_GRAFANA_URL", "not set (Grafana's address, http://…:3000)")
    if not settings.grafana_token:
        raise ConfigError(
            "CIVICPULSE_GRAFANA_TOKEN", "not set (a Grafana service account token, role Editor)"
        )
    models = [json.loads(text) for text in rendered().values()]
    report = push(
        settings.grafana_url,
        settings.grafana_token,
        models,
        folder_title=args.folder,
        folder=args.folder_uid,
    )
    print(f"folder {args.folder!r} ({report.folder_uid}): {report.folder}")
    for pushed in report.dashboards:
        print(f"{pushed.outcome:9} {pushed.title} ({pushed.uid})")
    for uid in report.missing_datasources:
        print(
            f"civicpulse: warning: Grafana has no data source with uid {uid!r}; the dashboards"
            " need it (docs/dashboards.md)",
            file=sys.stderr,
        )
    return 0
