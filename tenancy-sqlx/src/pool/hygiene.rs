//! The release check: what a pooled connection would carry over to its next borrower.
//!
//! One simple query (no bind parameters, no prepared statement, so it also works through
//! PgBouncer in transaction mode outside a transaction) returns one row with everything the
//! check looks at. Dirty connections are closed instead of reused, counted per reason and logged.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row as _};

/// One query, run when a connection is released (and by
/// [`TenantPool::inspect_connection`](crate::TenantPool::inspect_connection)).
///
/// - `now() = statement_timestamp()` holds only in the first statement of a transaction, so it is
///   false when an earlier transaction was left open (for example by a cancelled `begin`); an
///   aborted transaction makes the query itself fail. Both close the connection.
/// - Session-level settings: `pg_settings` rows with `source = 'session'` (a `SET` without `LOCAL`
///   or `set_config(.., false)`; values from the startup packet have source `client`, from `ALTER
///   ROLE/DATABASE .. SET` `user`/`database`) whose value differs from the value the session
///   started with (`reset_val`). Three are compared with the client's value instead: `DateStyle`
///   `ISO, MDY`, `client_encoding` `UTF8` and `TimeZone` `UTC`, which sqlx 0.9 sends in every
///   startup packet (`PgConnection::establish` in sqlx-postgres; not configurable). PgBouncer
///   tracks them per client (with `standard_conforming_strings` and `application_name`) and `SET`s
///   them at session level when it hands a server connection to a client whose values differ; there
///   `reset_val` is what PgBouncer's own server login got (the server's or the database's default),
///   not the client's value. So at sqlx's value they pass, at any other (a handler's `SET TimeZone
///   = ..`) they are reported, with or without PgBouncer. `extra_float_digits` (sqlx sends `2`
///   unless configured otherwise) keeps the general rule: PgBouncer 1.18 does not track it (it must
///   be in `ignore_startup_parameters`) and the configured value cannot be read back from the
///   connect options. Reading `pg_settings` formats all ~350 settings and costs several times the
///   rest of the check (0.5 to 1 ms of server time on the development machine), so it runs only
///   when one of the 28 watched settings below differs from the values this session last passed the
///   check with: on a connection's first check, and whenever a watched setting changed. The values
///   are recorded, on a clean result, at session level in the custom setting
///   `tenancy.checked_settings` (custom settings are hidden from `pg_settings`, so it never reports
///   itself). `application_name` is not reported (cosmetic, and PgBouncer sets it for each client).
/// - Advisory locks held by this backend (`pg_locks`), statements prepared with SQL `PREPARE`
///   (`pg_prepared_statements.from_sql`; sqlx's own protocol-level statements have `from_sql =
///   false`), open cursors (`pg_cursors`: outside a transaction only `WITH HOLD` ones survive).
const HYGIENE_SQL: &str = "\
SELECT \
    pg_catalog.now() <> pg_catalog.statement_timestamp() AS open_transaction, \
    pg_catalog.current_setting('tenancy.tenant_id', true) AS tenant_id, \
    pg_catalog.current_setting('tenancy.user_id', true) AS user_id, \
    pg_catalog.current_setting('tenancy.role', true) AS member_role, \
    pg_catalog.current_setting('tenancy.schema', true) AS tenant_schema, \
    pg_catalog.current_setting('tenancy.platform_admin_id', true) AS platform_admin_id, \
    current_user <> session_user AS role_switched, \
    (pg_catalog.pg_my_temp_schema() <> 0 AND EXISTS (SELECT 1 FROM pg_catalog.pg_class \
        WHERE relnamespace = pg_catalog.pg_my_temp_schema())) AS temp_objects, \
    EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) AS listening, \
    s.names AS session_settings, \
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks l \
        WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()) AS advisory_locks, \
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements p WHERE p.from_sql) \
        AS prepared_statements, \
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_cursors) AS cursors, \
    CASE WHEN s.scanned AND pg_catalog.cardinality(s.names) = 0 \
        THEN pg_catalog.set_config('tenancy.checked_settings', s.watched, false) END \
        IS NOT NULL AS recorded \
FROM (\
    SELECT w.watched, w.watched IS DISTINCT FROM w.checked AS scanned, \
        CASE WHEN w.watched = w.checked THEN '{}'::pg_catalog.text[] \
        ELSE ARRAY(SELECT g.name::pg_catalog.text FROM pg_catalog.pg_settings g \
            WHERE g.source = 'session' AND g.name <> 'application_name' \
              AND CASE g.name \
                  WHEN 'DateStyle' THEN g.setting <> 'ISO, MDY' \
                  WHEN 'client_encoding' THEN g.setting <> 'UTF8' \
                  WHEN 'TimeZone' THEN g.setting <> 'UTC' \
                  ELSE g.setting IS DISTINCT FROM g.reset_val END \
            ORDER BY 1) END AS names \
    FROM (\
        SELECT pg_catalog.concat_ws(pg_catalog.chr(31), \
                pg_catalog.current_setting('search_path', true), \
                pg_catalog.current_setting('row_security', true), \
                pg_catalog.current_setting('session_replication_role', true), \
                pg_catalog.current_setting('statement_timeout', true), \
                pg_catalog.current_setting('lock_timeout', true), \
                pg_catalog.current_setting('idle_in_transaction_session_timeout', true), \
                pg_catalog.current_setting('idle_session_timeout', true), \
                pg_catalog.current_setting('default_transaction_isolation', true), \
                pg_catalog.current_setting('default_transaction_read_only', true), \
                pg_catalog.current_setting('default_transaction_deferrable', true), \
                pg_catalog.current_setting('synchronous_commit', true), \
                pg_catalog.current_setting('TimeZone', true), \
                pg_catalog.current_setting('DateStyle', true), \
                pg_catalog.current_setting('IntervalStyle', true), \
                pg_catalog.current_setting('client_encoding', true), \
                pg_catalog.current_setting('standard_conforming_strings', true), \
                pg_catalog.current_setting('transform_null_equals', true), \
                pg_catalog.current_setting('bytea_output', true), \
                pg_catalog.current_setting('extra_float_digits', true), \
                pg_catalog.current_setting('lc_numeric', true), \
                pg_catalog.current_setting('lc_time', true), \
                pg_catalog.current_setting('default_text_search_config', true), \
                pg_catalog.current_setting('quote_all_identifiers', true), \
                pg_catalog.current_setting('exit_on_error', true), \
                pg_catalog.current_setting('default_tablespace', true), \
                pg_catalog.current_setting('temp_tablespaces', true), \
                pg_catalog.current_setting('work_mem', true), \
                pg_catalog.current_setting('client_min_messages', true)) AS watched, \
            pg_catalog.current_setting('tenancy.checked_settings', true) AS checked \
        OFFSET 0) w \
    OFFSET 0) s";

