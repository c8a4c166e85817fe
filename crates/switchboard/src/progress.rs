//! Progress of long CLI work (verify, replay, reindex, key rotation, backups and restores) on
//! stderr, drawn only when stderr is a terminal: indicatif draws nothing anywhere else, so a
//! pipe, a file or a journal gets the plain summary lines alone.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a spinner moves while the work gives no news.
const TICK: Duration = Duration::from_millis(120);

/// A spinner that counts: "verifying: 12,345 records (3s)".
pub fn counting(what: &str, unit: &str) -> ProgressBar {
    started(what, &format!("{{spinner}} {{msg}}: {{human_pos}} {unit} ({{elapsed}})"))
}

/// A spinner that counts bytes as they pass: "receiving the backup: 1.2 GiB at 80 MiB/s (15s)".
pub fn bytes(what: &str) -> ProgressBar {
    started(what, "{spinner} {msg}: {binary_bytes} at {binary_bytes_per_sec} ({elapsed})")
}

/// A spinner for work that tells nothing until it is done: "reindexing (4s)".
pub fn working(what: &str) -> ProgressBar {
    started(what, "{spinner} {msg} ({elapsed})")
}

fn started(what: &str, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).expect("the templates are valid"));
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
        for bar in [counting("verifying", "records"), bytes("receiving"), working("reindexing")] {
            assert_eq!(bar.is_hidden(), !terminal);
            bar.finish_and_clear();
        }
    }
}
