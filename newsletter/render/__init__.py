"""Pure renderers: an ``Edition`` in, strings out (email HTML and text, web pages)."""
