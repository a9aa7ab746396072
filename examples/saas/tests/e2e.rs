//! End to end: the web UI driven in headless Chromium through WebDriver (chromedriver).
//!
//! Two users, two organisations (plus a second one for the first user), data created through
//! the forms, the organisation switcher, each side proving it cannot see the other's rows, and
//! the platform administrator suspending one organisation, whose pages then show the
//! suspended error while the other keeps working.
//!
//! Needs `chromedriver` and `chromium` (Debian: `apt-get install chromium chromium-driver`).
//! Without them the test prints why and passes, unless `TENANCY_E2E_REQUIRED` is set (CI sets
//! it), in which case it fails. Screenshots of the main pages go to a temporary directory, or
//! to `examples/saas/docs/` (the README's pictures) with `SAAS_E2E_SCREENSHOTS=1`.
//! Synchronisation is the WebDriver wait API only (no sleeps).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The skip notice goes to stderr on purpose.
#![allow(clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use saas::auth::TokenKeys;
use saas::web::SessionAuthenticator;
use saas::{AppConfig, AppState};
use serde_json::json;
use tenancy_sqlx::testing::TestDatabase;

const ADMIN_EMAIL: &str = "root@platform.test";
const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(30);

/// The chromedriver binary, if installed.
fn chromedriver() -> Option<PathBuf> {
    let candidates = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("chromedriver"))
                    .find(|p| p.exists())
            })
        })
}

/// The Chromium binary, if installed where Debian puts it.
fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a free port and waits for its "started successfully" line.
fn start_driver(binary: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("started successfully"));
    assert!(ready, "chromedriver did not start");
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A browser session with its own profile directory.
struct Browser {
    client: Client,
    profile: PathBuf,
    base: String,
}

