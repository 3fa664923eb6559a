"""Manager-facing pages: the admin page and the rating pad (评价器).

* ``templates/admin.html`` — ``/admin/{hall}``: live board, reports with charts,
  bad ratings, notice line, hall file (admin login).
* ``templates/rate.html`` — ``/rate/{hall}/{window}``: the tablet facing the
  visitor at a window; shows the five levels after each completion there.
* ``static/`` — served at ``/static/admin/``: ``admin.js``, ``rate.js``,
  ``charts.js`` (inline-SVG bar charts), ``admin.css``, ``rate.css``.

The pages hold no logic the server relies on; the figures come from
``server.stats`` through ``GET /api/halls/{hall}/stats``.
"""
