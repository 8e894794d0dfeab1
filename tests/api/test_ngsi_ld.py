"""NGSI-LD entities against the FIWARE Smart Data Models: every required attribute, the
normalized representation, the models' vocabularies, ``@context`` in the body or a ``Link``."""

from __future__ import annotations

from typing import Any

import httpx

from api.ngsi_ld.entities import CORE_CONTEXT, ENVIRONMENT_CONTEXT, PARKING_CONTEXT

# Required attributes: each model's schema.json ("required"), smart-data-models on GitHub:
# dataModel.Parking at d49af3c0 (2024-10-31), dataModel.Environment at f0150e5c (2026-06-27).
# OnStreetParking's schema requires only id, type and location; its specification's text also
# makes these mandatory (domain.md §5.3), so they are required here too.
REQUIRED = {
    "ParkingSpot": {"id", "type", "location", "status", "category", "refParkingSite"},
    "OnStreetParking": {
        "id",
        "type",
        "location",
        "category",
        "allowedVehicleType",
        "requiredPermit",
        "permitActiveHours",
        "chargeType",
        "occupancyDetectionType",
    },
    "AirQualityObserved": {"id", "type", "dateObserved", "location"},
}
CONTEXTS = {
    "ParkingSpot": [PARKING_CONTEXT, CORE_CONTEXT],
    "OnStreetParking": [PARKING_CONTEXT, CORE_CONTEXT],
    "AirQualityObserved": [ENVIRONMENT_CONTEXT, CORE_CONTEXT],
}
ON_STREET_CATEGORY = {
    "blueZone",
    "feeCharged",
    "forDisabled",
    "forElectricalCharging",
    "forLoadUnload",
    "forResidents",
    "free",
    "greenZone",
    "mediumTerm",
    "onlyWithPermit",
    "shortTerm",
    "taxiStop",
}


def _normalized(entity: dict[str, Any]) -> None:
    """Every attribute is a Property (value), GeoProperty (GeoJSON value) or Relationship."""
    for name, attribute in entity.items():
        if name in ("id", "type", "@context"):
            continue
        kind = attribute["type"]
        assert kind in ("Property", "GeoProperty", "Relationship"), name
        if kind == "Relationship":
            targets = attribute["object"]
            for target in targets if isinstance(targets, list) else [targets]:
                assert target.startswith("urn:ngsi-ld:"), name
        else:
            assert "value" in attribute, name
        if kind == "GeoProperty":
            assert attribute["value"]["type"] in ("Point", "Polygon", "MultiPolygon", "MultiPoint")


async def _entities(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/ngsi-ld/v1/entities?type={kind}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ld+json"
    found = response.json()
    assert isinstance(found, list) and found
    for entity in found:
        assert entity["type"] == kind
        assert REQUIRED[kind] <= set(entity), REQUIRED[kind] - set(entity)
        assert entity["@context"] == CONTEXTS[kind]
        assert entity["id"].startswith(f"urn:ngsi-ld:{kind}:")
        _normalized(entity)
    return list(found)


async def test_parking_spots_and_their_sites(api_client: httpx.AsyncClient) -> None:
    spots = await _entities(api_client, "ParkingSpot")
    assert [s["id"] for s in spots] == [
        "urn:ngsi-ld:ParkingSpot:bay-1",
        "urn:ngsi-ld:ParkingSpot:bay-2",
    ]
    for spot in spots:
        assert spot["status"]["value"] in ("free", "occupied", "closed", "unknown")
        assert spot["category"]["value"] == ["onStreet"]
        assert spot["refParkingSite"]["object"] == "urn:ngsi-ld:OnStreetParking:pz-a1"
    assert spots[0]["location"]["value"] == {"type": "Point", "coordinates": [-0.159, 51.531]}
    (site,) = await _entities(api_client, "OnStreetParking")
    assert site["id"] == "urn:ngsi-ld:OnStreetParking:pz-a1"
    assert set(site["category"]["value"]) <= ON_STREET_CATEGORY
    assert site["category"]["value"] == ["forResidents"]  # bay-1 is a residents' bay
    assert site["occupancyDetectionType"]["value"] == ["singleSpaceDetection"]
    total, free = site["totalSpotNumber"]["value"], site["availableSpotNumber"]["value"]
    assert total == 2 and 0 <= free <= total
    assert sorted(site["refParkingSpot"]["object"]) == [s["id"] for s in spots]
    # The same counts as the API's own availability.
    own = (await api_client.get("/v1/parking/zones/pz-a1/availability")).json()
    assert (own["total"], own["free"]) == (total, free)


async def test_air_quality_observed(api_client: httpx.AsyncClient) -> None:
    observed = await _entities(api_client, "AirQualityObserved")
    assert [o["id"] for o in observed] == [
        f"urn:ngsi-ld:AirQualityObserved:aq-{i}" for i in (1, 2, 3)
    ]
    first = observed[0]
    assert first["dateObserved"]["value"]["@type"] == "DateTime"
    assert first["no2"]["unitCode"] == "GQ"  # microgram per cubic metre
    assert first["no2"]["observedAt"] == first["dateObserved"]["value"]["@value"]
    assert "pm25" not in first  # the monitor did not report it


async def test_json_links_the_context_and_one_entity_by_id(api_client: httpx.AsyncClient) -> None:
    plain = await api_client.get(
        "/v1/ngsi-ld/v1/entities?type=ParkingSpot&limit=1", headers={"Accept": "application/json"}
    )
    assert plain.headers["content-type"] == "application/json"
    assert ["@context" in e for e in plain.json()] == [False]
    links = plain.headers.get_list("link")
    assert (
        f'<{PARKING_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
        in links
    )
    assert any('rel="next"' in link and "offset=1" in link for link in links)
    one = await api_client.get("/v1/ngsi-ld/v1/entities/urn:ngsi-ld:ParkingSpot:bay-2")
    assert one.status_code == 200 and one.json()["id"] == "urn:ngsi-ld:ParkingSpot:bay-2"
    for missing in ("urn:ngsi-ld:ParkingSpot:aq-1", "urn:ngsi-ld:AirQualityObserved:nope"):
        assert (await api_client.get(f"/v1/ngsi-ld/v1/entities/{missing}")).status_code == 404
    assert (await api_client.get("/v1/ngsi-ld/v1/entities?type=Vehicle")).status_code == 422
