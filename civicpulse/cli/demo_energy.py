"""The demo's home energy tour: last month's neighbour comparison for the simulated city's 2,000
households, one report as its resident reads it, one withheld, a household that withdraws its
consent, and the programme run as a trial whose known effect the estimator must find.

Everything goes the real way: the meter simulator's daily reads are published over MQTT and
stored by ingest (``demo_energy_city``); the comparison, delivery, assignment and estimate are
the library calls behind ``civicpulse analytics nudges --deliver``, ``analytics trial assign``
and ``analytics trial estimate``; the withdrawal is ``civicpulse devices withdraw``'s; the email
goes through SMTP to the demo's mail catcher.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from analytics.nudges import run_period
from analytics.trial import assign_households, estimate
from civicpulse.cli.demo_alerts import Publish
from civicpulse.cli.demo_energy_city import HOMES, Months, messages, register, stored
from civicpulse.cli.demo_energy_proof import withdrawal_tour
from civicpulse.embedded.mail import MailCatcher
from delivery.channels import SmtpSender
from delivery.dispatch import Dispatcher
from delivery.model import Contact
from delivery.nudges import deliver_period
from simulators.model import Treatment
from storage import energy, trials
from storage.connection import Conn, connect
from storage.energy import Programme
from storage.registry import withdraw_consent

ASSIGNMENT_SEED = 7
EFFECT = -0.03
_FUELS = {"gas": "gas", "electric": "electricity", "oil": "oil", "lpg": "LPG"}


async def energy_tour(
    database_url: str,
    publish: Publish,
    tag: str,
    mail: MailCatcher,
    *,
    public_url: str,
    months: Months | None = None,
) -> bool:
    """Run the tour; False (having said why) if something did not happen as it should.

    ``tag`` names this run's programme and households; ``months`` defaults to the last two.
    """
    months = months or Months.before(datetime.now(UTC).date())
    pre, post = months.pre, months.post
    began = time.perf_counter()
    print(
        f"\nhome energy reports: {HOMES:,} households of the simulated city send daily meter"
        f" reads for {pre.label()} and {post.label()}"
    )
    programme = Programme(f"{tag}-energy-reports", "Home energy reports", trial=True)
    devices = await register(database_url, months, tag)
    meters = {d.device_id for d in devices if d.device_type == "smart_meter"}
    try:
        await publish(await messages(months, devices, until=pre.end))
        if not await stored(database_url, months, pre.end, 120):
            return False
        async with await connect(database_url, autocommit=True) as conn:
            await energy.save_programme(conn, programme)
            households = [h for h in await energy.households(conn) if h.device_id in meters]
            # `analytics trial assign --baseline`: the split is made on the baseline's use.
            await assign_households(
                conn,
                programme,
                pre,
                seed=ASSIGNMENT_SEED,
                only={h.household_id for h in households},
            )
            arms = await energy.assignments(conn, programme.programme_id)
        treated = frozenset(h for h, (arm, _) in arms.items() if arm == "treatment")
        # `simulate --from-registry --treatment … --effect -0.03 --effect-from <post>`: the
        # simulator stands in for what the reports would do to the treatment arm's use.
        effect_from = datetime(post.start.year, post.start.month, post.start.day, tzinfo=UTC)
        await publish(
            await messages(
                months,
                devices,
                until=post.end,
                since=pre.end,
                treatment=Treatment(treated, start=effect_from.timestamp(), change=EFFECT),
            )
        )
        if not await stored(database_url, months, post.end, 120):
            return False
        print(
            f"  ingest stored {HOMES * months.days(post.end):,} daily reads"
            f" (and the weather station's hours) in {time.perf_counter() - began:.0f} s"
        )
        async with (
            await connect(database_url, autocommit=True) as conn,
            await connect(database_url, autocommit=True) as reader,
        ):
            ok = await _reports(conn, reader, programme, months, meters, mail, public_url, tag)
            ok = ok and await _trial(conn, programme, months, len(treated))
            ok = ok and await withdrawal_tour(conn, reader, programme, months.post, meters)
    finally:
        # The tour's households leave at its end (their reports stay stored): a later
        # `civicpulse analytics nudges`, or next month's demo, is not haunted by them.
        async with await connect(database_url, autocommit=True) as conn:
            await withdraw_consent(conn, sorted(meters))
    print(f"  (the energy tour took {time.perf_counter() - began:.0f} s)")
    return ok


async def _reports(
    conn: Conn,
    reader: Conn,
    programme: Programme,
    months: Months,
    meters: set[str],
    mail: MailCatcher,
    public_url: str,
    tag: str,
) -> bool:
    """`analytics nudges --period <post> --deliver`, with one household's email address."""
    post = months.post
    await run_period(conn, programme, post, readers=[reader])
    everyone = await energy.nudges(conn, programme.programme_id, period_start=post.start)
    rows = [r for r in everyone if r["device_id"] in meters]
    ready = [r for r in rows if r["status"] == "ready"]
    withheld = [r for r in rows if r["status"] != "ready"]
    ratings = Counter(str(r["rating"]) for r in ready)
    print(
        f"  {post.label()} compared: {len(ready):,} of {len(rows):,} households nudged"
        f" ({ratings['great']} great, {ratings['good']} good,"
        f" {ratings['above_average']} above average), {len(withheld)} withheld"
    )
    reasons = Counter(str(r["withheld_reason"]).split(":")[0] for r in withheld)
    for reason, count in sorted(reasons.items()):
        print(f"    withheld: {reason}: {count}")
    others = Counter(
        str(r["withheld_reason"] or r["status"]).split(":")[0]
        for r in everyone
        if r["device_id"] not in meters
    )
    if others:
        # Every consenting household in the database is compared: the pipeline's meters too.
        print(
            f"  (the run also compared the {others.total()} other households registered with"
            " consent, such as the pipeline's meters above: "
            + ", ".join(f"{reason} {n}" for reason, n in sorted(others.items()))
            + ")"
        )
    arms = await energy.assignments(conn, programme.programme_id)
    treated = sorted(
        (r for r in ready if arms.get(r["household_id"], ("", ""))[0] == "treatment"),
        key=lambda r: (-len(r["figures"].get("suggestions", [])), r["household_id"]),
    )
    lonely = next(
        (r for r in withheld if str(r["withheld_reason"]).startswith("too few similar homes")),
        None,
    )
    if not treated or lonely is None:
        print("  no report to deliver, or none withheld for too few similar homes")
        return False
    resident = f"home-{tag}@example.org"
    # The council's contact list (CIVICPULSE_CONTACTS_FILE) has one address in the demo.
    delivered = await deliver_period(
        conn,
        Dispatcher({"email": SmtpSender(mail.url, "Camden home energy <energy@civicpulse.demo>")}),
        programme.programme_id,
        post.start,
        {treated[0]["household_id"]: Contact(email=resident)},
        public_url=public_url,
        now=datetime.now(UTC),
    )
    control = delivered.skipped.pop("control group", 0)
    print(
        f"  delivered: {delivered.sent.get('email', 0)} by email; the control arm's {control}"
        " get none (the trial measures what the reports change); the demo's contact list"
        f" has one address: not sent, no contact on record: {sum(delivered.skipped.values())}"
    )
    received = mail.to(resident)
    if len(received) != 1:
        print(f"  the resident's email did not arrive ({len(received)} at {resident})")
        return False
    print(f"  the report, as {resident} reads it (caught by the local SMTP server):")
    _show(received[0], 12)
    home = next(h for h in await energy.households(conn) if h.device_id == lonely["device_id"])
    print(
        f"  withheld for {home.household_id}, a {home.property_type} of {home.floor_area_band} m²"
        f" heated by {_FUELS.get(str(home.heating_fuel), 'another fuel')}:"
        f" {lonely['withheld_reason']}"
    )
    return True


