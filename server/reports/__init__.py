"""The work diary's numbers: one user's day in 10-minute slots, per-user-per-day totals, team today, CSV.

Every aggregate is a GROUP BY in SQL; Python only sees one row per slot or per user-day, never
the minutes. The diary (:mod:`server.reports.diary`) reads ``activity_samples`` (through the
UNIQUE (user_id, minute_start) index); ranges of whole days (:mod:`server.reports.days`,
:mod:`server.reports.team`) read ``activity_rollups``, the 15-minute sums
``activity_data.upsert_activity`` keeps, a fifteenth of the rows (issue 6). Days are local days of
a zone (:mod:`server.reports.zones`), so a DST day has 23 or 25 hours: the days' UTC bounds come
from :func:`time_manager.local_day_bounds` and go into one range query per zone as a CASE that
numbers the day, which works alike on SQLite and PostgreSQL. :mod:`server.reports.tallies` holds
the sums all of them share, :mod:`server.reports.csv_export` writes them as CSV.

Definitions (shown on the pages too):
    tracked time      minutes labelled ``tracking`` or ``idle_kept`` (idle the person counted as
                      work, with 0 activity); idle, paused and suspended minutes are not tracked
    activity %        active seconds / tracked seconds (a full slot: active seconds / 600)
    slot state        ``gap`` when no minute of the slot was reported (missing data is not zero
                      activity); otherwise ``tracking`` if any minute was, else the most frequent
                      of ``idle_kept``, ``idle``, ``paused``, ``suspended``
"""
