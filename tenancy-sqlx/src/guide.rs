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
//! Transaction pooling works, and the isolation suite runs through PgBouncer 1.18 (Debian 12's)
//! in `pool_mode = transaction` on every `cargo xtask test`. The library keeps no tenant state at
//! session level: every tenant transaction opens with one simple-query message, the catalog audit
//! runs in one read-only transaction, and the release check is a simple query. The one value it
//! writes at session level is the release check's marker, the custom setting
//! `tenancy.checked_settings`: the values of the watched settings at the last clean check, so
//! that `pg_settings` is read again only when one of them changed (see
//! [`ConnectionState`](crate::ConnectionState)). Behind PgBouncer it stays on the server
//! connection; a client that arrives with other values makes the next check read `pg_settings`
//! again, nothing more.
//!
//! PgBouncer keeps `client_encoding`, `DateStyle`, `TimeZone`, `standard_conforming_strings` and
//! `application_name` per client and `SET`s them, at session level, when it hands a server
//! connection to a client whose values differ from the server session's. The release check
//! accepts `DateStyle`, `client_encoding` and `TimeZone` set at session level at the values sqlx
//! sends at startup (`ISO, MDY`, `UTF8`, `UTC`), and closes a connection on which one of them has
//! any other value (a handler's `SET TimeZone = ...`); `application_name` is never reported.
//! sqlx also sends `extra_float_digits`, which PgBouncer refuses unless it is listed in
//! `ignore_startup_parameters` (it is then neither forwarded nor tracked). Do not list it in
//! `track_extra_parameters` (PgBouncer 1.20+): the release check compares a session-level
//! `extra_float_digits` with the value the server session started with, not with the pool's,
//! which cannot be read back from its connect options.
//!
//! sqlx 0.9 sends every query with bind parameters as a *named* prepared statement, even with
//! `statement_cache_capacity(0)`. Through PgBouncer before 1.21 such a statement only lives as
//! long as the server connection stays with the client, so:
//!
//! - run bound queries inside a transaction ([`TenantPool::begin`](crate::TenantPool::begin)
//!   always does), never in autocommit on the pool;
//! - configure PgBouncer to drop the statements when it hands a server to another client:
//!
//! ```text
//! pool_mode = transaction
//! ignore_startup_parameters = extra_float_digits
//! server_reset_query = DEALLOCATE ALL
//! server_reset_query_always = 1
//! ```
//!
//! - and connect with `statement_cache_capacity(0)` so sqlx does not expect a statement it
//!   prepared in an earlier transaction to still exist.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sqlx::postgres::PgConnectOptions;
//! let options: PgConnectOptions = "postgres://app@pgbouncer:6432/saas".parse()?;
//! let pool = tenancy_sqlx::TenantPoolOptions::new()
//!     .connect_with(options.statement_cache_capacity(0))
//!     .await?;
//! # let _ = pool; Ok(()) }
//! ```
//!
//! PgBouncer 1.21+ can instead track prepared statements itself (`max_prepared_statements`).
