# The publisher's image, built from this repository (docs/deployment.md, "Containers"):
#   docker build -t briefing-publisher .
#   docker run --rm briefing-publisher --version
# The entry point is the `newsletter` command: a container's command is its arguments
# (`web`, `worker --concurrency=4`, `beat`, `db upgrade`). Settings come from
# NEWSLETTER_* variables; data (outbox, export, beat schedule) under /var/lib/newsletter.
# Not built where it was written (no Docker on that machine): checked by reading it and
# by tests/unit/test_container_files.py (paths, compose file), not by a build.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# What `pip install .` builds the wheel from: pyproject.toml (its readme is README.md;
# its wheel takes the three packages and templates/ as newsletter/templates).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY newsletter ./newsletter
COPY subscribers ./subscribers
COPY tasks ./tasks
COPY templates ./templates
RUN pip install . \
    && rm -rf /src

# A system account without a login shell owns the data folder; nothing runs as root.
RUN useradd --system --uid 10001 --user-group --shell /usr/sbin/nologin \
        --home-dir /var/lib/newsletter --create-home newsletter

ENV NEWSLETTER_DATA_DIR=/var/lib/newsletter \
    NEWSLETTER_WEB_HOST=0.0.0.0
USER newsletter
WORKDIR /var/lib/newsletter
VOLUME ["/var/lib/newsletter"]
EXPOSE 8000

ENTRYPOINT ["newsletter"]
CMD ["--help"]
