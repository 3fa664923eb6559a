"""No manager's change strands a visitor: the check every overlay change passes before it is
written (:mod:`server.staff_api`, :mod:`server.hall_api`).

The live queue is asked, in one read-only script (the dry run of ``lua/orphans.lua``, as
``check-config --against`` runs it), what the changed hall could no longer serve:

- an open ticket with a service taken away, that no remaining window serves, or in hand at
  a window taken away (``service_removed``, ``no_window_serves``, ``window_removed``);
- an open ticket numbered with a letter the change takes away (``letter_changed``): its
  call could not be spoken (speech says only the hall's letters) nor its number typed on a
  pad, so a service's letter changes only once no ticket of the old letter is open today;
- a booked appointment whose check-in window is not over, for a service taken away or one
  that no longer takes appointments, or that no window would serve (``service_removed``,
  ``not_bookable``, ``no_window_serves``).

Any of them refuses the change with 409 ``strands_visitors`` and the lists (``tickets``,
``appointments``: never a check-in code). Tickets waiting for a window taken away are not
stranded: they go back to their services' line.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import anyio.from_thread

from server.hall_model import Hall
from server.queue.action_args import all_windows
from server.queue.answers import as_list
from server.queue.engine import Engine
from server.queue.errors import Refusal


async def stranded(engine: Engine, changed: Hall) -> dict[str, list[dict[str, Any]]]:
    """What ``changed`` would strand of ``engine``'s live queue (its hall: the hall as it is
    now): ``{"tickets": [...], "appointments": [...]}``, each item with its ``reason``."""
    letters_gone = {s.prefix for s in engine.hall.services} - {s.prefix for s in changed.services}
    args = {
        "services": [s.id for s in changed.services],
        "all_windows": all_windows(changed),
        "dry": True,
        "letters_gone": sorted(letters_gone),
        "bookable": [] if changed.appointments is None else list(changed.appointments.services),
    }
    # the script of Engine.orphans(dry_run=True), with the manager's two questions added
    answer = await dataclasses.replace(engine, hall=changed)._run("orphans", args, dated=False)
    return {"tickets": as_list(answer["expired"]), "appointments": as_list(answer.get("appointments"))}


def stranding_guard(engine: Engine) -> Callable[[Hall], None]:
    """A check of a changed hall, run in the overlay's writing thread (under its lock, before
    anything is written): 409 ``strands_visitors`` when :func:`stranded` finds anyone."""

    def guard(changed: Hall) -> None:
        found = anyio.from_thread.run(functools.partial(stranded, engine, changed))
        tickets, appointments = found["tickets"], found["appointments"]
        if not tickets and not appointments:
            return
        whom = [f"{len(tickets)} visitor(s) no window can serve"] if tickets else []
        whom += [f"{len(appointments)} booked appointment(s) nobody could check in"] if appointments else []
        said = [f"{t['number']} ({t['reason']})" for t in tickets[:10]]
        said += [f"{'+'.join(a['services'])} {a['date']} {a['start']} ({a['reason']})" for a in appointments[:10]]
        raise Refusal(
            "strands_visitors",
            f"this change would leave {' and '.join(whom)}: {', '.join(said)}",
            {"tickets": tickets, "appointments": appointments},
        )

    return guard
