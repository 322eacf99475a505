//! Browser tests: the pages, driven in headless Debian Chromium through chromedriver
//! (fantoccini, over plain HTTP on loopback), against the app served on a real port.
//!
//! Every test has its own database, server port, chromedriver (own port, own temporary
//! directory holding a fresh Chromium profile) and browser session. chromedriver leads
//! its own process group, Chromium included; a guard kills that group and removes the
//! directory when the test ends, pass or fail. Missing packages fail the tests with the
//! names to install: CI (`.ci/run`) installs them, so nothing is skipped silently.

use crate::clinic_pages;
use crate::world::{self, TEST_PASSWORD, World};
use axum::body::Bytes;
use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use paddock_domain::{BuiltinRole, Email};
use paddock_store::{RequestMeta, staff::invitations, staff::roles};
use paddock_web::HttpConfig;
use serde_json::{Value, json};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Debian's Chromium (package `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`), looked up on `PATH`.
const CHROMEDRIVER: &str = "chromedriver";
/// What to install when either is missing.
const PACKAGES: &str = "apt-get install chromium chromium-driver";
/// Chromium's flags for running as root on this closed network (see the machine notes);
/// `--user-data-dir` is added per browser.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
/// The longest wait for an element, a page or chromedriver: generous for a loaded
/// two-core machine running four tests at once, but bounded.
const WAIT: Duration = Duration::from_secs(20);
/// How often bounded waits look again.
const POLL: Duration = Duration::from_millis(50);
/// The host name the browser uses for the app. Chromium keeps `Secure` (and so
/// `__Host-`) cookies set over plain HTTP by a loopback address, a potentially
/// trustworthy origin.
const HOST: &str = "127.0.0.1";
const SESSION_COOKIE: &str = "__Host-paddock_session";
/// The public URL the test state writes into mailed links.
const MAILED_BASE: &str = "https://paddock.test";
const ADMIN: &str = "admin@riverside.example";
const PRACTICE: &str = "Riverside Animal Hospital";
/// A password an invited person chooses: long, not breached, not about them.
const STRONG_PASSWORD: &str = "copper-lantern-47-drifts-north";
/// 12 characters, but in the breached list shipped with the binary.
const BREACHED_PASSWORD: &str = "qwerty123456";

// --- the app on a real port ------------------------------------------------------

/// Two practices served on a loopback port, with the mail outbox of this test.
struct Site {
    world: World,
    outbox: TempDir,
    base: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn site() -> Site {
    let world = world::two_practices().await;
    let outbox = TempDir::with_prefix("paddock-browser-outbox-").expect("a temporary directory");
    let router = paddock_web::build_router(
        world::test_state(
            world.app.clone(),
            world::test_clock(),
            outbox.path().to_owned(),
        ),
        &HttpConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind((HOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(paddock_web::serve(
        listener,
        router,
        None,
        std::future::pending(),
    ));
    Site {
        world,
        outbox,
        base: format!("http://{HOST}:{port}"),
        server,
    }
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The invitation link mailed to `email`, pointed at this server.
    #[track_caller]
    fn invitation_link(&self, email: &str) -> String {
        let prefix = format!("{MAILED_BASE}/invitations/");
        let mails = paddock_notify::read_outbox(self.outbox.path()).unwrap();
        let mail = mails
            .iter()
            .rev()
            .find(|m| m.to.contains(email))
            .unwrap_or_else(|| panic!("no mail to {email} among {} in the outbox", mails.len()));
        let start = mail
            .body_text
            .find(&prefix)
            .unwrap_or_else(|| panic!("no invitation link in: {}", mail.body_text))
            + prefix.len();
        let token: String = mail.body_text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(!token.is_empty(), "empty token in: {}", mail.body_text);
        self.url(&format!("/invitations/{token}"))
    }

    /// An invitation of practice A for `email` as a veterinarian, created as its admin
    /// (no mail: the token comes straight from the store), as a link to this server.
    async fn invite_directly(&self, email: &str) -> String {
        let meta = RequestMeta::system("browser test");
        let mut tx = self
            .world
            .app
            .begin(&self.world.a.principal, &meta)
            .await
            .unwrap();
        let role = roles::list(&mut tx)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.builtin == Some(BuiltinRole::Veterinarian))
            .expect("the built-in Veterinarian role");
        let created = invitations::create(
            &mut tx,
            &Email::parse("email", email).unwrap(),
            role.id,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.url(&format!("/invitations/{}", created.token))
    }
}

// --- chromedriver and Chromium ---------------------------------------------------

/// The absolute path of `program` on `PATH`, if it is there.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// The chromedriver to run; fails the test (never skips it) when a package is missing.
fn require_browser() -> PathBuf {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: the browser tests need Debian's Chromium and its driver \
         ({PACKAGES}; .ci/run installs them when run as root)"
    );
    on_path(CHROMEDRIVER).unwrap_or_else(|| {
        panic!(
            "{CHROMEDRIVER} is not on PATH: the browser tests need Debian's Chromium and \
             its driver ({PACKAGES}; .ci/run installs them when run as root)"
        )
    })
}

/// A port nobody listens on right now (chromedriver binds it a moment later; a lost
/// race shows up as chromedriver exiting, and [`Driver::start`] tries another).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running chromedriver, leader of the process group that Chromium joins, and its
/// temporary directory (log, `TMPDIR`, Chromium profile). Dropping it kills the group
/// and removes the directory.
struct Driver {
    child: Child,
    port: u16,
    dir: Option<TempDir>,
}

impl Driver {
    async fn start() -> Driver {
        let program = require_browser();
        let mut failures = Vec::new();
        for _ in 0..3 {
            let dir = TempDir::with_prefix("paddock-browser-").expect("a temporary directory");
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("chromedriver.log")).unwrap();
            // Everything Chromium writes (profile, crash database, caches, temporary
            // files) stays in the directory.
            let home = dir.path().join("home");
            let child = Command::new(&program)
                .arg(format!("--port={port}"))
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .env("XDG_CACHE_HOME", home.join(".cache"))
                .env("TMPDIR", dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let mut driver = Driver {
                child,
                port,
                dir: Some(dir),
            };
            match driver.wait_until_ready().await {
                Ok(()) => return driver,
                Err(why) => failures.push(why), // dropped: killed and removed
            }
        }
        panic!(
            "chromedriver did not become ready:\n{}",
            failures.join("\n")
        );
    }

    fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the directory lives as long as the driver")
            .path()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("chromedriver.log")).unwrap_or_default()
    }

    /// Polls `/status` until chromedriver says it is ready, it exits, or [`WAIT`] passes.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let http = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let uri: axum::http::Uri = format!("http://127.0.0.1:{}/status", self.port)
            .parse()
            .unwrap();
        let started = format!("started successfully on port {}", self.port);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("chromedriver exited ({status}):\n{}", self.log()));
            }
            let answer = tokio::time::timeout(POLL * 20, async {
                let response = http.get(uri.clone()).await.ok()?;
                let body = response.into_body().collect().await.ok()?.to_bytes();
                serde_json::from_slice::<Value>(&body).ok()
            })
            .await;
            // Ready, and the answer is our chromedriver's, not another process's that
            // took the port first (ours then exits: "IPv4 port not available").
            if let Ok(Some(status)) = answer
                && status["value"]["ready"] == json!(true)
                && self.log().contains(&started)
            {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!(
            "chromedriver on port {} not ready within {WAIT:?}:\n{}",
            self.port,
            self.log()
        ))
    }
}

