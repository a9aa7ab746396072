//! How to lay out tenant tables (documentation only).
//!
//! # Protecting a table
//!
//! In a migration, run as the schema owner (never as the runtime role):
//!
//! ```sql
//! CREATE TABLE projects (
//!     tenant_id  uuid NOT NULL DEFAULT tenancy.current_tenant_id(),
//!     id         uuid NOT NULL DEFAULT gen_random_uuid(),
//!     name       text NOT NULL,
//!     PRIMARY KEY (tenant_id, id),
//!     UNIQUE (tenant_id, name)            -- unique per tenant, never globally
//! );
//! SELECT tenancy.protect_table('projects');
//! GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO tenancy_runtime;
//! ```
//!
//! `tenancy.protect_table(table, tenant_column => 'tenant_id')` enables and forces row level
//! security, creates the RESTRICTIVE `tenant_isolation` policy and the PERMISSIVE `tenant_access`
//! policy (both `tenant_id = (SELECT tenancy.current_tenant_id())`, for every command, with
//! `WITH CHECK`), makes the column `NOT NULL` with the accessor as default, creates an index
//! leading with the tenant column when none exists, and revokes `TRUNCATE`. It is idempotent.
//! An existing table gets its column with `tenancy.add_tenant_column(table, default_tenant)`.
//!
//! # Keys that cannot cross tenants
//!
//! Make the tenant column the first column of every primary key and unique constraint, and make
//! every foreign key between tenant tables composite:
//!
//! ```sql
//! CREATE TABLE tasks (
//!     tenant_id  uuid NOT NULL DEFAULT tenancy.current_tenant_id(),
//!     id         uuid NOT NULL DEFAULT gen_random_uuid(),
//!     project_id uuid NOT NULL,
//!     PRIMARY KEY (tenant_id, id),
//!     FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
//! );
//! SELECT tenancy.protect_table('tasks');
//! ```
//!
//! Foreign-key and unique checks ignore row level security. With a composite key, the row being
//! written carries the tenant of the transaction (the `WITH CHECK` of the policy enforces it), so
//! it can only reference `(own tenant, id)`: a reference to another tenant's id fails exactly
//! like a reference to an id that does not exist (`23503`), and a unique key scoped by tenant
//! cannot reveal that another tenant already uses a value. The [auditor](crate::audit()) reports
//! unique constraints and foreign keys without the tenant column.
//!
//! # Schema per tenant
//!
//! A tenant with [`IsolationMode::Schema`](tenancy_core::IsolationMode) gets `search_path` set
//! transaction-locally to exactly `"<schema>", pg_catalog, pg_temp` (`pg_temp` last so temporary
//! tables cannot shadow the tenant's), after checking that the schema exists (a missing schema
//! is [`TxError::MissingSchema`](crate::TxError::MissingSchema), never a fall-back to `public`).
//! Protect each table of a tenant schema with `tenancy.protect_schema_table(table)`: its policy
//! admits rows only while `tenancy.schema` names the table's own schema, so a qualified
//! `other_tenant.table` sees no rows and cannot be written.
//!
//! # PgBouncer
//!
//! Transaction pooling works: the library keeps no session state and opens every tenant
//! transaction with one simple-query message. sqlx prepares statements by name; with
//! PgBouncer < 1.21 in transaction mode turn the statement cache off
//! (`PgConnectOptions::statement_cache_capacity(0)`), or use PgBouncer's
//! `max_prepared_statements` (1.21+).
