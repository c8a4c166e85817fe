//! The container image (deploy/container): built by its script, started with podman as an
//! operator starts it (port published, the master key from a secret, data on a volume); it runs
//! as a user that is not root, answers `/readyz`, takes a Twilio-signed webhook checked against
//! the public URL from the environment, stops cleanly, and a new container on the same volume has
//! the channel. The second one listens where the environment says, on the host's network, and
//! delivers a webhook to a name that only the container's /etc/hosts knows: a static binary
//! resolves names with nothing but its own libc in a `FROM scratch` image.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard_crypto::MasterKey;

use crate::inbound::wait_for;
use crate::support::api::{DAEMON_SETTINGS, OUR_NUMBER};
use crate::support::container::{podman_ok, Made};
use crate::support::fake::FakeServer;
use crate::support::Daemon;

/// The image's user (deploy/container/Containerfile, and the Kubernetes manifests').
const USER: u32 = 10001;
/// Where the image's daemon reads its master key.
const KEY_PATH: &str = "/run/secrets/switchboard/master.key";

/// A port of 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `--env` options: the tests' credentials and `more`.
fn settings(more: &[(&str, &str)]) -> Vec<String> {
    let pairs = DAEMON_SETTINGS.iter().chain(more);
    pairs.flat_map(|(name, value)| ["--env".to_owned(), format!("{name}={value}")]).collect()
}

/// Starts a container of `image` with `options` and waits until it serves at `url` (the
/// address it announces is its own, not the one published).
fn start(made: &mut Made, image: &str, options: &[String], url: &str) -> (String, Daemon) {
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let (name, child) = made.run(image, &options);
    let mut daemon = Daemon::attach(child);
    daemon.base_url = url.to_owned();
    (name, daemon)
}

/// The user and group ids (real, effective, saved, file system) of the container's process, as
/// the host's kernel sees them.
fn process_ids(container: &str) -> Vec<String> {
    let pid = podman_ok(&["inspect", "--format", "{{.State.Pid}}", container]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ids = |field: &str| {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap().to_owned();
        line.split_whitespace().skip(1).map(str::to_owned).collect::<Vec<_>>()
    };
    [ids("Uid:"), ids("Gid:")].concat()
}

/// Every file under `dir` (the volume's folder on the host).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push(entry.path());
        }
    }
    found
}

/// The secret holding a new master key and an empty volume, as `podman run` options.
fn key_and_volume(made: &mut Made, temp: &Path) -> (String, Vec<String>) {
    let key_file = temp.join("master.key");
    MasterKey::generate().save_new(&key_file).unwrap();
    let secret = made.secret(&key_file);
    let volume = made.volume();
    let mounts = vec![
        "--volume".to_owned(),
        format!("{volume}:/data"),
        "--secret".to_owned(),
        format!("{secret},target={KEY_PATH},uid={USER},mode=0400"),
    ];
    (volume, mounts)
}

#[test]
fn the_image_runs_unprivileged_takes_a_signed_webhook_and_keeps_its_data_on_the_volume() {
    let mut made = Made::new();
    let image = made.image();
    let temp = tempfile::tempdir().unwrap();
    let (volume, mounts) = key_and_volume(&mut made, temp.path());
    let (service, channel) = as_an_operator_runs_it(&mut made, &image, &mounts);
    the_volume_holds_the_daemons_files_and_no_key(&volume);
    on_the_same_volume_it_goes_on(&mut made, &image, &mounts, &service, &channel);
}