def _show(message: Any, lines: int) -> None:
    print(f"    To: {message['To']}")
    print(f"    Subject: {message['Subject']}")
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    for line in [t for t in text.splitlines() if t.strip()][:lines]:
        print(f"    | {line}")


async def _trial(conn: Conn, programme: Programme, months: Months, treated: int) -> bool:
    """`analytics trial estimate --pre <pre> --post <post>`, and whether it finds the effect."""
    pre, post = months.pre, months.post
    found = await estimate(conn, programme, pre, post)
    await trials.save_estimate(
        conn,
        programme.programme_id,
        pre=(pre.start, pre.end),
        post=(post.start, post.end),
        households=found.households,
        programme=found.programme,
        zones={str(zone): effect for zone, effect in found.zones.items()},
    )
    effect = found.programme
    print(
        f"  trial: {treated:,} households assigned to treatment, {found.households - treated:,}"
        f" to control (stratified on {pre.label()}'s use, seed {ASSIGNMENT_SEED});"
        f" the simulator made the treatment arm use {EFFECT:+.1%} from {post.start:%-d %B}"
    )
    if effect is None:
        print("  the trial has too few households in an arm")
        return False
    low, high = effect.relative_ci
    covered = low <= EFFECT <= high
    print(
        f"  estimate (difference in differences on weather-normalised use; {effect.treated:,}"
        f" treated and {effect.control:,} control households with daily data, the"
        f" {effect.excluded} with monthly consent have none to normalise):"
        f" {effect.relative:+.1%} (95% CI {low:+.1%} to {high:+.1%})"
    )
    print(
        f"  the interval {'covers' if covered else 'MISSES'} the injected {EFFECT:+.1%}"
        + (
            f", and excludes zero: the saving is detected (p = {effect.p_value:.1g})"
            if covered and high < 0
            else ""
        )
    )
    return covered
