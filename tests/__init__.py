"""The test suite.

pytest-xdist starts its worker processes with ``COLUMNS=80`` and ``LINES=24``. Rich
reads ``COLUMNS`` once, when ``newsletter.console`` makes its consoles at import, and
would then print every CLI table of a test at 80 columns, whatever width the test
asks for; as in a terminal of the user's own, the command's environment decides.
"""

import os

for _name in ("COLUMNS", "LINES"):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop(_name, None)
