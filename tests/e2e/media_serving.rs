//! Media served from our origin cannot act there: every answer says `nosniff` and a sandbox, and
//! anything but a few inert types is a download, also through signed links; credentials are
//! checked before a service or medium is looked up, so SIDs cannot be probed.

use serde_json::Value;

use crate::support::api::{basic, daemon_command, post_bytes, AUTH_TOKEN};
use crate::support::Daemon;

const SVG: &[u8] =
    br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"></svg>"#;

/// The status and headers of a GET.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn get(url: &str, authorization: Option<&str>) -> Answer {
    let mut request = ureq::get(url);
    if let Some(authorization) = authorization {
        request = request.set("Authorization", authorization);
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("request failed: {error}"),
    };
    let headers = response
        .headers_names()
        .into_iter()
        .map(|name| {
            let value = response.header(&name).unwrap_or_default().to_owned();
            (name, value)
        })
        .collect();
    Answer { status: response.status(), headers }
}

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

/// A service and a channel in it; returns (IS, CH).
fn channel(daemon: &Daemon) -> (String, String) {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "media")]);
    let service = service.json()["sid"].as_str().unwrap().to_owned();
    let created = daemon.post(&format!("/chat/v2/Services/{service}/Channels"), &[]);
    assert_eq!(created.status, 201, "{}", created.body);
    (service, created.json()["sid"].as_str().unwrap().to_owned())
}

fn upload(
    daemon: &Daemon,
    service: &str,
    channel: &str,
    content_type: &str,
    bytes: &[u8],
) -> String {
    let url = daemon.url(&format!(
        "/chat/v2/Services/{service}/Media?ChannelSid={channel}&Filename=x%22%0D%0Ay.svg"
    ));
    let uploaded = post_bytes(&url, content_type, bytes, Some(&basic()));
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    uploaded.json()["sid"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_contained(answer: &Answer, disposition: &str) {
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("X-Content-Type-Options"), Some("nosniff"));
    let policy = answer.header("Content-Security-Policy").unwrap_or_default();
    assert!(policy.split(';').any(|d| d.trim() == "sandbox"), "{policy:?}");
    let said = answer.header("Content-Disposition").unwrap_or_default();
    assert!(said.starts_with(disposition), "{said:?}");
    assert!(!said.contains('\r') && !said.contains('\n'), "{said:?}");
}

#[test]
fn active_content_is_a_sandboxed_download_and_inert_images_are_shown() {
    let (_temp, daemon) = started();
    let (service, channel) = channel(&daemon);
    let svg = upload(&daemon, &service, &channel, "image/svg+xml", SVG);
    let png = upload(&daemon, &service, &channel, "image/png", b"\x89PNG\r\n\x1a\n");
    let content = |media: &str| format!("/chat/v2/Services/{service}/Media/{media}/Content");
    assert_contained(&get(&daemon.url(&content(&svg)), Some(&basic())), "attachment");
    assert_contained(&get(&daemon.url(&content(&png)), Some(&basic())), "inline");
    // The unauthenticated signed link serves the same way.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for (media, disposition) in [(&svg, "attachment"), (&png, "inline")] {
        let sid = media.parse().unwrap();
        let link =
            switchboard_actors::signed_media_url(&daemon.base_url, AUTH_TOKEN, sid, now + 60);
        assert_contained(&get(&link, None), disposition);
    }
}

#[test]
fn credentials_are_checked_before_a_service_or_medium_is_looked_up() {
    let (_temp, daemon) = started();
    let (service, channel) = channel(&daemon);
    let medium = upload(&daemon, &service, &channel, "image/png", b"png");
    let unknown_service = "IS00000000000000000000000000000000";
    let unknown_medium = "ME00000000000000000000000000000000";
    let paths = [
        format!("/chat/v2/Services/{service}/Media/{medium}/Content"),
        format!("/chat/v2/Services/{unknown_service}/Media/{medium}/Content"),
        format!("/chat/v2/Services/{service}/Media/{unknown_medium}/Content"),
        format!("/chat/v2/Services/{service}/Media/{medium}"),
        format!("/chat/v2/Services/{unknown_service}/Media/{medium}"),
        format!("/chat/v2/Services/not-a-sid/Media/{medium}"),
    ];
    for path in &paths {
        let anonymous = daemon.get_anonymous(path);
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.body);
        let forged = get(&daemon.url(path), Some("Bearer not-a-token"));
        assert_eq!(forged.status, 401, "{path}");
    }
    // With credentials, the same paths tell found from not found.
    let found: Vec<u16> = paths.iter().map(|p| daemon.get(p).status).collect();
    assert_eq!(found, [200, 404, 404, 200, 404, 404]);
    let body: Value = daemon.get(&paths[1]).json();
    assert_eq!(body["code"], 20404);
}
