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
    "New-Object",
    "Get-WindowsOptionalFeature",
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
        let command_position = i == 0 || matches!(tokens[i - 1], Token::Punct('|' | ';' | '(' | '{' | '='));
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

/// `Where-Object { $_.Property -op 'value' }`: the one filter shape the wizard's scripts use.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    property: String,
    op: String,
    value: String,
}

fn filter(tokens: &[Token]) -> Option<Filter> {
    let at = tokens.iter().position(|t| matches!(t, Token::Word(w) if w == "Where-Object"))?;
    match tokens.get(at + 1..at + 6)? {
        [Token::Punct('{'), Token::Var(var), Token::Word(op), Token::Str(value) | Token::Word(value), Token::Punct('}')] => {
            Some(Filter {
                property: var.strip_prefix("_.")?.to_string(),
                op: op.trim_start_matches('-').to_ascii_lowercase(),
                value: value.clone(),
            })
        }
        _ => None,
    }
}

impl Filter {
    /// PowerShell's comparison operators: `-eq`/`-like` ignore case, `-ceq`/`-clike` do not.
    fn keeps(&self, object: &serde_json::Value) -> Result<bool, String> {
        let actual = match &object[&self.property] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        Ok(match self.op.as_str() {
            "eq" => actual.to_lowercase() == self.value.to_lowercase(),
            "ceq" => actual == self.value,
            "ne" => actual.to_lowercase() != self.value.to_lowercase(),
            "like" => wildcard_match(&self.value, &actual, false)?,
            "clike" => wildcard_match(&self.value, &actual, true)?,
            other => return Err(format!("the test world's Where-Object does not know -{other}")),
        })
    }
}

/// PowerShell's WildcardPattern, as `-Name` of Get-VMSwitch, Remove-VMSwitch and Get-NetAdapter applies it:
/// `*` any run, `?` one character, `[abc]`/`[a-z]` one of a set, a backtick makes the next character
/// literal; case is ignored unless `case_sensitive`. An unclosed `[` is an error, as in PowerShell.
pub(crate) fn wildcard_match(pattern: &str, text: &str, case_sensitive: bool) -> Result<bool, String> {
    enum Part {
        Any,
        One,
        Set(Vec<(char, char)>),
        Char(char),
    }
    let fold = |c: char| if case_sensitive { c } else { c.to_lowercase().next().unwrap_or(c) };
    let chars: Vec<char> = pattern.chars().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => parts.push(Part::Any),
            '?' => parts.push(Part::One),
            '`' if i + 1 < chars.len() => {
                i += 1;
                parts.push(Part::Char(fold(chars[i])));
            }
            '[' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i + 1)
                    .ok_or_else(|| format!("The specified wildcard character pattern is not valid: {pattern}"))?;
                let set: Vec<char> = chars[i + 1..close].iter().map(|c| fold(*c)).collect();
                let mut ranges = Vec::new();
                let mut j = 0;
                while j < set.len() {
                    if j + 2 < set.len() && set[j + 1] == '-' {
                        ranges.push((set[j], set[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((set[j], set[j]));
                        j += 1;
                    }
                }
                parts.push(Part::Set(ranges));
                i = close;
            }
            c => parts.push(Part::Char(fold(c))),
        }
        i += 1;
    }
    let text: Vec<char> = text.chars().map(fold).collect();
    // matches[i][j]: the first i parts match the first j characters
    let mut matches = vec![vec![false; text.len() + 1]; parts.len() + 1];
    matches[0][0] = true;
    for (i, part) in parts.iter().enumerate() {
        for j in 0..=text.len() {
            matches[i + 1][j] = match part {
                Part::Any => matches[i][j] || (j > 0 && matches[i + 1][j - 1]),
                _ if j == 0 => false,
                Part::One => matches[i][j - 1],
                Part::Char(c) => matches[i][j - 1] && text[j - 1] == *c,
                Part::Set(ranges) => {
                    matches[i][j - 1] && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&text[j - 1]))
                }
            };
        }
    }
    Ok(matches[parts.len()][text.len()])
}

fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Windows PowerShell 5.1 writes redirected output in `[Console]::OutputEncoding`, the console's OEM code
/// page (437 here) unless the script sets UTF-8: characters outside it are replaced by a best fit or `?`.
fn emit(script: &str, text: &str) {
    use std::io::Write;
    let utf8 = script.contains("[Console]::OutputEncoding")
        && (script.contains("UTF8Encoding") || script.contains("Encoding]::UTF8"));
    let bytes = if utf8 { text.as_bytes().to_vec() } else { text.chars().map(oem_437).collect() };
    let _ = std::io::stdout().write_all(&bytes);
}

fn oem_437(c: char) -> u8 {
    const HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";
    if c.is_ascii() {
        return c as u8;
    }
    if let Some(at) = HIGH.chars().position(|h| h == c) {
        return 0x80 + at as u8;
    }
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' => b'\'',
        '\u{201c}' | '\u{201d}' => b'"',
        '\u{2013}' | '\u{2014}' => b'-',
        _ => b'?',
    }
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

pub(crate) fn load_state(env: &Env) -> WindowsConfig {
    crate::fakeconfig::windows_state(&env.dir).or_else(|| env.config.windows.clone()).unwrap_or_default()
}

fn save_state(env: &Env, state: &WindowsConfig) {
    let path = crate::fakeconfig::windows_state_path(&env.dir);
    let _ = std::fs::write(path, serde_json::to_string_pretty(state).expect("json"));
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
    answer(env, &script, &found, filter(&tokens).as_ref())
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

fn answer(env: &Env, script: &str, found: &[(String, BTreeMap<String, String>)], filter: Option<&Filter>) -> i32 {
    let mut state = load_state(env);
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    let params = |cmdlet: &str| found.iter().find(|(n, _)| n == cmdlet).map(|(_, p)| p.clone()).unwrap_or_default();
    let out = |text: String| emit(script, &format!("{text}\r\n"));
    let may_hyperv = state.admin || state.hyperv_admin_group;
    let keep = |objects: Vec<serde_json::Value>| -> Result<Vec<serde_json::Value>, String> {
        let mut kept = Vec::new();
        for object in objects {
            if filter.map_or(Ok(true), |f| f.keeps(&object))? {
                kept.push(object);
            }
        }
        Ok(kept)
    };
    if script.contains("IsInRole") {
        out(format!("{} {}", bool_word(state.admin), bool_word(state.hyperv_admin_group)));
        return 0;
    }
    if script.contains("HypervisorPresent") {
        out(bool_word(state.hyperv_enabled).to_string());
        return 0;
    }
    if names.contains(&"Get-WindowsOptionalFeature") {
        if !state.admin {
            eprintln!("Get-WindowsOptionalFeature : The requested operation requires elevation.");
            return 1;
        }
        let feature = match (state.hyperv_enabled, state.hyperv_enable_pending) {
            (true, _) => "Enabled",
            (false, true) => "EnablePending",
            (false, false) => "Disabled",
        };
        out(feature.to_string());
        return 0;
    }
    if names.contains(&"Get-NetAdapter") {
        let mut adapters: Vec<_> = state
            .adapters
            .iter()
            .map(|a| {
                json!({"Name": a.name, "InterfaceDescription": a.description,
            "InterfaceGuid": format!("{{{}}}", a.guid), "Status": if a.up { "Up" } else { "Disconnected" }, "PhysicalMediaType": a.media})
            })
            .collect();
        if let Some(pattern) = params("Get-NetAdapter").get("Name") {
            let mut named = Vec::new();
            for adapter in adapters {
                match wildcard_match(pattern, adapter["Name"].as_str().unwrap_or_default(), false) {
                    Ok(true) => named.push(adapter),
                    Ok(false) => {}
                    Err(e) => return invalid(&e),
                }
            }
            adapters = named;
        }
        return match keep(adapters) {
            Ok(kept) => {
                out(serde_json::to_string(&kept).expect("json"));
                0
            }
            Err(e) => invalid(&e),
        };
    }
    if names.contains(&"Get-NetRoute") {
        if let Some(a) = state.adapters.iter().find(|a| a.up && a.default_route) {
            out(a.name.clone());
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
        // -Name and -NetAdapterName are literal here (no wildcards, as documented)
        let p = params("New-VMSwitch");
        let name = p.get("Name").cloned().unwrap_or_default();
        let adapter = p.get("NetAdapterName").cloned().unwrap_or_default();
        let Some(found_adapter) = state.adapters.iter().find(|a| a.name.eq_ignore_ascii_case(&adapter)).cloned() else {
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
    if names.contains(&"Get-VMSwitch") || names.contains(&"Remove-VMSwitch") {
        let first = if names.contains(&"Get-VMSwitch") { "Get-VMSwitch" } else { "Remove-VMSwitch" };
        if !may_hyperv {
            return permission(first);
        }
        // the switches the pipeline starts from: -Name is a wildcard pattern
        let pattern = params(first).get("Name").cloned();
        let mut selected = Vec::new();
        for (index, switch) in state.switches.iter().enumerate() {
            match pattern.as_deref().map_or(Ok(true), |p| wildcard_match(p, &switch.name, false)) {
                Ok(true) => selected.push(index),
                Ok(false) => {}
                Err(e) => return invalid(&e),
            }
        }
        if let Some(pattern) = &pattern {
            let silent = params(first).get("ErrorAction").is_some_and(|a| a.eq_ignore_ascii_case("SilentlyContinue"));
            if selected.is_empty() && !has_wildcards(pattern) && !silent {
                eprintln!("{first} : Hyper-V was unable to find a virtual switch with name \"{pattern}\".");
                if first == "Remove-VMSwitch" {
                    return 1;
                }
            }
        }
        let objects: Vec<serde_json::Value> = selected
            .iter()
            .map(|i| &state.switches[*i])
            .map(|s| json!({"Name": s.name, "SwitchType": s.switch_type, "NetAdapterInterfaceDescription": s.adapter_guid}))
            .collect();
        let kept = match keep(objects) {
            Ok(kept) => kept,
            Err(e) => return invalid(&e),
        };
        if names.contains(&"Remove-VMSwitch") {
            // Remove-VMSwitch takes the switches given by -Name, or those piped to it
            let gone: Vec<&str> = kept.iter().filter_map(|s| s["Name"].as_str()).collect();
            let mut index = 0;
            state.switches.retain(|s| {
                let remove = selected.contains(&index) && gone.contains(&s.name.as_str());
                index += 1;
                !remove
            });
            save_state(env, &state);
            return 0;
        }
        out(serde_json::to_string(&kept).expect("json"));
        return 0;
    }
    eprintln!("the test world's PowerShell does not know this script");
    1
}

fn invalid(message: &str) -> i32 {
    eprintln!("{message}");
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
    fn wildcards_follow_powershell() {
        let m = |p: &str, t: &str| wildcard_match(p, t, false).unwrap();
        assert!(m("*", "Default Switch") && m("mini*", "minikube-prod") && m("Default?Switch", "Default Switch"));
        assert!(m("MINIKUBE", "minikube"), "case is ignored");
        assert!(m("[lm]ab", "lab") && !m("[lab]", "[lab]"), "brackets are a set, never literal");
        assert!(m("`[lab`]", "[lab]") && m("a`*", "a*") && !m("a`*", "ab"), "a backtick escapes");
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx"));
        assert!(wildcard_match("[abc", "x", false).is_err());
        assert!(!wildcard_match("A", "a", true).unwrap());
    }

    #[test]
    fn where_object_filters_are_read_and_applied() {
        let tokens = tokenize("Get-VMSwitch | Where-Object { $_.Name -ceq 'mini*' } | Remove-VMSwitch -Force").unwrap();
        let f = filter(&tokens).expect("filter");
        assert_eq!(f, Filter { property: "Name".into(), op: "ceq".into(), value: "mini*".into() });
        assert!(f.keeps(&json!({"Name": "mini*"})).unwrap());
        assert!(!f.keeps(&json!({"Name": "minikube"})).unwrap());
        assert!(!f.keeps(&json!({"Name": "MINI*"})).unwrap());
    }

    #[test]
    fn redirected_output_is_oem_unless_the_script_sets_utf8() {
        let bytes: Vec<u8> = "Bob\u{2019}s Café".chars().map(oem_437).collect();
        assert_eq!(bytes, b"Bob's Caf\x82");
        assert_eq!(oem_437('\u{4e2d}'), b'?');
    }

    #[test]
    fn unquoted_injection_becomes_a_second_cmdlet() {
        let tokens = tokenize("New-VMSwitch -Name m -NetAdapterName Wi-Fi; Remove-Item C:\\ -Recurse").unwrap();
        let names: Vec<String> = cmdlets(&tokens).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["New-VMSwitch", "Remove-Item"]);
    }
}
