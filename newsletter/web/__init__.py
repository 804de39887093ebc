"""The web foundation under every view: the runtime dependency, error answers, pages, middleware."""
