//! `cargo xtask`: the workspace's one test command and a development database.
//!
//! - `cargo xtask test` runs formatting and lint checks, checks that every public item has a
//!   code example, picks or starts PostgreSQL (and PgBouncer when installed), runs every test
//!   and builds the docs, stopping at the first failing step with a non-zero exit status.
//! - `cargo xtask doc-examples` lists the public items without a code example.
//! - `cargo xtask db` picks or starts a database the same way and prints its URL.
//!
//! The database is `DATABASE_URL` when set, else `127.0.0.1:5432` as user `postgres` when it
//! answers (unless `--no-local`), else a throw-away cluster started from the installed
//! PostgreSQL binaries ([`tenancy_sqlx::embedded::EmbeddedPostgres`]).
// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod doc_examples;
mod pgbouncer;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tenancy_sqlx::testing::{PGBOUNCER_ENV, ServerSource, TestServer};

use crate::pgbouncer::PgBouncer;

/// Test targets run a second time through PgBouncer, when their file exists.
///
/// `must_pass: false` would mark a target that is run and reported but does not fail the run;
/// every target must pass today. Through PgBouncer 1.18 in transaction mode, sqlx 0.9 bound
/// queries work only inside a transaction (they are named prepared statements; the PgBouncer
/// config deallocates them when a server is released), so the library runs every bound query in a
/// transaction: tenant and platform transactions, the catalog audit, the release check (a simple
/// query). Not listed: `pool_hygiene`, which plants session-level state on purpose and follows a
/// connection by its backend pid; through PgBouncer in transaction mode the release check runs
/// on whichever server connection PgBouncer assigns to it, not necessarily the one the state was
/// planted on. `startup_settings` covers the release check through PgBouncer: the settings
/// PgBouncer itself `SET`s per client are accepted at sqlx's values, a handler's `SET` is not.
const PGBOUNCER_TEST_TARGETS: &[PgBouncerTarget] = &[
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "harness",
        path: "tenancy-sqlx/tests/harness.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "isolation",
        path: "tenancy-sqlx/tests/isolation.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "tenant_store",
        path: "tenancy-sqlx/tests/tenant_store.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "memberships",
        path: "tenancy-sqlx/tests/memberships.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "invitations",
        path: "tenancy-sqlx/tests/invitations.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "audit_log",
        path: "tenancy-sqlx/tests/audit_log.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "lifecycle",
        path: "tenancy-sqlx/tests/lifecycle.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "self_serve",
        path: "tenancy-sqlx/tests/self_serve.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "schema_drift",
        path: "tenancy-sqlx/tests/schema_drift.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "auditor",
        path: "tenancy-sqlx/tests/auditor.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-sqlx",
        test: "startup_settings",
        path: "tenancy-sqlx/tests/startup_settings.rs",
        must_pass: true,
    },
    PgBouncerTarget {
        package: "tenancy-tests",
        test: "isolation_harness",
        path: "tests/tests/isolation_harness.rs",
        must_pass: true,
    },
];

struct PgBouncerTarget {
    package: &'static str,
    test: &'static str,
    path: &'static str,
    must_pass: bool,
}

#[derive(Parser)]
#[command(name = "cargo xtask", about = "tenancy workspace tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every check and test: fmt, clippy, doc examples, tests (with PostgreSQL and PgBouncer),
    /// docs.
    Test {
        /// Skip a step (repeatable), e.g. `--skip clippy` while another crate is mid-change.
        #[arg(long, value_enum)]
        skip: Vec<Step>,
        /// Do not probe 127.0.0.1:5432; start an embedded cluster unless DATABASE_URL is set.
        #[arg(long)]
        no_local: bool,
    },
    /// List the public items of the library crates that have no code example in their docs.
    DocExamples,
    /// Start (or find) a database for development and print its URL.
    Db {
        /// Do not probe 127.0.0.1:5432; start an embedded cluster unless DATABASE_URL is set.
        #[arg(long)]
        no_local: bool,
    },
}

/// The steps of `cargo xtask test`, in order.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Step {
    /// `cargo fmt --all -- --check`
    Fmt,
    /// `cargo clippy --workspace --all-targets --all-features -- -D warnings`
    Clippy,
    /// Every public item of the library crates has a code example in its docs.
    DocExamples,
    /// `cargo test --workspace --all-features`, then tenancy-core with `--no-default-features`
    Test,
    /// Start PgBouncer (when installed) and rerun the isolation tests through it.
    Pgbouncer,
    /// `cargo doc --workspace --no-deps --all-features` with warnings denied
    Doc,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::DocExamples => "doc-examples",
            Step::Test => "test",
            Step::Pgbouncer => "pgbouncer",
            Step::Doc => "doc",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xtask: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Cmd::Test { skip, no_local } => test(&skip, no_local).await,
            Cmd::DocExamples => doc_examples_step(),
            Cmd::Db { no_local } => db(no_local).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (two levels above this package).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a command to completion with inherited output; an unsuccessful exit is an error.
