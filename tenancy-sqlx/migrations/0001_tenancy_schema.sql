-- tenancy: registry schema, group roles, accessor functions, protection helpers.
--
-- Run as the schema owner (never as the runtime role). Everything here is idempotent so that it can
-- be applied to many databases of one cluster in parallel (roles are cluster-wide).

CREATE SCHEMA IF NOT EXISTS tenancy;

-- Group roles. NOLOGIN: login roles are made members of them. Role attributes (BYPASSRLS) are not
-- inherited through membership, so the platform login role itself carries BYPASSRLS if it needs it.
-- Two migrations racing on different databases of one cluster can both see "role missing": the
-- loser gets duplicate_object or unique_violation (pg_authid index), both ignored.
DO $roles$
BEGIN
    BEGIN
        CREATE ROLE tenancy_runtime NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    BEGIN
        CREATE ROLE tenancy_platform NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
END
$roles$;

GRANT USAGE ON SCHEMA tenancy TO tenancy_runtime, tenancy_platform;

-- The tenant registry.
CREATE TABLE tenancy.tenants (
    id           uuid PRIMARY KEY,
    slug         text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    display_name text NOT NULL,
    status       text NOT NULL DEFAULT 'provisioning'
                 CHECK (status IN ('provisioning', 'active', 'trial', 'suspended', 'deleted')),
    trial_until  timestamptz,
    plan         text NOT NULL DEFAULT 'free',
    isolation    text NOT NULL DEFAULT 'shared_table' CHECK (isolation IN ('shared_table', 'schema')),
    schema_name  text UNIQUE
                 CHECK (schema_name ~ '^[a-z][a-z0-9_]{0,62}$' AND schema_name !~ '^pg_'
                        AND schema_name NOT IN ('public', 'information_schema', 'tenancy')),
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT tenants_trial_until CHECK ((status = 'trial') = (trial_until IS NOT NULL)),
    CONSTRAINT tenants_schema_mode CHECK ((isolation = 'schema') = (schema_name IS NOT NULL))
);

-- A slug is unique among tenants that are not deleted: a deleted tenant's slug can be reused, and
-- the new tenant gets a new id, so none of the old rows can reappear.
CREATE UNIQUE INDEX tenants_live_slug ON tenancy.tenants (slug) WHERE status <> 'deleted';

-- The runtime role reads the registry (tenant lookup); only the platform role writes it.
GRANT SELECT ON tenancy.tenants TO tenancy_runtime;
GRANT SELECT, INSERT, UPDATE ON tenancy.tenants TO tenancy_platform;
REVOKE TRUNCATE, DELETE ON tenancy.tenants FROM PUBLIC, tenancy_runtime, tenancy_platform;

-- Accessors. Plain SQL, STABLE, no SET clause and fully qualified so the planner can inline them;
-- a regex check before the cast means an unset, empty or malformed setting yields NULL (no rows),
-- never an error and never "all tenants". Policies call them as `(SELECT tenancy.current_tenant_id())`
-- so they are evaluated once per statement (initplan) and the comparison stays an index condition.
CREATE FUNCTION tenancy.current_tenant_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN pg_catalog.current_setting('tenancy.tenant_id', true)
             OPERATOR(pg_catalog.~) '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
        THEN pg_catalog.current_setting('tenancy.tenant_id', true)::pg_catalog.uuid
    END
$fn$;

CREATE FUNCTION tenancy.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN pg_catalog.current_setting('tenancy.user_id', true)
             OPERATOR(pg_catalog.~) '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
        THEN pg_catalog.current_setting('tenancy.user_id', true)::pg_catalog.uuid
    END
$fn$;

CREATE FUNCTION tenancy.current_member_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN pg_catalog.current_setting('tenancy.role', true) IN ('owner', 'admin', 'manager', 'member')
        THEN pg_catalog.current_setting('tenancy.role', true)
    END
$fn$;

CREATE FUNCTION tenancy.current_schema_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN pg_catalog.current_setting('tenancy.schema', true)
             OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'
        THEN pg_catalog.current_setting('tenancy.schema', true)
    END
$fn$;

