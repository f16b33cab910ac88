//! network (Windows, minikube's hyperv driver): an external Hyper-V switch bound to the adapter the user
//! picks (default: the Up adapter carrying the default route). `--switch "Default Switch"` uses Windows' built-in
//! switch and creates nothing.

use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::menu::Menu;
use crate::platform::Platform;
use crate::problem::Problem;
use crate::record::{Created, State};
use crate::settings::Settings;
use crate::tools::powershell::{self, Adapter, Switch};

pub(crate) const DEFAULT_SWITCH: &str = "Default Switch";

pub(crate) struct Network;

impl Stage for Network {
    fn id(&self) -> StageId {
        StageId::Network
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Prerequisites]
    }

    fn summary(&self) -> &'static str {
        "create the Hyper-V external switch (Windows, hyperv driver)"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        if settings.context.is_some() {
            Some("an existing cluster (--context) needs no Hyper-V switch".into())
        } else if settings.platform != Platform::Windows {
            Some("only on Windows".into())
        } else if !matches!(settings.driver.as_str(), "auto" | "hyperv") {
            Some(format!("the {} driver needs no Hyper-V switch", settings.driver))
        } else {
            None
        }
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let driver = crate::preflight::choose_driver(cx).0;
        if driver.as_deref() != Some("hyperv") {
            return Ok(Check::Done(format!(
                "not needed: minikube uses the {} driver",
                driver.unwrap_or_else(|| "default".into())
            )));
        }
        let name = cx.settings.switch.clone();
        if powershell::switch_exists(&cx.runner, &name)? {
            let item = Created::Switch { name: name.clone() };
            if cx.recorded(&item) == Some(State::Intended) {
                // an interrupted run made it after recording its intent: it is the wizard's
                cx.confirm(item, State::Created);
                cx.note(format!("found the Hyper-V switch {name:?} an interrupted run created, and recorded it"));
            }
            return Ok(Check::Done(format!("Hyper-V switch {name:?} exists")));
        }
        if name == DEFAULT_SWITCH {
            return Err(Problem::new("Hyper-V's built-in \"Default Switch\" was not found").with_hint(
                "it comes with Windows 10 1709 and later; pass --switch with another name to create an external switch",
            ));
        }
        Ok(Check::Needed(format!("no Hyper-V switch named {name:?} yet")))
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let adapter = choose_adapter(cx)?;
        let name = cx.settings.switch.clone();
        cx.ui.warn(&format!(
            "creating the external switch {name:?} on {adapter:?}: this computer's network drops for a few seconds"
        ));
        let item = Created::Switch { name: name.clone() };
        cx.intend(item.clone())?;
        cx.runner.run(&powershell::new_switch(&name, &adapter)).map_err(|p| {
            p.reworded(format!("could not create the Hyper-V switch {name:?} on adapter {adapter:?}")).with_hint(
                "Windows allows one external switch per adapter: if another switch already uses it, pass --switch with that switch's name",
            )
        })?;
        cx.confirm(item, State::Created);
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let name = cx.settings.switch.clone();
        let cmd = powershell::get_switch(&name);
        let output = cx.runner.run(&cmd)?;
        let switches: Vec<Switch> = powershell::parse_list(&output.stdout)
            .map_err(|why| crate::runner::exit_problem(&cmd, &output).reworded(why))?;
        if switches.iter().any(|s| s.name == name) {
            return Ok(format!("created Hyper-V switch {name:?}"));
        }
        Err(crate::runner::exit_problem(&cmd, &output)
            .reworded(format!("New-VMSwitch finished but Get-VMSwitch does not show {name:?}"))
            .with_hint("open Hyper-V Manager → Virtual Switch Manager to see what was created, then run this again"))
    }
}

/// `--adapter`, or a question listing the Up adapters that says what the switch is and that the network
/// drops while it binds, with the adapter carrying the default route recommended; a Wi-Fi choice is confirmed.
fn choose_adapter(cx: &Context) -> Result<String, Problem> {
    let cmd = powershell::up_adapters();
    let output = cx.runner.run(&cmd)?;
    let adapters: Vec<Adapter> = powershell::parse_list(&output.stdout)
        .map_err(|why| crate::runner::exit_problem(&cmd, &output).reworded(why))?;
    if let Some(wanted) = &cx.settings.adapter {
        if adapters.iter().any(|a| &a.name == wanted) {
            return Ok(wanted.clone());
        }
        let names: Vec<&str> = adapters.iter().map(|a| a.name.as_str()).collect();
        return Err(Problem::new(format!("--adapter {wanted:?} is not an Up physical adapter"))
            .with_hint(format!("Up adapters: {}", names.join(", "))));
    }
    if adapters.is_empty() {
        return Err(Problem::new("no physical network adapter is Up")
            .with_hint("connect a network, or pass --switch \"Default Switch\" to use Hyper-V's NAT switch"));
    }
    let route =
        cx.runner.run(&powershell::default_route_adapter()).map(|o| o.stdout.trim().to_string()).unwrap_or_default();
    let recommended = adapters.iter().position(|a| a.name == route);
    let labels: Vec<String> = adapters.iter().map(|a| format!("{} ({})", a.name, a.interface_description)).collect();
    let switch = &cx.settings.switch;
    loop {
        let index = cx.ui.choose(Menu {
            question: "Which network adapter should the minikube switch use?",
            explanation: vec![
                "  A Hyper-V switch is a virtual network switch inside this computer; minikube's VM plugs into it.".into(),
                format!("  The external switch {switch:?} joins it to one of your network adapters: the VM gets an address on that network, and this computer keeps using the adapter through the switch."),
            ],
            warning: Some(
                "while the switch binds to the adapter you choose, this computer's network drops for a few seconds".into(),
            ),
            items: labels.clone(),
            default: Some(recommended.unwrap_or(0)),
            recommended: recommended.map(|i| (i, "it carries the default route".to_string())),
            flag: "--adapter NAME",
        })?;
        let adapter = &adapters[index];
        if !adapter.is_wifi() {
            return Ok(adapter.name.clone());
        }
        let wifi = format!(
            "{:?} is Wi-Fi: a wireless network takes one address per adapter, so Hyper-V rewrites the VM's, and some networks and drivers refuse that (the VM then gets no address); a wired adapter is more reliable",
            adapter.name
        );
        cx.ui.warn(&wifi);
        if !cx.ui.interactive() {
            return Ok(adapter.name.clone());
        }
        if cx.ui.confirm(&format!("Bind the switch to the Wi-Fi adapter {:?} anyway?", adapter.name), false)? {
            return Ok(adapter.name.clone());
        }
    }
}
