"""`{% board_row row %}...{% endboard_row %}`: the office board's rows, each rendered once and
then reused while nothing in it changes (docs/safety-core.md, "The board is pushed").

The board is fetched again whenever anything changes at the school, and with 1,000 visits
under way rendering every row through the template engine took seconds; between two fetches
almost every row is the same. A row's HTML is kept (per process, the most recent
`KEEP` rows) under a digest of everything it shows: the row's data (board_context puts
every value the row's markup reads into the row, and `row_key` is its digest) and whether
the school list is shown. The one thing in a row that is the reader's own, the CSRF token of
its forms, is cut out before the HTML is kept and put back for each reader.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django import template
from django.template.base import Node, NodeList, Parser, Token

register = template.Library()

KEEP = 5000
_rows: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()
TOKEN_SLOT = "\x00csrf\x00"


class BoardRowNode(Node):
    def __init__(self, row: Any, nodelist: NodeList) -> None:
        self.row, self.nodelist = row, nodelist

    def render(self, context: template.Context) -> str:
        row = self.row.resolve(context)
        key = f"{row.get('row_key', '')}:{bool(context.get('multi_school'))}"
        token = str(context.get("csrf_token") or "")
        with _lock:
            kept = _rows.get(key)
            if kept is not None:
                _rows.move_to_end(key)
        if kept is None or not row.get("row_key"):
            html = self.nodelist.render(context)
            kept = html.replace(token, TOKEN_SLOT) if token else html
            if row.get("row_key"):
                with _lock:
                    _rows[key] = kept
                    while len(_rows) > KEEP:
                        _rows.popitem(last=False)
        return kept.replace(TOKEN_SLOT, token) if token else kept


@register.tag
def board_row(parser: Parser, token: Token) -> BoardRowNode:
    """{% board_row row %} ... {% endboard_row %}"""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("board_row takes one argument: the row")
    nodelist = parser.parse(("endboard_row",))
    parser.delete_first_token()
    return BoardRowNode(parser.compile_filter(bits[1]), nodelist)
