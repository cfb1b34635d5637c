"""Signals of the visits app.

`visit_moved` is sent by visits.services.transition() inside the transaction that moves a
visit, after the move is written (arguments: visit, from_state, to_state, actor, now). The
safety core listens to it (safety.watch.on_visit_moved) to watch a visit from the moment
it is scheduled and to stop when it is cancelled: the visits app does not import the safety
core, which imports it. A receiver that raises rolls the move back."""
from django.dispatch import Signal

visit_moved = Signal()
