//! A test app per test: a fresh SQLite store (or the core's in-memory
//! repository), a clock the test moves, and helpers that speak JSON.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::{TestClient, TestForm, TestFormField};
use poem::{Endpoint, EndpointExt, IntoResponse};
use serde_json::{Value, json};
use tenancy_core::entity::MailContent;
use tenancy_core::limits::RateLimits;
use tenancy_core::ports::{Clock, MailOutbox, RateLimiter, Repository};
use tenancy_core::service::Settings;
use tenancy_core::testing::fakes::ManualClock;
use tenancy_core::testing::{MemoryRateLimiter, MemoryRepository};
use tenancy_core::token::SecretToken;
use tenancy_http::testing::{Exchange, ResponseValidator};
use tenancy_http::{ApiConfig, AppState};
use tenancy_store::{FsBlobs, SecretKey, Store, StoreOptions};

pub const SERVICE_TOKEN: &str = "c2VydmljZS10b2tlbi1mb3ItdGVzdHMtb25seS0xMjM";

pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, poem::Response>>,
    /// The queued emails, where the invitation tokens are.
    pub outbox: Arc<dyn MailOutbox>,
    pub clock: ManualClock,
    pub state: AppState,
    path: std::path::PathBuf,
}

impl Reply {
    pub async fn read(response: poem::test::TestResponse) -> Self {
        let response = response.0;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().into_vec().await.unwrap();
        Self {
            status,
            headers,
            bytes,
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status, printing the body when it differs.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        self
    }

    /// Asserts a problem with this status and code.
    pub fn problem(self, status: u16, code: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(reply.content_type(), "application/problem+json");
        let body = reply.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status, "{body}");
        for field in ["type", "title", "detail"] {
            assert!(body[field].is_string(), "problem without {field}: {body}");
        }
        reply
    }
}

/// A signed-up person.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub token: String,
    pub org: String,
}

/// The upload limit of the test app: small, so that 413 is cheap to reach.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024;

pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Where a test app keeps its data.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Memory,
}

impl Backend {
    pub async fn app(self) -> TestApp {
        match self {
            Self::Sqlite => TestApp::new().await,
            Self::Memory => TestApp::in_memory().await,
        }
    }
}