fn run(mut cmd: Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} exited with {status}");
    }
    Ok(())
}

/// Passed and failed test counts read from `cargo test` result lines.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
}

impl Counts {
    /// Adds the numbers of a `test result: ok. 3 passed; 0 failed; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(['.', ';']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(what)) = (words.next(), words.next())
                && let Ok(n) = n.parse::<u64>()
            {
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    _ => {}
                }
            }
        }
    }
}

/// Runs a `cargo test` command, echoing its standard output and counting its result lines.
fn run_tests(mut cmd: Command, counts: &mut Counts) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {shown}"))?;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading test output")?;
            println!("{line}");
            counts.add_line(&line);
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {shown}"))?;
    if !status.success() {
        bail!("{shown} exited with {status}");
    }
    Ok(())
}

/// Prints a step header, runs it, prints its duration; a failure names the step.
fn step<T>(
    timings: &mut Vec<(String, Duration)>,
    name: &str,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    println!("==> {name}");
    let start = Instant::now();
    let result = f();
    let took = start.elapsed();
    match &result {
        Ok(_) => println!("<== {name} ok in {:.1}s", took.as_secs_f64()),
        Err(e) => eprintln!(
            "<== STEP FAILED: {name} after {:.1}s: {e:#}",
            took.as_secs_f64()
        ),
    }
    timings.push((name.to_owned(), took));
    result.with_context(|| format!("step `{name}` failed"))
}

async fn test(skip: &[Step], no_local: bool) -> anyhow::Result<()> {
    let total = Instant::now();
    let mut timings = Vec::new();
    let mut counts = Counts::default();
    let skipped = |s: Step| {
        let is = skip.contains(&s);
        if is {
            println!("==> {} skipped (--skip {})", s.name(), s.name());
        }
        is
    };

    if !skipped(Step::Fmt) {
        step(&mut timings, "fmt", || {
            let mut cmd = cargo();
            cmd.args(["fmt", "--all", "--", "--check"]);
            run(cmd)
        })?;
    }
    if !skipped(Step::Clippy) {
        step(&mut timings, "clippy", || {
            let mut cmd = cargo();
            cmd.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ]);
            run(cmd)
        })?;
    }

    if !skipped(Step::DocExamples) {
        step(&mut timings, "doc-examples", doc_examples_step)?;
    }

    let needs_db = !skip.contains(&Step::Test) || !skip.contains(&Step::Pgbouncer);
    if needs_db {
        println!("==> database");
        let start = Instant::now();
        let mut server = TestServer::choose_with(no_local)
            .await
            .context("step `database` failed")?;
        // Should this process be killed before the cleanup step, the cluster still goes.
        server
            .stop_when_process_exits()
            .context("step `database` failed")?;
        println!(
            "<== database ok in {:.1}s: {} ({})",
            start.elapsed().as_secs_f64(),
            server.url(),
            describe(server.source())
        );
        timings.push(("database".to_owned(), start.elapsed()));

        let outcome = with_database(&server, skip, &mut timings, &mut counts);

        println!("==> cleanup");
        let start = Instant::now();
        match server.drop_test_databases().await {
            Ok(n) => println!("    dropped {n} leftover test database(s)"),
            Err(e) => eprintln!("    could not drop leftover test databases: {e:#}"),
        }
        if let Err(e) = server.stop().await {
            eprintln!("    could not stop the embedded cluster: {e:#}");
        }
        println!("<== cleanup ok in {:.1}s", start.elapsed().as_secs_f64());
        timings.push(("cleanup".to_owned(), start.elapsed()));
        outcome?;
    }

    if !skipped(Step::Doc) {
        step(&mut timings, "doc", || {
            let mut cmd = cargo();
            cmd.args(["doc", "--workspace", "--no-deps", "--all-features"])
                .env("RUSTDOCFLAGS", "-D warnings");
            run(cmd)
        })?;
    }

    println!("\nsummary:");
    for (name, took) in &timings {
        println!("  {name:<12} {:>7.1}s", took.as_secs_f64());
    }
    println!("  {:<12} {:>7.1}s", "total", total.elapsed().as_secs_f64());
    println!("xtask test: all steps passed");
    // A plain closing line with the totals of every counted `cargo test` run.
    println!("tests: {} passed, {} failed", counts.passed, counts.failed);
    Ok(())
}