/// Why the release check closed a connection instead of handing it to the next borrower.
///
/// A connection can be dirty for several reasons at once; each is counted.
///
/// ```
/// use tenancy_sqlx::DiscardReason;
/// assert_eq!(DiscardReason::SessionSetting.to_string(), "session-level setting");
/// assert!(DiscardReason::ALL.contains(&DiscardReason::AdvisoryLock));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DiscardReason {
    /// A transaction was still open.
    OpenTransaction,
    /// A tenant or platform setting (`tenancy.tenant_id`, `tenancy.user_id`, `tenancy.role`,
    /// `tenancy.schema`, `tenancy.platform_admin_id`) had a value outside a transaction.
    TenantSetting,
    /// A `SET ROLE` was in force.
    RoleSwitched,
    /// The session owned temporary tables or other temporary objects.
    TemporaryObjects,
    /// The session listened on a notification channel.
    Listening,
    /// A setting was changed at session level (`SET` without `LOCAL`, `set_config(.., false)`,
    /// `SET SESSION CHARACTERISTICS`), for example `search_path` or `statement_timeout`.
    SessionSetting,
    /// The session held an advisory lock.
    AdvisoryLock,
    /// The session had a statement prepared with SQL `PREPARE`.
    PreparedStatement,
    /// The session had an open cursor (`DECLARE .. WITH HOLD`).
    Cursor,
    /// The check itself failed (for example in an aborted transaction).
    CheckFailed,
}

