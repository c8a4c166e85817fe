//! The agent console as a browser talks to it: signing in with a username and password, the
//! session cookie it gets back (kept here by hand, as ureq keeps none), and the CSRF token that
//! calls changing something must carry.

use super::api::{basic, Response};
use super::Daemon;

/// A signed-in console session.
#[derive(Debug, Clone)]
pub struct Session {
    /// `sb_console=<secret>`, as a `Cookie` header carries it.
    pub cookie: String,
    pub csrf: String,
    /// What the sign-in answered.
    pub person: serde_json::Value,
}

fn read(answer: Result<ureq::Response, ureq::Error>) -> (Response, Option<String>) {
    let response = match answer {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{error}"),
    };
    let cookie = response
        .header("Set-Cookie")
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .filter(|c| c.starts_with("sb_console=") && c.len() > "sb_console=".len());
    let status = response.status();
    (Response { status, body: response.into_string().unwrap_or_default() }, cookie)
}

impl Daemon {
    /// `POST /console/login` with JSON; the answer and, when it set one, the session.
    pub fn sign_in(&self, username: &str, password: &str) -> (Response, Option<Session>) {
        let body = serde_json::json!({ "username": username, "password": password });
        let (response, cookie) = read(
            ureq::post(&self.url("/console/login"))
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
        );
        let session = cookie.filter(|_| response.status == 200).map(|cookie| {
            let person = response.json();
            let csrf = person["csrf_token"].as_str().unwrap().to_owned();
            Session { cookie, csrf, person }
        });
        (response, session)
    }

    /// Signs in, which must succeed.
    #[track_caller]
    pub fn signed_in(&self, username: &str, password: &str) -> Session {
        let (response, session) = self.sign_in(username, password);
        assert_eq!(response.status, 200, "{}", response.body);
        session.expect("a session cookie")
    }

    /// A GET with the session's cookie.
    pub fn console_get(&self, session: &Session, path: &str) -> Response {
        read(ureq::get(&self.url(path)).set("Cookie", &session.cookie).call()).0
    }

    /// A form POST with the session's cookie, and its CSRF token when `csrf`.
    pub fn console_post(
        &self,
        session: &Session,
        path: &str,
        form: &[(&str, &str)],
        csrf: bool,
    ) -> Response {
        let mut request = ureq::post(&self.url(path)).set("Cookie", &session.cookie);
        if csrf {
            request = request.set("X-CSRF-Token", &session.csrf);
        }
        read(request.send_form(form)).0
    }

    /// A DELETE with the session's cookie and its CSRF token.
    pub fn console_delete(&self, session: &Session, path: &str) -> Response {
        let request = ureq::delete(&self.url(path)).set("Cookie", &session.cookie);
        read(request.set("X-CSRF-Token", &session.csrf).call()).0
    }

    /// Adds a person over REST with the account's credentials: the answer.
    pub fn add_person(&self, username: &str, role: &str) -> Response {
        read(
            ureq::post(&self.url("/admin/v1/People"))
                .set("Authorization", &basic())
                .send_form(&[("Username", username), ("Role", role)]),
        )
        .0
    }

    /// Sets a password through a set-password URL (`…/console#set-password=SECRET`).
    pub fn set_password(&self, link: &str, password: &str) -> Response {
        let secret = link.split("#set-password=").nth(1).expect("a set-password link");
        let body = serde_json::json!({ "token": secret, "password": password });
        read(
            ureq::post(&self.url("/console/password"))
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
        )
        .0
    }

    /// The first admin's password, as the first start printed it on stdout.
    pub fn first_admin_password(&self) -> String {
        let lines = self.stdout.lock().unwrap();
        let line = lines.iter().find_map(|l| l.trim().strip_prefix("console password:"));
        line.expect("the first start printed the console admin's password").trim().to_owned()
    }
}
