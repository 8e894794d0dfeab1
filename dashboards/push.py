"""Send the dashboards to a running Grafana through its HTTP API (``civicpulse dashboards push``).

Idempotent and folder-aware: the folder is made (or renamed) first, every dashboard is saved into
it by uid, and one that Grafana already holds unchanged in that folder is not saved again, so a
second push changes nothing and adds no version to Grafana's history. The folder uid is always
sent (without it Grafana files a dashboard under "General").

Speaks to Grafana with httpx (already a dependency) rather than grafana-client: grafana-client's
HTTP stack (niquests) brings urllib3-future, which replaces the ``urllib3`` package in the whole
environment every time Python starts; the five calls needed here do not justify that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from civicpulse.errors import CivicPulseError, ConfigError
from dashboards.model import DATABASE_UID, PROMETHEUS_UID

Outcome = Literal["created", "updated", "unchanged"]
_VOLATILE = ("id", "version")
"""What Grafana sets on its copy: not part of the comparison."""


class GrafanaError(CivicPulseError):
    """Grafana could not be reached or refused a request (exit 1: a service failed)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"grafana: {detail}")
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Pushed:
    uid: str
    title: str
    outcome: Outcome
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    folder_uid: str
    folder: Literal["created", "renamed", "unchanged"]
    dashboards: tuple[Pushed, ...]
    missing_datasources: tuple[str, ...]
    """Data source uids the dashboards use that this Grafana does not have."""


def folder_uid(title: str) -> str:
    """A folder's uid from its title: lower case, dashes, at most 40 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    if not slug:
        raise ConfigError("--folder", f"{title!r} has no letters or digits to make a uid of")
    return slug


class _Grafana:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise GrafanaError(f"{method} {self._client.base_url}{path}: {error}") from None
        if response.status_code in (401, 403):
            raise ConfigError(
                "CIVICPULSE_GRAFANA_TOKEN",
                f"Grafana refused it ({response.status_code} on {method} {path}); use a service"
                " account token with the Editor role (Admin to create folders)",
            )
        if response.status_code >= 400 and response.status_code != 404:
            raise GrafanaError(
                f"{method} {path} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            payload = response.json() if response.content else None
        except ValueError:
            raise GrafanaError(f"{method} {path} did not answer JSON") from None
        return response.status_code, payload


def _folder(api: _Grafana, uid: str, title: str) -> Literal["created", "renamed", "unchanged"]:
    status, found = api.call("GET", f"/api/folders/{uid}")
    if status == 404:
        api.call("POST", "/api/folders", {"uid": uid, "title": title})
        return "created"
    if isinstance(found, dict) and found.get("title") != title:
        api.call("PUT", f"/api/folders/{uid}", {"title": title, "overwrite": True})
        return "renamed"
    return "unchanged"


def _comparable(model: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in _VOLATILE}


def _dashboard(api: _Grafana, model: dict[str, Any], folder: str) -> Pushed:
    uid, title = str(model["uid"]), str(model.get("title", ""))
    status, found = api.call("GET", f"/api/dashboards/uid/{uid}")
    if status != 404 and isinstance(found, dict):
        same_folder = (found.get("meta") or {}).get("folderUid") == folder
        if same_folder and _comparable(found.get("dashboard") or {}) == _comparable(model):
            return Pushed(uid, title, "unchanged", (found.get("meta") or {}).get("url"))
    _, saved = api.call(
        "POST",
        "/api/dashboards/db",
        {
            "dashboard": {**model, "id": None},
            "folderUid": folder,
            "overwrite": True,
            "message": "civicpulse dashboards push",
        },
    )
    url = saved.get("url") if isinstance(saved, dict) else None
    return Pushed(uid, title, "created" if status == 404 else "updated", url)


def push(
    url: str,
    token: str,
    models: Sequence[dict[str, Any]],
    *,
    folder_title: str,
    folder: str | None = None,
    timeout: float = 30.0,
) -> Report:
    """Save ``models`` (dashboard JSON) into the folder ``folder_title`` of the Grafana at
    ``url``, authenticating with a service account ``token``."""
    uid = folder or folder_uid(folder_title)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as client:
        api = _Grafana(client)
        made = _folder(api, uid, folder_title)
        pushed = tuple(_dashboard(api, model, uid) for model in models)
        missing = tuple(
            ds
            for ds in (DATABASE_UID, PROMETHEUS_UID)
            if api.call("GET", f"/api/datasources/uid/{ds}")[0] == 404
        )
    return Report(uid, made, pushed, missing)
