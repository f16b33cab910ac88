//! One binary that plays every faked tool, chosen by the name it is invoked as (`kubectl`, `helm`,
//! `minikube`, `powershell`, `pwsh`, `choco`). Real tools are wrapped: logged, optionally faulted, then run.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tool = std::path::Path::new(&args[0])
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".exe").to_string())
        .unwrap_or_default();
    let code = testworld::fakes::run(&tool, &args[1..]);
    std::process::exit(code);
}