/// The image's own listen address, published on a port of the host: not root, ready, a signed
/// webhook makes a channel, a clean stop. Returns the service and the channel.
fn as_an_operator_runs_it(made: &mut Made, image: &str, mounts: &[String]) -> (String, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut options = vec!["--publish".to_owned(), format!("127.0.0.1:{port}:8080")];
    options.extend_from_slice(mounts);
    options.extend(settings(&[("SWITCHBOARD_PUBLIC_URL", &url)]));
    let (container, daemon) = start(made, image, &options, &url);
    assert_eq!(process_ids(&container), vec![USER.to_string(); 8], "uid and gid of the daemon");
    assert_eq!(daemon.get_anonymous("/readyz").status, 200);
    let (service, _) = daemon.sms_flow(false);
    let message_sid = format!("SM{:032x}", 0xc0142);
    let params = [
        ("From", "+14155550142"),
        ("To", OUR_NUMBER),
        ("Body", "hello from outside"),
        ("MessageSid", message_sid.as_str()),
        ("NumMedia", "0"),
    ];
    // Not signed for the public URL: refused.
    assert_eq!(daemon.twilio_webhook(&params, Some("bm90IGEgc2lnbmF0dXJl")).status, 403);
    let taken = daemon.twilio_webhook(&params, None);
    assert_eq!(taken.status, 200, "{}", taken.body);
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 1, "{channels:?}");
    let channel = channels[0]["sid"].as_str().unwrap().to_owned();
    let (code, log) = daemon.terminate();
    assert_eq!(code, 0, "SIGTERM to the container's first process stops it cleanly:\n{log}");
    (service, channel)
}

fn the_volume_holds_the_daemons_files_and_no_key(volume: &str) {
    let folder = podman_ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", volume]);
    let files = files_under(Path::new(&folder));
    assert!(!files.is_empty(), "nothing in the volume");
    for file in &files {
        assert_eq!(file.metadata().unwrap().uid(), USER, "{}", file.display());
        assert_ne!(file.file_name().unwrap(), "master.key", "a development key was made");
    }
}

/// A new container on the same volume, listening where the environment says on the host's
/// network (where the fake is): the channel is there, and a service webhook reaches a host
/// name that only the container's /etc/hosts gives.
fn on_the_same_volume_it_goes_on(
    made: &mut Made,
    image: &str,
    mounts: &[String],
    service: &str,
    channel: &str,
) {
    let fake = FakeServer::start();
    let authority = fake.url.replace("http://127.0.0.1", "hooks.switchboard.test");
    let hook = format!("http://{authority}/post");
    let port = free_port();
    let (url, listen) = (format!("http://127.0.0.1:{port}"), format!("127.0.0.1:{port}"));
    let mut options: Vec<String> =
        ["--network", "host", "--add-host", "hooks.switchboard.test:127.0.0.1"]
            .map(String::from)
            .to_vec();
    options.extend_from_slice(mounts);
    options.extend(settings(&[
        ("SWITCHBOARD_LISTEN", &listen),
        ("SWITCHBOARD_PUBLIC_URL", &url),
        ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.1"),
    ]));
    let (_, daemon) = start(made, image, &options, &url);
    let messages = daemon.messages(service, channel);
    let bodies: Vec<_> = messages.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hello from outside"]);
    let hooked = daemon.post(
        &format!("/chat/v2/Services/{service}"),
        &[("PostWebhookUrl", &hook), ("WebhookFilters", "onMessageSent")],
    );
    assert_eq!(hooked.status, 200, "{}", hooked.body);
    let posted = daemon.post_with_headers(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"),
        &[("From", "agent.ann"), ("Body", "hello from the agent")],
        &[("X-Twilio-Webhook-Enabled", "true")],
    );
    assert_eq!(posted.status, 201, "{}", posted.body);
    let delivered = wait_for(Duration::from_secs(20), || !fake.requests().is_empty());
    assert!(delivered, "no webhook reached {hook}:\n{}", daemon.stderr());
    let request = &fake.requests()[0];
    assert_eq!(request.param("Body").as_deref(), Some("hello from the agent"));
    assert_eq!(request.header("Host"), Some(authority.as_str()));
    let (code, log) = daemon.terminate();
    assert_eq!(code, 0, "{log}");
}
