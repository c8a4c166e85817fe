//! The agent's path side by side (issue 20): Chat messages posted over the REST API in the shape
//! of the Conduit peer benchmark (one service, private channels, 200-byte messages, 64 in flight)
//! against the real daemon and, in the same run, the raw pipeline of `http`; then every channel
//! paged through to check that each message is there once, whole, in order. `--long-channel`:
//! one channel filled with many messages, posted into and its latest page read one request at a
//! time, before and after the fill.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use clap::Args;

use crate::http::{account_auth, daemon_binary, start_daemon, start_raw_pipeline};
use crate::load::{post_numbered, Numbered, Signed};
use crate::realtime::rss_kib;
use crate::stats::{ms, rate, ProcessUsage, Run};

#[derive(Args)]
pub struct ChatArgs {
    /// Private channels the messages are spread over (message n to channel n mod channels).
    #[arg(long, default_value_t = 100)]
    channels: usize,
    /// Messages measured per target and round, 200 bytes each.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Messages posted to every target first, not measured (checked like the others).
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    /// Requests in flight, each on a keep-alive connection of its own.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds: each posts `messages` to the daemon, to the baseline (the two take turns at going
    /// first) and to the raw pipeline.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Instead: one channel filled with this many messages (`concurrency` in flight), posted into
    /// and its latest page read one request at a time, before and after the fill.
    #[arg(long)]
    long_channel: Option<usize>,
    /// Requests of each kind, one at a time, before and after the fill of `--long-channel`.
    #[arg(long, default_value_t = 1000)]
    probes: usize,
    /// The switchboard binary [default: beside this one].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Another switchboard binary (an earlier build) loaded the same way in the same run.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Keep the data folders (their place is printed on stderr), to see what takes the bytes.
    #[arg(long)]
    keep: bool,
}

/// Bytes of every message's body, as in the peer benchmark.
const BODY_BYTES: usize = 200;
/// Who the messages are from: an agent, not the channel's customer.
const AGENT: &str = "agent";
/// The targets for the daemon.
const TARGET_RATE: f64 = 12_500.0;
const TARGET_SHARE: f64 = 0.45;
const TARGET_P99: Duration = Duration::from_millis(10);
const TARGET_LAST_TENTH: f64 = 0.85;
const TARGET_BYTES: f64 = 800.0;
const TARGET_LONG_P99: Duration = Duration::from_millis(5);

pub fn run(args: &ChatArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.channels > 0 && args.messages >= 10, "at least 1 channel, 10 messages");
    if let Some(fill) = args.long_channel {
        return run_long_channel(args, fill);
    }
    let scratch = Scratch::new(args.keep)?;
    let mut targets = start_targets(args, scratch.path(), args.channels)?;
    for target in &mut targets {
        let warm = target.post(args.warmup, args.concurrency)?;
        anyhow::ensure!(
            warm.errors == 0,
            "{}: {} posts failed in the warm-up",
            target.name,
            warm.errors
        );
    }
    let mut rounds = Vec::new();
    for round in 0..args.rounds.max(1) {
        // Which daemon goes first moved a round's figures by about a tenth (docs/BENCHMARKS.md):
        // the daemon and the baseline take turns; the raw pipeline comes last.
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if targets.len() == 3 && round % 2 == 1 {
            order.swap(0, 1);
        }
        let mut measured: Vec<Option<Measured>> = targets.iter().map(|_| None).collect();
        for i in order {
            measured[i] = Some(measure(&mut targets[i], args.messages, args.concurrency)?);
        }
        rounds.push(measured.into_iter().flatten().collect::<Vec<_>>());
    }
    let ends = targets.iter_mut().map(finish).collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "## Chat messages over the REST API: {} private channels, {} messages of {BODY_BYTES} \
         bytes per target and round, {} in flight, after {} to warm up\n",
        args.channels, args.messages, args.concurrency, args.warmup
    );
    print_rounds(&targets, &rounds);
    print_tenths(&targets, &rounds);
    print_ends(&targets, &ends);
    print_verdict(&rounds, ends[0].as_ref());
    fail_loudly(&targets, &ends, rounds.iter().flatten().map(|m| m.errors).sum())
}

