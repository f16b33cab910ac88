//! What a running stage shows while it runs. On a terminal: a live region at the bottom of the screen — the
//! stage, what it does now and for how long, the latest lines of the tool it runs — redrawn in place, while
//! the lines that matter (notes, warnings, problems, the closing ✔) print above it as they come. Without a
//! terminal: every line as it comes, prefixed with the stage's name; a wait's status when it changes, at
//! most every few seconds, never every poll.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{write_line, Ui};

/// The latest tool lines a live region shows.
const TAIL_LINES: usize = 3;
/// Without a terminal, a wait's changed status is printed at most this often.
const STATUS_EVERY: Duration = Duration::from_secs(3);
/// Room for the spinner, the stage's name and the elapsed time before the text of a live region.
const LEAD: usize = 26;

/// One running stage's place on the screen, shared by every copy of its UI.
pub(super) struct Lane {
    pub(super) name: String,
    /// The live region on a terminal; None without one.
    bar: Option<ProgressBar>,
    /// When the activity on show began: the live region's clock counts from it.
    shown_since: Arc<Mutex<Instant>>,
    state: Mutex<LaneState>,
}

#[derive(Default)]
struct LaneState {
    /// What the stage does: a phase, a command, a wait, each with when it began. The last one started or
    /// updated is shown.
    doing: Vec<(u64, String, Instant)>,
    next_id: u64,
    /// The latest lines of the tool that streams its progress.
    tail: VecDeque<String>,
    /// Without a terminal: the last status printed, and when.
    printed: Option<(String, Instant)>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("name", &self.name).field("live", &self.bar.is_some()).finish()
    }
}

