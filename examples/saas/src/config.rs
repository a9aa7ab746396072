//! Settings: environment variables, each with a command-line flag.

use std::net::SocketAddr;

use clap::Parser;

/// Settings of the `saas` server. Every flag can also be given by the environment variable
/// named in its help.
///
/// ```
/// use clap::Parser;
/// use saas::Settings;
/// let s = Settings::try_parse_from(["saas", "--bind", "127.0.0.1:8080"]).unwrap();
/// assert_eq!(s.bind.port(), 8080);
/// assert_eq!(s.base_domain, "localhost");
/// ```
#[derive(Debug, Clone, Parser)]
#[command(name = "saas", about = "The tenancy reference SaaS")]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "SAAS_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// Base domain: tenant `acme` is served at `acme.{base domain}`.
    #[arg(long, env = "SAAS_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,

    /// The account with this email is a platform administrator.
    #[arg(long, env = "SAAS_PLATFORM_ADMIN_EMAIL")]
    pub platform_admin_email: Option<String>,

    /// HS256 secret for login tokens (at least 32 bytes); random per start when unset, which
    /// signs everybody out on restart.
    #[arg(long, env = "SAAS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Application database URL, as the unprivileged runtime role (a member of
    /// `tenancy_runtime`). Unset: start an embedded throw-away PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Owner URL used only to run migrations (library and app). Unset: migrations are not run.
    #[arg(long, env = "SAAS_MIGRATE_DATABASE_URL", hide_env_values = true)]
    pub migrate_database_url: Option<String>,

    /// Platform URL, as a member of `tenancy_platform`: organisation creation and the platform
    /// admin API. Required with `DATABASE_URL`.
    #[arg(long, env = "SAAS_PLATFORM_DATABASE_URL", hide_env_values = true)]
    pub platform_database_url: Option<String>,
}
