"""Allow ``python -m newsletter``."""

from newsletter.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
