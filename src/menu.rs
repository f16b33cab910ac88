//! A menu's content: what a newcomer needs to make a choice. `Ui::choose` (ui/prompt.rs) asks it: the
//! explanation and the warning first, then the question with its keys, the recommended item marked.

/// The keys every menu takes, shown with its question.
pub(crate) const MENU_KEYS: &str = "↑/↓ to move, Enter to choose, Ctrl-C to cancel";

/// A choice with what a newcomer needs to make it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Menu<'a> {
    pub(crate) question: &'a str,
    /// What the choice is about, shown before the question.
    pub(crate) explanation: Vec<String>,
    /// What choosing will do that the user should know first (shown before the question).
    pub(crate) warning: Option<String>,
    pub(crate) items: Vec<String>,
    pub(crate) default: Option<usize>,
    /// The item to recommend, and why.
    pub(crate) recommended: Option<(usize, String)>,
    /// The flag that answers the question when nobody can.
    pub(crate) flag: &'a str,
}