/// The folder the run's data folders are in: removed at the end unless kept.
struct Scratch {
    path: PathBuf,
    _removed_on_drop: Option<tempfile::TempDir>,
}

impl Scratch {
    fn new(keep: bool) -> anyhow::Result<Scratch> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().to_owned();
        if keep {
            eprintln!("the data folders are kept in {}", path.display());
            return Ok(Scratch { path: folder.keep(), _removed_on_drop: None });
        }
        Ok(Scratch { path, _removed_on_drop: Some(folder) })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Something the load is posted to: a daemon (its process and data folder) or the raw pipeline.
struct Target {
    name: &'static str,
    base: String,
    service: String,
    channels: Vec<String>,
    daemon: Option<(Child, PathBuf)>,
    /// Every message acknowledged so far, for the check.
    posted: Vec<Posted>,
    /// The number of the next message.
    next: usize,
}

/// A message a target acknowledged: which one, where, the index it answered, and when.
#[derive(Debug, Clone, Copy)]
struct Posted {
    number: usize,
    channel: usize,
    index: u64,
    sent: Instant,
    answered: Instant,
}

/// The daemon, the baseline when given, and the raw pipeline last, each with `channels`.
fn start_targets(args: &ChatArgs, scratch: &Path, channels: usize) -> anyhow::Result<Vec<Target>> {
    let binary = daemon_binary(&args.binary)?;
    let mut targets =
        vec![Target::daemon("switchboard serve", &binary, scratch.join("data"), channels)?];
    if let Some(baseline) = &args.baseline {
        targets.push(Target::daemon("baseline binary", baseline, scratch.join("base"), channels)?);
    }
    targets.push(Target::raw(&scratch.join("raw"), channels)?);
    Ok(targets)
}

impl Target {
    /// `binary` started on a data folder of its own, with a Chat service and private channels.
    fn daemon(
        name: &'static str,
        binary: &Path,
        data: PathBuf,
        channels: usize,
    ) -> anyhow::Result<Target> {
        let (child, base) = start_daemon(binary, &data)?;
        let mut target = Target {
            name,
            base,
            service: String::new(),
            channels: Vec::new(),
            daemon: Some((child, data)),
            posted: Vec::new(),
            next: 0,
        };
        target.service = create(&target.base, "/chat/v2/Services", &[("FriendlyName", "bench")])?;
        let path = format!("/chat/v2/Services/{}/Channels", target.service);
        for n in 0..channels {
            let name = format!("bench {n}");
            let form = [("FriendlyName", name.as_str()), ("Type", "private")];
            target.channels.push(create(&target.base, &path, &form)?);
        }
        Ok(target)
    }

    /// The raw pipeline, which takes any service and channel in the path.
    fn raw(dir: &Path, channels: usize) -> anyhow::Result<Target> {
        Ok(Target {
            name: "raw pipeline (form + encode + seal + sled + group commit)",
            base: start_raw_pipeline(dir)?,
            service: "ISraw".into(),
            channels: (0..channels).map(|n| format!("CHraw{n}")).collect(),
            daemon: None,
            posted: Vec::new(),
            next: 0,
        })
    }

    fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(|(child, _)| child.id())
    }

