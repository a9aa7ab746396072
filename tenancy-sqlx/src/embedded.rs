//! A throw-away PostgreSQL cluster started from the PostgreSQL server binaries installed on
//! the machine (feature `embedded`).
//!
//! [`EmbeddedPostgres`] runs `initdb` into a fresh temporary directory, starts the server on a
//! free loopback port with trust authentication for loopback connections only, and removes
//! everything again when it is stopped or dropped. It is meant for tests and for running the
//! example application without a configured database; it is not a way to run production data.
//!
//! When the process runs as `root` (as in many containers), `initdb` refuses to run, so the
//! cluster is created and controlled as the `postgres` operating-system user through
//! `runuser -u postgres --` (falling back to `su postgres`).
//!
//! ```no_run
//! use tenancy_sqlx::embedded::EmbeddedPostgres;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pg = EmbeddedPostgres::start().await?;
//! let pool = sqlx::PgPool::connect(&pg.url()).await?;
//! let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
//! assert_eq!(one, 1);
//! pool.close().await;
//! pg.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The operating-system user that owns the cluster when the current process runs as root.
const POSTGRES_OS_USER: &str = "postgres";

/// Name of the server log file inside the data directory.
const LOG_FILE: &str = "server.log";

/// How many lines of the server or `initdb` log an error message carries.
const LOG_TAIL_LINES: usize = 30;

/// Why an [`EmbeddedPostgres`] could not be started or stopped.
///
/// ```no_run
/// use tenancy_sqlx::embedded::{EmbeddedError, EmbeddedPostgres};
///
/// # async fn run() -> Result<(), EmbeddedError> {
/// let pg = match EmbeddedPostgres::start().await {
///     Ok(pg) => pg,
///     // No server installed on this machine: skip the test instead of failing it.
///     Err(e @ EmbeddedError::BinariesNotFound) => {
///         eprintln!("skipping: {e}");
///         return Ok(());
///     }
///     Err(e) => return Err(e),
/// };
/// pg.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// No directory holding both `initdb` and `pg_ctl` was found.
    #[error(
        "postgresql server binaries (`initdb`, `pg_ctl`) not found via `pg_config --bindir`, \
         /usr/lib/postgresql/*/bin or PATH; install them, e.g. `apt-get install postgresql`"
    )]
    BinariesNotFound,
    /// The process runs as root and there is no `postgres` user to run the server as.
    #[error(
        "running as root but there is no `postgres` operating-system user to run `initdb` as; \
         install the server package (`apt-get install postgresql`) or run as a normal user"
    )]
    NoPostgresUser,
    /// A filesystem or process-spawning operation failed.
    #[error("{action} failed")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `initdb` exited unsuccessfully.
    #[error("initdb failed ({status}): {log_tail}")]
    InitdbFailed {
        /// The exit status of `initdb`.
        status: String,
        /// The last lines `initdb` printed.
        log_tail: String,
    },
    /// The server did not start.
    #[error("postgresql failed to start on port {port} ({status}): {log_tail}")]
    StartFailed {
        /// The port the server was asked to listen on.
        port: u16,
        /// The exit status of `pg_ctl start`.
        status: String,
        /// The last lines of the server log.
        log_tail: String,
    },
    /// `pg_ctl stop` exited unsuccessfully.
    #[error("postgresql failed to stop ({status}): {log_tail}")]
    StopFailed {
        /// The exit status of `pg_ctl stop`.
        status: String,
        /// The last lines of the server log.
        log_tail: String,
    },
}

impl EmbeddedError {
    fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { action, source }
    }
}

