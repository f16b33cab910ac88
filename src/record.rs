//! The record of what setup made, so teardown removes exactly that: kept per kube context in the user's
//! config directory (`%APPDATA%\interlok-k8s` or `~/.config/interlok-k8s`), private to the user (0700/0600).
//! It is a write-ahead record: each switch, release and object is recorded as *intended* before the command
//! that makes it runs, and *created* (or *adopted*) once it did, so an interrupted run leaves nothing
//! unrecorded. Every change is a read-modify-write under an exclusive lock, written through a temporary file
//! and a rename, so runs on two contexts at once both survive and a crash never leaves half a file. A file
//! that cannot be read is an error naming it — never read as "nothing was made". It holds names only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// One thing setup makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum Created {
    Release {
        name: String,
        namespace: String,
    },
    /// `kind` as kubectl names the resource (`deployment`, `service`, `hpa`, `configmap`, …).
    Object {
        kind: String,
        name: String,
        namespace: String,
    },
    Namespace {
        name: String,
    },
    Repository {
        name: String,
    },
    Tiller,
    Switch {
        name: String,
    },
    Cluster,
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Created::Release { name, namespace } => write!(f, "Helm release {name} in {namespace}"),
            Created::Object { kind, name, namespace } => write!(f, "{kind} {name} in {namespace}"),
            Created::Namespace { name } => write!(f, "namespace {name}"),
            Created::Repository { name } => write!(f, "chart repository {name}"),
            Created::Tiller => f.write_str("tiller"),
            Created::Switch { name } => write!(f, "Hyper-V switch {name:?}"),
            Created::Cluster => f.write_str("the minikube cluster"),
        }
    }
}

/// How far setup got with a thing: about to make it, made it, or took over an existing one (`--adopt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum State {
    Intended,
    /// The default: records written before states existed listed only what was created.
    #[default]
    Created,
    Adopted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    #[serde(flatten)]
    pub(crate) item: Created,
    #[serde(default)]
    pub(crate) state: State,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    contexts: BTreeMap<String, Vec<Entry>>,
}

pub(crate) struct Record {
    path: Option<PathBuf>,
    context: String,
    entries: Vec<Entry>,
    damaged: Option<Problem>,
}

impl Record {
    /// The record for one kube context (None = minikube's own) in the user's config directory.
    pub(crate) fn load(context: Option<&str>) -> Record {
        Record::at(crate::settings::state_dir().map(|d| d.join("record.json")), context.unwrap_or("minikube"))
    }

    /// The record kept in this file (None: kept in memory only).
    pub(crate) fn at(path: Option<PathBuf>, context: &str) -> Record {
        let mut record = Record { path, context: context.to_string(), entries: Vec::new(), damaged: None };
        if let Some(path) = &record.path {
            match read(path) {
                Ok(mut file) => record.entries = file.contexts.remove(context).unwrap_or_default(),
                Err(problem) => record.damaged = Some(problem),
            }
        }
        record
    }

    /// Why the file cannot be used, when it cannot: nothing is written to a damaged record.
    pub(crate) fn damaged(&self) -> Option<&Problem> {
        self.damaged.as_ref()
    }

    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.entries.clone()
    }

    pub(crate) fn state(&self, item: &Created) -> Option<State> {
        self.entries.iter().find(|e| &e.item == item).map(|e| e.state)
    }

    /// Records that setup is about to make this (a thing recorded already keeps its state).
    pub(crate) fn intend(&mut self, item: Created) -> Result<(), Problem> {
        self.update(|entries| {
            if !entries.iter().any(|e| e.item == item) {
                entries.push(Entry { item, state: State::Intended });
            }
        })
    }

    /// Records what became of it: created, or adopted.
    pub(crate) fn confirm(&mut self, item: Created, state: State) -> Result<(), Problem> {
        self.update(|entries| match entries.iter_mut().find(|e| e.item == item) {
            Some(entry) => entry.state = state,
            None => entries.push(Entry { item, state }),
        })
    }

    pub(crate) fn remove(&mut self, item: &Created) -> Result<(), Problem> {
        self.update(|entries| entries.retain(|e| &e.item != item))
    }

    /// Reads the file afresh under the lock, changes this context's entries, writes it back atomically: a
    /// run on another context (or another stage of this run) never loses what the other wrote.
    fn update(&mut self, change: impl FnOnce(&mut Vec<Entry>)) -> Result<(), Problem> {
        if let Some(problem) = &self.damaged {
            return Err(problem.clone());
        }
        let Some(path) = self.path.clone() else {
            change(&mut self.entries);
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        private_dir(dir)?;
        let lock_path = dir.join("record.lock");
        let lock = private_file(&lock_path).map_err(|e| cannot("open", &lock_path, e))?;
        lock.lock().map_err(|e| cannot("lock", &lock_path, e))?;
        let mut file = read(&path).inspect_err(|problem| self.damaged = Some(problem.clone()))?;
        let entries = file.contexts.entry(self.context.clone()).or_default();
        change(entries);
        self.entries = entries.clone();
        if self.entries.is_empty() {
            file.contexts.remove(&self.context);
        }
        write_atomically(&path, &file)
        // the lock is released when `lock` is dropped
    }
}

