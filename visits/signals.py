"""Signals of the visits app.

`visit_moved` is sent by visits.services.transition() inside the transaction that moves a
visit, after the move is written (arguments: visit, from_state, to_state, actor, now). The
safety core listens to it (safety.watch.on_visit_moved) to watch a visit from the moment
it is scheduled and to stop when it is cancelled: the visits app does not import the safety
core, which imports it. A receiver that raises rolls the move back.

`visit_team_changed` is sent by visits.services.reassign() in the same way when one member
of staff takes another's place on a visit that has not started (arguments: visit, leaving,
replacement, actor, now): a scheduled visit's watch already lists who is going."""
from django.dispatch import Signal

visit_moved = Signal()
visit_team_changed = Signal()
