//! prerequisites: kubectl and helm (and minikube, unless `--context` names an existing cluster) are on PATH
//! and report readable versions. What is missing is named with the command that installs it here.

use crate::context::Context;
use crate::engine::{Check, Stage, StageKind};
use crate::problem::Problem;
use crate::runner::{exit_problem, Cmd, Output};
use crate::tools::{helm, kubectl, minikube, Found};
use crate::version::Version;

pub struct Prerequisites;

impl Stage for Prerequisites {
    fn name(&self) -> &'static str {
        "prerequisites"
    }

    fn summary(&self) -> &'static str {
        "find kubectl, helm and minikube and read their versions"
    }

    fn kind(&self) -> StageKind {
        StageKind::Inspect
    }

    fn check(&self, cx: &mut Context) -> anyhow::Result<Check> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for tool in required_tools(cx) {
            match cx.runner.resolve(tool) {
                Some(path) => {
                    let version = read_version(cx, tool, &path.display().to_string())?;
                    remember(cx, tool, Found { path: path.clone(), version });
                    found.push(format!("{tool} {version}"));
                }
                None => missing.push(tool),
            }
        }
        if missing.is_empty() {
            return Ok(Check::Done(found.join(", ")));
        }
        Ok(Check::Needed(format!("missing: {}", missing.join(", "))))
    }

    fn apply(&self, cx: &mut Context) -> anyhow::Result<()> {
        let missing: Vec<&str> = required_tools(cx).into_iter().filter(|t| cx.runner.resolve(t).is_none()).collect();
        let hints: Vec<String> =
            missing.iter().map(|t| format!("{t}: {}", cx.settings.platform.install_hint(t))).collect();
        Err(Problem::new(format!("{} not found on PATH", missing.join(" and ")))
            .with_hint(format!("install and run this again — {}", hints.join("; ")))
            .into())
    }

    fn validate(&self, cx: &mut Context) -> anyhow::Result<String> {
        match self.check(cx)? {
            Check::Done(evidence) => Ok(evidence),
            Check::Needed(reason) => Err(Problem::new(reason).into()),
        }
    }
}

fn required_tools(cx: &Context) -> Vec<&'static str> {
    let mut tools = vec!["kubectl", "helm"];
    if cx.settings.uses_minikube() {
        tools.push("minikube");
    }
    tools
}

fn remember(cx: &mut Context, tool: &str, found: Found) {
    match tool {
        "kubectl" => cx.tools.kubectl = Some(found),
        "helm" => cx.tools.helm = Some(found),
        _ => cx.tools.minikube = Some(found),
    }
}

type VersionParser = fn(&str) -> Result<Version, String>;

/// Runs the tool's version command and parses the real output format.
fn read_version(cx: &Context, tool: &str, program: &str) -> Result<Version, Problem> {
    let (cmd, parse): (Cmd, VersionParser) = match tool {
        "kubectl" => (kubectl::Kubectl::new(program, None).client_version(), |out| {
            kubectl::parse_versions(out).map(|v| v.client)
        }),
        "helm" => (helm::Helm::new(program, None).version_short(), helm::parse_short_version),
        _ => (minikube::version_short(program), minikube::parse_version),
    };
    let mut output = cx.runner.run_unchecked(&cmd)?;
    let mut cmd = cmd;
    if tool == "minikube" && !output.success() && output.stderr.contains("unknown flag: --short") {
        // minikube before v1.10 has no --short; its plain form prints `minikube version: vX.Y.Z`.
        cmd = minikube::version_long(program);
        output = cx.runner.run_unchecked(&cmd)?;
    }
    // Helm 2 prints its client version and then fails to reach tiller: the stdout still answers the question.
    match parse(&output.stdout) {
        Ok(version) if output.success() || tool == "helm" => Ok(version),
        Ok(_) => Err(unreadable(&cmd, &output, tool, "exited with an error")),
        Err(why) if output.success() => Err(unreadable(&cmd, &output, tool, &why)),
        Err(_) => Err(unreadable(&cmd, &output, tool, "exited with an error")),
    }
}

fn unreadable(cmd: &Cmd, output: &Output, tool: &str, why: &str) -> Problem {
    exit_problem(cmd, output).reworded(format!("could not read {tool}'s version: {why}")).with_hint(format!(
        "run `{cmd}` yourself; if it does not print a version, reinstall {tool} or put a working one first on PATH"
    ))
}
