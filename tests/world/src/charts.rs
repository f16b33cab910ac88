//! A local chart repository on 127.0.0.1 serving small stand-in charts named, versioned and shaped like the
//! real ones (object names, Services, ports): `/<repo>/index.yaml` and `/<repo>/<chart>-<version>.tgz` for
//! the repos prometheus-community, grafana-community and stable (the archived one, for the Helm 2 path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::http::{Reply, Response, Server};

pub struct ChartRepo {
    server: Server,
}

/// The chart sources: `tests/world/charts/<repo>/<chart>-<version>/Chart.yaml …`.
fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts")
}

impl ChartRepo {
    pub fn start() -> ChartRepo {
        let mut files: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
        let mut indexes: BTreeMap<String, Vec<(String, String, String, String)>> = BTreeMap::new();
        for repo in std::fs::read_dir(sources()).expect("charts dir").flatten() {
            let repo_name = repo.file_name().to_string_lossy().into_owned();
            for chart in std::fs::read_dir(repo.path()).expect("repo dir").flatten() {
                let chart_yaml: serde_yaml::Value = serde_yaml::from_str(
                    &std::fs::read_to_string(chart.path().join("Chart.yaml")).expect("Chart.yaml"),
                )
                .expect("yaml");
                let name = chart_yaml["name"].as_str().expect("name").to_string();
                let version = chart_yaml["version"].as_str().expect("version").to_string();
                let api_version = chart_yaml["apiVersion"].as_str().unwrap_or("v2").to_string();
                let app_version = chart_yaml["appVersion"].as_str().unwrap_or("").to_string();
                let file = format!("{name}-{version}.tgz");
                files
                    .insert(format!("/{repo_name}/{file}"), ("application/gzip".into(), package(&chart.path(), &name)));
                indexes.entry(repo_name.clone()).or_default().push((name, version, api_version, app_version));
            }
        }
        let files = Arc::new(files);
        let indexes = Arc::new(indexes);
        let server = Server::start(Arc::new(move |request| {
            let path = request.path.clone();
            if let Some(repo) = path.strip_suffix("/index.yaml").map(|p| p.trim_start_matches('/').to_string()) {
                let host = request.header("host").unwrap_or("127.0.0.1").to_string();
                return match indexes.get(&repo) {
                    Some(entries) => {
                        Reply::Full(Response::bytes(200, "text/yaml", index(&host, &repo, entries).into_bytes()))
                    }
                    None => Reply::Full(Response::bytes(404, "text/plain", b"no such repository".to_vec())),
                };
            }
            match files.get(&path) {
                Some((content_type, body)) => Reply::Full(Response::bytes(200, content_type, body.clone())),
                None => Reply::Full(Response::bytes(404, "text/plain", b"not found".to_vec())),
            }
        }))
        .expect("chart server");
        ChartRepo { server }
    }

    /// The URL of one repository, e.g. `repo_url("prometheus-community")`.
    /// Where the repositories are served (each under `/<repo>`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn repo_url(&self, repo: &str) -> String {
        format!("{}/{repo}", self.server.url())
    }
}

fn index(host: &str, repo: &str, entries: &[(String, String, String, String)]) -> String {
    let mut out = String::from("apiVersion: v1\nentries:\n");
    let mut by_name: BTreeMap<&str, Vec<&(String, String, String, String)>> = BTreeMap::new();
    for entry in entries {
        by_name.entry(&entry.0).or_default().push(entry);
    }
    for (name, versions) in by_name {
        out.push_str(&format!("  {name}:\n"));
        for (_, version, api_version, app_version) in versions {
            out.push_str(&format!(
                "  - apiVersion: {api_version}\n    name: {name}\n    version: {version}\n    appVersion: \"{app_version}\"\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n    - http://{host}/{repo}/{name}-{version}.tgz\n"
            ));
        }
    }
    out.push_str("generated: \"2026-01-01T00:00:00Z\"\n");
    out
}

/// Packs a chart directory as `helm package` does: a gzipped tar with every file under `<name>/`.
fn package(dir: &Path, name: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all(name, dir).expect("pack chart");
    builder.into_inner().and_then(|gz| gz.finish()).expect("finish chart")
}
