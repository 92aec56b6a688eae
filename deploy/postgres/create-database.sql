-- A PostgreSQL database for the gatewatch aggregator (a district or a city; SQLite stays the
-- default for one site). Run once as a superuser:
--
--   sudo -u postgres psql -v password=choose-one -f deploy/postgres/create-database.sql
--
-- then in aggregator.toml:
--
--   [database]
--   url = "postgres://gatewatch:choose-one@db-host:5432/gatewatch?sslmode=verify-full&sslrootcert=/etc/gatewatch/pg-ca.crt"
--
-- The aggregator creates and migrates its tables at start (crates/gatewatch-store/migrations/
-- postgres; an advisory lock keeps several aggregators starting at once from racing), so the
-- role needs to own the database and nothing more. Tables hold plates and snapshots: personal
-- data. Keep the server's connections on TLS: in postgresql.conf `ssl = on` with a certificate
-- for db-host, in pg_hba.conf `hostssl` lines for the aggregators (and no `host` lines), and
-- sslmode=verify-full in the URL, as above.

CREATE ROLE gatewatch LOGIN PASSWORD :'password';
CREATE DATABASE gatewatch OWNER gatewatch ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE gatewatch FROM PUBLIC;
