//! The typed result of an [`IsolationHarness`](super::IsolationHarness) run.

use std::fmt;

/// One property the harness checks on every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// Scoped to A, every visible row is A's and A sees all of its rows (positive control).
    SeesOnlyOwnRows,
    /// Scoped to A, `UPDATE t SET tenant = B` is refused (42501) or changes no row.
    UpdateCannotReassign,
    /// Scoped to A, inserting a copy of one of B's rows is refused with 42501.
    InsertForOtherDenied,
    /// Scoped to A, `DELETE FROM t WHERE tenant = B` deletes no row.
    DeleteOtherNoop,
    /// A runtime-role transaction without tenant settings sees no row.
    NoTenantSeesNothing,
    /// A runtime-role transaction whose tenant setting is not a uuid sees no row.
    MalformedTenantSeesNothing,
    /// `TRUNCATE` as the runtime role is refused with 42501.
    TruncateDenied,
}

impl Check {
    /// Every check, in the order the harness runs them.
    pub const ALL: [Check; 7] = [
        Check::SeesOnlyOwnRows,
        Check::UpdateCannotReassign,
        Check::InsertForOtherDenied,
        Check::DeleteOtherNoop,
        Check::NoTenantSeesNothing,
        Check::MalformedTenantSeesNothing,
        Check::TruncateDenied,
    ];

    /// A short stable name (`sees_only_own_rows`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Check::SeesOnlyOwnRows => "sees_only_own_rows",
            Check::UpdateCannotReassign => "update_cannot_reassign",
            Check::InsertForOtherDenied => "insert_for_other_denied",
            Check::DeleteOtherNoop => "delete_other_noop",
            Check::NoTenantSeesNothing => "no_tenant_sees_nothing",
            Check::MalformedTenantSeesNothing => "malformed_tenant_sees_nothing",
            Check::TruncateDenied => "truncate_denied",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one check found on one table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The property holds, and the data made the check meaningful.
    Passed,
    /// The property does not hold: an isolation hole (or a broken positive control).
    Failed {
        /// What was observed.
        detail: String,
    },
    /// The check could not tell, usually because the table lacks rows of one tenant.
    Inconclusive {
        /// Why the check proves nothing.
        why: String,
    },
}

impl Outcome {
    pub(crate) fn failed(detail: impl Into<String>) -> Self {
        Self::Failed {
            detail: detail.into(),
        }
    }

    pub(crate) fn inconclusive(why: impl Into<String>) -> Self {
        Self::Inconclusive { why: why.into() }
    }

    /// Whether this is [`Outcome::Passed`].
    pub fn is_passed(&self) -> bool {
        matches!(self, Self::Passed)
    }

    /// Whether this is [`Outcome::Failed`].
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }

    /// Whether this is [`Outcome::Inconclusive`].
    pub fn is_inconclusive(&self) -> bool {
        matches!(self, Self::Inconclusive { .. })
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed { .. } => "FAILED",
            Self::Inconclusive { .. } => "inconclusive",
        }
    }

    fn text(&self) -> &str {
        match self {
            Self::Passed => "",
            Self::Failed { detail } => detail,
            Self::Inconclusive { why } => why,
        }
    }
}

/// The outcome of one check on one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub check: Check,
    /// What it found.
    pub outcome: Outcome,
}

/// Every check on one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table's schema.
    pub schema: String,
    /// The table's name.
    pub table: String,
    /// A's rows, counted by the admin connection.
    pub rows_a: i64,
    /// B's rows, counted by the admin connection.
    pub rows_b: i64,
    /// All rows, counted by the admin connection.
    pub rows_total: i64,
    /// One result per [`Check`], in [`Check::ALL`] order.
    pub checks: Vec<CheckResult>,
}

impl TableReport {
    /// `schema.table` (unquoted, for humans).
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The outcome of `check`, when it ran.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|r| r.check == check)
            .map(|r| &r.outcome)
    }

    /// Whether every check passed.
    pub fn all_passed(&self) -> bool {
        self.checks.iter().all(|r| r.outcome.is_passed())
    }
}

/// The harness result: one [`TableReport`] per discovered table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationReport {
    /// The tables, ordered by schema and name.
    pub tables: Vec<TableReport>,
}

