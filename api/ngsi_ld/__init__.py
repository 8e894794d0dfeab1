"""NGSI-LD representations of the FIWARE Smart Data Models the API serves (``entities``)."""