/// A running, throw-away PostgreSQL cluster owned by this value.
///
/// Dropping it stops the server (`pg_ctl stop -m immediate`, blocking) and deletes the data
/// directory. When the value lives in a `static` and is never dropped, call
/// [`stop_when_process_exits`](Self::stop_when_process_exits) once: a small watchdog process
/// then stops the cluster and deletes its directory after this process has exited.
///
/// ```no_run
/// use tenancy_sqlx::embedded::EmbeddedPostgres;
///
/// # async fn run() -> Result<(), tenancy_sqlx::embedded::EmbeddedError> {
/// let pg = EmbeddedPostgres::start().await?;
/// println!("superuser url: {}", pg.url());
/// # Ok(())
/// # }
/// ```
pub struct EmbeddedPostgres {
    bindir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    data_dir: PathBuf,
    // Field order matters for nothing here: `Drop` stops the server before this is removed.
    temp: Option<tempfile::TempDir>,
    running: bool,
}

impl fmt::Debug for EmbeddedPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedPostgres")
            .field("bindir", &self.bindir)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("as_postgres_user", &self.as_postgres_user)
            .field("running", &self.running)
            .finish()
    }
}

impl EmbeddedPostgres {
    /// Creates a new cluster in a temporary directory and starts it on a free loopback port.
    ///
    /// The server listens on `127.0.0.1` only, trusts loopback connections, keeps its unix
    /// socket inside the temporary directory, runs with `fsync` off and logs to
    /// `server.log` in the data directory.
    ///
    /// ```no_run
    /// use tenancy_sqlx::embedded::EmbeddedPostgres;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pg = EmbeddedPostgres::start().await?;
    /// let pool = sqlx::PgPool::connect(&pg.url()).await?;
    /// tenancy_sqlx::migrate(&pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> Result<Self, EmbeddedError> {
        let bindir = find_bindir().ok_or(EmbeddedError::BinariesNotFound)?;
        let as_postgres_user = running_as_root();
        if as_postgres_user && !postgres_user_exists() {
            return Err(EmbeddedError::NoPostgresUser);
        }

        let temp = tempfile::Builder::new()
            .prefix("tenancy-pg-")
            .tempdir()
            .map_err(EmbeddedError::io("creating the temporary directory"))?;
        let root = temp.path().to_path_buf();
        let data_dir = root.join("data");
        let socket_dir = root.join("socket");
        std::fs::create_dir(&socket_dir)
            .map_err(EmbeddedError::io("creating the socket directory"))?;
        if as_postgres_user {
            let out = Command::new("chown")
                .arg("-R")
                .arg(format!("{POSTGRES_OS_USER}:"))
                .arg(&root)
                .output()
                .map_err(EmbeddedError::io("running chown"))?;
            if !out.status.success() {
                return Err(EmbeddedError::Io {
                    action: "changing the owner of the temporary directory",
                    source: std::io::Error::other(tail(&out, LOG_TAIL_LINES)),
                });
            }
        }

        let mut pg = Self {
            bindir,
            port: 0,
            as_postgres_user,
            data_dir,
            temp: Some(temp),
            running: false,
        };
        pg.initdb().await?;

        let conf = format!(
            "\n# tenancy embedded cluster\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\nmax_connections = 300\nshared_buffers = 32MB\n\
             logging_collector = off\n",
            socket_dir.display()
        );
        let conf_path = pg.data_dir.join("postgresql.conf");
        let mut existing = tokio::fs::read_to_string(&conf_path)
            .await
            .map_err(EmbeddedError::io("reading postgresql.conf"))?;
        existing.push_str(&conf);
        tokio::fs::write(&conf_path, existing)
            .await
            .map_err(EmbeddedError::io("writing postgresql.conf"))?;