impl IsolationReport {
    /// The report of `schema.table`, if it was checked.
    pub fn table(&self, schema: &str, table: &str) -> Option<&TableReport> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.table == table)
    }

    /// `(table, check, detail)` for every failed check.
    pub fn failures(&self) -> Vec<(&TableReport, Check, &str)> {
        self.select(Outcome::is_failed)
    }

    /// `(table, check, why)` for every inconclusive check.
    pub fn inconclusive(&self) -> Vec<(&TableReport, Check, &str)> {
        self.select(Outcome::is_inconclusive)
    }

    fn select(&self, keep: fn(&Outcome) -> bool) -> Vec<(&TableReport, Check, &str)> {
        self.tables
            .iter()
            .flat_map(|t| {
                t.checks
                    .iter()
                    .filter(move |r| keep(&r.outcome))
                    .map(move |r| (t, r.check, r.outcome.text()))
            })
            .collect()
    }

    /// Whether no check failed (inconclusive checks allowed).
    pub fn has_no_failures(&self) -> bool {
        self.failures().is_empty()
    }

    /// Whether every check on every table passed.
    pub fn is_isolated(&self) -> bool {
        !self.tables.is_empty() && self.tables.iter().all(TableReport::all_passed)
    }

    /// Test helper: panics with a readable table of every check that did not pass (failed or
    /// inconclusive), so a harness that proved nothing is not green.
    ///
    /// # Panics
    ///
    /// When [`is_isolated`](Self::is_isolated) is false.
    #[allow(clippy::panic)]
    pub fn assert_isolated(&self) {
        if !self.is_isolated() {
            panic!("tenant isolation not proven:\n{}", self.render(false));
        }
    }

    /// Test helper: like [`assert_isolated`](Self::assert_isolated), but inconclusive checks
    /// (a tenant without rows in a table) are allowed.
    ///
    /// # Panics
    ///
    /// When a check failed or no table was checked.
    #[allow(clippy::panic)]
    pub fn assert_no_failures(&self) {
        if self.tables.is_empty() || !self.has_no_failures() {
            panic!("tenant isolation holes:\n{}", self.render(false));
        }
    }

    /// A plain-text table of the outcomes; all of them, or only those that did not pass.
    pub fn render(&self, include_passed: bool) -> String {
        let mut rows: Vec<[String; 4]> = Vec::new();
        for t in &self.tables {
            for r in &t.checks {
                if include_passed || !r.outcome.is_passed() {
                    rows.push([
                        t.qualified_name(),
                        r.check.name().to_owned(),
                        r.outcome.label().to_owned(),
                        r.outcome.text().to_owned(),
                    ]);
                }
            }
        }
        if self.tables.is_empty() {
            return "no table was checked\n".to_owned();
        }
        let header = ["table", "check", "outcome", "detail"].map(str::to_owned);
        let mut widths = [0usize; 3];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "{:w0$} | {:w1$} | {:w2$} | {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(true))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> IsolationReport {
        IsolationReport {
            tables: vec![TableReport {
                schema: "public".into(),
                table: "items".into(),
                rows_a: 1,
                rows_b: 0,
                rows_total: 1,
                checks: vec![
                    CheckResult {
                        check: Check::SeesOnlyOwnRows,
                        outcome: Outcome::inconclusive("no data for B in table `public.items`"),
                    },
                    CheckResult {
                        check: Check::TruncateDenied,
                        outcome: Outcome::Passed,
                    },
                ],
            }],
        }
    }

    #[test]
    fn inconclusive_is_not_isolated_but_has_no_failures() {
        let r = sample();
        assert!(!r.is_isolated());
        assert!(r.has_no_failures());
        assert_eq!(r.inconclusive().len(), 1);
        let text = r.render(false);
        assert!(text.contains("public.items | sees_only_own_rows | inconclusive | no data for B"));
        assert!(!text.contains("truncate_denied"));
        assert!(r.to_string().contains("truncate_denied"));
    }

    #[test]
    fn empty_report_is_not_isolated() {
        let r = IsolationReport { tables: vec![] };
        assert!(!r.is_isolated());
        assert!(std::panic::catch_unwind(|| r.assert_no_failures()).is_err());
    }
}
