#!/bin/sh
# Runs once, on an empty data directory (the postgres image's /docker-entrypoint-initdb.d):
# one role and one database per service, each database owned by its role, so no service can
# read another's tables. The password comes from CHARGEYARD_DB_PASSWORD (compose's .env).
set -eu
: "${CHARGEYARD_DB_PASSWORD:?set CHARGEYARD_DB_PASSWORD}"
for service in ${CHARGEYARD_DATABASES}; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v role="$service" -v db="chargeyard_$service" -v password="$CHARGEYARD_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
done
