"""Date formats of the admin: times with seconds and their zone (TIME_ZONE), e.g. "2 Dec 2026, 10:15:03 EAT"."""

DATETIME_FORMAT = "j M Y, H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s T"
