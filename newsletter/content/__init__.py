"""Content values: what a briefing says and what an edition holds, as plain values.

Everything above the foundation reads and passes these (the parsers build them, the
digests fill editions with them, render, feeds and publications read them); they
import only the foundation.
"""
