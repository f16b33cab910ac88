//! Versions as the tools print them: `v1.33.1`, `v1.32.5-gke.100`, `v1.33.0+k3s1`, `v3.17.1+g980d8ac`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub(crate) patch: u32,
}

impl Version {
    pub(crate) const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version { major, minor, patch }
    }

    /// Parses `v1.2.3` or `1.2.3` with any pre-release or build suffix; `1.2` means `1.2.0`.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parse_number(parts.next()?)?;
        let minor = parse_number(parts.next()?)?;
        let patch = match parts.next() {
            Some(p) => parse_number(p)?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Version { major, minor, patch })
    }

    /// Finds the first `vX.Y.Z` token in free text, e.g. `minikube version: v1.7.3`.
    pub fn find_in(text: &str) -> Option<Version> {
        text.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .filter(|word| word.starts_with('v'))
            .find_map(Version::parse)
    }
}

fn parse_number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_tools_print() {
        assert_eq!(Version::parse("v1.33.1"), Some(Version::new(1, 33, 1)));
        assert_eq!(Version::parse("v1.32.5-gke.100"), Some(Version::new(1, 32, 5)));
        assert_eq!(Version::parse("v3.17.1+g980d8ac"), Some(Version::new(3, 17, 1)));
        assert_eq!(Version::parse("1.22"), Some(Version::new(1, 22, 0)));
        assert_eq!(Version::parse("v1.2.3.4"), None);
        assert_eq!(Version::parse("vx.1.2"), None);
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::parse("v99999999999.1.1"), None);
    }

    #[test]
    fn finds_a_version_in_prose() {
        assert_eq!(Version::find_in("minikube version: v1.7.3\ncommit: abc"), Some(Version::new(1, 7, 3)));
        assert_eq!(Version::find_in("no version here"), None);
    }
}
