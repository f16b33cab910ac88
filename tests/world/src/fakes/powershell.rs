//! PowerShell, as far as the wizard uses it. The script arrives as `-EncodedCommand` (UTF-16LE base64) or
//! `-Command`; the fake tokenizes it (single-quoted literals with `''`, double-quoted strings, variables,
//! punctuation), recognizes the cmdlets the wizard runs, logs their parsed parameters, and answers from the
//! world's Windows state. Any other cmdlet is "not recognized" — so a value that escaped its quotes and became
//! code shows up in the log and fails the call.

use std::collections::BTreeMap;

use serde_json::json;

use super::Env;
use crate::fakeconfig::{Switch, WindowsConfig};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Var(String),
    Punct(char),
}

fn tokenize(script: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let is_quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}');
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1; // a comment runs to the end of the line
            }
        } else if is_quote(c) {
            let mut text = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else { return Err("The string is missing the terminator: '.".into()) };
                if is_quote(d) {
                    if chars.get(i + 1).is_some_and(|n| is_quote(*n)) {
                        text.push(d);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                text.push(d);
                i += 1;
            }
            tokens.push(Token::Str(text));
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(Token::Str(text));
        } else if c == '$' {
            let mut name = String::new();
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                name.push(chars[i]);
                i += 1;
            }
            tokens.push(Token::Var(name));
        } else if "|;(){}[],@=".contains(c) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else {
            let mut word = String::new();
            while i < chars.len() && !chars[i].is_whitespace() && !"|;(){}[],'\"=".contains(chars[i]) {
                word.push(chars[i]);
                i += 1;
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

const KNOWN: &[&str] = &[
    "Get-CimInstance",
    "Get-NetAdapter",
    "Where-Object",
    "Select-Object",
    "ConvertTo-Json",
    "Get-NetRoute",
    "Sort-Object",
    "Get-VMSwitch",
    "New-VMSwitch",
    "Remove-VMSwitch",
    "Out-Null",
];

fn is_cmdlet(word: &str) -> bool {
    let name = word.rsplit('\\').next().unwrap_or(word);
    let mut parts = name.splitn(2, '-');
    let (verb, noun) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    !verb.is_empty()
        && !noun.is_empty()
        && verb.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && verb.chars().all(|c| c.is_ascii_alphabetic())
}

/// Each cmdlet in the script with its `-Parameter value` pairs.
fn cmdlets(tokens: &[Token]) -> Vec<(String, BTreeMap<String, String>)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let command_position = i == 0 || matches!(tokens[i - 1], Token::Punct('|' | ';' | '(' | '{'));
        if let Token::Word(word) = &tokens[i] {
            if command_position && is_cmdlet(word) && !word.starts_with('-') {
                let name = word.rsplit('\\').next().unwrap_or(word).to_string();
                let mut params = BTreeMap::new();
                let mut j = i + 1;
                while j < tokens.len() && !matches!(tokens[j], Token::Punct('|' | ';' | ')' | '}')) {
                    if let Token::Word(p) = &tokens[j] {
                        if let Some(param) = p.strip_prefix('-') {
                            let value = match tokens.get(j + 1) {
                                // a quoted string is a value even when it starts with '-'
                                Some(Token::Str(s)) => {
                                    j += 1;
                                    s.clone()
                                }
                                Some(Token::Word(s)) if !s.starts_with('-') => {
                                    j += 1;
                                    s.clone()
                                }
                                Some(Token::Var(v)) => {
                                    j += 1;
                                    format!("${v}")
                                }
                                _ => "true".into(),
                            };
                            params.insert(param.to_string(), value);
                        }
                    }
                    j += 1;
                }
                found.push((name, params));
            }
        }
        i += 1;
    }
    found
}

fn decode(encoded: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in encoded.bytes().filter(|b| *b != b'=') {
        let value = table.iter().position(|t| *t == c).ok_or(
            "Cannot process the command because the value specified with -EncodedCommand is not properly encoded.",
        )? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
    String::from_utf16(&units).map_err(|e| e.to_string())
}

/// The script of a PowerShell command line (decoded from -EncodedCommand), if there is one.
pub(crate) fn script_of(args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a.eq_ignore_ascii_case("-EncodedCommand") || a.eq_ignore_ascii_case("-ec"))?;
    decode(args.get(at + 1)?).ok()
}

fn state_path(env: &Env) -> std::path::PathBuf {
    env.dir.join("windows-state.json")
}

pub(crate) fn load_state(env: &Env) -> WindowsConfig {
    std::fs::read_to_string(state_path(env))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .or_else(|| env.config.windows.clone())
        .unwrap_or_default()
}

fn save_state(env: &Env, state: &WindowsConfig) {
    let _ = std::fs::write(state_path(env), serde_json::to_string_pretty(state).expect("json"));
}

pub fn run(env: &Env, tool: &str, args: &[String]) -> i32 {
    let mut script = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].to_ascii_lowercase().as_str() {
            "-noprofile" | "-noninteractive" | "-nologo" => {}
            "-encodedcommand" | "-ec" => {
                i += 1;
                match args.get(i).map(|a| decode(a)) {
                    Some(Ok(text)) => script = Some(text),
                    Some(Err(e)) => return fail(env, tool, args, &e),
                    None => return fail(env, tool, args, "Missing the argument to -EncodedCommand."),
                }
            }
            "-command" | "-c" => {
                script = Some(args[i + 1..].join(" "));
                break;
            }
            other => {
                return fail(
                    env,
                    tool,
                    args,
                    &format!("The argument '{other}' is not recognized as the name of a script file."),
                )
            }
        }
        i += 1;
    }
    let Some(script) = script else { return fail(env, tool, args, "no command given") };
    let tokens = match tokenize(&script) {
        Ok(t) => t,
        Err(e) => return fail(env, tool, &[script], &e),
    };
    let found = cmdlets(&tokens);
    let mut parsed: Vec<(String, String)> = vec![("script".into(), script.clone())];
    for (index, (name, params)) in found.iter().enumerate() {
        parsed.push((format!("cmdlet.{index}"), name.clone()));
        for (k, v) in params {
            parsed.push((format!("{name}.{k}"), v.clone()));
        }
    }
    if let Some((unknown, _)) = found.iter().find(|(n, _)| !KNOWN.contains(&n.as_str())) {
        env.log(tool, args, parsed, Some(format!("unknown cmdlet {unknown}")));
        eprintln!("{unknown} : The term '{unknown}' is not recognized as the name of a cmdlet, function, script file, or operable program.");
        return 1;
    }
    env.log(tool, args, parsed, None);
    answer(env, &script, &found)
}