/// Whether any process of the group led by `leader` is still alive.
fn group_alive(leader: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{leader}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Live processes whose arguments name `dir`: Chromium's crash handlers leave the
/// process group, but carry their database path (inside `dir`) on the command line.
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|args| args.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

fn kill(target: &str) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", target])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Driver {
    fn drop(&mut self) {
        let leader = self.child.id();
        kill(&format!("-{leader}"));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Some(dir) = self.dir.take() else { return };
        // Wait (bounded) until nothing of this browser is left, so that no process
        // writes into the directory while it is being removed.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stragglers = processes_using(dir.path());
            if (stragglers.is_empty() && !group_alive(leader)) || Instant::now() > deadline {
                break;
            }
            for pid in stragglers {
                kill(&pid.to_string());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let path = dir.path().to_owned();
        if dir.close().is_err() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// One browser session in its own chromedriver and Chromium.
struct Browser {
    // Field order matters: the client goes before the driver that kills its browser.
    client: Client,
    driver: Driver,
}

impl Browser {
    async fn open() -> Browser {
        let driver = Driver::start().await;
        let profile = driver.dir().join("profile");
        std::fs::create_dir(&profile).unwrap();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let connected = tokio::time::timeout(
            WAIT * 3,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{}", driver.port)),
        )
        .await;
        let client = match connected {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "chromedriver could not start {CHROMIUM}: {e}\n{}",
                driver.log()
            ),
            Err(_) => panic!("no browser session within {:?}\n{}", WAIT * 3, driver.log()),
        };
        client.set_window_size(1280, 900).await.unwrap();
        Browser { client, driver }
    }

    /// Ends the session the polite way; the driver's guard then reaps what is left.
    async fn close(self) {
        let Browser { client, driver } = self;
        let _ = tokio::time::timeout(WAIT, client.close()).await;
        drop(driver);
    }

    /// Where the browser is and what the page says, for failure messages.
    async fn describe(&self) -> String {
        let url = match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("<no url: {e}>"),
        };
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("<no body: {e}>"),
        };
        format!("{url}\n---\n{text}\n---")
    }

    async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            panic!("cannot open {url}: {e}");
        }
    }

    /// The element `css`, waiting for it up to [`WAIT`].
    async fn element(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no {css} within {WAIT:?} ({e}) on {}",
                self.describe().await
            ),
        }
    }

    /// Waits until the page is `path_and_query` of the current origin.
    async fn wait_for_path(&self, path_and_query: &str) {
        let here = self.client.current_url().await.unwrap();
        let wanted = here.join(path_and_query).unwrap();
        if let Err(e) = self.client.wait().at_most(WAIT).for_url(&wanted).await {
            panic!(
                "not at {wanted} within {WAIT:?} ({e}): {}",
                self.describe().await
            );
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.unwrap()
    }

    /// The current value of the form field `css`.
    async fn value(&self, css: &str) -> String {
        self.element(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Sets a date or time input's value. Typing into them depends on the browser's
    /// locale (the field order of a date, a 12- or 24-hour clock), so the test sets
    /// the value the way a picker would, as `YYYY-MM-DD` or `HH:MM`.
    async fn set_value(&self, css: &str, value: &str) {
        self.element(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap();
        assert_eq!(self.value(css).await, value, "{css} takes {value}");
    }

    /// Chooses the option whose value is `value` in the select `css`.
    async fn select_value(&self, css: &str, value: &str) {
        self.element(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("no option {value} in {css}: {e}"));
    }

    /// The text of every element matching `css`, in page order.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            texts.push(element.text().await.unwrap());
        }
        texts
    }

    /// The attribute `name` of the element `css`.
    async fn attr(&self, css: &str, name: &str) -> String {
        self.element(css)
            .await
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// How many elements match `css` right now (no waiting).
    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn session_cookie(&self) -> Option<Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name() == SESSION_COOKIE)
    }

    /// Whether the page has a link whose text is `text`.
    async fn has_link(&self, text: &str) -> bool {
        !self
            .client
            .find_all(Locator::LinkText(text))
            .await
            .unwrap()
            .is_empty()
    }

    /// Fills in the sign-in form on the current page and submits it.
    async fn sign_in(&self, email: &str, password: &str) {
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("#sign-in").await;
    }

    /// Saves a screenshot of the page as `target/browser-screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = target_dir().join("browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// Cargo's target directory: the test binary lives in `<target>/<profile>/deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_owned)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

// --- the tests -------------------------------------------------------------------

#[tokio::test]
async fn a_member_signs_in_sees_the_dashboard_and_signs_out() {
    let (site, browser) = tokio::join!(site(), Browser::open());

    browser.goto(&site.url("/")).await;
    browser.wait_for_path("/login").await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;

    assert_eq!(browser.text("#dashboard-title").await, "Welcome, Admin");
    assert_eq!(browser.text("#practice-name").await, PRACTICE);
    assert_eq!(
        browser.text("#signed-in-as").await,
        "Admin · Practice admin"
    );
    browser.wait_for_path("/").await;
    let cookie = browser
        .session_cookie()
        .await
        .expect("signed in: the browser keeps the session cookie");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly: {cookie}");
    assert_eq!(cookie.secure(), Some(true), "Secure: {cookie}");
    assert_eq!(cookie.path(), Some("/"), "{cookie}");
    let shot = browser.screenshot("dashboard").await;
    eprintln!("dashboard screenshot: {}", shot.display());

    browser.click("#sign-out").await;
    browser.wait_for_path("/login?notice=signed-out").await;
    assert_eq!(browser.text("p.notice").await, "You have signed out.");
    assert!(
        browser.session_cookie().await.is_none(),
        "signing out removes the cookie"
    );
    browser.goto(&site.url("/")).await;
    browser.wait_for_path("/login").await;
    browser.element("#sign-in").await;

    // The session ended on the server too: the old token, put back, opens nothing.
    // (WebDriver's Add Cookie cannot set a `__Host-` cookie, which has no domain; the
    // page's script can, without HttpOnly, which the server does not look at.)
    browser
        .client
        .execute(
            "document.cookie = arguments[0] + '=' + arguments[1] + '; Path=/; Secure'",
            vec![json!(SESSION_COOKIE), json!(cookie.value())],
        )
        .await
        .unwrap();
    assert_eq!(
        browser.session_cookie().await.map(|c| c.value().to_owned()),
        Some(cookie.value().to_owned()),
        "the old token is back in the jar"
    );
    browser.goto(&site.url("/")).await;
    browser.wait_for_path("/login").await;
    browser.element("#sign-in").await;
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_keeps_the_email() {
    let (site, browser) = tokio::join!(site(), Browser::open());

    browser.goto(&site.url("/login")).await;
    browser
        .sign_in(ADMIN, "not-the-password-of-this-admin")
        .await;

    let error = browser.element("#login-error").await;
    assert!(error.is_displayed().await.unwrap(), "the error is visible");
    let message = error.text().await.unwrap();
    assert!(message.contains("wrong"), "{message}");
    assert_eq!(browser.value("#email").await, ADMIN, "the email is kept");
    assert_eq!(
        browser.value("#password").await,
        "",
        "the password is not sent back"
    );
    assert!(
        browser.session_cookie().await.is_none(),
        "no session after a failed sign-in"
    );
    browser.goto(&site.url("/")).await;
    browser.wait_for_path("/login").await;
    browser.close().await;
}

#[tokio::test]
async fn an_invited_person_accepts_and_signs_in() {
    const NEWCOMER: &str = "new.vet@riverside.example";
    let (site, browser) = tokio::join!(site(), Browser::open());

    // The admin invites through the staff page.
    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.element("#dashboard-title").await;
    assert!(browser.has_link("Staff").await, "admins manage staff");
    browser
        .client
        .find(Locator::LinkText("Staff"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for_path("/staff").await;
    browser.fill("#invite-email", NEWCOMER).await;
    browser
        .element("#invite-role")
        .await
        .select_by_label("Veterinarian")
        .await
        .unwrap();
    browser.click("#invite").await;
    assert_eq!(browser.text("#notice").await, "Invitation sent.");
    browser.click("#sign-out").await;
    browser.wait_for_path("/login?notice=signed-out").await;

    // The invited person opens the mailed link and accepts.
    browser.goto(&site.invitation_link(NEWCOMER)).await;
    let heading = browser.text("h1").await;
    assert_eq!(heading, format!("Join {PRACTICE}"));
    browser.fill("#display-name", "Vera Vet").await;
    browser.fill("#new-password", STRONG_PASSWORD).await;
    browser.click("#accept").await;
    browser.wait_for_path("/login?notice=joined").await;
    assert_eq!(
        browser.text("p.notice").await,
        "Invitation accepted. Sign in to continue."
    );

    // ... and signs in, as a veterinarian without staff management.
    browser.sign_in(NEWCOMER, STRONG_PASSWORD).await;
    assert_eq!(browser.text("#dashboard-title").await, "Welcome, Vera Vet");
    assert_eq!(browser.text("#practice-name").await, PRACTICE);
    let who = browser.text("#signed-in-as").await;
    assert_eq!(who, "Vera Vet · Veterinarian");
    assert!(
        !browser.has_link("Staff").await,
        "no Staff link without staff.manage"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_weak_password_on_the_invitation_page_is_refused_and_the_link_still_works() {
    const NEWCOMER: &str = "wes.weak@riverside.example";
    let (site, browser) = tokio::join!(site(), Browser::open());
    let link = site.invite_directly(NEWCOMER).await;

    browser.goto(&link).await;
    browser.fill("#display-name", "Wes Warren").await;
    browser.fill("#new-password", BREACHED_PASSWORD).await;
    browser.click("#accept").await;

    let errors = browser.text("#invitation-errors").await;
    assert!(errors.contains("breached"), "{errors}");
    assert_eq!(
        browser.value("#display-name").await,
        "Wes Warren",
        "the name is kept"
    );
    assert_eq!(browser.value("#new-password").await, "", "never sent back");

    // The refusal did not use the link up: a strong password is accepted.
    browser.fill("#new-password", STRONG_PASSWORD).await;
    browser.click("#accept").await;
    browser.wait_for_path("/login?notice=joined").await;
    browser.sign_in(NEWCOMER, STRONG_PASSWORD).await;
    assert_eq!(
        browser.text("#dashboard-title").await,
        "Welcome, Wes Warren"
    );
    assert_eq!(
        browser.text("#signed-in-as").await,
        "Wes Warren · Veterinarian"
    );
    browser.close().await;
}

#[tokio::test]
async fn the_admin_reads_the_audit_trail_and_one_entitys_history() {
    let (site, browser) = tokio::join!(site(), Browser::open());

    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;
    assert!(
        browser.has_link("Audit").await,
        "the nav offers the audit trail"
    );
    browser.click("a[href='/audit']").await;
    browser.wait_for_path("/audit").await;
    let table = browser.text("#audit-events").await;
    assert!(table.contains("login"), "{table}");
    assert!(table.contains("Admin"), "the actor is named: {table}");
    let shot = browser.screenshot("audit").await;
    eprintln!("audit screenshot: {}", shot.display());

    // Filtering by action narrows the list to sign-ins.
    browser.fill("#filter-action", "login").await;
    browser.click("#filter").await;
    browser
        .wait_for_path("/audit?action=login&entity_type=&entity_id=&actor=&from=&to=")
        .await;
    let rows = browser
        .client
        .find_all(Locator::Css("#audit-events tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let action = row
            .find(Locator::Css("td:nth-child(3)"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(action, "login");
    }

    // One session's history: who did what to it and when.
    browser
        .click("#audit-events tbody tr td:nth-child(4) a")
        .await;
    let history = browser.text("#history").await;
    assert!(history.starts_with("History of session"), "{history}");
    let table = browser.text("#audit-events").await;
    assert!(table.contains("create"), "the session's creation: {table}");
    browser.close().await;
}

#[tokio::test]
async fn the_admin_charts_a_visit_finalises_it_adds_an_addendum_and_books_without_double_booking() {
    const SUBJECTIVE: &str = "Lameness much improved; owner reports normal walks.";
    const ADDENDUM: &str = "Owner phoned on day 3: fully weight-bearing.";
    let (site, browser) = tokio::join!(site(), Browser::open());
    let rex = clinic_pages::rex_with_history(&site.world).await;

    // Sign in and find the patient by its owner's name.
    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.click("#nav-patients").await;
    browser.wait_for_path("/patients").await;
    browser.fill("#patient-search", "fixture").await;
    browser.click("#patient-search-submit").await;
    browser.wait_for_path("/patients?q=fixture").await;
    assert_eq!(browser.texts("#patients a.patient-link").await, ["Rex"]);
    browser.click("#patients a.patient-link").await;
    browser.wait_for_path(&format!("/patients/{rex}")).await;

    // The chart: the allergies first and loud, then what is current, the weights.
    assert_eq!(browser.text("#patient-name").await, "Rex");
    let allergies = browser.text("#allergies").await;
    assert!(allergies.contains("ALLERGIES"), "{allergies}");
    let cephalexin = allergies.find("Cephalexin").expect(&allergies);
    let penicillin = allergies.find("Penicillin").expect(&allergies);
    assert!(cephalexin < penicillin, "most severe first: {allergies}");
    assert!(allergies.to_lowercase().contains("severe"), "{allergies}");
    assert!(
        browser
            .text("#problems")
            .await
            .contains("Lameness, left forelimb")
    );
    assert!(browser.text("#prescriptions").await.contains("Meloxicam"));
    assert!(browser.text("#vaccinations-due").await.contains("Rabies"));
    let points = browser
        .attr("#weight-chart polyline.weight-line", "points")
        .await;
    assert_eq!(points.split(' ').count(), 4, "four weighings: {points}");
    let labels = browser.texts("#weight-chart text.axis-label").await;
    assert!(labels.iter().any(|l| l == "20 kg"), "{labels:?}");
    let shot = browser.screenshot("chart").await;
    eprintln!("chart screenshot: {}", shot.display());

    // A new encounter with a weight.
    browser.click("#new-encounter").await;
    browser
        .wait_for_path(&format!("/patients/{rex}/encounters/new"))
        .await;
    assert!(
        browser.text("#allergies").await.contains("Penicillin"),
        "in sight while writing"
    );
    browser.select_value("#kind", "recheck").await;
    browser.fill("#reason", "Lameness recheck").await;
    browser.fill("#subjective", SUBJECTIVE).await;
    browser.fill("#objective", "Sound at walk and trot.").await;
    browser
        .fill("#assessment", "Resolving soft-tissue injury.")
        .await;
    browser
        .fill("#plan", "Finish meloxicam; recheck if lame again.")
        .await;
    browser.fill("#weight_kg", "22.1").await;
    // The form starts at the current minute; the fixture weighed Rex moments ago, to
    // the second. Two minutes on, this visit is unambiguously the latest.
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    browser
        .set_value("#date", &later.format("%Y-%m-%d").to_string())
        .await;
    browser
        .set_value("#time", &later.format("%H:%M").to_string())
        .await;
    browser.fill("#temperature_c", "38.6").await;
    browser.click("#save-encounter").await;
    assert_eq!(browser.text("#notice").await, "Encounter saved.");
    let url = browser.client.current_url().await.unwrap();
    let encounter = url
        .path()
        .strip_prefix("/encounters/")
        .expect("on the encounter's page")
        .to_owned();
    assert_eq!(browser.text("#encounter-status").await, "open");
    let vitals = browser.text("#vitals").await;
    assert!(
        vitals.contains("22.1 kg") && vitals.contains("38.6 °C"),
        "{vitals}"
    );
    assert_eq!(browser.value("#subjective").await, SUBJECTIVE);

    // Finalised: the notes are read-only and addenda take corrections.
    browser.click("#finalise").await;
    browser
        .wait_for_path(&format!("/encounters/{encounter}?notice=finalised"))
        .await;
    assert_eq!(
        browser.text("#notice").await,
        "Encounter finalised: the notes are now locked."
    );
    assert_eq!(browser.text("#encounter-status").await, "finalised");
    assert_eq!(browser.count("textarea#subjective").await, 0, "no editor");
    assert_eq!(browser.count("#finalise").await, 0);
    assert_eq!(browser.text("#note-subjective").await, SUBJECTIVE);
    browser.fill("#addendum", ADDENDUM).await;
    browser.click("#add-addendum").await;
    browser
        .wait_for_path(&format!("/encounters/{encounter}?notice=addendum"))
        .await;
    assert_eq!(browser.text("#notice").await, "Addendum added.");
    assert_eq!(browser.texts("#addenda .addendum-body").await, [ADDENDUM]);
    assert_eq!(browser.texts("#addenda .addendum-author").await, ["Admin"]);
    assert!(browser.text("#addenda time").await.ends_with("UTC"));
    assert_eq!(
        browser.text("#note-subjective").await,
        SUBJECTIVE,
        "the original notes are unchanged"
    );
    let shot = browser.screenshot("encounter-finalised").await;
    eprintln!("encounter screenshot: {}", shot.display());

    // Back on the chart: the visit is on the timeline, its weight on the graph.
    browser.click("#back-to-chart").await;
    browser.wait_for_path(&format!("/patients/{rex}")).await;
    let row = format!("#timeline li[data-encounter-id='{encounter}']");
    let entry = browser.text(&row).await;
    assert!(entry.contains("Recheck: Lameness recheck"), "{entry}");
    assert!(entry.contains("finalised"), "{entry}");
    let times: Vec<String> = {
        let mut times = Vec::new();
        for t in browser
            .client
            .find_all(Locator::Css("#timeline time"))
            .await
            .unwrap()
        {
            times.push(t.attr("datetime").await.unwrap().unwrap());
        }
        times
    };
    let mut newest_first = times.clone();
    newest_first.sort();
    newest_first.reverse();
    assert_eq!(times, newest_first, "the timeline runs newest first");
    assert_eq!(
        browser.attr("#timeline li", "data-encounter-id").await,
        encounter,
        "the new visit is on top"
    );
    assert!(
        browser.text("#latest-weight").await.starts_with("22.1 kg"),
        "{}",
        browser.text("#latest-weight").await
    );
    let points = browser
        .attr("#weight-chart polyline.weight-line", "points")
        .await;
    assert_eq!(
        points.split(' ').count(),
        5,
        "the new weight is drawn: {points}"
    );
    let titles: Vec<String> = {
        let mut titles = Vec::new();
        for dot in browser
            .client
            .find_all(Locator::Css("#weight-chart circle.weight-dot title"))
            .await
            .unwrap()
        {
            titles.push(dot.html(true).await.unwrap());
        }
        titles
    };
    assert_eq!(titles.len(), 5);
    assert!(titles.iter().any(|t| t.contains("22.1 kg")), "{titles:?}");
    let shot = browser.screenshot("chart-after-visit").await;
    eprintln!("chart after the visit: {}", shot.display());
    // The whole chart, graph and timeline included, in one tall window.
    browser.client.set_window_size(1280, 2000).await.unwrap();
    let shot = browser.screenshot("chart-full").await;
    eprintln!("whole chart: {}", shot.display());
    browser.client.set_window_size(1280, 900).await.unwrap();

    // Book Rex in with the admin at 10:00 for 30 minutes.
    browser.click("#book-appointment").await;
    browser
        .wait_for_path(&format!("/appointments/new?patient_id={rex}"))
        .await;
    assert!(browser.text("#booking-patient").await.starts_with("Rex"));
    browser
        .element("#staff_id")
        .await
        .select_by_label("Admin")
        .await
        .unwrap();
    browser.set_value("#date", "2027-03-15").await;
    browser.set_value("#time", "10:00").await;
    browser.select_value("#duration", "30").await;
    browser.select_value("#kind", "recheck").await;
    browser.fill("#reason", "Lameness recheck").await;
    browser.click("#book").await;
    browser
        .wait_for_path("/appointments?day=2027-03-15&notice=booked")
        .await;
    assert_eq!(browser.text("#notice").await, "Appointment booked.");
    assert_eq!(
        browser.text("#calendar-title").await,
        "Monday 15 March 2027"
    );
    let admin_day = browser.text("#calendar").await;
    assert!(admin_day.contains("Admin"), "{admin_day}");
    assert!(admin_day.contains("10:00–10:30"), "{admin_day}");
    assert!(admin_day.contains("Rex"), "{admin_day}");
    assert_eq!(browser.count("#calendar .booking").await, 1);
    let shot = browser.screenshot("calendar-day").await;
    eprintln!("calendar screenshot: {}", shot.display());

    // The same vet at 10:15: refused, naming the 10:00 booking, the input kept.
    browser.click("#new-booking").await;
    browser
        .wait_for_path("/appointments/new?day=2027-03-15")
        .await;
    browser.fill("#booking-q", "Rex").await;
    browser.click("#booking-patient-search button").await;
    browser.click("#patient-choices a").await;
    assert!(browser.text("#booking-patient").await.starts_with("Rex"));
    assert_eq!(
        browser.value("#date").await,
        "2027-03-15",
        "the day is kept"
    );
    browser.set_value("#time", "10:15").await;
    browser.select_value("#duration", "20").await;
    browser.fill("#reason", "Second opinion").await;
    browser.click("#book").await;
    let clash = browser.text("#clash").await;
    assert!(clash.contains("Double booking refused"), "{clash}");
    assert!(
        clash.contains(
            "Admin already has a booking (with Rex) from 10:00 to 10:30 UTC on Monday 15 March 2027"
        ),
        "{clash}"
    );
    assert_eq!(browser.value("#time").await, "10:15");
    assert_eq!(browser.value("#date").await, "2027-03-15");
    assert_eq!(browser.value("#duration").await, "20");
    assert_eq!(browser.value("#reason").await, "Second opinion");
    assert!(browser.text("#booking-patient").await.starts_with("Rex"));
    let shot = browser.screenshot("double-booking").await;
    eprintln!("double booking screenshot: {}", shot.display());

    // Nothing was booked by the refused form.
    browser.click("#clash-day").await;
    browser.wait_for_path("/appointments?day=2027-03-15").await;
    assert_eq!(browser.count("#calendar .booking").await, 1);
    browser.close().await;
}

#[tokio::test]
async fn re_authentication_never_sends_the_browser_to_another_site() {
    let (site, browser) = tokio::join!(site(), Browser::open());
    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;

    // A link crafted by an attacker: a tab, which browsers drop, makes `//evil.example`.
    browser
        .goto(&site.url("/reauth?next=/%09/evil.example"))
        .await;
    browser.fill("#reauth-password", TEST_PASSWORD).await;
    browser.click("#reauth-confirm").await;
    browser.wait_for_path("/").await;
    let here = browser.client.current_url().await.unwrap();
    assert_eq!(
        here.host_str(),
        Some(HOST),
        "still on this site: {}",
        browser.describe().await
    );
    assert_eq!(browser.text("#practice-name").await, PRACTICE);

    // A local address is followed, with the new session cookie.
    browser.goto(&site.url("/reauth?next=/staff")).await;
    browser.fill("#reauth-password", TEST_PASSWORD).await;
    browser.click("#reauth-confirm").await;
    browser.wait_for_path("/staff").await;
    browser.close().await;
}

#[tokio::test]
async fn the_admin_signs_in_to_a_dashboard_of_the_days_panels() {
    let (site, browser) = tokio::join!(site(), Browser::open());
    // Rex is booked with the admin at 09:00 today and has checked in.
    let world = &site.world;
    let meta = RequestMeta::system("dashboard");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let rex = clinic_pages::rex(world).await.id;
    let nine = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    let booked = paddock_store::appointments::bookings::book(
        &mut tx,
        &crate::clinic::booking(Some(rex.as_uuid()), Some(world.a.admin), nine, 30),
    )
    .await
    .unwrap();
    paddock_store::appointments::bookings::set_status(
        &mut tx,
        booked.id,
        paddock_domain::AppointmentStatus::CheckedIn,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;
    assert_eq!(browser.text("#dashboard-title").await, "Welcome, Admin");
    for panel in [
        "#panel-appointments",
        "#panel-arrivals",
        "#panel-encounters",
        "#panel-vaccinations",
        "#panel-locked",
        "#panel-role-changes",
        "#panel-audit-chain",
    ] {
        browser.element(panel).await;
    }
    assert_eq!(browser.text("#appointments-count").await, "1");
    let row = browser.text("#panel-appointments tbody tr").await;
    assert!(row.starts_with("09:00 Rex"), "{row}");
    assert!(row.contains("You") && row.contains("Checked in"), "{row}");
    assert_eq!(browser.text("#arrived-count").await, "1");
    assert_eq!(browser.text("#locked-count").await, "0");
    let chain = browser.text("#panel-audit-chain").await;
    assert!(chain.contains("awaiting the sealer"), "{chain}");
    let shot = browser.screenshot("dashboard-panels").await;
    eprintln!("dashboard panels screenshot: {}", shot.display());
    browser.close().await;
}

#[tokio::test]
async fn an_unknown_page_shows_the_html_404_page_with_a_way_back() {
    let (site, browser) = tokio::join!(site(), Browser::open());
    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;

    browser.goto(&site.url("/no-such-page")).await;
    assert_eq!(browser.text("#error-title").await, "Not found");
    assert_eq!(browser.text("#error-status").await, "Error 404");
    let request_id = browser.text("#error-request-id").await;
    assert!(
        uuid::Uuid::parse_str(&request_id).is_ok(),
        "a request id to quote: {request_id:?} on {}",
        browser.describe().await
    );
    let page = browser.text("body").await;
    assert!(
        !page.contains("problem") && !page.contains('{'),
        "a page, not problem+json: {page}"
    );
    // In the staff layout: the practice and who is signed in, as on every page.
    assert_eq!(browser.text("#practice-name").await, PRACTICE);
    assert_eq!(
        browser.text("#signed-in-as").await,
        "Admin · Practice admin"
    );
    let shot = browser.screenshot("error-404").await;
    eprintln!("404 page screenshot: {}", shot.display());

    browser.click("#error-back").await;
    browser.wait_for_path("/").await;
    assert_eq!(browser.text("#practice-name").await, PRACTICE);
    browser.close().await;
}

// --- the appointment book in the practice's time zone (helper "book") -------------

#[tokio::test]
async fn a_booking_at_nine_london_time_shows_nine_on_the_calendar() {
    let (site, browser) = tokio::join!(site(), Browser::open());
    crate::time_zone::practice_in_london(&site.world).await;

    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;
    // 09:00 on a summer day, on the practice's wall clock (BST, UTC+1).
    browser
        .goto(&site.url("/appointments/new?day=2027-07-14"))
        .await;
    browser
        .element("#staff_id")
        .await
        .select_by_label("Admin")
        .await
        .unwrap();
    browser.set_value("#date", "2027-07-14").await;
    browser.set_value("#time", "09:00").await;
    browser.select_value("#duration", "30").await;
    browser.fill("#reason", "Summer booster").await;
    browser.click("#book").await;
    browser
        .wait_for_path("/appointments?day=2027-07-14&notice=booked")
        .await;
    let day = browser.text("#calendar").await;
    assert!(day.contains("09:00–09:30"), "{day}");
    assert_eq!(browser.count("#calendar .booking").await, 1);
    let zone = browser.text("#calendar-zone").await;
    assert!(zone.starts_with("Times are Europe/London."), "{zone}");

    // The API keeps UTC: the same booking starts at 08:00Z.
    browser
        .goto(&site.url("/api/v1/appointments?from=2027-07-14T00:00:00Z&to=2027-07-15T00:00:00Z"))
        .await;
    let listed: Value = serde_json::from_str(&browser.text("body").await).unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let starts = chrono::DateTime::parse_from_rfc3339(items[0]["starts_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(starts.to_rfc3339(), "2027-07-14T08:00:00+00:00", "{listed}");
    browser.close().await;
}

// --- The practice settings page (helper "settings") ---------------------------------

#[tokio::test]
async fn the_admin_changes_the_time_zone_on_the_settings_page_and_the_page_shows_it() {
    let (site, browser) = tokio::join!(site(), Browser::open());
    browser.goto(&site.url("/login")).await;
    browser.sign_in(ADMIN, TEST_PASSWORD).await;
    browser.wait_for_path("/").await;

    browser.click("#nav-settings").await;
    browser.wait_for_path("/settings").await;
    assert_eq!(browser.text("#current-zone").await, "UTC");
    assert_eq!(browser.value("#time_zone").await, "UTC");
    browser.select_value("#time_zone", "Europe/London").await;
    browser.click("#save-settings").await;
    browser.wait_for_path("/settings?notice=saved").await;
    assert_eq!(browser.text("#notice").await, "Settings saved.");
    assert_eq!(browser.text("#current-zone").await, "Europe/London");
    assert_eq!(browser.value("#time_zone").await, "Europe/London");
    assert_eq!(
        browser.attr("#nav-settings", "aria-current").await,
        "page",
        "the section is marked"
    );

    // Every page now shows times in the new zone: the audit trail labels them so.
    browser.click("#nav-audit").await;
    browser.wait_for_path("/audit").await;
    let heading = browser.texts("#audit-events th").await;
    assert!(
        heading.iter().any(|h| h == "Time (Europe/London)"),
        "{heading:?}"
    );
    browser.close().await;
}

/// The API reference renders every operation of the OpenAPI document under the site's
/// Content-Security-Policy, and breaks none of it: the viewer's scripts and styles are
/// loaded again into a page of the site with a violation listener in place first, so
/// anything it would inline (a script, a style element or attribute, an outside
/// request) is caught as the browser refuses it.
#[tokio::test]
async fn the_api_reference_renders_every_operation_without_breaking_the_csp() {
    let (site, browser) = tokio::join!(site(), Browser::open());
    let operations: usize = paddock_web::server::openapi()
        .paths
        .paths
        .values()
        .map(|item| {
            [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .filter(|op| op.is_some())
                .count()
        })
        .sum();
    assert!(operations > 40, "{operations}");

    browser.goto(&site.url("/api/docs")).await;
    browser.element(".opblock-summary-path").await;
    let shown = wait_for_count(&browser, ".opblock", operations).await;
    assert_eq!(shown, operations, "{}", browser.describe().await);
    assert!(browser.text(".info .title").await.contains("Paddock API"));
    let shot = browser.screenshot("api-docs").await;
    eprintln!("API reference screenshot: {}", shot.display());

    // The same viewer, loaded into another page of the site (same policy) with a
    // listener for refusals registered before any of its code runs.
    browser.goto(&site.url("/no-such-page")).await;
    let loaded = browser
        .client
        .execute_async(
            r##"const done = arguments[arguments.length - 1];
            window.refused = [];
            document.addEventListener("securitypolicyviolation", (e) =>
                window.refused.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber));
            const css = document.createElement("link");
            css.rel = "stylesheet";
            css.href = "/api/docs/assets/5.35.0/swagger-ui.css";
            document.head.appendChild(css);
            const root = document.createElement("div");
            root.id = "reloaded";
            document.body.appendChild(root);
            const script = document.createElement("script");
            script.src = "/api/docs/assets/5.35.0/swagger-ui-bundle.js";
            script.onload = () => {
                SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#reloaded",
                    validatorUrl: null, presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout" });
                done("loaded");
            };
            script.onerror = () => done("the bundle did not load");
            document.head.appendChild(script);"##,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!("loaded"));
    let shown = wait_for_count(&browser, "#reloaded .opblock", operations).await;
    assert_eq!(shown, operations, "{}", browser.describe().await);
    // Expand one operation, as a reader would, so its rendering is checked too.
    browser.click("#reloaded .opblock-summary-control").await;
    browser.element("#reloaded .opblock-body").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = browser
        .client
        .execute("return window.refused", vec![])
        .await
        .unwrap();
    assert_eq!(refused, json!([]), "the reference breaks the CSP");
    browser.close().await;
}

/// How many `css` elements there are once `expected` appear, or after [`WAIT`].
async fn wait_for_count(browser: &Browser, css: &str, expected: usize) -> usize {
    let end = Instant::now() + WAIT;
    loop {
        let count = browser.count(css).await;
        if count >= expected || Instant::now() >= end {
            return count;
        }
        tokio::time::sleep(POLL).await;
    }
}
