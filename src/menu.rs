//! A menu's content: what a newcomer needs to make a choice. `Ui::choose` (ui/prompt.rs) asks it: the
//! explanation and the warning first, then the question with its keys, the recommended item marked.

/// The keys every menu takes, shown with its question.
pub const MENU_KEYS: &str = "↑/↓ to move, Enter to choose, Ctrl-C to cancel";

/// A choice with what a newcomer needs to make it.
#[derive(Debug, Clone, Default)]
pub struct Menu<'a> {
    pub question: &'a str,
    /// What the choice is about, shown before the question.
    pub explanation: Vec<String>,
    /// What choosing will do that the user should know first (shown before the question).
    pub warning: Option<String>,
    pub items: Vec<String>,
    pub default: Option<usize>,
    /// The item to recommend, and why.
    pub recommended: Option<(usize, String)>,
    /// The flag that answers the question when nobody can.
    pub flag: &'a str,
}