impl DiscardReason {
    /// Every reason, in counting order.
    ///
    /// ```
    /// use tenancy_sqlx::DiscardReason;
    /// let labels: Vec<&str> = DiscardReason::ALL.iter().map(|r| r.as_str()).collect();
    /// assert_eq!(labels.len(), 10);
    /// assert_eq!(labels[0], "open transaction");
    /// assert_eq!(labels[9], "check failed");
    /// // The order is also the `Ord` order of the reasons.
    /// assert!(DiscardReason::ALL.windows(2).all(|w| w[0] < w[1]));
    /// ```
    pub const ALL: [Self; 10] = [
        Self::OpenTransaction,
        Self::TenantSetting,
        Self::RoleSwitched,
        Self::TemporaryObjects,
        Self::Listening,
        Self::SessionSetting,
        Self::AdvisoryLock,
        Self::PreparedStatement,
        Self::Cursor,
        Self::CheckFailed,
    ];

    /// A short lowercase description (also the [`Display`](fmt::Display) form).
    ///
    /// ```
    /// use tenancy_sqlx::DiscardReason;
    /// const LABEL: &str = DiscardReason::AdvisoryLock.as_str();
    /// assert_eq!(LABEL, "advisory lock");
    /// assert_eq!(DiscardReason::Cursor.as_str(), DiscardReason::Cursor.to_string());
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenTransaction => "open transaction",
            Self::TenantSetting => "tenant setting",
            Self::RoleSwitched => "role switched",
            Self::TemporaryObjects => "temporary objects",
            Self::Listening => "listening",
            Self::SessionSetting => "session-level setting",
            Self::AdvisoryLock => "advisory lock",
            Self::PreparedStatement => "prepared statement",
            Self::Cursor => "open cursor",
            Self::CheckFailed => "check failed",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::OpenTransaction => 0,
            Self::TenantSetting => 1,
            Self::RoleSwitched => 2,
            Self::TemporaryObjects => 3,
            Self::Listening => 4,
            Self::SessionSetting => 5,
            Self::AdvisoryLock => 6,
            Self::PreparedStatement => 7,
            Self::Cursor => 8,
            Self::CheckFailed => 9,
        }
    }
}

impl fmt::Display for DiscardReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many connections the release check has closed, in total and per [`DiscardReason`].
///
/// A connection closed for two reasons counts once in [`total`](Self::total) and once under each
/// reason. Obtained from [`TenantPool::discard_counts`](crate::TenantPool::discard_counts).
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool) {
/// use tenancy_sqlx::DiscardReason;
/// let counts = pool.discard_counts();
/// if counts.get(DiscardReason::SessionSetting) > 0 {
///     eprintln!("a handler changed a setting at session level: {counts:?}");
/// }
/// assert!(counts.total() >= counts.get(DiscardReason::AdvisoryLock));
/// # }
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscardCounts {
    total: u64,
    by_reason: [u64; DiscardReason::ALL.len()],
}

impl DiscardCounts {
    /// Connections closed by the release check.
    ///
    /// ```
    /// use tenancy_sqlx::DiscardCounts;
    /// // What a pool reports before it has closed any connection.
    /// assert_eq!(DiscardCounts::default().total(), 0);
    /// ```
    pub const fn total(&self) -> u64 {
        self.total
    }

    /// Connections closed for `reason` (among possibly others).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool) {
    /// use tenancy_sqlx::DiscardReason;
    /// let counts = pool.discard_counts();
    /// for reason in DiscardReason::ALL {
    ///     println!("tenancy_discarded_connections{{reason=\"{reason}\"}} {}", counts.get(reason));
    /// }
    /// # }
    /// ```
    pub const fn get(&self, reason: DiscardReason) -> u64 {
        self.by_reason[reason.index()]
    }
}

impl fmt::Debug for DiscardCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("DiscardCounts");
        s.field("total", &self.total);
        for reason in DiscardReason::ALL {
            let n = self.get(reason);
            if n > 0 {
                s.field(reason.as_str(), &n);
            }
        }
        s.finish()
    }
}

