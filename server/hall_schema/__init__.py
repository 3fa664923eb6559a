"""The hall file's schema as typed pydantic models, one module per part of the file.

:mod:`.base` holds what every section shares (strict, unknown keys refused, every error
in hall words); :mod:`.fields` the field types the sections are written with; the sections
follow (:mod:`.hall_table`, :mod:`.counters`, :mod:`.staff`, :mod:`.rules`, :mod:`.sections`,
:mod:`.sms`), and :mod:`.hall_file` puts them together and builds the
:class:`~server.hall_model.Hall`. Adding a key to the file is one line in its model.
"""