        // A port picked by binding port 0 can be taken by someone else before the server binds
        // it, so try a few times with fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            match pg.pg_ctl_start(port).await {
                Ok(()) => {
                    pg.port = port;
                    pg.running = true;
                    return Ok(pg);
                }
                Err(e) if attempt >= 3 => return Err(e),
                Err(_) => {}
            }
        }
    }

    /// The superuser connection URL: `postgres://postgres@127.0.0.1:PORT/postgres`.
    ///
    /// ```no_run
    /// # async fn run(pg: &tenancy_sqlx::embedded::EmbeddedPostgres) -> Result<(), Box<dyn std::error::Error>> {
    /// assert_eq!(pg.url(), format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port()));
    /// let admin = sqlx::PgPool::connect(&pg.url()).await?;
    /// # let _ = admin; Ok(())
    /// # }
    /// ```
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port the server listens on (on `127.0.0.1`).
    ///
    /// ```no_run
    /// # async fn run(pg: &tenancy_sqlx::embedded::EmbeddedPostgres) -> Result<(), Box<dyn std::error::Error>> {
    /// use sqlx::postgres::PgConnectOptions;
    /// // Connect to another database of the cluster, as another role.
    /// let options = PgConnectOptions::new()
    ///     .host("127.0.0.1")
    ///     .port(pg.port())
    ///     .username("app")
    ///     .database("saas");
    /// let pool = sqlx::PgPool::connect_with(options).await?;
    /// # let _ = pool; Ok(())
    /// # }
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory (inside a temporary directory that is removed on stop).
    ///
    /// ```no_run
    /// # fn run(pg: &tenancy_sqlx::embedded::EmbeddedPostgres) -> std::io::Result<()> {
    /// // The server log, to attach to a failing test's output.
    /// let log = std::fs::read_to_string(pg.data_dir().join("server.log"))?;
    /// eprintln!("{log}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the PostgreSQL binaries that run this cluster.
    ///
    /// ```no_run
    /// # fn run(pg: &tenancy_sqlx::embedded::EmbeddedPostgres) -> std::io::Result<()> {
    /// // The client of the same installation, e.g. to load a SQL fixture.
    /// let status = std::process::Command::new(pg.bindir().join("psql"))
    ///     .args([pg.url().as_str(), "-v", "ON_ERROR_STOP=1", "-f", "fixtures/seed.sql"])
    ///     .status()?;
    /// assert!(status.success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Stops the server (fast shutdown) and removes its directory.
    ///
    /// ```no_run
    /// use tenancy_sqlx::embedded::EmbeddedPostgres;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pg = EmbeddedPostgres::start().await?;
    /// let dir = pg.data_dir().to_path_buf();
    /// let pool = sqlx::PgPool::connect(&pg.url()).await?;
    /// // ... run the test ...
    /// pool.close().await;
    /// pg.stop().await?;
    /// assert!(!dir.exists());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        let out = self.pg_ctl_stop_command("fast");
        let out = tokio::process::Command::from(out)
            .output()
            .await
            .map_err(EmbeddedError::io("running pg_ctl stop"))?;
        self.running = false;
        if !out.status.success() {
            return Err(EmbeddedError::StopFailed {
                status: out.status.to_string(),
                log_tail: self.log_tail(),
            });
        }
        if let Some(temp) = self.temp.take() {
            temp.close()
                .map_err(EmbeddedError::io("removing the temporary directory"))?;
        }
        Ok(())
    }

    /// Makes sure the cluster is stopped and its directory removed after the current process
    /// exits, even when this value is never dropped (for example because it lives in a
    /// `static`).
    ///
    /// This spawns a small detached `sh` watchdog that polls once a second whether this process
    /// is still alive and then runs `pg_ctl stop -m immediate` and deletes the directory.
    /// Dropping the value still stops the cluster at once; the watchdog then finds nothing to
    /// do.
    ///
    /// ```no_run
    /// use tenancy_sqlx::embedded::EmbeddedPostgres;
    /// use tokio::sync::OnceCell;
    ///
    /// // One cluster for the whole test binary; statics are never dropped.
    /// static PG: OnceCell<EmbeddedPostgres> = OnceCell::const_new();
    ///
    /// async fn shared_pg() -> &'static EmbeddedPostgres {
    ///     PG.get_or_init(|| async {
    ///         let mut pg = EmbeddedPostgres::start().await.expect("start postgresql");
    ///         pg.stop_when_process_exits().expect("spawn the watchdog");
    ///         pg
    ///     })
    ///     .await
    /// }
    /// ```
    pub fn stop_when_process_exits(&mut self) -> Result<(), EmbeddedError> {
        let Some(temp) = self.temp.as_ref() else {
            return Ok(());
        };
        let pid = std::process::id();
        let pg_ctl = self.bindir.join("pg_ctl");
        let stop = format!(
            "{} -D {} stop -m immediate -w",
            sh_quote(&pg_ctl.to_string_lossy()),
            sh_quote(&self.data_dir.to_string_lossy())
        );
        let stop = if self.as_postgres_user {
            format!("runuser -u {POSTGRES_OS_USER} -- {stop}")
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {}",
            sh_quote(&temp.path().to_string_lossy())
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(EmbeddedError::io("spawning the watchdog"))?;
        Ok(())
    }

    async fn initdb(&self) -> Result<(), EmbeddedError> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .stdin(Stdio::null());
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .map_err(EmbeddedError::io("running initdb"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EmbeddedError::InitdbFailed {
                status: out.status.to_string(),
                log_tail: tail(&out, LOG_TAIL_LINES),
            })
        }
    }

    async fn pg_ctl_start(&self, port: u16) -> Result<(), EmbeddedError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.data_dir.join(LOG_FILE))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port}"))
            .arg("start")
            .stdin(Stdio::null());
        let out = tokio::process::Command::from(cmd)
            .output()
            .await
            .map_err(EmbeddedError::io("running pg_ctl start"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EmbeddedError::StartFailed {
                port,
                status: out.status.to_string(),
                log_tail: self.log_tail(),
            })
        }
    }

    fn pg_ctl_stop_command(&self, mode: &str) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["stop", "-m", mode, "-w"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// A command for one of the cluster's binaries, run as the `postgres` user when needed.
    fn command(&self, program: &str) -> Command {
        let program: OsString = self.bindir.join(program).into_os_string();
        if self.as_postgres_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", POSTGRES_OS_USER, "--"]).arg(program);
            // `runuser` keeps the environment; make sure the server does not inherit a
            // working directory the postgres user cannot read.
            cmd.current_dir("/");
            cmd
        } else {
            Command::new(program)
        }
    }

    fn log_tail(&self) -> String {
        match std::fs::read_to_string(self.data_dir.join(LOG_FILE)) {
            Ok(log) => last_lines(&log, LOG_TAIL_LINES),
            Err(e) => format!("(no server log: {e})"),
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if self.running {
            // Best effort: nothing useful can be done with a failure while dropping.
            let _ = self.pg_ctl_stop_command("immediate").output();
            self.running = false;
        }
        // `self.temp` is dropped after this and removes the directory.
    }
}