/// The counters behind [`DiscardCounts`], shared by a pool and its release hook.
#[derive(Debug, Default)]
pub(crate) struct ReleaseCounters {
    total: AtomicU64,
    by_reason: [AtomicU64; DiscardReason::ALL.len()],
}

impl ReleaseCounters {
    fn count(&self, reasons: &[DiscardReason]) {
        self.total.fetch_add(1, Ordering::Relaxed);
        for r in reasons {
            self.by_reason[r.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> DiscardCounts {
        let mut by_reason = [0; DiscardReason::ALL.len()];
        for (n, c) in by_reason.iter_mut().zip(&self.by_reason) {
            *n = c.load(Ordering::Relaxed);
        }
        DiscardCounts {
            total: self.total(),
            by_reason,
        }
    }
}

/// What a connection carries over from earlier borrowers, as seen by the release check.
///
/// A clean connection has no open transaction, no tenant or platform setting (unset or empty),
/// no `SET ROLE`, no temporary objects, no `LISTEN`, no setting changed at session level, no
/// advisory lock, no statement prepared with SQL `PREPARE` and no open cursor.
///
/// `DateStyle`, `client_encoding` and `TimeZone` set at session level count as changed only
/// when their value differs from the one sqlx sends at startup (`ISO, MDY`, `UTF8`, `UTC`):
/// PgBouncer `SET`s them to exactly those values when it hands a server connection to the
/// client, so there the session value is the client's own, while a handler's
/// `SET TimeZone = 'America/New_York'` is reported with or without PgBouncer.
///
/// Session-level settings are read from `pg_settings` on a connection's first check and whenever
/// one of 28 watched settings (`search_path`, the timeouts, the transaction defaults,
/// `row_security`, `TimeZone`, `DateStyle`, the encoding and locale settings, `work_mem`, ...)
/// differs from the values the connection last passed the check with; a session-level change of
/// an unwatched setting (a planner switch such as `enable_seqscan`) made after the first check is
/// not seen. Custom settings such as `tenancy.*` are not listed in `pg_settings` at all: a
/// non-empty tenant or platform setting is reported (see the fields below), a session-level empty
/// one cannot be told apart from an unset one (and is read as unset by the accessor functions).
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool) -> Result<(), tenancy_sqlx::TxError> {
/// let state = pool.inspect_connection().await?;
/// assert!(state.is_clean(), "{:?}", state.discard_reasons());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionState {
    /// A transaction was open before the check ran.
    pub open_transaction: bool,
    /// The value of `tenancy.tenant_id` (`None` when never set; `Some("")` after a local set ended).
    pub tenant_id: Option<String>,
    /// The value of `tenancy.user_id`.
    pub user_id: Option<String>,
    /// The value of `tenancy.role`.
    pub role: Option<String>,
    /// The value of `tenancy.schema`.
    pub schema: Option<String>,
    /// The value of `tenancy.platform_admin_id`.
    pub platform_admin_id: Option<String>,
    /// `current_user` differs from `session_user` (a `SET ROLE` is in force).
    pub role_switched: bool,
    /// The session owns temporary objects.
    pub temp_objects: bool,
    /// The session listens on a notification channel.
    pub listening: bool,
    /// Names of the settings changed at session level to a value other than the one the session
    /// started with (for `DateStyle`, `client_encoding` and `TimeZone`: other than sqlx's startup
    /// value), sorted (names only, never values).
    pub session_settings: Vec<String>,
    /// Advisory locks held by the session.
    pub advisory_locks: u64,
    /// Statements prepared with SQL `PREPARE` (not the driver's protocol-level statements).
    pub prepared_statements: u64,
    /// Open cursors.
    pub cursors: u64,
}

impl ConnectionState {
    /// Whether the connection can be handed to the next borrower.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool) -> Result<(), tenancy_sqlx::TxError> {
    /// let state = pool.inspect_connection().await?;
    /// if !state.is_clean() {
    ///     eprintln!("an earlier borrower left state behind: {state:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_clean(&self) -> bool {
        self.discard_reasons().is_empty()
    }

    /// Why the connection cannot be handed to the next borrower (empty when it is clean).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool) -> Result<(), tenancy_sqlx::TxError> {
    /// use tenancy_sqlx::DiscardReason;
    /// let state = pool.inspect_connection().await?;
    /// for reason in state.discard_reasons() {
    ///     match reason {
    ///         DiscardReason::SessionSetting => {
    ///             eprintln!("changed at session level: {:?}", state.session_settings);
    ///         }
    ///         other => eprintln!("dirty connection: {other}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn discard_reasons(&self) -> Vec<DiscardReason> {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        let tenant_setting = set(&self.tenant_id)
            || set(&self.user_id)
            || set(&self.role)
            || set(&self.schema)
            || set(&self.platform_admin_id);
        [
            (self.open_transaction, DiscardReason::OpenTransaction),
            (tenant_setting, DiscardReason::TenantSetting),
            (self.role_switched, DiscardReason::RoleSwitched),
            (self.temp_objects, DiscardReason::TemporaryObjects),
            (self.listening, DiscardReason::Listening),
            (
                !self.session_settings.is_empty(),
                DiscardReason::SessionSetting,
            ),
            (self.advisory_locks > 0, DiscardReason::AdvisoryLock),
            (
                self.prepared_statements > 0,
                DiscardReason::PreparedStatement,
            ),
            (self.cursors > 0, DiscardReason::Cursor),
        ]
        .into_iter()
        .filter_map(|(dirty, reason)| dirty.then_some(reason))
        .collect()
    }

    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let count = |name: &str| -> Result<u64, sqlx::Error> {
            let n: i64 = row.try_get(name)?;
            Ok(n.unsigned_abs())
        };
        Ok(Self {
            open_transaction: row.try_get("open_transaction")?,
            tenant_id: row.try_get("tenant_id")?,
            user_id: row.try_get("user_id")?,
            role: row.try_get("member_role")?,
            schema: row.try_get("tenant_schema")?,
            platform_admin_id: row.try_get("platform_admin_id")?,
            role_switched: row.try_get("role_switched")?,
            temp_objects: row.try_get("temp_objects")?,
            listening: row.try_get("listening")?,
            session_settings: row.try_get("session_settings")?,
            advisory_locks: count("advisory_locks")?,
            prepared_statements: count("prepared_statements")?,
            cursors: count("cursors")?,
        })
    }
}

