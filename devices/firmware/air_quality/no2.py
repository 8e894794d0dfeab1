"""NO2 from an electrochemical cell's conditioned output voltage.

``ppb = (mV - zero_mV) / sensitivity_mV_per_ppb`` with the zero offset and sensitivity from the
sensor's calibration sheet (the sensitivity is negative for NO2 on Alphasense B4 cells: the
working electrode reduces it). Converted at Defra's 20 °C and 1013 hPa: 1 ppb NO2 = 1.91 µg/m³.

This is a first approximation. Real cells drift with temperature and humidity and respond to
ozone, so a deployed node needs the auxiliary-electrode and temperature correction from the
manufacturer's application notes, and co-location against a reference analyser to fit the
zero and sensitivity (docs/firmware.md).
"""

UG_M3_PER_PPB = 1.91
MAX_TENTHS = 20000  # 2000 µg/m³, the contract's upper bound


def no2_tenths(millivolts, zero_mv, mv_per_ppb):
    """NO2 in tenths of µg/m³ (an int, rounded half up); negative results clamp to 0, since
    the platform rejects negative concentrations and they only mean noise around zero."""
    ug_m3 = (millivolts - zero_mv) / mv_per_ppb * UG_M3_PER_PPB
    if ug_m3 <= 0:
        return 0
    return min(MAX_TENTHS, int(ug_m3 * 10 + 0.5))
