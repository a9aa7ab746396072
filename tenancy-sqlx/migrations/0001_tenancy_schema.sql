-- tenancy: registry schema (filled in by the tenancy-sqlx issue)
CREATE SCHEMA IF NOT EXISTS tenancy;
