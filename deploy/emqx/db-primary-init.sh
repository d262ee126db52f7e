#!/bin/sh
# The cluster profile's primary, on its first start only (the image runs
# /docker-entrypoint-initdb.d/*.sh once, into an empty data directory):
# - a replication login for the streaming replica, and pg_hba lines letting it in;
# - a physical replication slot, so the primary keeps the WAL the replica has not
#   received yet (a replica rebuilt from scratch reuses it);
# - EMQX's read-only login, a member of fenlei_emqx (which may read the views
#   emqx_authn and mqtt_acl only; deploy/sql/idempotent/04_emqx_auth.sql grants them).
# The passwords come from the environment (compose: FENLEI_REPLICATION_PASSWORD and
# FENLEI_EMQX_DB_PASSWORD; k8s: the Secret fenlei-cluster).
set -eu
: "${FENLEI_REPLICATION_PASSWORD:?set FENLEI_REPLICATION_PASSWORD}"
: "${FENLEI_EMQX_DB_PASSWORD:?set FENLEI_EMQX_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v repl_pw="$FENLEI_REPLICATION_PASSWORD" -v emqx_pw="$FENLEI_EMQX_DB_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'repl_pw';
SELECT pg_create_physical_replication_slot('replica1');
CREATE ROLE fenlei_emqx NOLOGIN;
CREATE ROLE emqx LOGIN PASSWORD :'emqx_pw' IN ROLE fenlei_emqx;
SQL

# The image's pg_hba ends with `host all all all scram-sha-256`, which does not cover
# replication connections.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