/// The file's contexts; a missing file is an empty record, anything unreadable an error naming the file.
fn read(path: &Path) -> Result<File, Problem> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
        Err(e) => return Err(damaged(path, &e.to_string())),
    };
    serde_json::from_str(&text).map_err(|e| damaged(path, &e.to_string()))
}

fn damaged(path: &Path, why: &str) -> Problem {
    Problem::new(format!("the record of what setup made, {}, cannot be read ({why})", path.display())).with_hint(
        format!(
            "`interlok-k8s teardown --from-labels` finds what the wizard made by its labels instead; to start a new record, move {} away (it holds the records of every kube context)",
            path.display()
        ),
    )
}

fn cannot(what: &str, path: &Path, e: std::io::Error) -> Problem {
    Problem::new(format!("cannot {what} {}: {e}", path.display()))
        .with_hint(format!("check that {} is yours and writable", path.parent().unwrap_or(path).display()))
}

/// Temporary file (0600), fsync, rename over the record, fsync the directory: the file is either the old
/// record or the new one, also after a crash or a power cut.
fn write_atomically(path: &Path, file: &File) -> Result<(), Problem> {
    let text = serde_json::to_string_pretty(file).map_err(|e| Problem::new(e.to_string()))?;
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let written = private_file(&tmp)
        .and_then(|mut f| {
            f.set_len(0)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot("write", path, e));
    }
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The record's directory, readable by the user only.
fn private_dir(dir: &Path) -> Result<(), Problem> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| cannot("create", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("interlok-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("interlok-k8s").join("record.json")
    }

    fn switch(name: &str) -> Created {
        Created::Switch { name: name.into() }
    }

    #[test]
    fn intent_then_confirmation_and_states_survive_a_reload() {
        let path = scratch("states");
        let mut record = Record::at(Some(path.clone()), "minikube");
        record.intend(switch("minikube")).unwrap();
        assert_eq!(record.state(&switch("minikube")), Some(State::Intended));
        record.confirm(switch("minikube"), State::Created).unwrap();
        record.intend(switch("minikube")).unwrap();
        assert_eq!(record.state(&switch("minikube")), Some(State::Created), "an intent never demotes");
        record.confirm(Created::Release { name: "p".into(), namespace: "m".into() }, State::Adopted).unwrap();
        let again = Record::at(Some(path.clone()), "minikube");
        assert_eq!(again.entries(), record.entries());
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn records_from_before_states_read_as_created() {
        let path = scratch("legacy");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"contexts": {"minikube": [{"type": "object", "kind": "hpa", "name": "interlok", "namespace": "default"}]}}"#).unwrap();
        let record = Record::at(Some(path.clone()), "minikube");
        assert_eq!(record.entries()[0].state, State::Created);
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it_and_is_never_overwritten() {
        let path = scratch("damaged");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let truncated = r#"{"contexts": {"minikube": [{"type": "switch", "na"#;
        std::fs::write(&path, truncated).unwrap();
        let mut record = Record::at(Some(path.clone()), "minikube");
        let problem = record.damaged().expect("damaged").clone();
        assert!(problem.message.contains(&path.display().to_string()), "{}", problem.message);
        assert!(problem.hint.unwrap().contains("--from-labels"));
        assert!(record.intend(switch("x")).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), truncated, "left as it was, for the user to look at");
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn concurrent_writers_on_two_contexts_merge_and_never_clobber() {
        let path = scratch("concurrent");
        let writers: Vec<_> = ["ctx-a", "ctx-b", "ctx-c", "ctx-d"]
            .into_iter()
            .map(|context| {
                let path = path.clone();
                std::thread::spawn(move || {
                    // each writer holds its own view, loaded before the others wrote
                    let mut record = Record::at(Some(path), context);
                    for i in 0..25 {
                        record.confirm(Created::Namespace { name: format!("{context}-{i}") }, State::Created).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        for context in ["ctx-a", "ctx-b", "ctx-c", "ctx-d"] {
            assert_eq!(Record::at(Some(path.clone()), context).entries().len(), 25, "{context} lost entries");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn the_file_and_its_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let path = scratch("private");
        Record::at(Some(path.clone()), "minikube").intend(switch("s")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }
}