/// Runs the check on `conn` (one simple query).
pub(crate) async fn connection_state(
    conn: &mut PgConnection,
) -> Result<ConnectionState, sqlx::Error> {
    let row = sqlx::raw_sql(HYGIENE_SQL).fetch_one(conn).await?;
    ConnectionState::from_row(&row)
}

/// Builds pool options with the release check installed, counting closed connections per reason.
pub(crate) fn with_release_check(
    options: PgPoolOptions,
    counters: Arc<ReleaseCounters>,
) -> PgPoolOptions {
    options.after_release(move |conn, _meta| {
        let counters = Arc::clone(&counters);
        Box::pin(async move {
            match connection_state(conn).await {
                Ok(state) => {
                    let reasons = state.discard_reasons();
                    if reasons.is_empty() {
                        return Ok(true);
                    }
                    counters.count(&reasons);
                    // Ids and setting names only: never setting values or row data.
                    tracing::warn!(
                        reasons = %Reasons(&reasons),
                        tenant_id = state.tenant_id.as_deref().unwrap_or_default(),
                        session_settings = ?state.session_settings,
                        advisory_locks = state.advisory_locks,
                        prepared_statements = state.prepared_statements,
                        cursors = state.cursors,
                        "closing a pooled connection returned with leftover state"
                    );
                    Ok(false)
                }
                Err(error) => {
                    counters.count(&[DiscardReason::CheckFailed]);
                    tracing::warn!(%error, "closing a pooled connection that failed the hygiene check");
                    Err(error)
                }
            }
        })
    })
}

