#!/bin/sh
# The cluster profile's streaming replica: on its first start (an empty data
# directory) copy the primary with pg_basebackup, which also writes standby.signal and
# primary_conninfo (-R) and streams through the primary's slot replica1; then run
# PostgreSQL as the image does. Later starts find the data and just run.
# Runs as the image's postgres user. PGPASSWORD: FENLEI_REPLICATION_PASSWORD.
set -eu
: "${FENLEI_REPLICATION_PASSWORD:?set FENLEI_REPLICATION_PASSWORD}"
PRIMARY_HOST="${FENLEI_PRIMARY_HOST:-db-primary}"
PRIMARY_PORT="${FENLEI_PRIMARY_PORT:-5432}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    export PGPASSWORD="$FENLEI_REPLICATION_PASSWORD"
    until pg_isready -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -q; do sleep 1; done
    # A half-copied directory from an interrupted first start is started over.
    rm -rf "${PGDATA:?}"/* 2>/dev/null || true
    pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U replicator -D "$PGDATA" \
        -X stream -S replica1 -R --checkpoint=fast
    chmod 0700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres "$@"
