//! The Interlok images the wizard knows, and what each holds (INTERLOK-FACTS in the project's reference notes;
//! docs/interlok.md). Only an image whose classpath carries the `kubernetes-metrics` pusher can push the metric;
//! the stock images serve nothing until given a configuration, and never push. Any other image is unknown: it
//! passes, and `verify` judges it by what it does.

use crate::problem::Problem;
use crate::settings::{Settings, DEFAULT_IMAGE};

/// What an image holds, as far as the chain goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Carries the `kubernetes-metrics` pusher and a configuration that serves `/in-box` and counts for
    /// `MessageMetrics`.
    Pusher,
    /// A stock nightly image: an adapter with no channels, and no pusher (Interlok 4 dropped it).
    Stock,
    /// Not in the table.
    Unknown,
}

/// One repository of the table (any tag or digest of it).
pub(crate) struct Known {
    pub(crate) repository: &'static str,
    pub(crate) kind: Kind,
    /// The path its own configuration's HTTP consumer serves, if any.
    pub(crate) serves: Option<&'static str>,
}

/// The table (docs/interlok.md shows it).
const KNOWN: [Known; 2] = [
    // the 2019 guide's image: Interlok 3.9 with the kubernetes-metrics pusher; /in-box counts for MessageMetrics
    Known { repository: "aaronmcgrathadpx/interlok-kubernetes-scaling", kind: Kind::Pusher, serves: Some("/in-box") },
    // the stock nightly images: an adapter with no channels and no kubernetes-metrics pusher
    Known { repository: "adaptris/interlok", kind: Kind::Stock, serves: None },
];

/// What the table says about an image reference (`[registry/]name[:tag][@digest]`).
pub(crate) fn kind(reference: &str) -> Kind {
    known(reference).map_or(Kind::Unknown, |k| k.kind)
}

/// The table's entry for an image reference, if it has one.
pub(crate) fn known(reference: &str) -> Option<&'static Known> {
    let repository = repository(reference);
    KNOWN.iter().find(|k| k.repository == repository)
}

/// The repository part of a reference as Docker Hub names it: no tag or digest, no `docker.io/` prefix.
pub(crate) fn repository(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or_default();
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let name = match name[last_slash..].find(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    };
    let name = name.strip_prefix("index.docker.io/").or_else(|| name.strip_prefix("docker.io/")).unwrap_or(name);
    name.strip_prefix("library/").unwrap_or(name).to_string()
}

/// The image rule, before anything is applied: a stock image needs a configuration of one's own (refused
/// without one); with one it serves but never pushes (a warning, returned).
pub(crate) fn check(settings: &Settings) -> Result<Vec<String>, Problem> {
    let image = &settings.image;
    if kind(image) != Kind::Stock {
        return Ok(Vec::new());
    }
    if settings.interlok_config.is_none() {
        return Err(Problem::new(format!(
            "--image {image} is a stock Interlok image: its adapter has no channels, so nothing answers {} and \
             nothing is counted, and it carries no kubernetes-metrics pusher, so {} is never pushed",
            settings.inbox_path, settings.metric
        ))
        .with_hint(format!(
            "use an image with the pusher, e.g. the guide's (the default): `--image {DEFAULT_IMAGE}`; or give \
             this one a configuration with --interlok-config DIR (it will then serve, but still never push: see docs/interlok.md)"
        )));
    }
    Ok(vec![format!(
        "{image} is a stock Interlok image: it will serve {} from your configuration but never push {} (it has no \
         kubernetes-metrics pusher), so the autoscaler gets no metric and `verify` will fail at interlok.pushes; \
         an image with the pusher, like {DEFAULT_IMAGE}, runs the same configuration and pushes",
        settings.inbox_path, settings.metric
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_tag_digest_or_docker_hub_prefix_of_a_repository_is_that_repository() {
        assert_eq!(kind("adaptris/interlok:snapshot"), Kind::Stock);
        assert_eq!(kind("docker.io/adaptris/interlok:latest-zulu-alpine"), Kind::Stock);
        assert_eq!(kind("adaptris/interlok@sha256:0123"), Kind::Stock);
        assert_eq!(kind(DEFAULT_IMAGE), Kind::Pusher);
        assert_eq!(kind("index.docker.io/aaronmcgrathadpx/interlok-kubernetes-scaling"), Kind::Pusher);
        assert_eq!(kind("adaptris/interlok-typo:snapshot"), Kind::Unknown);
        assert_eq!(kind("registry.example:5000/adaptris/interlok:1"), Kind::Unknown, "another registry's image");
        assert_eq!(repository("localhost:5000/interlok:1"), "localhost:5000/interlok");
    }

    #[test]
    fn a_stock_image_is_refused_alone_and_warned_about_with_a_configuration() {
        let stock = Settings::from_flags([("image", "adaptris/interlok:snapshot")]).unwrap();
        let refused = check(&stock).unwrap_err();
        assert!(refused.message.contains("no kubernetes-metrics pusher"), "{}", refused.message);
        assert!(refused.hint.unwrap().contains(&format!("`--image {DEFAULT_IMAGE}`")));
        let mut with_config = stock.clone();
        with_config.interlok_config = Some("adapter.xml".into());
        let warnings = check(&with_config).unwrap();
        assert!(warnings[0].contains("never push MessageMetrics"), "{warnings:?}");
        assert_eq!(check(&Settings::defaults()).unwrap(), Vec::<String>::new());
        let unknown = Settings::from_flags([("image", "example.org/my-interlok:1")]).unwrap();
        assert_eq!(check(&unknown).unwrap(), Vec::<String>::new(), "verify judges unknown images");
    }
}
