//! House rules that keep the layers apart, checked on the source: one read side (stages and verify ask
//! `cluster`, never kubectl's get/list themselves), stages used only by the commands that run them,
//! printing only in the UI module, and a library whose public modules are the ones its outside users name.

use std::path::{Path, PathBuf};

fn sources() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push((path.clone(), std::fs::read_to_string(&path).expect("source")));
            }
        }
    }
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).display().to_string()
}

/// Lines (outside test modules) containing any of `needles`, in files `allowed` does not accept.
fn offenders(needles: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        let file = relative(&path);
        if allowed(&file) {
            continue;
        }
        let code = crate::support::product_code(&text);
        for (n, line) in code.lines().enumerate() {
            if !line.trim_start().starts_with("//") && needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_read_side_asks_kubectl_for_objects() {
    let found = offenders(&[".get_json(", ".list_json(", ".get_cluster_json(", ".get_raw("], |file| {
        file.starts_with("src/cluster/") || file.starts_with("src/tools/") || file == "src/bundle.rs"
    });
    assert!(found.is_empty(), "ask src/cluster (one answer per question), not kubectl directly:\n{}", found.join("\n"));
}

#[test]
fn only_the_commands_reach_the_stages() {
    let found =
        offenders(&["crate::stages"], |file| file.starts_with("src/commands/") || file.starts_with("src/stages/"));
    assert!(
        found.is_empty(),
        "the engine is given the stage list; nothing else reaches into stages:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_ui_prints() {
    let found = offenders(&["println!", "eprintln!", "print!(", "eprint!("], |file| file.starts_with("src/ui/"));
    assert!(found.is_empty(), "print through the UI module:\n{}", found.join("\n"));
}

/// The files outside the library that use it: the binary, this suite, the benchmark and the fuzz targets.
fn outside_users() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("src/main.rs")).expect("main.rs");
    for dir in ["tests/suite", "tests/bench", "tests/fuzz/fuzz_targets"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("user dir").flatten() {
            if entry.path().extension().is_some_and(|e| e == "rs") {
                text += &std::fs::read_to_string(entry.path()).expect("source");
            }
        }
    }
    text
}

#[test]
fn a_public_module_is_one_an_outside_user_names() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("lib.rs");
    let users = outside_users();
    let named = |module: &str| {
        users
            .match_indices(&format!("interlok_k8s::{module}"))
            .any(|(at, found)| !users[at + found.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    };
    let unused: Vec<&str> =
        lib.lines().filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';')).filter(|m| !named(m)).collect();
    assert!(
        unused.is_empty(),
        "make these pub(crate) in src/lib.rs: nothing outside the library names them (docs/architecture.md):\n{}",
        unused.join("\n")
    );
}
