#!/usr/bin/env bash
# The runbook (docs/deployment.md) on one machine, by hand: PostgreSQL + Redis, the web
# app with 2 processes behind a local nginx, 2 workers and one beat, in production mode
# (outbox backend: nothing leaves the machine). Checks /readyz through nginx and scrapes
# /metrics, then stops everything it started (Ctrl+C or at the end with --stop).
#
#   docs/examples/local-stack.sh            # start, check, leave running until Ctrl+C
#   docs/examples/local-stack.sh --check    # start, check, stop
#
# Needs: the package installed (the `newsletter` command, or NEWSLETTER_CMD), psql,
# createdb, nginx, curl, a PostgreSQL and a Redis that these variables reach:
set -euo pipefail

PG=${STACK_PG:-postgresql://postgres@127.0.0.1:5432}
DB=${STACK_DB:-newsletter_stack}
REDIS=${STACK_REDIS:-redis://127.0.0.1:6379/0}
WEB_PORT=${STACK_WEB_PORT:-8000}
PROXY_PORT=${STACK_PROXY_PORT:-8080}
DIR=${STACK_DIR:-$(mktemp -d /tmp/newsletter-stack.XXXXXX)}
read -r -a NEWSLETTER <<< "${NEWSLETTER_CMD:-newsletter}"

export NEWSLETTER_ENVIRONMENT=production
export NEWSLETTER_SECRET_KEY=${NEWSLETTER_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')}
export NEWSLETTER_DATABASE_URL="$PG/$DB"
export NEWSLETTER_BROKER_URL="$REDIS"
export NEWSLETTER_EMAIL_BACKEND=outbox
export NEWSLETTER_BASE_URL=${NEWSLETTER_BASE_URL:-https://news.example.test}
export NEWSLETTER_DATA_DIR="$DIR/var"
export NEWSLETTER_TRUSTED_PROXIES=127.0.0.1
export NEWSLETTER_LOG_FORMAT=json
export NEWSLETTER_WEB_PORT="$WEB_PORT"

pids=()
stop() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "stopped; logs in $DIR"
}
trap stop EXIT

psql "$PG/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || createdb --maintenance-db="$PG/postgres" "$DB"
rm -rf "$NEWSLETTER_DATA_DIR/metrics"   # before any process starts (prometheus-client)
"${NEWSLETTER[@]}" db upgrade

"${NEWSLETTER[@]}" web --workers 2 >"$DIR/web.log" 2>&1 & pids+=($!)
"${NEWSLETTER[@]}" worker -n w1@%h --concurrency 2 >"$DIR/worker1.log" 2>&1 & pids+=($!)
"${NEWSLETTER[@]}" worker -n w2@%h --concurrency 2 >"$DIR/worker2.log" 2>&1 & pids+=($!)
"${NEWSLETTER[@]}" beat >"$DIR/beat.log" 2>&1 & pids+=($!)

mkdir -p "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<CONF
daemon off;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log;
events {}
http {
    access_log $DIR/nginx/access.log;
    client_body_temp_path $DIR/nginx; proxy_temp_path $DIR/nginx;
    fastcgi_temp_path $DIR/nginx; uwsgi_temp_path $DIR/nginx; scgi_temp_path $DIR/nginx;
    server {
        listen 127.0.0.1:$PROXY_PORT;   # TLS left out on this machine: see examples/nginx.conf
        location / {
            proxy_pass http://127.0.0.1:$WEB_PORT;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Request-ID \$request_id;
        }
    }
}
CONF
nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" & pids+=($!)

echo "waiting for /readyz through nginx on 127.0.0.1:$PROXY_PORT ..."
for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PROXY_PORT/readyz" >"$DIR/readyz.json" 2>/dev/null; then break; fi
    sleep 1
done
echo "readyz: $(cat "$DIR/readyz.json")"
curl -fsS "http://127.0.0.1:$PROXY_PORT/metrics" >"$DIR/metrics.txt"
echo "metrics: $(grep -c '^newsletter_' "$DIR/metrics.txt") samples, e.g."
grep -E '^newsletter_(batches\{state="planned"\}|queue_age_seconds|event_lag_seconds)' "$DIR/metrics.txt"
grep -q '"ready":true' "$DIR/readyz.json"

if [[ "${1:-}" == "--check" ]]; then exit 0; fi
echo "running (web behind nginx on http://127.0.0.1:$PROXY_PORT); Ctrl+C stops all"
wait