/// Runs each named `async fn(TestApp)` as two tests, over SQLite and over
/// the core's in-memory repository.
#[macro_export]
macro_rules! on_both_backends {
    ($($story:ident),+ $(,)?) => {
        $(
            mod $story {
                use $crate::support::Backend;

                #[tokio::test(flavor = "multi_thread")]
                async fn sqlite() {
                    super::$story(Backend::Sqlite.app().await).await;
                }

                #[tokio::test(flavor = "multi_thread")]
                async fn memory() {
                    super::$story(Backend::Memory.app().await).await;
                }
            }
        )+
    };
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        Self::with_config(settings, Self::config()).await
    }

    pub async fn with_config(settings: Settings, config: ApiConfig) -> Self {
        let path = std::env::temp_dir().join(format!("tenancy-http-{}.db", uuid::Uuid::now_v7()));
        let store = Store::open(StoreOptions::new(
            format!("sqlite://{}", path.display()),
            SecretKey::generate("test").unwrap(),
        ))
        .await
        .unwrap();
        let store = Arc::new(store);
        Self::over(store.clone(), store.clone(), store, path, settings, config)
    }

    /// The same app over the core's in-memory repository and rate limiter
    /// instead of a database: the HTTP layer depends on the core's ports only.
    pub async fn in_memory() -> Self {
        let path = std::env::temp_dir().join(format!("tenancy-http-{}.mem", uuid::Uuid::now_v7()));
        let repository = MemoryRepository::new();
        Self::over(
            Arc::new(repository.clone()),
            Arc::new(MemoryRateLimiter::default()),
            Arc::new(repository),
            path,
            Settings::default(),
            Self::config(),
        )
    }

    /// The test config: the service token, a small upload limit, and no
    /// rate limits (the tests sign in and up far more often than a person
    /// would, all from one address; the limits' own tests turn them on).
    pub fn config() -> ApiConfig {
        ApiConfig {
            service_token: Some(SecretToken::parse(SERVICE_TOKEN).unwrap()),
            max_upload_bytes: MAX_UPLOAD_BYTES,
            limits: RateLimits::off(),
            // The tests' receivers listen on loopback.
            allow_private_webhooks: true,
            ..ApiConfig::default()
        }
    }

    fn over(
        repository: Arc<dyn Repository>,
        limiter: Arc<dyn RateLimiter>,
        outbox: Arc<dyn MailOutbox>,
        path: std::path::PathBuf,
        settings: Settings,
        config: ApiConfig,
    ) -> Self {
        let clock = ManualClock::at(start());
        let state = AppState::over(
            repository,
            limiter,
            Arc::new(clock.clone()),
            settings,
            Arc::new(FsBlobs::new(path.with_extension("blobs"))),
            config,
        );
        let state_for_checks = state.clone();
        let app = tenancy_http::app(state.clone())
            .map_to_response()
            .around(move |endpoint, request| {
                validated(validator(&state_for_checks), endpoint, request)
            })
            .boxed();
        Self {
            client: TestClient::new(app),
            outbox,
            clock,
            state,
            path,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        Reply::read(request.send().await).await
    }

    /// The bytes of the database as they are on disk: the SQLite file and
    /// its write-ahead log.
    pub fn raw_database(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            if let Ok(content) = std::fs::read(file) {
                bytes.extend(content);
            }
        }
        bytes
    }

    /// The folder of the knowledge files' contents.
    pub fn blob_dir(&self) -> std::path::PathBuf {
        self.path.with_extension("blobs")
    }

    /// A multipart upload of one part named `file`.
    pub async fn upload(
        &self,
        path: &str,
        token: Option<&str>,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        let form = TestForm::new().field(
            TestFormField::bytes(bytes)
                .name("file")
                .filename(file_name)
                .content_type(content_type),
        );
        self.post_form(path, token, form).await
    }

    /// A multipart POST of `form` as it is.
    pub async fn post_form(&self, path: &str, token: Option<&str>, form: TestForm) -> Reply {
        let mut request = self.client.post(path).multipart(form);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        Reply::read(request.send().await).await
    }

    /// Creates something with a POST that answers `status`, and returns its id.
    pub async fn create(&self, path: &str, token: &str, body: Value, status: u16) -> String {
        self.post(path, Some(token), body)
            .await
            .expect(status)
            .json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Signs up and verifies the address from the verification email,
    /// which is then marked sent: the outbox holds what a test queues.
    pub async fn sign_up(&self, email: &str) -> Person {
        let person = self.sign_up_unverified(email).await;
        let mail = self
            .newest_mail(&person.email, |c| {
                matches!(c, MailContent::VerifyEmail { .. })
            })
            .await
            .expect("a verification email");
        self.post(
            "/v1/auth/verify-email",
            None,
            json!({"token": mail.content.token().expect("a token in the link").expose()}),
        )
        .await
        .expect(200);
        self.outbox
            .mark_sent(mail.id, self.clock.now())
            .await
            .unwrap();
        person
    }

    /// The newest queued email to `to` of the kind `pick` takes.
    pub async fn newest_mail(
        &self,
        to: &str,
        pick: fn(&MailContent) -> bool,
    ) -> Option<tenancy_core::entity::OutgoingMail> {
        let far = self.clock.now() + chrono::Duration::days(3650);
        self.outbox
            .due(far, usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .find(|q| q.mail.to.as_str() == to && pick(&q.mail.content))
            .map(|q| q.mail)
    }

    /// The token of the newest queued verification (`verify_email`) or
    /// reset (`reset_password`) email to `to`.
    pub async fn link_token(&self, to: &str, kind: &str) -> String {
        let pick: fn(&MailContent) -> bool = match kind {
            "verify_email" => |c| matches!(c, MailContent::VerifyEmail { .. }),
            _ => |c| matches!(c, MailContent::ResetPassword { .. }),
        };
        self.newest_mail(to, pick)
            .await
            .unwrap_or_else(|| panic!("a {kind} email to {to}"))
            .content
            .token()
            .expect("a token in the link")
            .expose()
            .to_owned()
    }

    /// Signs up, leaving the address unverified.
    pub async fn sign_up_unverified(&self, email: &str) -> Person {
        let body = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await
            .expect(201)
            .json();
        Person {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            email: body["user"]["email"].as_str().unwrap().to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
            org: body["default_organization"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }

    /// Invites `email` into `org` as `owner` and returns the invitation's id
    /// and the token from its email.
    pub async fn invite(&self, owner: &Person, org: &str, email: &str) -> (String, String) {
        self.invite_as(owner, org, email, None).await
    }

    /// Invites `email` into `org` with `role` (the default role without
    /// one) and returns the invitation's id and the token from its email.
    pub async fn invite_as(
        &self,
        inviter: &Person,
        org: &str,
        email: &str,
        role: Option<&str>,
    ) -> (String, String) {
        let mut request = json!({"email": email});
        if let Some(role) = role {
            request["role"] = json!(role);
        }
        let body = self
            .post(
                &format!("/v1/organizations/{org}/invitations"),
                Some(&inviter.token),
                request,
            )
            .await
            .expect(201)
            .json();
        let id = body["id"].as_str().unwrap().to_owned();
        (id.clone(), self.token_of(&id).await)
    }

    /// A person who signs up and joins `org` with `role`.
    pub async fn member_as(&self, inviter: &Person, org: &str, email: &str, role: &str) -> Person {
        let (_, token) = self.invite_as(inviter, org, email, Some(role)).await;
        let person = self.sign_up(email).await;
        self.post(
            "/v1/invitations/accept",
            Some(&person.token),
            json!({"token": token}),
        )
        .await
        .expect(200);
        person
    }

    /// The token in the queued email of an invitation.
    pub async fn token_of(&self, invitation: &str) -> String {
        let far = self.clock.now() + chrono::Duration::days(3650);
        self.outbox
            .due(far, usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .find_map(|q| match q.mail.content {
                MailContent::Invitation {
                    invitation_id,
                    token,
                    ..
                } if invitation_id.to_string() == invitation => Some(token.expose().to_owned()),
                _ => None,
            })
            .expect("the invitation's email is in the outbox")
    }

    /// A person who signs up and joins `org` as a viewer.
    pub async fn viewer(&self, owner: &Person, org: &str, email: &str) -> Person {
        let (_, token) = self.invite(owner, org, email).await;
        let person = self.sign_up(email).await;
        self.post(
            "/v1/invitations/accept",
            Some(&person.token),
            json!({"token": token}),
        )
        .await
        .expect(200);
        person
    }
}

/// The served document as a validator, built once per test binary.
fn validator(state: &AppState) -> &'static ResponseValidator {
    static VALIDATOR: OnceLock<ResponseValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        ResponseValidator::new(&tenancy_http::openapi_json(state))
            .unwrap_or_else(|error| panic!("the served OpenAPI document: {error}"))
    })
}

/// Every response that any test receives, checked against the served document before the test sees it: a
/// mismatch fails the test with the operation, the status and the JSON pointer of each error (see
/// `ResponseValidator::assert_conforms`).
async fn validated(
    validator: &ResponseValidator,
    endpoint: Arc<impl Endpoint<Output = poem::Response>>,
    request: poem::Request,
) -> poem::Result<poem::Response> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let mut response = endpoint.call(request).await?.into_response();
    let body = response.take_body().into_vec().await?;
    let headers: Vec<(&str, &str)> = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let exchange = Exchange {
        method: &method,
        path: &path,
        status: response.status().as_u16(),
        headers: &headers,
        body: &body,
    };
    validator.assert_conforms(&exchange);
    response.set_body(body);
    Ok(response)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.blob_dir());
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}
