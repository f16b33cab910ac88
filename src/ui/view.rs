//! A view redrawn in place (`watch`): on a terminal each frame replaces the last; without one each frame is
//! one line. Its lines are cut to the terminal's width, so replacing a frame never leaves a wrapped piece.

use super::{write_line, Ui};

pub(crate) struct View {
    ui: Ui,
    /// Lines of the frame on screen now.
    drawn: usize,
}

impl Ui {
    pub(crate) fn view(&self) -> View {
        View { ui: self.clone(), drawn: 0 }
    }
}

impl View {
    /// Shows a frame: its lines in place of the last frame's on a terminal, else `plain` as one line.
    pub(crate) fn show(&mut self, lines: &[String], plain: &str) {
        if !self.ui.stdout_tty {
            self.ui.line(plain);
            return;
        }
        let term = console::Term::stdout();
        let width = usize::from(term.size().1).max(20);
        let _ = term.clear_last_lines(self.drawn);
        for line in lines {
            write_line(false, &console::truncate_str(line, width - 1, "…"));
        }
        self.drawn = lines.len();
    }
}

impl Drop for View {
    /// The last frame stays; the cursor is shown whatever drew before (never an escape into a pipe).
    fn drop(&mut self) {
        if self.ui.stdout_tty {
            let _ = console::Term::stdout().show_cursor();
        }
    }
}