impl Browser {
    async fn open(driver: &Driver, chromium: &Path, base: &str) -> Self {
        let profile = std::env::temp_dir().join(format!("saas-e2e-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,860",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session");
        Self {
            client,
            profile,
            base: base.to_owned(),
        }
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Waits for an element.
    async fn wait_css(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => self.fail(&format!("waiting for `{css}`: {e}")).await,
        }
    }

    /// Panics with the current URL and page text.
    async fn fail(&self, what: &str) -> ! {
        let url = self.client.current_url().await.map(|u| u.to_string());
        let source = self.client.source().await.unwrap_or_default();
        panic!("{what}\nat {url:?}\n{source}")
    }

    /// Waits for a cell of a list table with exactly this text.
    async fn wait_row(&self, table: &str, text: &str) {
        let xpath = format!("//table[@id='{table}']//td[normalize-space()='{text}']");
        if let Err(e) = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
        {
            self.fail(&format!("waiting for `{text}` in #{table}: {e}"))
                .await;
        }
    }

    async fn fill(&self, form: &str, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            let input = self.wait_css(&format!("{form} [name='{name}']")).await;
            if input.tag_name().await.unwrap() == "select" {
                input.select_by_label(value).await.unwrap();
            } else {
                input.clear().await.unwrap();
                input.send_keys(value).await.unwrap();
            }
        }
    }

    async fn submit(&self, form: &str) {
        self.wait_css(&format!("{form} button[type='submit']"))
            .await
            .click()
            .await
            .unwrap();
    }

    async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        // The committed pictures are refreshed only on request, so test runs leave the
        // working tree alone.
        let dir = if std::env::var_os("SAAS_E2E_SCREENSHOTS").is_some() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
        } else {
            std::env::temp_dir().join("saas-e2e-screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn signup(&self, name: &str, email: &str) {
        self.goto("/signup").await;
        self.fill(
            "#signup-form",
            &[("name", name), ("email", email), ("password", PASSWORD)],
        )
        .await;
        self.submit("#signup-form").await;
        self.wait_css("#org-form").await;
    }

    async fn create_org(&self, name: &str, slug: &str) {
        self.goto("/orgs").await;
        self.fill("#org-form", &[("name", name), ("slug", slug)])
            .await;
        self.submit("#org-form").await;
        self.wait_css("#lead-form").await;
        assert_eq!(self.path().await, format!("/t/{slug}/leads"));
    }

    async fn add_campaign(&self, slug: &str, name: &str) {
        self.goto(&format!("/t/{slug}/campaigns")).await;
        self.fill("#campaign-form", &[("name", name), ("status", "active")])
            .await;
        self.submit("#campaign-form").await;
        self.wait_row("campaigns", name).await;
    }

    async fn add_lead(&self, slug: &str, name: &str, email: &str, campaign: Option<&str>) {
        self.goto(&format!("/t/{slug}/leads")).await;
        self.fill("#lead-form", &[("name", name), ("email", email)])
            .await;
        if let Some(c) = campaign {
            self.fill("#lead-form", &[("campaign_id", c)]).await;
        }
        self.submit("#lead-form").await;
        self.wait_row("leads", name).await;
    }

    /// The id of the lead named `name` on the current leads page (from its edit link).
    async fn lead_id(&self, name: &str) -> String {
        let xpath = format!(
            "//table[@id='leads']//tr[td[normalize-space()='{name}']]//a[normalize-space()='Edit']"
        );
        let href = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        href.rsplit('/').next().unwrap().to_owned()
    }

    /// Opens an organisation through the header's switcher.
    async fn switch_to(&self, slug: &str) {
        self.wait_css("#org-switcher summary")
            .await
            .click()
            .await
            .unwrap();
        self.wait_css(&format!("#org-switcher a[data-slug='{slug}']"))
            .await
            .click()
            .await
            .unwrap();
        // The new page marks the organisation as current in its switcher.
        self.wait_css(&format!(
            "#org-switcher a[data-slug='{slug}'][aria-current]"
        ))
        .await;
        self.wait_css("#lead-form").await;
    }

    /// The title of the error page shown now.
    async fn error_title(&self) -> String {
        self.wait_css("#error-title").await.text().await.unwrap()
    }
}

async fn start_app() -> (TestDatabase, SocketAddr) {
    let db = TestDatabase::new().await.unwrap();
    saas::db::app_migrator().run(db.admin_pool()).await.unwrap();
    let database = saas::db::connect(
        db.app_connect_options().unwrap(),
        db.platform_connect_options().unwrap(),
    )
    .await
    .unwrap();
    let keys = TokenKeys::random().unwrap();
    let config = AppConfig::new("localhost", keys.clone())
        .with_platform_admin_email(Some(ADMIN_EMAIL.to_owned()))
        .with_authenticator(Arc::new(SessionAuthenticator::new(&keys)));
    let state = AppState::new(database, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, saas::router(state)).await.unwrap();
    });
    (db, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orgs_in_a_browser_stay_apart_and_suspension_shows() {
    let (Some(driver_bin), Some(chromium_bin)) = (chromedriver(), chromium()) else {
        if std::env::var_os("TENANCY_E2E_REQUIRED").is_some() {
            panic!("TENANCY_E2E_REQUIRED is set but chromedriver or chromium is not installed");
        }
        eprintln!(
            "SKIPPED e2e: chromedriver/chromium not installed \
             (apt-get install chromium chromium-driver); set TENANCY_E2E_REQUIRED=1 to fail instead"
        );
        return;
    };
    let (_db, addr) = start_app().await;
    // The base domain is `localhost`: a bare IP host is not a tenant host.
    let base = format!("http://localhost:{}", addr.port());
    let driver = start_driver(&driver_bin);

    // Alice: account, organisation Acme with a campaign and a lead, a second organisation.
    let alice = Browser::open(&driver, &chromium_bin, &base).await;
    alice.goto("/login").await;
    alice.wait_css("#login-form").await;
    alice.screenshot("login").await;
    alice.signup("Alice Martin", "alice@acme.test").await;
    alice.create_org("Acme Corp", "acme").await;
    alice.add_campaign("acme", "Spring launch").await;
    alice.screenshot("campaigns").await;
    alice
        .add_lead(
            "acme",
            "Ada Lovelace",
            "ada@example.com",
            Some("Spring launch"),
        )
        .await;
    alice
        .add_lead("acme", "Grace Hopper", "grace@example.com", None)
        .await;
    let ada = alice.lead_id("Ada Lovelace").await;

    // Edit a lead: status and phone.
    alice.goto(&format!("/t/acme/leads/{ada}")).await;
    alice
        .fill(
            "#lead-edit-form",
            &[("status", "qualified"), ("phone", "+44 20 7946 0000")],
        )
        .await;
    alice.screenshot("lead-edit").await;
    alice.submit("#lead-edit-form").await;
    alice.wait_row("leads", "+44 20 7946 0000").await;
    alice.screenshot("leads").await;

    alice.create_org("Acme Labs", "acme-labs").await;
    alice
        .add_lead("acme-labs", "Labs Prospect", "prospect@labs.test", None)
        .await;

    // Switching organisation shows only that organisation's rows.
    alice.switch_to("acme").await;
    let acme_page = alice.text().await;
    assert!(acme_page.contains("Ada Lovelace") && acme_page.contains("Grace Hopper"));
    assert!(!acme_page.contains("Labs Prospect"));
    alice.switch_to("acme-labs").await;
    let labs_page = alice.text().await;
    assert!(labs_page.contains("Labs Prospect"));
    assert!(!labs_page.contains("Ada Lovelace"));

    // Bob: his own organisation and lead.
    let bob = Browser::open(&driver, &chromium_bin, &base).await;
    bob.signup("Bob Stone", "bob@bravo.test").await;
    bob.create_org("Bravo Ltd", "bravo").await;
    bob.add_lead("bravo", "Bravo Buyer", "buyer@bravo.test", None)
        .await;
    let bob_page = bob.text().await;
    assert!(bob_page.contains("Bravo Buyer"));
    assert!(!bob_page.contains("Ada Lovelace") && !bob_page.contains("Labs Prospect"));

    // Bob cannot open Acme's pages, nor Acme's lead id under his own organisation.
    bob.goto("/t/acme/leads").await;
    assert_eq!(bob.error_title().await, "Not a member");
    assert!(!bob.text().await.contains("Ada Lovelace"));
    bob.goto(&format!("/t/acme/leads/{ada}")).await;
    assert_eq!(bob.error_title().await, "Not a member");
    bob.goto(&format!("/t/bravo/leads/{ada}")).await;
    assert_eq!(bob.error_title().await, "Not found");
    assert!(!bob.text().await.contains("Ada Lovelace"));
    // His switcher lists only his organisation.
    bob.goto("/orgs").await;
    bob.wait_css("#orgs").await;
    let orgs = bob.text().await;
    assert!(orgs.contains("Bravo Ltd") && !orgs.contains("Acme"));

    // Alice, back in Acme, does not see Bob's lead; members page lists her as owner.
    alice.switch_to("acme").await;
    assert!(!alice.text().await.contains("Bravo Buyer"));
    alice.goto("/t/acme/members").await;
    alice.wait_row("members", "Alice Martin").await;
    assert!(!alice.text().await.contains("Bob Stone"));
    alice.goto("/orgs").await;
    alice.wait_css("#orgs").await;
    alice.screenshot("orgs").await;

    // Alice invites Dana as a member; Dana accepts with the code and sees Acme's data.
    alice.goto("/t/acme/members").await;
    alice
        .fill(
            "#invite-form",
            &[("email", "dana@acme.test"), ("role", "member")],
        )
        .await;
    alice.submit("#invite-form").await;
    let code = alice
        .wait_css("#invitation-token")
        .await
        .text()
        .await
        .unwrap();
    let dana = Browser::open(&driver, &chromium_bin, &base).await;
    dana.signup("Dana Scully", "dana@acme.test").await;
    dana.fill("#accept-form", &[("token", code.trim())]).await;
    dana.submit("#accept-form").await;
    dana.wait_row("leads", "Ada Lovelace").await;
    assert_eq!(dana.path().await, "/t/acme/leads");
    // As a member she may add leads but not edit them, and has no audit log.
    let page = dana.text().await;
    assert!(!page.contains("Edit") && !page.contains("Audit log"));
    dana.goto("/t/acme/audit").await;
    assert_eq!(dana.error_title().await, "Not allowed");

    // Alice makes her a manager, then removes her; the audit log shows both.
    alice.goto("/t/acme/members").await;
    let row = "//table[@id='members']//tr[td[normalize-space()='Dana Scully']]";
    alice
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!("{row}//select[@name='role']")))
        .await
        .unwrap()
        .select_by_label("manager")
        .await
        .unwrap();
    alice
        .client
        .find(Locator::XPath(&format!(
            "{row}//button[normalize-space()='Change']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    alice
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "{row}//span[@class='badge' and normalize-space()='manager']"
        )))
        .await
        .unwrap();
    alice.screenshot("members").await;
    dana.goto("/t/acme/leads").await;
    dana.wait_css("#leads a[href*='/leads/']").await;
    alice
        .client
        .find(Locator::XPath(&format!(
            "{row}//button[normalize-space()='Remove']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    alice
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//span[normalize-space()='1 in Acme Corp']"))
        .await
        .unwrap();
    dana.goto("/t/acme/leads").await;
    assert_eq!(dana.error_title().await, "Not a member");
    alice.goto("/t/acme/audit").await;
    alice.wait_css("table#audit").await;
    alice.screenshot("audit").await;

    // The platform administrator suspends Bravo.
    let admin = Browser::open(&driver, &chromium_bin, &base).await;
    admin.signup("Platform Admin", ADMIN_EMAIL).await;
    admin.goto("/admin").await;
    admin
        .wait_css("#suspend-bravo")
        .await
        .click()
        .await
        .unwrap();
    admin.wait_css("#activate-bravo").await;
    let dashboard = admin.text().await;
    assert!(dashboard.contains("acme") && dashboard.contains("bravo"));
    admin.screenshot("admin").await;

    // Bravo's pages now show the suspended error; Acme keeps working.
    bob.goto("/t/bravo/leads").await;
    assert_eq!(bob.error_title().await, "Organisation suspended");
    assert!(!bob.text().await.contains("Bravo Buyer"));
    bob.screenshot("suspended").await;
    alice.goto("/t/acme/leads").await;
    alice.wait_row("leads", "Ada Lovelace").await;
    // Non-admins do not reach the dashboard.
    alice.goto("/admin").await;
    assert_eq!(alice.error_title().await, "Not allowed");

    // Activated again, Bravo's data is back.
    admin.goto("/admin").await;
    admin
        .wait_css("#activate-bravo")
        .await
        .click()
        .await
        .unwrap();
    admin.wait_css("#suspend-bravo").await;
    bob.goto("/t/bravo/leads").await;
    bob.wait_row("leads", "Bravo Buyer").await;

    // Logging out ends the session: tenant pages go to the login page.
    bob.wait_css("#logout").await.click().await.unwrap();
    bob.wait_css("#login-form").await;
    bob.goto("/t/bravo/leads").await;
    bob.wait_css("#login-form").await;

    alice.close().await;
    bob.close().await;
    dana.close().await;
    admin.close().await;
}