fn fail(env: &Env, tool: &str, args: &[String], message: &str) -> i32 {
    env.log(tool, args, vec![("error".into(), message.into())], Some("rejected".into()));
    eprintln!("{message}");
    1
}

fn bool_word(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn answer(env: &Env, script: &str, found: &[(String, BTreeMap<String, String>)]) -> i32 {
    let mut state = load_state(env);
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    let params = |cmdlet: &str| found.iter().find(|(n, _)| n == cmdlet).map(|(_, p)| p.clone()).unwrap_or_default();
    let may_hyperv = state.admin || state.hyperv_admin_group;
    if script.contains("IsInRole") {
        println!("{} {}", bool_word(state.admin), bool_word(state.hyperv_admin_group));
        return 0;
    }
    if script.contains("HypervisorPresent") {
        println!("{}", bool_word(state.hyperv_enabled));
        return 0;
    }
    if names.contains(&"Get-NetAdapter") {
        let up: Vec<_> = state
            .adapters
            .iter()
            .filter(|a| a.up)
            .map(|a| {
                json!({"Name": a.name, "InterfaceDescription": a.description,
            "InterfaceGuid": format!("{{{}}}", a.guid), "Status": "Up", "PhysicalMediaType": "802.3"})
            })
            .collect();
        println!("{}", serde_json::to_string(&up).expect("json"));
        return 0;
    }
    if names.contains(&"Get-NetRoute") {
        if let Some(a) = state.adapters.iter().find(|a| a.up && a.default_route) {
            println!("{}", a.name);
        }
        return 0;
    }
    let permission = |cmdlet: &str| {
        eprintln!("{cmdlet} : You do not have the required permission to complete this task. Contact the administrator of the authorization policy for the computer 'WORKSTATION'.");
        1
    };
    if names.contains(&"New-VMSwitch") {
        if !may_hyperv {
            return permission("New-VMSwitch");
        }
        let p = params("New-VMSwitch");
        let name = p.get("Name").cloned().unwrap_or_default();
        let adapter = p.get("NetAdapterName").cloned().unwrap_or_default();
        let Some(found_adapter) = state.adapters.iter().find(|a| a.name == adapter).cloned() else {
            eprintln!("New-VMSwitch : No network adapter found with name '{adapter}'.");
            return 1;
        };
        if state.switches.iter().any(|s| s.adapter_guid.as_deref() == Some(found_adapter.guid.as_str())) {
            eprintln!("New-VMSwitch : Failed while adding virtual Ethernet switch connections. The network adapter is already bound to an external switch.");
            return 1;
        }
        state.switches.push(Switch { name, switch_type: 2, adapter_guid: Some(found_adapter.guid) });
        save_state(env, &state);
        return 0;
    }
    if names.contains(&"Remove-VMSwitch") {
        if !may_hyperv {
            return permission("Remove-VMSwitch");
        }
        let name = params("Remove-VMSwitch").get("Name").cloned().unwrap_or_default();
        state.switches.retain(|s| s.name != name);
        save_state(env, &state);
        return 0;
    }
    if names.contains(&"Get-VMSwitch") {
        if !may_hyperv {
            return permission("Get-VMSwitch");
        }
        let wanted = params("Get-VMSwitch").get("Name").cloned();
        let list: Vec<_> = state
            .switches
            .iter()
            .filter(|s| wanted.as_ref().is_none_or(|w| w == &s.name))
            .map(|s| json!({"Name": s.name, "SwitchType": s.switch_type, "NetAdapterInterfaceDescription": s.adapter_guid}))
            .collect();
        println!("{}", serde_json::to_string(&list).expect("json"));
        return 0;
    }
    eprintln!("the test world's PowerShell does not know this script");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_injection_stays_one_literal() {
        let tokens = tokenize(
            "New-VMSwitch -Name 'm' -NetAdapterName 'Wi-Fi''; Remove-Item C:\\ -Recurse #' -AllowManagementOS $true",
        )
        .unwrap();
        let found = cmdlets(&tokens);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1["NetAdapterName"], "Wi-Fi'; Remove-Item C:\\ -Recurse #");
        assert_eq!(found[0].1["AllowManagementOS"], "$true");
    }

    #[test]
    fn a_quoted_leading_dash_is_a_value() {
        let found = cmdlets(&tokenize("Get-VMSwitch -Name '-Force' -ErrorAction SilentlyContinue").unwrap());
        assert_eq!(found[0].1["Name"], "-Force");
        assert_eq!(found[0].1["ErrorAction"], "SilentlyContinue");
    }

    #[test]
    fn unquoted_injection_becomes_a_second_cmdlet() {
        let tokens = tokenize("New-VMSwitch -Name m -NetAdapterName Wi-Fi; Remove-Item C:\\ -Recurse").unwrap();
        let names: Vec<String> = cmdlets(&tokens).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["New-VMSwitch", "Remove-Item"]);
    }
}