/// `reason, reason` for the log line.
struct Reasons<'a>(&'a [DiscardReason]);

impl fmt::Display for Reasons<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(r.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_fields() {
        let clean = ConnectionState {
            open_transaction: false,
            tenant_id: Some(String::new()),
            user_id: None,
            role: None,
            schema: None,
            platform_admin_id: None,
            role_switched: false,
            temp_objects: false,
            listening: false,
            session_settings: Vec::new(),
            advisory_locks: 0,
            prepared_statements: 0,
            cursors: 0,
        };
        assert!(clean.is_clean());
        let dirty = ConnectionState {
            session_settings: vec!["search_path".to_owned()],
            advisory_locks: 1,
            cursors: 2,
            ..clean.clone()
        };
        assert_eq!(
            dirty.discard_reasons(),
            [
                DiscardReason::SessionSetting,
                DiscardReason::AdvisoryLock,
                DiscardReason::Cursor
            ]
        );
        let tenant = ConnectionState {
            schema: Some("tenant_acme".to_owned()),
            ..clean
        };
        assert_eq!(tenant.discard_reasons(), [DiscardReason::TenantSetting]);
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        let counters = ReleaseCounters::default();
        counters.count(&[DiscardReason::Cursor, DiscardReason::AdvisoryLock]);
        counters.count(&[DiscardReason::Cursor]);
        let c = counters.snapshot();
        assert_eq!(c.total(), 2);
        assert_eq!(c.get(DiscardReason::Cursor), 2);
        assert_eq!(c.get(DiscardReason::AdvisoryLock), 1);
        assert_eq!(c.get(DiscardReason::SessionSetting), 0);
        let indexes: Vec<usize> = DiscardReason::ALL.iter().map(|r| r.index()).collect();
        assert_eq!(indexes, (0..DiscardReason::ALL.len()).collect::<Vec<_>>());
        assert!(format!("{c:?}").contains("open cursor: 2"));
    }

    #[test]
    fn the_check_names_its_marker_and_binds_nothing() {
        assert!(HYGIENE_SQL.contains("set_config('tenancy.checked_settings'"));
        assert!(HYGIENE_SQL.contains("current_setting('tenancy.checked_settings', true)"));
        assert!(!HYGIENE_SQL.contains('$'));
    }

    /// The startup parameters sqlx-postgres 0.9 sends with fixed values
    /// (`PgConnection::establish`), the only settings the scan compares with a client value
    /// instead of `reset_val`; each is also watched, so a change to it triggers a scan.
    #[test]
    fn session_values_equal_to_sqlx_startup_values_are_the_only_exceptions() {
        const SQLX_STARTUP: [(&str, &str); 3] = [
            ("DateStyle", "ISO, MDY"),
            ("client_encoding", "UTF8"),
            ("TimeZone", "UTC"),
        ];
        for (name, value) in SQLX_STARTUP {
            assert!(
                HYGIENE_SQL.contains(&format!("WHEN '{name}' THEN g.setting <> '{value}' ")),
                "{name}"
            );
            assert!(
                HYGIENE_SQL.contains(&format!("current_setting('{name}', true)")),
                "{name} is watched"
            );
        }
        assert_eq!(HYGIENE_SQL.matches(" WHEN '").count(), SQLX_STARTUP.len());
        assert!(HYGIENE_SQL.contains("ELSE g.setting IS DISTINCT FROM g.reset_val END"));
        assert!(HYGIENE_SQL.contains("WHERE g.source = 'session' AND"));
    }
}
