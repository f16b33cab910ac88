//! minikube: `version --short` prints `v1.38.1` (from v1.20; v1.10–v1.19 print `minikube version: vX` even
//! with --short, and before v1.10 the flag does not exist), so the parser takes the first version token and
//! callers fall back to plain `version` on an unknown-flag error.

use crate::runner::Cmd;
use crate::version::Version;

pub fn version_short(program: &str) -> Cmd {
    Cmd::query(program).args(["version", "--short"])
}

pub fn version_long(program: &str) -> Cmd {
    Cmd::query(program).arg("version")
}

pub fn parse_version(stdout: &str) -> Result<Version, String> {
    Version::find_in(stdout).ok_or_else(|| format!("minikube printed no version: {:?}", stdout.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_forms() {
        assert_eq!(parse_version("v1.38.1\n"), Ok(Version::new(1, 38, 1)));
        assert_eq!(parse_version("minikube version: v1.7.3\ncommit: 436667c8\n"), Ok(Version::new(1, 7, 3)));
        assert!(parse_version("command not found").is_err());
    }
}
