//! A throw-away PgBouncer in transaction pooling mode in front of the test server.
//!
//! Configuration that works with Debian's PgBouncer 1.18 against a trust-auth server:
//! `auth_type = trust` with an `auth_file` listing the test login roles with their passwords.
//! PgBouncer accepts those users without checking a password and, when it opens server
//! connections, logs in as the same user, sending the password from the file should the server
//! ask for one. `extra_float_digits`, which sqlx sends at startup, is in
//! `ignore_startup_parameters`. sqlx 0.9 leaves a named statement (`sqlx_s_N`) on the server
//! connection for every bound query even with `statement_cache_capacity(0)`, so
//! `server_reset_query = DEALLOCATE ALL` with `server_reset_query_always = 1` clears them when a
//! transaction gives its server connection back (see `tenancy_sqlx::testing`). PgBouncer refuses to run as root, so as root it runs as the
//! `postgres` user via `runuser`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tenancy_sqlx::testing::{APP_ROLE, PLATFORM_ROLE};

/// How long PgBouncer gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running PgBouncer, stopped by [`PgBouncer::stop`] or on drop.
pub(crate) struct PgBouncer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// Finds the `pgbouncer` binary on PATH or in /usr/sbin.
pub(crate) fn find_binary() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.is_file())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgBouncer {
    /// Writes a configuration into a temporary directory and starts PgBouncer in front of
    /// `pg_host:pg_port`, waiting until it accepts TCP connections.
    pub(crate) fn start(bin: &Path, pg_host: &str, pg_port: u16) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tenancy-pgbouncer-")
            .tempdir()
            .context("creating a temporary directory for pgbouncer")?;
        let port = {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("picking a free port")?;
            l.local_addr().context("reading the free port")?.port()
        };
        let d = dir.path().display();
        let ini = format!(
            "[databases]\n\
             * = host={pg_host} port={pg_port}\n\
             \n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir = {d}\n\
             auth_type = trust\n\
             auth_file = {d}/userlist.txt\n\
             pool_mode = transaction\n\
             max_client_conn = 500\n\
             default_pool_size = 20\n\
             ignore_startup_parameters = extra_float_digits\n\
             server_reset_query = DEALLOCATE ALL\n\
             server_reset_query_always = 1\n\
             logfile = {d}/pgbouncer.log\n\
             pidfile = {d}/pgbouncer.pid\n"
        );
        let users =
            format!("\"{APP_ROLE}\" \"{APP_ROLE}\"\n\"{PLATFORM_ROLE}\" \"{PLATFORM_ROLE}\"\n");
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).context("writing pgbouncer.ini")?;
        std::fs::write(dir.path().join("userlist.txt"), users).context("writing userlist.txt")?;

        let ini_path = dir.path().join("pgbouncer.ini");
        let mut cmd = if running_as_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .context("running chown")?;
            if !status.success() {
                bail!("chown of the pgbouncer directory to `postgres` failed: {status}");
            }
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c.current_dir("/");
            c
        } else {
            Command::new(bin)
        };
        cmd.arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().context("spawning pgbouncer")?;
        let mut bouncer = Self {
            child: Some(child),
            port,
            dir,
        };

        // Readiness poll of a child process we supervise, bounded by a deadline.
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(bouncer);
            }
            if let Some(child) = bouncer.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "pgbouncer exited with {status} before listening; log:\n{}",
                    bouncer.log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "pgbouncer did not listen on {addr} within {START_TIMEOUT:?}; log:\n{}",
                    bouncer.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT`, the value for `TENANCY_TEST_PGBOUNCER`.
    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Stops PgBouncer (SIGTERM through its pid file, then the supervising child).
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // `runuser` does not always pass signals on, so signal pgbouncer itself.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pgbouncer.pid")) {
            let _ = Command::new("kill")
                .args(["-TERM", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        // Bounded wait for the exit, then force it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().context("waiting for pgbouncer")?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("pgbouncer did not stop within 10s and was killed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
