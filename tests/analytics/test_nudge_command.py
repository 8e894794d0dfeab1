"""``civicpulse analytics nudges --deliver`` as a council runs it: reports reach residents by a
real SMTP server, a second run sends nothing twice, the trial's control arm gets none, and a
mistake in the command is one clear line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage import energy
from storage.connection import Conn
from tests.analytics.homes import city, last_month
from tests.cli_harness import civicpulse, one_clear_line
from tests.smtp_server import smtp_server


def _contacts(path: Path, households: list[str]) -> Path:
    lines = ["household_id,email,phone,address,ihd_topic"]
    lines += [f"{h},{h}@residents.example,,," for h in households]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_reports_reach_residents_once(db: str, aconn: Conn, tmp_path: Path) -> None:
    period = last_month()
    month = f"{period.start:%Y-%m}"
    daily_kwh = {f"m-{i:02d}": 6.0 + i for i in range(12)}
    await city(db, aconn, daily_kwh, period)
    with_email = [f"hh-m-{i:02d}" for i in range(10)]  # two households have no address on file
    contacts = _contacts(tmp_path / "contacts.csv", with_email)
    with smtp_server() as inbox:
        env = {
            "CIVICPULSE_DATABASE_URL": db,
            "CIVICPULSE_SMTP_URL": inbox.url,
            "CIVICPULSE_CONTACTS_FILE": str(contacts),
            "CIVICPULSE_PUBLIC_URL": "https://civicpulse.camden.example",
        }
        args = ("analytics", "nudges", "--period", month, "--deliver")
        first = await asyncio.to_thread(civicpulse, *args, env=env)
        assert first.returncode == 0, first.stderr
        assert "13 households, 12 compared" in first.stdout
        assert "too few similar homes: 1" in first.stdout
        assert "delivered: 10 by email" in first.stdout
        assert sorted(m["To"] for m in inbox.messages) == [
            f"{h}@residents.example" for h in with_email
        ]
        best = inbox.to("hh-m-00@residents.example")[0]
        assert best["Subject"] == f"Your home energy report for {period.label()}"
        body = best.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        assert "Great: you used less than your efficient neighbours" in text
        assert f"Your home used {6 * period.days:,} kWh." in text
        assert "https://civicpulse.camden.example/residents/" in text
        assert "hh-m-01" not in text  # no other household is ever named

        # The same command again (a retry after a crash, say): nobody hears twice.
        again = await asyncio.to_thread(civicpulse, *args, env=env)
        assert again.returncode == 0, again.stderr
        assert "delivered: none" in again.stdout
        assert len(inbox.messages) == 10

        # A trial: households are split; only the treatment arm is sent the next reports.
        await aconn.execute("DELETE FROM deliveries")
        inbox.messages.clear()
        assign = await asyncio.to_thread(
            civicpulse,
            "analytics",
            "trial",
            "assign",
            "--baseline",
            month,
            "--seed",
            "7",
            env=env,
        )
        assert assign.returncode == 0, assign.stderr
        arms = await energy.assignments(aconn, "home-energy-reports")
        treated = {h for h, (arm, _) in arms.items() if arm == "treatment"}
        control = {h for h, (arm, _) in arms.items() if arm == "control"}
        assert treated and control and treated | control >= set(with_email)
        trial = await asyncio.to_thread(civicpulse, *args, env=env)
        assert trial.returncode == 0, trial.stderr
        got = {str(m["To"]).split("@")[0] for m in inbox.messages}
        assert got == treated & set(with_email)
        compared = {f"hh-{d}" for d in daily_kwh}
        assert f"not sent: control group: {len(control & compared)}" in trial.stdout


def test_mistakes_are_one_clear_line(db: str) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    one_clear_line(
        civicpulse("analytics", "nudges", "--period", "October", env=env),
        2,
        "--period",
        "expected a month like 2026-10",
    )
    one_clear_line(
        civicpulse("analytics", "nudges", "--period", "2999-01", env=env),
        2,
        "--period",
        "has not ended yet",
    )
    one_clear_line(
        civicpulse(
            "analytics",
            "trial",
            "estimate",
            "--programme",
            "nope",
            "--pre",
            "2026-01",
            "--post",
            "2026-02",
            env=env,
        ),
        2,
        "no programme 'nope'",
    )
