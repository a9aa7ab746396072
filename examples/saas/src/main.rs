//! `saas`: the reference SaaS server. See `examples/saas/README.md`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use saas::auth::TokenKeys;
use saas::db::{self, EmbeddedDb};
use saas::{AppConfig, AppState, Settings};
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match run(Settings::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let mut embedded: Option<EmbeddedDb> = None;
    let database = match &settings.database_url {
        None => {
            println!("no DATABASE_URL: starting an embedded throw-away PostgreSQL ...");
            let e = db::start_embedded().await?;
            println!(
                "embedded PostgreSQL on port {}, data in {} (deleted on exit)",
                e.server.port(),
                e.server.data_dir().display()
            );
            let database = db::connect(e.app.clone(), e.platform.clone()).await?;
            embedded = Some(e);
            database
        }
        Some(url) => {
            if let Some(owner_url) = &settings.migrate_database_url {
                let owner = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(db::parse_url(owner_url, "SAAS_MIGRATE_DATABASE_URL")?)
                    .await
                    .context("connecting with SAAS_MIGRATE_DATABASE_URL")?;
                db::migrate(&owner).await?;
                owner.close().await;
            }
            let platform_url = settings
                .platform_database_url
                .as_deref()
                .context("SAAS_PLATFORM_DATABASE_URL is required with DATABASE_URL")?;
            db::connect(
                db::parse_url(url, "DATABASE_URL")?,
                db::parse_url(platform_url, "SAAS_PLATFORM_DATABASE_URL")?,
            )
            .await?
        }
    };

    let tokens = match &settings.jwt_secret {
        Some(secret) => TokenKeys::new(secret.as_bytes()).context("SAAS_JWT_SECRET")?,
        None => TokenKeys::random()?,
    };
    let config = AppConfig::new(settings.base_domain.clone(), tokens.clone())
        .with_platform_admin_email(settings.platform_admin_email.clone())
        .with_authenticator(std::sync::Arc::new(saas::web::SessionAuthenticator::new(
            &tokens,
        )));
    let state = AppState::new(database.clone(), config)?;

    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let port = listener.local_addr()?.port();
    println!(
        "listening on http://{}:{port} (tenant `acme`: http://acme.{}:{port}/)",
        settings.base_domain, settings.base_domain
    );
    axum::serve(listener, saas::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    println!("shutting down");
    database.tenant.close().await;
    database.app.close().await;
    database.platform.close().await;
    database.platform_raw.close().await;
    if let Some(e) = embedded {
        e.server.stop().await?;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