    /// Posts the next `count` messages, `concurrency` in flight, and keeps what was acknowledged.
    fn post(&mut self, count: usize, concurrency: usize) -> anyhow::Result<Numbered> {
        let first = self.next;
        self.next += count;
        let (service, channels, auth) =
            (self.service.clone(), self.channels.clone(), account_auth());
        let load = post_numbered(&self.base, concurrency, count, move |i| {
            let number = first + i;
            let channel = &channels[number % channels.len()];
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("From", AGENT)
                .append_pair("Body", &body(number))
                .finish();
            let signed = Signed {
                header: ("Authorization", auth.clone()),
                content_type: "application/x-www-form-urlencoded",
                body: form.into_bytes(),
            };
            (format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"), signed)
        });
        for answer in &load.answers {
            let number = first + answer.number;
            let json: serde_json::Value = serde_json::from_slice(&answer.body)?;
            let index = json["index"].as_u64().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no index in {}",
                    self.name,
                    String::from_utf8_lossy(&answer.body)
                )
            })?;
            let (sent, answered, channel) =
                (answer.sent, answer.answered, number % self.channels.len());
            self.posted.push(Posted { number, channel, index, sent, answered });
        }
        Ok(load)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.daemon {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The body of message `number`: its number, then padding to 200 bytes.
fn body(number: usize) -> String {
    let head = format!("message {number:010} ");
    format!("{head}{}", "x".repeat(BODY_BYTES - head.len()))
}

/// Creates something over the REST API; returns its SID.
fn create(base: &str, path: &str, form: &[(&str, &str)]) -> anyhow::Result<String> {
    let made: serde_json::Value = ureq::post(&format!("{base}{path}"))
        .set("Authorization", &account_auth())
        .send_form(form)?
        .into_json()?;
    let sid = made["sid"].as_str().ok_or_else(|| anyhow::anyhow!("no sid from {path}: {made}"))?;
    Ok(sid.to_owned())
}

/// One target's measured load: latencies and rate, the rate of each tenth, errors, and the
/// daemon's CPU time.
struct Measured {
    run: Run,
    tenths: Vec<f64>,
    errors: u64,
    cpu: Option<Duration>,
    /// How much the daemon's data folder grew during the load (`du` while it runs).
    grown: Option<i64>,
}

fn measure(target: &mut Target, count: usize, concurrency: usize) -> anyhow::Result<Measured> {
    let folder = target.daemon.as_ref().map(|(_, data)| data.clone());
    let size = || folder.as_deref().map(disk_usage).transpose();
    let (before, size_before) = (target.pid().and_then(ProcessUsage::of), size()?);
    let load = target.post(count, concurrency)?;
    let grown = size()?.zip(size_before).map(|(after, before)| after as i64 - before as i64);
    let cpu = match (before, target.pid().and_then(ProcessUsage::of)) {
        (Some(before), Some(after)) => Some(after.since(&before).0),
        _ => None,
    };
    let latencies = load.answers.iter().map(|a| a.answered - a.sent).collect();
    let tenths = tenths(load.started, load.answers.iter().map(|a| a.answered).collect());
    let run = Run::from(latencies, load.elapsed);
    Ok(Measured { run, tenths, errors: load.errors, cpu, grown })
}

/// The rate of each tenth of the answers, in the order they came: a tenth's answers over the
/// time from the answer before it (the start, for the first) to its last.
fn tenths(started: Instant, mut answered: Vec<Instant>) -> Vec<f64> {
    answered.sort_unstable();
    let mut previous = started;
    (1..=10)
        .map(|k| {
            let (from, to) = (answered.len() * (k - 1) / 10, answered.len() * k / 10);
            if to == from {
                return 0.0;
            }
            let last = answered[to - 1];
            let seconds = last.duration_since(previous).as_secs_f64().max(1e-9);
            previous = last;
            (to - from) as f64 / seconds
        })
        .collect()
}

/// What is measured of a daemon at the end: its RSS, the check, its folder after a clean stop.
struct End {
    rss_kib: u64,
    checked: Checked,
    folder_bytes: u64,
}

/// RSS, then the check, then a clean stop (SIGTERM) and the size of the data folder; `None` for
/// the raw pipeline.
fn finish(target: &mut Target) -> anyhow::Result<Option<End>> {
    let Some(pid) = target.pid() else { return Ok(None) };
    let rss_kib = rss_kib(pid)?;
    let checked = check(target)?;
    let Some((child, data)) = &mut target.daemon else { return Ok(None) };
    crate::wake::stop(child, false)?;
    let folder_bytes = disk_usage(data)?;
    Ok(Some(End { rss_kib, checked, folder_bytes }))
}

/// What `du` counts for a folder: the bytes of the blocks its files take.
pub(crate) fn disk_usage(folder: &Path) -> anyhow::Result<u64> {
    let out = std::process::Command::new("du").args(["-s", "-B1"]).arg(folder).output()?;
    anyhow::ensure!(out.status.success(), "du failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let bytes = text.split_whitespace().next().and_then(|n| n.parse().ok());
    bytes.ok_or_else(|| anyhow::anyhow!("du said {text:?}"))
}

/// What the check found in one daemon: messages listed, and every problem.
struct Checked {
    messages: usize,
    problems: Vec<String>,
}

/// Pages through every channel (`PageSize=100`) and compares it with what was acknowledged.
fn check(target: &Target) -> anyhow::Result<Checked> {
    let mut by_channel: Vec<Vec<Posted>> = vec![Vec::new(); target.channels.len()];
    for posted in &target.posted {
        by_channel[posted.channel].push(*posted);
    }
    let mut checked = Checked { messages: 0, problems: Vec::new() };
    for (n, (sid, posted)) in target.channels.iter().zip(by_channel).enumerate() {
        let listed = list_all(target, sid)?;
        checked.messages += listed.len();
        let problems = compare(posted, &listed);
        checked.problems.extend(problems.into_iter().map(|p| format!("channel {n} ({sid}): {p}")));
    }
    Ok(checked)
}

/// A channel's messages, oldest first: the index and body of each.
fn list_all(target: &Target, channel: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let (agent, auth) = (ureq::agent(), account_auth());
    let path =
        format!("{}/chat/v2/Services/{}/Channels/{channel}/Messages", target.base, target.service);
    let mut listed = Vec::new();
    for page in 0usize.. {
        let url = format!("{path}?PageSize=100&Page={page}");
        let answer: serde_json::Value =
            agent.get(&url).set("Authorization", &auth).call()?.into_json()?;
        for message in answer["messages"].as_array().into_iter().flatten() {
            let index = message["index"].as_u64();
            let index = index.ok_or_else(|| anyhow::anyhow!("no index in {message}"))?;
            listed.push((index, message["body"].as_str().unwrap_or_default().to_owned()));
        }
        if answer["meta"]["next_page_url"].is_null() {
            break;
        }
    }
    Ok(listed)
}

/// A channel's list against what was acknowledged into it: each message listed once, whole, at
/// the index its POST answered; indices rising; nothing else listed; and a message answered
/// before another was sent listed before it.
fn compare(mut posted: Vec<Posted>, listed: &[(u64, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    if listed.len() != posted.len() {
        problems.push(format!("{} listed, {} acknowledged", listed.len(), posted.len()));
    }
    if let Some(pair) = listed.windows(2).find(|pair| pair[1].0 <= pair[0].0) {
        problems.push(format!("index {} listed after {}", pair[1].0, pair[0].0));
    }
    let mut seen = HashSet::new();
    let doubled = listed.iter().filter(|(_, body)| !seen.insert(body.as_str())).count();
    let at: HashMap<u64, &str> =
        listed.iter().map(|(index, body)| (*index, body.as_str())).collect();
    let missing = posted.iter().filter(|p| !at.contains_key(&p.index)).count();
    let wrong =
        posted.iter().filter(|p| at.get(&p.index).is_some_and(|b| *b != body(p.number))).count();
    posted.sort_by_key(|p| p.index);
    let answered_twice = posted.windows(2).filter(|pair| pair[0].index == pair[1].index).count();
    // Sorted by index, a message answered before an earlier-indexed one was even sent was
    // stored out of the order its client saw.
    let mut latest_sent = None;
    let overtaken = posted
        .iter()
        .filter(|p| {
            let early = latest_sent.is_some_and(|sent| p.answered < sent);
            latest_sent = latest_sent.max(Some(p.sent));
            early
        })
        .count();
    for (count, what) in [
        (doubled, "bodies listed more than once"),
        (missing, "acknowledged messages missing at their index"),
        (wrong, "indices holding another body than the one acknowledged there"),
        (answered_twice, "indices answered to two posts"),
        (overtaken, "messages listed before one acknowledged before they were sent"),
    ] {
        if count > 0 {
            problems.push(format!("{count} {what}"));
        }
    }
    problems
}

fn print_rounds(targets: &[Target], rounds: &[Vec<Measured>]) {
    println!(
        "| round | target | msg/s | p50 | p99 | p99.9 | max | errors | vs raw | server CPU per message | folder growth per message |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (n, round) in rounds.iter().enumerate() {
        let raw = round.last().map_or(1.0, |raw| raw.run.per_second.max(1.0));
        for (target, m) in targets.iter().zip(round) {
            let per = |total: f64| total / m.run.count.max(1) as f64;
            let cpu = m
                .cpu
                .map_or_else(String::new, |cpu| format!("{:.0} µs", per(cpu.as_secs_f64() * 1e6)));
            let grown = m.grown.map_or_else(String::new, |g| format!("{:.0} bytes", per(g as f64)));
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} % | {cpu} | {grown} |",
                n + 1,
                target.name,
                rate(m.run.per_second),
                ms(m.run.p50),
                ms(m.run.p99),
                ms(m.run.p999),
                ms(m.run.max),
                m.errors,
                m.run.per_second / raw * 100.0
            );
        }
    }
}

fn print_tenths(targets: &[Target], rounds: &[Vec<Measured>]) {
    println!("\nPer tenth of each load (msg/s), in the order the answers came:\n");
    println!("| round | target | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | last vs first |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (n, round) in rounds.iter().enumerate() {
        for (target, m) in targets.iter().zip(round) {
            let tenths: Vec<String> = m.tenths.iter().map(|t| format!("{t:.0}")).collect();
            println!(
                "| {} | {} | {} | {:.0} % |",
                n + 1,
                target.name,
                tenths.join(" | "),
                last_vs_first(m) * 100.0
            );
        }
    }
}

fn last_vs_first(m: &Measured) -> f64 {
    m.tenths[9] / m.tenths[0].max(1e-9)
}

fn print_ends(targets: &[Target], ends: &[Option<End>]) {
    println!("\n| daemon | RSS at the end | data folder after a clean stop (du) | per message stored | check |");
    println!("|---|---|---|---|---|");
    for (target, end) in targets.iter().zip(ends) {
        let Some(end) = end else { continue };
        let checked = &end.checked;
        let verdict = if checked.problems.is_empty() {
            let channels = target.channels.len();
            let channels = format!("{channels} channel{}", if channels == 1 { "" } else { "s" });
            format!("{} messages in {channels}: each once, whole, in order", checked.messages)
        } else {
            format!("FAILED: {} problems (listed on stderr)", checked.problems.len())
        };
        println!(
            "| {} | {:.0} MiB | {:.1} MiB | {:.0} bytes | {verdict} |",
            target.name,
            end.rss_kib as f64 / 1024.0,
            end.folder_bytes as f64 / (1024.0 * 1024.0),
            bytes_per_message(end)
        );
    }
}

/// The whole folder (keys, services, channels and the log's own records included) over the
/// messages listed.
fn bytes_per_message(end: &End) -> f64 {
    end.folder_bytes as f64 / end.checked.messages.max(1) as f64
}

/// The targets, for the daemon: the median of the rounds.
fn print_verdict(rounds: &[Vec<Measured>], end: Option<&End>) {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let of_ours = |f: &dyn Fn(&Vec<Measured>) -> f64| median(rounds.iter().map(f).collect());
    let per_second = of_ours(&|r| r[0].run.per_second);
    let share = of_ours(&|r| r[0].run.per_second / r[r.len() - 1].run.per_second.max(1.0));
    let p99 = Duration::from_secs_f64(of_ours(&|r| r[0].run.p99.as_secs_f64()));
    let last = of_ours(&|r| last_vs_first(&r[0]));
    println!("\nTargets (issue 20), switchboard serve, the median of the rounds:");
    verdict(format!("{per_second:.0} msg/s ≥ {TARGET_RATE}"), per_second >= TARGET_RATE);
    verdict(format!("{:.0} % of the raw pipeline ≥ 45 %", share * 100.0), share >= TARGET_SHARE);
    verdict(format!("p99 {} ≤ {}", ms(p99), ms(TARGET_P99)), p99 <= TARGET_P99);
    verdict(
        format!("last tenth {:.0} % of the first (≥ 85 %)", last * 100.0),
        last >= TARGET_LAST_TENTH,
    );
    if let Some(end) = end {
        let bytes = bytes_per_message(end);
        verdict(format!("{bytes:.0} bytes on disk per message ≤ 800"), bytes <= TARGET_BYTES);
    }
}

fn verdict(what: String, met: bool) {
    println!("- {what}: {}", if met { "met" } else { "MISSED" });
}

/// Every problem the checks found on stderr, and an error if any, or if any post failed.
fn fail_loudly(targets: &[Target], ends: &[Option<End>], errors: u64) -> anyhow::Result<()> {
    let mut problems = 0;
    for (target, end) in targets.iter().zip(ends) {
        for problem in end.iter().flat_map(|end| &end.checked.problems) {
            eprintln!("CHECK FAILED, {}: {problem}", target.name);
            problems += 1;
        }
    }
    anyhow::ensure!(problems == 0, "the check found {problems} problems");
    anyhow::ensure!(errors == 0, "{errors} posts failed");
    Ok(())
}

/// `--long-channel`: each daemon's one channel probed at 10 messages, filled, probed again.
fn run_long_channel(args: &ChatArgs, fill: usize) -> anyhow::Result<()> {
    let scratch = Scratch::new(args.keep)?;
    let mut targets = start_targets(args, scratch.path(), 1)?;
    let mut rows = Vec::new();
    for target in &mut targets {
        target.post(10, 1)?;
        let early = probe(target, args.probes)?;
        let filled = match target.daemon.is_some() {
            true => Some(target.post(fill, args.concurrency)?),
            false => None,
        };
        let filled = filled.map(|f| (f.answers.len() as f64 / f.elapsed.as_secs_f64(), f.errors));
        let late = match filled {
            Some(_) => Some(probe(target, args.probes)?),
            None => None,
        };
        rows.push((early, filled, late));
    }
    let ends = targets.iter_mut().map(finish).collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "## One channel that holds {fill} messages: {} posts and {} reads of its latest page, \
         one at a time, before and after the fill\n",
        args.probes, args.probes
    );
    print_probes(&targets, &rows);
    for (target, (_, filled, _)) in targets.iter().zip(&rows) {
        if let Some((per_second, errors)) = filled {
            println!(
                "\n{}: filled with {fill} messages, {} in flight, at {} ({errors} errors).",
                target.name,
                args.concurrency,
                rate(*per_second)
            );
        }
    }
    print_ends(&targets, &ends);
    if let Some(Some(late)) = rows.first().map(|row| &row.2) {
        println!("\nTargets (issue 20), switchboard serve, in the channel of {fill}:");
        let (post, get) = (late.posts.p99, late.reads.map_or(Duration::MAX, |r| r.p99));
        verdict(
            format!("POST p99 {} ≤ {}", ms(post), ms(TARGET_LONG_P99)),
            post <= TARGET_LONG_P99,
        );
        verdict(format!("GET p99 {} ≤ {}", ms(get), ms(TARGET_LONG_P99)), get <= TARGET_LONG_P99);
    }
    let errors = rows
        .iter()
        .map(|(e, f, l)| e.errors + f.map_or(0, |f| f.1) + l.as_ref().map_or(0, |l| l.errors));
    fail_loudly(&targets, &ends, errors.sum())
}

/// Posts and reads of the latest page, one at a time, and the messages in the channel around them.
struct Probes {
    posts: Run,
    reads: Option<Run>,
    errors: u64,
    held: (usize, usize),
}

/// `count` posts one at a time, then (in a daemon) `count` reads of the latest page of 50
/// (`Order=desc`), each checked to start with the newest message.
fn probe(target: &mut Target, count: usize) -> anyhow::Result<Probes> {
    let before = target.posted.len();
    let posted = target.post(count, 1)?;
    let posts =
        Run::from(posted.answers.iter().map(|a| a.answered - a.sent).collect(), posted.elapsed);
    let mut errors = posted.errors;
    let reads = match target.daemon.is_some() {
        true => Some(read_latest(target, count, &mut errors)?),
        false => None,
    };
    Ok(Probes { posts, reads, errors, held: (before, target.posted.len()) })
}

/// `count` reads of the channel's latest page of 50; one not starting with the newest message,
/// or not full, counts as an error.
fn read_latest(target: &Target, count: usize, errors: &mut u64) -> anyhow::Result<Run> {
    let (agent, auth) = (ureq::agent(), account_auth());
    let url = format!(
        "{}/chat/v2/Services/{}/Channels/{}/Messages?Order=desc&PageSize=50",
        target.base, target.service, target.channels[0]
    );
    let newest = target.posted.iter().map(|p| p.index).max();
    let full = target.posted.len().min(50);
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        let page: serde_json::Value =
            agent.get(&url).set("Authorization", &auth).call()?.into_json()?;
        let answered = sent.elapsed();
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        if messages.len() == full && messages.first().and_then(|m| m["index"].as_u64()) == newest {
            latencies.push(answered);
        } else {
            *errors += 1;
        }
    }
    Ok(Run::from(latencies, started.elapsed()))
}

