"""``civicpulse analytics nudges --deliver`` as a council runs it: reports reach residents by a
real SMTP server, a second run sends nothing twice, the trial's control arm gets none, and a
mistake in the command is one clear line."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, time
from pathlib import Path

from analytics.nudges import run_period
from delivery.channels import SmtpSender
from delivery.dispatch import LONDON, Dispatcher
from delivery.model import Contact
from delivery.nudges import deliver_period
from storage import energy
from storage.connection import Conn
from storage.delivery import set_preferences
from storage.energy import Programme
from tests.analytics.homes import city, last_month
from tests.cli_harness import CLI, civicpulse, one_clear_line
from tests.processes import Processes
from tests.smtp_server import smtp_server

PROGRAMME = Programme("home-energy-reports", "Home energy reports")


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


async def test_reports_held_for_quiet_hours_go_when_they_end(db: str, aconn: Conn) -> None:
    """A household asleep when reports go out gets its report at the end of its quiet hours,
    once; the report says when to deliver again."""
    period = last_month()
    await city(db, aconn, {f"m-{i:02d}": 6.0 + i for i in range(12)}, period)
    await energy.save_programme(aconn, PROGRAMME)
    await run_period(aconn, PROGRAMME, period)
    await set_preferences(aconn, "hh-m-03", quiet=(time(22, 0), time(7, 0)))
    contacts = {
        f"hh-m-{i:02d}": Contact(email=f"hh-m-{i:02d}@residents.example") for i in range(12)
    }
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 23:30 in London (GMT)
    with smtp_server() as inbox:
        dispatcher = Dispatcher({"email": SmtpSender(inbox.url, "reports@camden.example")})
        args = (aconn, dispatcher, PROGRAMME.programme_id, period.start, contacts)
        first = await deliver_period(*args, public_url="https://x.example", now=late)
        assert (first.sent, first.held) == ({"email": 11}, 1)
        assert first.next_attempt == datetime(2026, 12, 1, 7, 0, tzinfo=LONDON)
        assert "hh-m-03@residents.example" not in {m["To"] for m in inbox.messages}
        morning = await deliver_period(
            *args, public_url="https://x.example", now=datetime(2026, 12, 1, 7, 1, tzinfo=UTC)
        )
        assert (morning.sent, morning.held, morning.next_attempt) == ({"email": 1}, 0, None)
        assert [m["To"] for m in inbox.messages].count("hh-m-03@residents.example") == 1
        assert len(inbox.messages) == 12


async def test_the_scheduler_delivers_what_a_run_left_undelivered(
    db: str, aconn: Conn, tmp_path: Path, processes: Processes
) -> None:
    """Reports computed but not sent (a crash between the two, or quiet hours at a restart)
    go out when the scheduler starts, through the real command."""
    period = last_month()
    await city(db, aconn, {f"m-{i:02d}": 6.0 + i for i in range(12)}, period)
    await energy.save_programme(aconn, PROGRAMME)
    await run_period(aconn, PROGRAMME, period)
    contacts = _contacts(tmp_path / "contacts.csv", [f"hh-m-{i:02d}" for i in range(12)])
    with smtp_server() as inbox:
        env = {
            **os.environ,
            "CIVICPULSE_DATABASE_URL": db,
            "CIVICPULSE_SMTP_URL": inbox.url,
            "CIVICPULSE_CONTACTS_FILE": str(contacts),
            "CIVICPULSE_ANALYTICS_METRICS_PORT": "0",
        }
        scheduler = processes.start(
            [*CLI, "analytics", "schedule", "--day", "1", "--check-every", "3600"],
            env=env,
            log=tmp_path / "schedule.log",
        )
        deadline = asyncio.get_running_loop().time() + 60
        while len(inbox.messages) < 12:
            assert asyncio.get_running_loop().time() < deadline, (
                tmp_path / "schedule.log"
            ).read_text()
            await asyncio.sleep(0.1)
        scheduler.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(scheduler.wait, 30) == 0
        assert sorted(m["To"] for m in inbox.messages) == [
            f"hh-m-{i:02d}@residents.example" for i in range(12)
        ]
