"""The demo trust that `make run` loads: its people, visits and a day under way."""
