#!/bin/bash
# Creates the application's own role and database, apart from the superuser that Temporal uses.
# The postgres image runs this once, when it initialises an empty data volume. It is idempotent,
# so for a volume created before this script existed, run it by hand:
#   docker compose exec postgresql bash /docker-entrypoint-initdb.d/10-receptionist.sh
# The password is passed as a psql variable and quoted by format(%L), never spliced into SQL.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER}" --dbname postgres \
    --set app_password="${POSTGRES_PASSWORD}" <<'SQL'
SELECT format('CREATE ROLE receptionist LOGIN PASSWORD %L', :'app_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'receptionist')
\gexec

SELECT 'CREATE DATABASE receptionist OWNER receptionist'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'receptionist')
\gexec
SQL
