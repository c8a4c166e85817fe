//! What deploy/ ships is checked by the tools that will read it: the systemd unit by
//! `systemd-analyze verify` and its sandbox by `systemd-analyze security` (no worse than the
//! figure docs/operating.md gives), the Kubernetes manifests by schema checkers, and the Grafana
//! dashboard against a real scrape of the daemon (every metric and label it queries exists).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::api::daemon_command;
use crate::support::python::{python_with, repo};
use crate::support::Daemon;

/// Runs a tool the test needs; a missing tool fails the test (CI installs it: .ci/run).
fn tool(program: &str, args: &[&str], package: &str) -> std::process::Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program} is needed ({e}): Debian's `{package}` package (.ci/run installs it)")
    })
}

/// The unit as installed, but starting the binary under test (verify checks that the command
/// exists and is executable).
fn unit_for_test(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("deploy/switchboard.service")).unwrap();
    let binary = env!("CARGO_BIN_EXE_switchboard");
    let text = text.replace("ExecStart=/usr/local/bin/switchboard", &format!("ExecStart={binary}"));
    assert!(text.contains(binary), "the unit starts /usr/local/bin/switchboard");
    let path = dir.join("switchboard.service");
    std::fs::write(&path, text).unwrap();
    path
}

/// The exposure figure docs/operating.md gives for the unit.
fn documented_exposure() -> f64 {
    let docs = std::fs::read_to_string(repo().join("docs/operating.md")).unwrap();
    let marker = "`systemd-analyze security` exposure: ";
    let at = docs.find(marker).expect("docs/operating.md gives the unit's exposure") + marker.len();
    docs[at..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_systemd_unit_verifies_and_its_sandbox_scores_as_documented() {
    let temp = tempfile::tempdir().unwrap();
    let unit = unit_for_test(temp.path());
    let unit = unit.to_str().unwrap();
    let verified = tool("systemd-analyze", &["verify", unit], "systemd");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success() && said.trim().is_empty(), "verify: {said}");
    let text = std::fs::read_to_string(unit).unwrap();
    for directive in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "StateDirectory=switchboard",
        "LoadCredential=master.key:",
        "SWITCHBOARD_MASTER_KEY_FILE=%d/master.key",
    ] {
        assert!(text.contains(directive), "{directive:?} in the unit");
    }
    let scored = tool("systemd-analyze", &["security", "--offline=true", unit], "systemd");
    let report = String::from_utf8_lossy(&scored.stdout);
    let figure: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for switchboard.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{report}"))
        .parse()
        .unwrap();
    assert!(
        figure <= documented_exposure(),
        "exposure {figure}, documented {}",
        documented_exposure()
    );
}

#[test]
fn the_kubernetes_manifests_pass_their_schema_checkers() {
    let python = python_with(
        "kubernetes-venv",
        "tests/deploy/requirements.txt",
        "import kubernetes_validate, yaml, cloudcoil.models.prometheus_operator",
    );
    let folder = repo().join("deploy/kubernetes");
    let mut manifests: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    let checked = Command::new(&python)
        .arg(repo().join("tests/deploy/validate_kubernetes.py"))
        .args(&manifests)
        .output()
        .unwrap();
    let (out, err) =
        (String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert!(checked.status.success(), "{out}{err}");
    for kind in ["StatefulSet/switchboard", "Secret/", "ServiceMonitor/switchboard", "Service/"] {
        assert!(out.contains(kind), "{kind} checked: {out}");
    }
    // And the checker is a checker: a misspelt field fails it.
    let temp = tempfile::tempdir().unwrap();
    let wrong = temp.path().join("wrong.yaml");
    let text = std::fs::read_to_string(folder.join("switchboard.yaml")).unwrap();
    std::fs::write(&wrong, text.replace("readinessProbe:", "readinesProbe:")).unwrap();
    let refused = Command::new(&python)
        .arg(repo().join("tests/deploy/validate_kubernetes.py"))
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("readinesProbe"));
}

/// The metric names (with a histogram's `_bucket`, `_sum`, `_count`) and label names of a scrape.
fn exported(scrape: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut names, mut labels) = (BTreeSet::new(), BTreeSet::new());
    for line in scrape.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let series = line.rsplit_once(' ').unwrap().0;
        let (name, rest) = series.split_once('{').unwrap_or((series, ""));
        names.insert(name.to_owned());
        for pair in rest.trim_end_matches('}').split(',').filter(|p| !p.is_empty()) {
            labels.insert(pair.split_once('=').unwrap().0.to_owned());
        }
    }
    (names, labels)
}

/// Every metric name a PromQL expression names (ours and the process collector's).
fn metrics_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in expr.match_indices(|c: char| c.is_ascii_lowercase()) {
        let rest = &expr[at..];
        let starts_word =
            at == 0 || !expr[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if starts_word && (rest.starts_with("switchboard_") || rest.starts_with("process_")) {
            let end =
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            found.push(rest[..end].to_owned());
        }
    }
    found
}

/// The labels of every `by (…)` of a PromQL expression.
fn grouped_by(expr: &str) -> Vec<String> {
    expr.split("by (")
        .skip(1)
        .flat_map(|rest| rest.split(')').next().unwrap().split(','))
        .map(|label| label.trim().to_owned())
        .collect()
}

#[test]
fn the_grafana_dashboard_queries_only_what_the_daemon_exports() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    let daemon = Daemon::start(command);
    daemon.sms_flow(false);
    let answer = daemon.sms("+14155550199", "hello", "SM00000000000000000000000000000199");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let scrape = daemon.get("/metrics");
    assert_eq!(scrape.status, 200);
    let (names, labels) = exported(&scrape.body);

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/switchboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queried = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("every panel queries");
        for expr in targets.iter().map(|t| t["expr"].as_str().expect("a PromQL expression")) {
            let metrics = metrics_in(expr);
            assert!(!metrics.is_empty(), "{expr}");
            for metric in metrics {
                assert!(names.contains(&metric), "{metric} is not exported ({expr})");
                queried.insert(metric);
            }
            for label in grouped_by(expr).into_iter().filter(|l| l != "le") {
                assert!(labels.contains(&label), "no metric has the label {label} ({expr})");
            }
        }
    }
    // Every metric the daemon exports is on the dashboard, in some form.
    for name in names.iter().filter(|n| n.starts_with("switchboard_")) {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        assert!(queried.iter().any(|q| q.starts_with(base)), "{name} is not on the dashboard");
    }
}