/// Finds a directory containing `initdb` and `pg_ctl`.
fn find_bindir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();

    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }

    // Debian / Ubuntu layout: /usr/lib/postgresql/<major>/bin, newest major first.
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((major, e.path().join("bin")))
            })
            .filter(|(_, dir)| has_tools(dir))
            .collect();
        versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
        if let Some((_, dir)) = versions.into_iter().next() {
            return Some(dir);
        }
    }

    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| has_tools(dir))
}

/// Whether the effective user id of this process is 0, read from `/proc/self/status`, with
/// `id -u` as a fallback on systems without procfs.
fn running_as_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
    {
        // Uid: real effective saved filesystem
        return line.split_whitespace().nth(2) == Some("0");
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn postgres_user_exists() -> bool {
    Command::new("id")
        .arg("-u")
        .arg(POSTGRES_OS_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Picks a currently free TCP port on the loopback interface.
fn free_port() -> Result<u16, EmbeddedError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(EmbeddedError::io("binding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(EmbeddedError::io("reading the free port"))?
        .port();
    Ok(port)
}

fn tail(out: &Output, lines: usize) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    last_lines(&text, lines)
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// Single-quotes a string for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn sh_quote_escapes_single_quotes() {
        assert_eq!(sh_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn free_port_is_nonzero() {
        let port = free_port().map_err(|e| e.to_string());
        assert!(matches!(port, Ok(p) if p != 0));
    }
}
