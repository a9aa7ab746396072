-- Accounts of the reference SaaS. Users are global (one account, many organisations), so this
-- table has no tenant column and no row level security: what a tenant may see of another user
-- goes through the tenant-scoped memberships.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

GRANT SELECT, INSERT ON users TO tenancy_runtime;
GRANT SELECT ON users TO tenancy_platform;
