#!/usr/bin/env python3
"""Deterministic benchmark state changes for `make bench`, as COPY binary on stdout.

    bench-generate.py INSTANCES MONTH_START MONTH:PER_INSTANCE ...

MONTH_START is the first instant of the benchmark month in the billing zone's local time
with its offset (2026-10-01T00:00:00+09:00 for October in Seoul); months are counted in
that local time, so each generated month is exactly a billing period. Each MONTH:PER_INSTANCE is a month offset from it (-12 .. 1) and the
number of changes each instance gets in that month. Months are written in the order
given, each in time order, as a control plane inserts them. Every instance cycles
through known states (no anomalies); instance i's changes are offset inside their slot
by a hash of i so that instances do not change state at the same instant.

Columns: instance_id, state, changed_at, recorded_at (event_id is the table's identity),
in COPY's binary format (`COPY ... FROM STDIN (FORMAT binary)`): timestamps as int8
microseconds since 2000-01-01, so the server parses no text (tens of millions of rows).
Integer arithmetic only: the same arguments give the same bytes.
"""
import calendar
import datetime
import struct
import sys

STATES = ["active", "powering-off", "stopped", "powering-on", "active", "rebooting_hard",
          "rebooting_started_hard", "active", "error", "active"]
US = 1_000_000


def shift_months(t: datetime.datetime, months: int) -> datetime.datetime:
    """PostgreSQL's `t + n months`: same day and time, clamped to the month's last day."""
    m = t.month - 1 + months
    year, month = t.year + m // 12, m % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def micros(t: datetime.datetime) -> int:
    """Microseconds since the epoch of an aware local time."""
    return (calendar.timegm(t.utctimetuple())) * US


def main() -> None:
    instances = int(sys.argv[1])
    start = datetime.datetime.fromisoformat(sys.argv[2])
    if start.tzinfo is None:
        sys.exit("MONTH_START needs an offset, such as 2026-10-01T00:00:00+09:00")
    months = [tuple(int(x) for x in a.split(":")) for a in sys.argv[3:]]
    # Each row: 4 fields; the instance id and state as text, the two instants as int8.
    prefixes = [struct.pack(">hi", 4, len(b)) + b for b in (("i-%07d" % i).encode() for i in range(instances))]
    spread = [(i * 2654435761) % 1000003 for i in range(instances)]
    times = struct.Struct(">iqiq")
    pg_epoch = 946_684_800 * US  # 2000-01-01, PostgreSQL's epoch
    out = sys.stdout.buffer
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    for offset, n in months:
        m0 = micros(shift_months(start, offset))
        length = micros(shift_months(start, offset + 1)) - m0
        for k in range(n):
            base = m0 + length * k // n - pg_epoch
            state = STATES[k % 10].encode()
            state = struct.pack(">i", len(state)) + state
            step = n * 1000003
            out.write(b"".join([prefixes[i] + state + times.pack(8, t, 8, t + US)
                                for i, t in ((i, base + spread[i] * length // step) for i in range(instances))]))
    out.write(struct.pack(">h", -1))


if __name__ == "__main__":
    main()