type ProbeRow = (Probes, Option<(f64, u64)>, Option<Probes>);

fn print_probes(targets: &[Target], rows: &[ProbeRow]) {
    println!("| target | messages in the channel | POST p50 | POST p99 | POST max | GET latest 50 p50 | GET p99 | GET max | errors |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (target, (early, _, late)) in targets.iter().zip(rows) {
        for probes in std::iter::once(early).chain(late) {
            let (reads, held) = (probes.reads, probes.held);
            let read = |f: fn(&Run) -> Duration| reads.as_ref().map_or("".into(), |r| ms(f(r)));
            println!(
                "| {} | {} → {} | {} | {} | {} | {} | {} | {} | {} |",
                target.name,
                held.0,
                held.1,
                ms(probes.posts.p50),
                ms(probes.posts.p99),
                ms(probes.posts.max),
                read(|r| r.p50),
                read(|r| r.p99),
                read(|r| r.max),
                probes.errors
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(number: usize, index: u64, sent: u64, answered: u64, at: Instant) -> Posted {
        let (sent, answered) =
            (at + Duration::from_millis(sent), at + Duration::from_millis(answered));
        Posted { number, channel: 0, index, sent, answered }
    }

    fn listed(entries: &[(u64, usize)]) -> Vec<(u64, String)> {
        entries.iter().map(|(index, number)| (*index, body(*number))).collect()
    }

    #[test]
    fn bodies_are_200_bytes_and_distinct() {
        assert_eq!(body(7).len(), BODY_BYTES);
        assert_ne!(body(7), body(70));
    }

    #[test]
    fn a_channel_as_acknowledged_passes() {
        let at = Instant::now();
        let acknowledged = vec![posted(5, 1, 2, 4, at), posted(3, 0, 0, 3, at)];
        assert_eq!(compare(acknowledged, &listed(&[(0, 3), (1, 5)])), Vec::<String>::new());
    }

    #[test]
    fn missing_doubled_and_misplaced_messages_are_found() {
        let at = Instant::now();
        let acknowledged = vec![posted(3, 0, 0, 1, at), posted(5, 1, 2, 3, at)];
        let missing = compare(acknowledged.clone(), &listed(&[(0, 3)]));
        assert!(missing.iter().any(|p| p.contains("missing")), "{missing:?}");
        let doubled = compare(acknowledged.clone(), &listed(&[(0, 3), (1, 5), (2, 5)]));
        assert!(doubled.iter().any(|p| p.contains("more than once")), "{doubled:?}");
        let swapped = compare(acknowledged, &listed(&[(0, 5), (1, 3)]));
        assert!(swapped.iter().any(|p| p.contains("another body")), "{swapped:?}");
    }

    #[test]
    fn a_message_stored_before_one_answered_before_it_was_sent_is_found() {
        let at = Instant::now();
        // Message 5 was answered (at 1 ms) before message 3 was sent (at 2 ms), yet got the
        // lower index.
        let acknowledged = vec![posted(5, 0, 2, 3, at), posted(3, 1, 0, 1, at)];
        let problems = compare(acknowledged, &listed(&[(0, 5), (1, 3)]));
        assert!(problems.iter().any(|p| p.contains("listed before")), "{problems:?}");
        let unsorted = listed(&[(1, 3), (0, 5)]);
        let problems = compare(vec![posted(5, 0, 0, 3, at), posted(3, 1, 0, 3, at)], &unsorted);
        assert!(problems.iter().any(|p| p.contains("listed after")), "{problems:?}");
    }

    #[test]
    fn tenths_rate_each_tenth_over_its_own_time() {
        let at = Instant::now();
        // 20 answers: the first ten 1 ms apart, the next ten 2 ms apart.
        let answered = (1..=20u64)
            .map(|n| at + Duration::from_millis(if n <= 10 { n } else { 10 + (n - 10) * 2 }))
            .collect();
        let rates = tenths(at, answered);
        assert_eq!(rates.len(), 10);
        assert!((rates[0] - 1000.0).abs() < 1.0, "{rates:?}");
        assert!((rates[9] - 500.0).abs() < 1.0, "{rates:?}");
    }
}