/// Fails, listing them, when public items of the library crates have no code example.
fn doc_examples_step() -> anyhow::Result<()> {
    let missing = doc_examples::check_workspace(&workspace_root())?;
    if missing.is_empty() {
        println!(
            "    every public item of {} has an example",
            doc_examples::LIBRARY_CRATES.join(", ")
        );
        return Ok(());
    }
    for m in &missing {
        eprintln!("    {m}");
    }
    bail!(
        "{} public item(s) have no code example in their docs (see tests/xtask/src/doc_examples.rs for what counts)",
        missing.len()
    )
}

/// The steps that need the database; PgBouncer is stopped before returning.
fn with_database(
    server: &TestServer,
    skip: &[Step],
    timings: &mut Vec<(String, Duration)>,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let url = server.url().to_owned();
    let mut bouncer: Option<PgBouncer> = None;
    if !skip.contains(&Step::Pgbouncer) {
        match pgbouncer::find_binary() {
            Some(bin) => {
                let opts = server.admin_options();
                let (host, port) = (opts.get_host().to_owned(), opts.get_port());
                bouncer = Some(step(timings, "pgbouncer start", || {
                    let b = PgBouncer::start(&bin, &host, port)?;
                    println!("    pgbouncer listening on {}", b.addr());
                    Ok(b)
                })?);
            }
            None => println!(
                "==> pgbouncer not installed (apt-get install pgbouncer): skipping the PgBouncer run"
            ),
        }
    } else {
        println!("==> pgbouncer skipped (--skip pgbouncer)");
    }

    let result = (|| {
        if skip.contains(&Step::Test) {
            println!("==> test skipped (--skip test)");
        } else {
            step(timings, "test", || {
                let mut cmd = cargo();
                cmd.args(["test", "--workspace", "--all-features"])
                    .env("DATABASE_URL", &url)
                    .env_remove(PGBOUNCER_ENV);
                run_tests(cmd, counts)?;
                // tenancy-core's optional parts (cache, jwt, rate-limit) are on by default: the
                // crate, its doc examples and the tests that need none of them also work without.
                let mut cmd = cargo();
                cmd.args(["test", "-p", "tenancy-core", "--no-default-features"]);
                run_tests(cmd, counts)
            })?;
        }
        if let Some(b) = &bouncer {
            let root = workspace_root();
            // Known failures first, so the run's last test result lines are the counted ones.
            let mut targets: Vec<&PgBouncerTarget> = PGBOUNCER_TEST_TARGETS
                .iter()
                .filter(|t| root.join(t.path).is_file())
                .collect();
            targets.sort_by_key(|t| t.must_pass);
            step(timings, "test through pgbouncer", || {
                for t in targets {
                    let mut cmd = cargo();
                    cmd.args(["test", "-p", t.package, "--all-features", "--test", t.test])
                        .env("DATABASE_URL", &url)
                        .env(PGBOUNCER_ENV, b.addr());
                    let mut these = Counts::default();
                    let result = run_tests(cmd, &mut these);
                    if t.must_pass {
                        counts.passed += these.passed;
                        counts.failed += these.failed;
                    }
                    match result {
                        Ok(()) => println!("    {} through pgbouncer: passed", t.test),
                        Err(e) if !t.must_pass => println!(
                            "    {} through pgbouncer: KNOWN FAILURE, not fatal \
                             (must_pass = false in tests/xtask/src/main.rs): {e:#}",
                            t.test
                        ),
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    })();

    if let Some(b) = bouncer
        && let Err(e) = b.stop()
    {
        eprintln!("    could not stop pgbouncer: {e:#}");
    }
    result
}

fn describe(source: ServerSource) -> &'static str {
    match source {
        ServerSource::DatabaseUrl => "from DATABASE_URL",
        ServerSource::Local => "local server on 127.0.0.1:5432",
        ServerSource::Embedded => "embedded cluster started from the installed binaries",
        _ => "unknown source",
    }
}

async fn db(no_local: bool) -> anyhow::Result<()> {
    let mut server = TestServer::choose_with(no_local).await?;
    server.stop_when_process_exits()?;
    println!("DATABASE_URL={}", server.url());
    println!("# {}", describe(server.source()));
    if let Some(pg) = server.embedded() {
        println!("# data directory {}", pg.data_dir().display());
        println!("# press Ctrl-C to stop and delete it");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        // Ctrl-C in a terminal also reaches the server (same process group), which then shuts
        // itself down; a failing stop is therefore only reported.
        match server.stop().await {
            Ok(()) => println!("# stopped"),
            Err(e) => println!("# stop: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn counts_read_cargo_result_lines() {
        let mut c = Counts::default();
        c.add_line("test result: ok. 6 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.85s");
        c.add_line(
            "test result: FAILED. 1 passed; 16 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        c.add_line("running 6 tests");
        c.add_line("test foo ... ok");
        assert_eq!(
            c,
            Counts {
                passed: 7,
                failed: 16
            }
        );
    }
}
