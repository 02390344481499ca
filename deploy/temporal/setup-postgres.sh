#!/bin/sh
# Creates and migrates Temporal's persistence and visibility databases (run by the
# temporal-admin-tools job). Safe to re-run on every `docker compose up`: create-database ignores
# an existing database, setup-schema leaves a newer version alone, and update-schema applies only
# the missing versions. The password comes from SQL_PASSWORD, so it never appears in `ps`.
set -eu

sql_tool() {
    temporal-sql-tool --plugin postgres12 \
        --ep "${POSTGRES_SEEDS}" -p "${DB_PORT:-5432}" -u "${POSTGRES_USER}" "$@"
}

sql_tool --db temporal create-database
sql_tool --db temporal setup-schema -v 0.0
sql_tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned

sql_tool --db temporal_visibility create-database
sql_tool --db temporal_visibility setup-schema -v 0.0
sql_tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned

echo "Temporal schema setup complete"
