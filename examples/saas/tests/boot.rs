//! Start-up: the embedded server path of `cargo run -p saas`, and the refusal of a privileged
//! application role.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use saas::auth::TokenKeys;
use saas::db::DbError;
use saas::{AppConfig, AppState};
use tenancy_sqlx::testing::TestDatabase;
use tower::ServiceExt as _;

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[tokio::test]
async fn a_superuser_database_url_is_refused_with_a_clear_message() {
    let db = TestDatabase::new().await.unwrap();
    saas::db::app_migrator().run(db.admin_pool()).await.unwrap();
    let err = saas::db::connect(
        db.admin_connect_options(),
        db.platform_connect_options().unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DbError::Refused(_)), "{err:?}");
    let text = chain(&err);
    assert!(text.to_lowercase().contains("superuser"), "{text}");
    // Positive control: the application role is accepted.
    let ok = saas::db::connect(
        db.app_connect_options().unwrap(),
        db.platform_connect_options().unwrap(),
    )
    .await;
    assert!(ok.is_ok(), "{:?}", ok.err().map(|e| chain(&e)));
    // The app's schema (library and app migrations) audits clean as the application role: no
    // finding at all, warnings included.
    let app = db.app_pool(1).await.unwrap();
    let findings = tenancy_sqlx::audit(&app).await.unwrap();
    assert!(findings.is_empty(), "{findings:#?}");
    app.close().await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn embedded_server_boots_migrates_and_serves() {
    let embedded = saas::db::start_embedded().await.unwrap();
    let database = saas::db::connect(embedded.app.clone(), embedded.platform.clone())
        .await
        .unwrap();
    let state = AppState::new(
        database.clone(),
        AppConfig::new("localhost", TokenKeys::random().unwrap()),
    )
    .unwrap();
    let app = saas::router(state);
    let response = app
        .oneshot(
            Request::post("/api/signup")
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"email":"a@b.test","password":"long enough","name":"A"}"#,
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // The runtime role the app uses on the embedded server is unprivileged.
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&database.app)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    database.tenant.close().await;
    database.app.close().await;
    database.platform.close().await;
    database.platform_raw.close().await;
    let dir = embedded.server.data_dir().to_path_buf();
    embedded.server.stop().await.unwrap();
    assert!(
        !dir.exists(),
        "data directory left behind: {}",
        dir.display()
    );
}
