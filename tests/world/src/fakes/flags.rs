//! Cobra-style flag parsing shared by the Go-tool fakes: `--name=value`, `--name value`, bool flags, `--`
//! ending flags; an unknown flag is an error, as cobra reports it.

use std::collections::BTreeMap;

pub struct Parsed {
    pub flags: BTreeMap<String, String>,
    pub positional: Vec<String>,
    /// Everything after `--`.
    pub rest: Vec<String>,
}

/// `spec` lists (name, takes_value); one-letter names are shorthands.
pub fn parse(args: &[String], spec: &[(&str, bool)]) -> Result<Parsed, String> {
    let mut parsed = Parsed { flags: BTreeMap::new(), positional: Vec::new(), rest: Vec::new() };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            parsed.rest = args[i + 1..].to_vec();
            break;
        }
        let (dashes, body) = if let Some(b) = arg.strip_prefix("--") {
            (2, b)
        } else if let Some(b) = arg.strip_prefix('-').filter(|b| !b.is_empty()) {
            (1, b)
        } else {
            parsed.positional.push(arg.clone());
            i += 1;
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some((_, takes_value)) = spec.iter().find(|(n, _)| *n == name && (dashes == 2) == (n.len() > 1)) else {
            return Err(if dashes == 2 {
                format!("unknown flag: --{name}")
            } else {
                format!("unknown shorthand flag: '{}' in -{body}", name.chars().next().unwrap_or('?'))
            });
        };
        let value = if *takes_value {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| format!("flag needs an argument: --{name}"))?
                }
            }
        } else {
            inline.unwrap_or_else(|| "true".into())
        };
        parsed.flags.insert(name.to_string(), value);
        i += 1;
    }
    Ok(parsed)
}
