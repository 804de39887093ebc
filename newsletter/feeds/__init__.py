"""Feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 per publication and per topic.

``entries`` turns published editions into feed entries, ``xml`` (feedgen) and
``jsonfeed`` turn entries into bytes; ``services``, ``views``, ``websub``,
``export`` and ``cli`` load, serve, announce and write them.
"""
