//! Progress of long CLI work (verify, replay, reindex, key rotation, backups and restores) on
//! stderr, drawn only when stderr is a terminal: indicatif draws nothing anywhere else, so a
//! pipe, a file or a journal gets the plain summary lines alone. Work whose end is known
//! before it starts (records under the heads, streams, keys) gets a bar to that end.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use switchboard_store::Walked;

/// How often a spinner moves while the work gives no news.
const TICK: Duration = Duration::from_millis(120);

/// A bar to a known end: "verifying [=====>    ] 12,345/40,000 records (3s, 7s left)".
pub fn bar(what: &str, unit: &str, of: u64) -> ProgressBar {
    let bar = started(
        what,
        &format!(
            "{{spinner}} {{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} \
             ({{elapsed}}, {{eta}} left)"
        ),
    );
    bar.set_length(of);
    bar
}

/// A bar whose end the work tells with its first news ([`Walked`]).
pub fn walking(what: &str, unit: &str) -> Walking {
    Walking(bar(what, unit, 0))
}

/// A bar fed by a walk of the store.
pub struct Walking(ProgressBar);

impl Walking {
    pub fn tell(&self, walked: Walked) {
        // A verify may walk records past the heads (damage it reports): the end grows with it.
        self.0.set_length(walked.of.max(walked.done));
        self.0.set_position(walked.done);
    }

    /// Draws the bar at its end and leaves it on the terminal: what was walked, in one line.
    pub fn finish(&self) {
        self.0.finish();
    }
}

/// Ends `bar`: a bar to a known end is drawn once more where the work stopped and left on the
/// terminal (its last frame says how far it got: every one of them, or where it failed); a
/// spinner is cleared, the summary lines say the rest.
pub fn finish(bar: &ProgressBar) {
    if bar.length().is_some() {
        bar.finish();
    } else {
        bar.finish_and_clear();
    }
}

/// A spinner that counts: "replaying: 12,345 events (3s)", for work whose end is not known.
pub fn counting(what: &str, unit: &str) -> ProgressBar {
    started(what, &format!("{{spinner}} {{msg}}: {{human_pos}} {unit} ({{elapsed}})"))
}

/// A spinner that counts bytes as they pass: "receiving the backup: 1.2 GiB at 80 MiB/s (15s)"
/// (a backup's size is known only once its stream ends).
pub fn bytes(what: &str) -> ProgressBar {
    started(what, "{spinner} {msg}: {binary_bytes} at {binary_bytes_per_sec} ({elapsed})")
}

/// A spinner for work that tells nothing until it is done: "restoring (4s)".
pub fn working(what: &str) -> ProgressBar {
    started(what, "{spinner} {msg} ({elapsed})")
}

fn started(what: &str, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("the templates are valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    // Drawn at once, not at the first tick: short work shows too.
    bar.tick();
    bar.enable_steady_tick(TICK);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid_and_only_a_terminal_is_drawn_on() {
        // libtest captures what the tests print, not the process's stderr itself.
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let walking = walking("reindexing", "streams");
        walking.tell(Walked { done: 3, of: 2 });
        assert_eq!((walking.0.position(), walking.0.length()), (3, Some(3)), "the end grows");
        walking.tell(Walked { done: 1, of: 4 });
        assert_eq!((walking.0.position(), walking.0.length()), (1, Some(4)));
        walking.finish();
        for bar in [
            bar("verifying", "records", 10),
            counting("replaying", "events"),
            bytes("receiving"),
            working("restoring"),
        ] {
            assert_eq!(bar.is_hidden(), !terminal);
            bar.finish_and_clear();
        }
    }
}
