-- tenancy: memberships, invitations and the hash-chained audit log.
--
-- Run as the schema owner (never as the runtime role). Users are the application's: the library
-- stores user ids (uuid) only. An application with its own users table can add
-- `ALTER TABLE tenancy.memberships ADD FOREIGN KEY (user_id) REFERENCES app.users (id)` in its
-- own migration.

-- ---------------------------------------------------------------------------------------------
-- Memberships
-- ---------------------------------------------------------------------------------------------
CREATE TABLE tenancy.memberships (
    tenant_id  uuid NOT NULL REFERENCES tenancy.tenants (id),
    user_id    uuid NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'member')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON tenancy.memberships (user_id);

SELECT tenancy.protect_table('tenancy.memberships');

-- protect_table installs a RESTRICTIVE policy for ALL commands: reads and writes of the
-- transaction's tenant only. Memberships are looked up before a tenant scope exists (request
-- pipeline, organisation switcher), so reads are widened to the caller's OWN memberships:
--   * writes (INSERT, UPDATE, DELETE) stay strictly tenant-scoped (restrictive per command);
--   * reads see the transaction's tenant's rows, or rows whose user is `tenancy.user_id`.
-- With no setting at all nothing is visible (NULL compares to nothing).
DROP POLICY tenant_isolation ON tenancy.memberships;
CREATE POLICY tenant_isolation_insert ON tenancy.memberships AS RESTRICTIVE FOR INSERT TO PUBLIC
    WITH CHECK (tenant_id = (SELECT tenancy.current_tenant_id()));
CREATE POLICY tenant_isolation_update ON tenancy.memberships AS RESTRICTIVE FOR UPDATE TO PUBLIC
    USING (tenant_id = (SELECT tenancy.current_tenant_id()))
    WITH CHECK (tenant_id = (SELECT tenancy.current_tenant_id()));
CREATE POLICY tenant_isolation_delete ON tenancy.memberships AS RESTRICTIVE FOR DELETE TO PUBLIC
    USING (tenant_id = (SELECT tenancy.current_tenant_id()));
CREATE POLICY tenant_isolation_select ON tenancy.memberships AS RESTRICTIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT tenancy.current_tenant_id())
           OR user_id = (SELECT tenancy.current_user_id()));
CREATE POLICY own_memberships ON tenancy.memberships AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (user_id = (SELECT tenancy.current_user_id()));

GRANT SELECT, INSERT, DELETE ON tenancy.memberships TO tenancy_runtime, tenancy_platform;
GRANT UPDATE (role, updated_at) ON tenancy.memberships TO tenancy_runtime, tenancy_platform;
REVOKE TRUNCATE ON tenancy.memberships FROM PUBLIC, tenancy_runtime, tenancy_platform;

-- The last-owner invariant (ATTACKS F.31). Before a row stops being an owner (demotion or
-- deletion), take a per-tenant transaction lock, then count the OTHER owners:
--   * READ COMMITTED (the default, and what the library's transactions use): the lock
--     serialises owner changes of one tenant, and the count is a new statement with a new
--     snapshot taken after the lock was granted, so it sees the change of the transaction that
--     held the lock; two owners demoting each other at once leave exactly one owner;
--   * SERIALIZABLE: the read of the other owners makes the write skew a serialization failure;
--   * REPEATABLE READ would count from a snapshot older than the lock and is refused.
-- The count takes no row lock (a row lock would wait for the other demotion, which waits for
-- this transaction's advisory lock: a deadlock). Advisory locks need no privilege; the runtime
-- role cannot lock the registry row.
CREATE FUNCTION tenancy.memberships_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
    others bigint;
BEGIN
    IF OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role <> 'owner') THEN
        IF current_setting('transaction_isolation') = 'repeatable read' THEN
            RAISE EXCEPTION 'owner changes need READ COMMITTED or SERIALIZABLE isolation'
                USING ERRCODE = 'TY003';
        END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('tenancy.owners:' || OLD.tenant_id::text, 0));
        SELECT count(*) INTO others FROM tenancy.memberships m
        WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' AND m.user_id <> OLD.user_id;
        IF others = 0 THEN
            RAISE EXCEPTION 'the last owner of a tenant cannot leave, be removed or be demoted'
                USING ERRCODE = 'TY001';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.memberships_keep_an_owner() FROM PUBLIC;

CREATE TRIGGER memberships_keep_an_owner
    BEFORE UPDATE OF role OR DELETE ON tenancy.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy.memberships_keep_an_owner();