impl Lane {
    pub(super) fn new(name: &str, multi: Option<&MultiProgress>) -> Lane {
        let shown_since = Arc::new(Mutex::new(Instant::now()));
        let since = shown_since.clone();
        let clock = move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let seconds = since.lock().map_or(0, |at| at.elapsed().as_secs());
            let _ = match seconds {
                0..60 => write!(out, "{seconds:>5}s"),
                _ => write!(out, "{:>2}m{:02}s", seconds / 60, seconds % 60),
            };
        };
        let bar = multi.map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            let template = "{spinner:.blue} {prefix:.bold} {since:.dim}  {msg}";
            bar.set_style(ProgressStyle::with_template(template).expect("static template").with_key("since", clock));
            bar.set_prefix(format!("{name:<14}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Lane { name: name.to_string(), bar, shown_since, state: Mutex::new(LaneState::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Redraws the live region from the state (a no-op without a terminal).
    fn draw(&self, state: &LaneState) {
        let Some(bar) = &self.bar else { return };
        let width = usize::from(console::Term::stdout().size().1).max(LEAD + 20);
        let (doing, since) = state.doing.last().map_or(("", Instant::now()), |(_, text, at)| (text.as_str(), *at));
        *self.shown_since.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = since;
        let mut message = console::truncate_str(doing, width - LEAD, "…").into_owned();
        for line in &state.tail {
            message.push_str("\n      ");
            message.push_str(&console::truncate_str(line, width - 7, "…"));
        }
        bar.set_message(message);
    }

    fn push(&self, text: String) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        state.doing.push((id, text, Instant::now()));
        self.draw(&state);
        id
    }

    /// Changes an activity's text; the latest news goes on show (a wait's status over the command it runs).
    fn set(&self, id: u64, text: String) {
        let mut state = self.state();
        if let Some(at) = state.doing.iter().position(|(entry, ..)| *entry == id) {
            let (_, _, began) = state.doing.remove(at);
            state.doing.push((id, text, began));
        }
        self.draw(&state);
    }

    fn pop(&self, id: u64) {
        let mut state = self.state();
        state.doing.retain(|(entry, ..)| *entry != id);
        self.draw(&state);
    }

    fn tool_line(&self, line: &str) {
        let mut state = self.state();
        if state.tail.len() == TAIL_LINES {
            state.tail.pop_front();
        }
        state.tail.push_back(line.to_string());
        self.draw(&state);
    }

    fn clear_tail(&self) {
        let mut state = self.state();
        state.tail.clear();
        self.draw(&state);
    }

    /// Without a terminal: whether a wait's status should be printed now (it changed, and not too often).
    fn status_due(&self, status: &str) -> bool {
        let mut state = self.state();
        let due = match &state.printed {
            None => true,
            Some((last, at)) => last != status && at.elapsed() >= STATUS_EVERY,
        };
        if due {
            state.printed = Some((status.to_string(), Instant::now()));
        }
        due
    }

    /// Takes the live region off the screen.
    pub(super) fn close(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Something a stage does for a while (a command, a wait, a phase), shown in its live region until dropped.
pub(crate) struct Activity(Option<(Arc<Lane>, u64)>);

impl Activity {
    pub(super) fn none() -> Activity {
        Activity(None)
    }

    pub(super) fn start(lane: &Arc<Lane>, text: String) -> Activity {
        let id = lane.push(text);
        Activity(Some((lane.clone(), id)))
    }

    /// Changes what the activity shows (a wait's latest status).
    pub(crate) fn set(&self, text: String) {
        if let Some((lane, id)) = &self.0 {
            lane.set(*id, text);
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        if let Some((lane, id)) = &self.0 {
            lane.pop(*id);
        }
    }
}

impl Ui {
    /// Shows what this stage does now in its live region (nothing without a terminal, or outside a stage).
    pub(crate) fn activity(&self, text: impl Into<String>) -> Activity {
        match &self.lane {
            Some(lane) => Activity::start(lane, text.into()),
            None => Activity::none(),
        }
    }

    /// Starts a step whose tool streams its progress: shown in the live region with the tool's lines under it
    /// (they replace the previous tool's), and without a terminal printed as a line of its own.
    pub(crate) fn announce(&self, text: impl Into<String>) -> Activity {
        let Some(lane) = &self.lane else { return Activity::none() };
        let text = text.into();
        if lane.bar.is_some() {
            lane.clear_tail();
        } else {
            write_line(false, &format!("[{}] {text}", lane.name));
        }
        Activity::start(lane, text)
    }

    /// A line the running tool printed: under the live region's activity on a terminal, else printed with the
    /// stage's name, at once. Outside a stage it is not shown (the command's output is kept for its result).
    pub(crate) fn tool_line(&self, line: &str) {
        let Some(lane) = &self.lane else { return };
        let Some(line) = shown(line) else { return };
        let line = line.as_str();
        if lane.bar.is_some() {
            lane.tool_line(line);
        } else {
            write_line(false, &format!("[{}] {line}", lane.name));
        }
    }

    /// A wait's status inside a stage: live on a terminal; otherwise printed when it changes (rate-limited).
    pub(super) fn stage_status(&self, activity: &Activity, status: String, started: Instant) {
        let Some(lane) = &self.lane else { return };
        if lane.bar.is_none() {
            if lane.status_due(&status) {
                write_line(false, &format!("[{}] {status} ({}s)", lane.name, started.elapsed().as_secs()));
            }
            return;
        }
        activity.set(status);
    }
}

/// A tool's line as it is shown: without colour codes, and when the tool redrew it in place (`\r`), its last
/// state; None for a blank line.
fn shown(line: &str) -> Option<String> {
    let plain = console::strip_ansi_codes(line);
    plain.split('\r').map(str::trim_end).rfind(|part| !part.trim().is_empty()).map(String::from)
}

/// Where one running stage prints: its live region while it runs, then its closing summary line.
pub(crate) struct Region {
    pub(super) parent: Ui,
    pub(super) ui: Ui,
    pub(super) lane: Arc<Lane>,
}

impl Region {
    pub(crate) fn ui(&self) -> Ui {
        self.ui.clone()
    }

    /// Takes the live region off the screen and prints the stage's summary line (a failure already printed
    /// its problem).
    pub(crate) fn finish(self, summary: &str, failed: bool) {
        self.lane.close();
        if let Some(multi) = &self.parent.multi {
            if let Some(bar) = &self.lane.bar {
                multi.remove(bar);
            }
        }
        if !failed {
            self.parent.line(summary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_a_status_is_printed_when_it_changes_and_not_too_often() {
        let lane = Lane::new("cluster", None);
        assert!(lane.status_due("pod Pending"), "the first status is printed");
        assert!(!lane.status_due("pod Pending"), "the same status is not printed again");
        assert!(!lane.status_due("pod ContainerCreating"), "a change right after waits");
        lane.state().printed.as_mut().expect("printed").1 -= STATUS_EVERY;
        assert!(lane.status_due("pod ContainerCreating"), "a change is printed once the interval passed");
        assert!(!lane.status_due("pod ContainerCreating"));
    }

    #[test]
    fn a_tool_line_is_shown_without_colours_and_as_its_last_redraw() {
        assert_eq!(shown("\x1b[32m🏄  Done!\x1b[0m  ").as_deref(), Some("🏄  Done!"));
        assert_eq!(shown("Progress: 10%\rProgress: 90%\r").as_deref(), Some("Progress: 90%"));
        assert_eq!(shown("  \r "), None);
    }

    #[test]
    fn the_latest_news_is_on_show_and_an_ended_activity_gives_way() {
        let lane = Arc::new(Lane::new("helm", None));
        let shown = |lane: &Lane| lane.state().doing.last().map(|(_, text, _)| text.clone());
        let phase = Activity::start(&lane, "applying".into());
        let wait = Activity::start(&lane, "waiting for pods".into());
        let command = Activity::start(&lane, "helm upgrade".into());
        assert_eq!(shown(&lane).as_deref(), Some("helm upgrade"));
        wait.set("waiting for pods: 0/1 ready".into());
        assert_eq!(shown(&lane).as_deref(), Some("waiting for pods: 0/1 ready"));
        drop(wait);
        assert_eq!(shown(&lane).as_deref(), Some("helm upgrade"));
        drop(command);
        assert_eq!(shown(&lane).as_deref(), Some("applying"));
        drop(phase);
        assert_eq!(shown(&lane), None);
    }
}
