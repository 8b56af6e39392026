"""One router per resource; each route parses input, calls a service, shapes the output."""