-- ---------------------------------------------------------------------------------------------
-- Invitations: only the sha256 of the token is stored; single use; bound to an email.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE tenancy.invitations (
    tenant_id   uuid NOT NULL REFERENCES tenancy.tenants (id),
    id          uuid NOT NULL,
    token_hash  bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    email       text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'member')),
    invited_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at  timestamptz NOT NULL,
    accepted_by uuid,
    accepted_at timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    CONSTRAINT invitations_accepted CHECK ((accepted_by IS NULL) = (accepted_at IS NULL)),
    CONSTRAINT invitations_expiry CHECK (expires_at > created_at)
);
SELECT tenancy.protect_table('tenancy.invitations');
GRANT SELECT, INSERT ON tenancy.invitations TO tenancy_runtime, tenancy_platform;
GRANT UPDATE (accepted_by, accepted_at, revoked_at) ON tenancy.invitations TO tenancy_runtime, tenancy_platform;
REVOKE TRUNCATE, DELETE ON tenancy.invitations FROM PUBLIC, tenancy_runtime, tenancy_platform;

-- ---------------------------------------------------------------------------------------------
-- Audit log: append-only, per tenant, hash-chained.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE tenancy.audit_log (
    tenant_id    uuid NOT NULL REFERENCES tenancy.tenants (id),
    seq          bigint NOT NULL CHECK (seq > 0),
    occurred_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'platform_admin', 'api_key', 'job', 'system')),
    actor_id     text NOT NULL,
    action       text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    target       text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash    bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (tenant_id, seq)
);
SELECT tenancy.protect_table('tenancy.audit_log');

-- The hash of one entry: sha256(previous hash || canonical entry). The canonical entry is the
-- text of a jsonb array (strings escaped, jsonb keys sorted, timestamps in microseconds since
-- the epoch), so no field can be shifted into another.
CREATE FUNCTION tenancy.audit_entry_hash(
    prev_hash bytea, tenant_id uuid, seq bigint, occurred_at timestamptz, actor_kind text,
    actor_id text, action text, target text, details jsonb
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT pg_catalog.sha256(prev_hash OPERATOR(pg_catalog.||) pg_catalog.convert_to(
        pg_catalog.jsonb_build_array(
            tenant_id, seq,
            (EXTRACT(EPOCH FROM occurred_at) * 1000000)::bigint,
            actor_kind, actor_id, action, target, details
        )::text, 'UTF8'))
$fn$;

-- Checks the actor against the transaction's settings, then fills seq, prev_hash and hash. The per-tenant transaction lock serialises appends of one
-- tenant, so concurrent appends chain one after the other (under READ COMMITTED the lookup of
-- the previous entry runs after the lock is granted and sees the committed predecessor; under
-- a stricter isolation a stale predecessor fails on the primary key instead of forking).
CREATE FUNCTION tenancy.audit_log_chain() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
    last_seq  bigint;
    last_hash bytea;
BEGIN
    -- The actor cannot be claimed: a user entry in a transaction with a user set must name that
    -- user, and a platform administrator entry needs a platform transaction of that admin.
    IF NEW.actor_kind = 'user' AND tenancy.current_user_id() IS NOT NULL
       AND NEW.actor_id IS DISTINCT FROM tenancy.current_user_id()::text THEN
        RAISE EXCEPTION 'audit actor does not match the transaction''s user' USING ERRCODE = 'TY004';
    END IF;
    IF NEW.actor_kind = 'platform_admin'
       AND NEW.actor_id IS DISTINCT FROM nullif(current_setting('tenancy.platform_admin_id', true), '') THEN
        RAISE EXCEPTION 'audit actor does not match the platform administrator' USING ERRCODE = 'TY004';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('tenancy.audit:' || NEW.tenant_id::text, 0));
    SELECT a.seq, a.hash INTO last_seq, last_hash
    FROM tenancy.audit_log a WHERE a.tenant_id = NEW.tenant_id
    ORDER BY a.seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
    NEW.occurred_at := clock_timestamp();
    NEW.hash := tenancy.audit_entry_hash(NEW.prev_hash, NEW.tenant_id, NEW.seq, NEW.occurred_at,
        NEW.actor_kind, NEW.actor_id, NEW.action, NEW.target, NEW.details);
    RETURN NEW;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.audit_log_chain() FROM PUBLIC;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON tenancy.audit_log
    FOR EACH ROW EXECUTE FUNCTION tenancy.audit_log_chain();

-- Defence in depth behind the missing privileges: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION tenancy.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'TY002';
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.audit_log_append_only() FROM PUBLIC;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON tenancy.audit_log
    FOR EACH ROW EXECUTE FUNCTION tenancy.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON tenancy.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy.audit_log_append_only();

GRANT SELECT, INSERT ON tenancy.audit_log TO tenancy_runtime, tenancy_platform;
REVOKE UPDATE, DELETE, TRUNCATE ON tenancy.audit_log FROM PUBLIC, tenancy_runtime, tenancy_platform;