-- protect_table: ENABLE + FORCE RLS, a RESTRICTIVE tenant policy and the PERMISSIVE `tenant_access`
-- policy (a restrictive policy alone denies everything), an index leading with the tenant column,
-- NOT NULL + default on the tenant column, TRUNCATE revoked. Idempotent.
CREATE FUNCTION tenancy.protect_table(tbl regclass, tenant_column name DEFAULT 'tenant_id')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
    col_num  smallint;
    col_type regtype;
BEGIN
    SELECT a.attnum, a.atttypid::regtype INTO col_num, col_type
    FROM pg_attribute a
    WHERE a.attrelid = tbl AND a.attname = tenant_column AND NOT a.attisdropped AND a.attnum > 0;
    IF col_num IS NULL THEN
        RAISE EXCEPTION 'table % has no column %', tbl, quote_ident(tenant_column)
            USING ERRCODE = 'undefined_column';
    END IF;
    IF col_type <> 'uuid'::regtype THEN
        RAISE EXCEPTION 'tenant column % of table % must be uuid, not %', quote_ident(tenant_column), tbl, col_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;

    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', tbl, tenant_column);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT tenancy.current_tenant_id()', tbl, tenant_column);
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);

    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC '
        'USING (%I = (SELECT tenancy.current_tenant_id())) '
        'WITH CHECK (%I = (SELECT tenancy.current_tenant_id()))',
        tbl, tenant_column, tenant_column);
    EXECUTE format('DROP POLICY IF EXISTS tenant_access ON %s', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC '
        'USING (%I = (SELECT tenancy.current_tenant_id())) '
        'WITH CHECK (%I = (SELECT tenancy.current_tenant_id()))',
        tbl, tenant_column, tenant_column);

    IF NOT EXISTS (
        SELECT 1 FROM pg_index i WHERE i.indrelid = tbl AND i.indkey[0] = col_num
    ) THEN
        EXECUTE format('CREATE INDEX ON %s (%I)', tbl, tenant_column);
    END IF;

    EXECUTE format('REVOKE TRUNCATE ON %s FROM PUBLIC, tenancy_runtime', tbl);
END
$fn$;

-- Adds a tenant column to an existing table and assigns every existing row to `default_tenant`
-- (used by the adopt tool before `protect_table`).
CREATE FUNCTION tenancy.add_tenant_column(tbl regclass, default_tenant uuid, tenant_column name DEFAULT 'tenant_id')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF default_tenant IS NULL THEN
        RAISE EXCEPTION 'default tenant must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (
        SELECT 1 FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attname = tenant_column AND NOT a.attisdropped
    ) THEN
        RAISE EXCEPTION 'table % already has column %', tbl, quote_ident(tenant_column)
            USING ERRCODE = 'duplicate_column';
    END IF;
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I uuid', tbl, tenant_column);
    EXECUTE format('UPDATE %s SET %I = %L::uuid', tbl, tenant_column, default_tenant);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', tbl, tenant_column);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT tenancy.current_tenant_id()', tbl, tenant_column);
END
$fn$;

-- protect_schema_table: for schema-per-tenant tables (no tenant column). A RESTRICTIVE policy
-- admits rows only while the transaction's tenant schema is the table's own schema, so a
-- qualified name of another tenant's schema (`tenant_b.t` while scoped to A) sees no rows and
-- cannot be written; plus the permissive `tenant_access` policy and TRUNCATE revoked.
CREATE FUNCTION tenancy.protect_schema_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
    nsp name;
BEGIN
    SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = tbl;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC '
        'USING ((SELECT tenancy.current_schema_tenant()) = %L) '
        'WITH CHECK ((SELECT tenancy.current_schema_tenant()) = %L)', tbl, nsp, nsp);
    EXECUTE format('DROP POLICY IF EXISTS tenant_access ON %s', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC '
        'USING ((SELECT tenancy.current_schema_tenant()) = %L) '
        'WITH CHECK ((SELECT tenancy.current_schema_tenant()) = %L)', tbl, nsp, nsp);
    EXECUTE format('REVOKE TRUNCATE ON %s FROM PUBLIC, tenancy_runtime', tbl);
END
$fn$;

REVOKE EXECUTE ON FUNCTION tenancy.protect_table(regclass, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy.add_tenant_column(regclass, uuid, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy.protect_schema_table(regclass) FROM PUBLIC;
