//! PowerShell, for what only Windows can tell or do: elevation, Hyper-V, network adapters, virtual switches.
//! Scripts go in as `-EncodedCommand` (base64 of UTF-16LE), so the command line needs no quoting, and every
//! value inside a script is a single-quoted literal (`'` — and its typographic look-alikes, which PowerShell
//! also treats as quotes — doubled), so an adapter or switch name is always data, never code. On screen and in
//! errors a script shows as its text and what it was doing, never as the base64 the command line carries.

use serde::Deserialize;

use crate::runner::Cmd;

/// Windows PowerShell 5.1 ships with every Windows 10/11 and has the Hyper-V module.
pub(crate) const PROGRAM: &str = "powershell";

/// A single-quoted PowerShell string literal holding exactly `value`.
pub(crate) fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn encode(script: &str) -> String {
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64(&bytes)
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= chunk.len() { TABLE[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// Windows PowerShell 5.1 writes redirected output in the console's OEM code page, which turns a name like
/// `Bob’s Wi-Fi` into `Bob?s Wi-Fi`; every script first switches its output to UTF-8 (without a BOM).
const UTF8_OUTPUT: &str = "[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false; ";

/// A script run as `-EncodedCommand`, shown as the command a user could paste into PowerShell to run it
/// (a script block, which PowerShell encodes itself), doing `purpose`.
fn script(text: &str, mutating: bool, purpose: &str) -> Cmd {
    let cmd = if mutating { Cmd::change(PROGRAM) } else { Cmd::query(PROGRAM) };
    cmd.args(["-NoProfile", "-NonInteractive", "-EncodedCommand"])
        .arg(encode(&format!("{UTF8_OUTPUT}{text}")))
        .shown_as(purpose, format!("{PROGRAM} -NoProfile -NonInteractive -Command {{ {text} }}"))
}

/// The switches named exactly `name`, for a pipeline: Hyper-V's `-Name` is a wildcard pattern (`*`, `?`,
/// `[…]`), so a switch is selected by comparing its name, case and all, with a literal instead.
fn switches_named(name: &str) -> String {
    format!("Hyper-V\\Get-VMSwitch | Where-Object {{ $_.Name -ceq {} }}", literal(name))
}

/// Prints `True True` / `True False` …: Administrator, then member of Hyper-V Administrators (S-1-5-32-578).
pub(crate) fn elevation() -> Cmd {
    script(
        "$p = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent(); \
         '{0} {1}' -f $p.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator), \
         $p.IsInRole([Security.Principal.SecurityIdentifier]'S-1-5-32-578')",
        false,
        "checking whether this shell is elevated (Administrator, or a member of Hyper-V Administrators)",
    )
}

/// Prints `True` when the hypervisor runs (minikube's own test; works unelevated).
pub(crate) fn hypervisor_present() -> Cmd {
    script(
        "(Get-CimInstance -ClassName Win32_ComputerSystem).HypervisorPresent",
        false,
        "checking whether Hyper-V is running",
    )
}

/// The physical adapters that are Up, as a JSON array (`@()` keeps one result an array).
pub(crate) fn up_adapters() -> Cmd {
    script(
        "ConvertTo-Json -Compress -InputObject @(Get-NetAdapter -Physical | Where-Object { $_.Status -eq 'Up' } | \
         Select-Object -Property Name, InterfaceDescription, InterfaceGuid, Status, PhysicalMediaType)",
        false,
        "listing the network adapters that are Up",
    )
}

/// The alias of the interface that carries the IPv4 default route with the lowest metric.
pub(crate) fn default_route_adapter() -> Cmd {
    script(
        "Get-NetRoute -DestinationPrefix '0.0.0.0/0' -ErrorAction SilentlyContinue | Sort-Object -Property RouteMetric | \
         Select-Object -First 1 -ExpandProperty InterfaceAlias",
        false,
        "finding the adapter that carries the default route",
    )
}

/// The switches named exactly `name` as a JSON array (empty when there is none).
pub(crate) fn get_switch(name: &str) -> Cmd {
    script(
        &format!(
            "ConvertTo-Json -Compress -InputObject @({} | \
             Select-Object -Property Name, SwitchType, NetAdapterInterfaceDescription)",
            switches_named(name)
        ),
        false,
        &format!("looking for the Hyper-V switch {}", literal(name)),
    )
}

/// Whether a switch of exactly this name exists.
pub(crate) fn switch_exists(runner: &crate::runner::Runner, name: &str) -> Result<bool, crate::problem::Problem> {
    let cmd = get_switch(name);
    let output = runner.run(&cmd)?;
    let switches: Vec<Switch> =
        parse_list(&output.stdout).map_err(|why| crate::runner::exit_problem(&cmd, &output).reworded(why))?;
    Ok(switches.iter().any(|s| s.name == name))
}

/// Creates an external switch bound to an adapter, shared with the host (the host's network blips).
pub(crate) fn new_switch(name: &str, adapter: &str) -> Cmd {
    script(
        &format!(
            "Hyper-V\\New-VMSwitch -Name {} -NetAdapterName {} -AllowManagementOS $true | Out-Null",
            literal(name),
            literal(adapter)
        ),
        true,
        &format!("creating the Hyper-V switch {} on the adapter {}", literal(name), literal(adapter)),
    )
}

/// Removes the switches named exactly `name` (never what `-Name` would match as a pattern).
pub(crate) fn remove_switch(name: &str) -> Cmd {
    script(
        &format!("{} | Hyper-V\\Remove-VMSwitch -Force", switches_named(name)),
        true,
        &format!("removing the Hyper-V switch {}", literal(name)),
    )
}

/// Prints the state of the Hyper-V feature: `Enabled`, `Disabled`, or `EnablePending` (enabled, waiting for
/// a reboot). Needs an elevated shell.
pub(crate) fn hyperv_feature_state() -> Cmd {
    script(
        "(Get-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V).State",
        false,
        "reading the state of the Hyper-V feature",
    )
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Adapter {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) interface_description: String,
    #[serde(default)]
    pub(crate) status: String,
    /// `802.3` for a wired adapter, `Native 802.11` for Wi-Fi.
    #[serde(default)]
    pub(crate) physical_media_type: String,
}

impl Adapter {
    pub(crate) fn is_wifi(&self) -> bool {
        self.physical_media_type.contains("802.11")
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Switch {
    pub(crate) name: String,
}

/// Parses `ConvertTo-Json` output: nothing (PowerShell 5.1 prints nothing for an empty array), one object, or an array.
pub fn parse_list<T: for<'de> Deserialize<'de>>(stdout: &str) -> Result<Vec<T>, String> {
    let text = stdout.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| format!("unexpected PowerShell JSON: {e}")))
            .collect(),
        Ok(object) => {
            serde_json::from_value(object).map(|one| vec![one]).map_err(|e| format!("unexpected PowerShell JSON: {e}"))
        }
        Err(e) => Err(format!("PowerShell printed something that is not JSON ({e})")),
    }
}

/// Parses PowerShell's `True`/`False` words.
pub fn parse_bools(stdout: &str) -> Result<Vec<bool>, String> {
    let words: Vec<&str> = stdout.trim_start_matches('\u{feff}').split_whitespace().collect();
    if words.is_empty() {
        return Err("PowerShell printed nothing".into());
    }
    words
        .iter()
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("PowerShell printed {other:?} where True or False was expected")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_every_kind_of_single_quote() {
        assert_eq!(literal("Wi-Fi"), "'Wi-Fi'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(literal("$(x); `y`"), "'$(x); `y`'");
    }

    #[test]
    fn switches_are_selected_by_exact_name_never_by_pattern() {
        for cmd in [get_switch("mini*"), remove_switch("mini*")] {
            let script = decoded(&cmd);
            assert!(script.contains("Where-Object { $_.Name -ceq 'mini*' }"), "{script}");
            assert!(!script.contains("-Name 'mini*'"), "{script}");
        }
        assert!(decoded(&remove_switch("[lab]")).contains("-ceq '[lab]' } | Hyper-V\\Remove-VMSwitch -Force"));
    }

    #[test]
    fn every_script_writes_utf8() {
        for cmd in [elevation(), hypervisor_present(), up_adapters(), default_route_adapter(), get_switch("s")] {
            assert!(decoded(&cmd).starts_with(UTF8_OUTPUT), "{}", decoded(&cmd));
        }
    }

    fn decoded(cmd: &Cmd) -> String {
        let encoded = &cmd.arguments()[3];
        let bytes = crate::base64::decode(encoded).unwrap();
        let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16(&units).unwrap()
    }

    #[test]
    fn a_script_shows_as_its_text_and_purpose_never_as_base64() {
        let cmd = new_switch("minikube", "Wi-Fi");
        let shown = cmd.to_string();
        assert!(
            shown
                .starts_with("powershell -NoProfile -NonInteractive -Command { Hyper-V\\New-VMSwitch -Name 'minikube'"),
            "{shown}"
        );
        assert!(!shown.contains(&cmd.arguments()[3]) && !shown.contains("EncodedCommand"), "{shown}");
        assert!(!shown.contains("OutputEncoding"), "the encoding preamble is the wizard's, not the user's: {shown}");
        assert_eq!(cmd.label(), "`powershell` (creating the Hyper-V switch 'minikube' on the adapter 'Wi-Fi')");
        let failed =
            crate::runner::exit_problem(&elevation(), &crate::runner::Output { code: 1, ..Default::default() });
        assert!(failed.message.contains("checking whether this shell is elevated"), "{}", failed.message);
        assert!(failed.command.unwrap().command_line.contains("IsInRole"));
    }

    #[test]
    fn scripts_are_encoded_utf16le() {
        let cmd = hypervisor_present();
        assert_eq!(&cmd.arguments()[..3], ["-NoProfile", "-NonInteractive", "-EncodedCommand"]);
        assert_eq!(encode("a"), "YQA=");
    }

    #[test]
    fn json_lists_take_nothing_one_or_many() {
        assert_eq!(parse_list::<Switch>("").unwrap(), vec![]);
        assert_eq!(parse_list::<Switch>(r#"{"Name":"minikube"}"#).unwrap().len(), 1);
        assert_eq!(parse_list::<Switch>(r#"[{"Name":"a"},{"Name":"b"}]"#).unwrap().len(), 2);
        assert!(parse_list::<Switch>("Get-VMSwitch : not recognized").is_err());
        assert_eq!(parse_bools("True False\r\n").unwrap(), vec![true, false]);
        assert!(parse_bools("Yes").is_err());
    }
}
